package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// target is one empty database of one backend; open it as often as a case
// needs (reopening is part of what is tested).
type target struct {
	backend   string
	url, dir  string
	newTarget func(t *testing.T) target // another empty database, same backend
}

func (tg target) open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), tg.url, tg.dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformance runs every store behaviour against every backend: the
// embedded SQLite file and a real PostgreSQL 15 (started by pgtest); each
// case gets its own empty database.
func TestConformance(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	var sqliteTarget, postgresTarget func(t *testing.T) target
	sqliteTarget = func(t *testing.T) target {
		return target{backend: BackendSQLite, dir: t.TempDir(), newTarget: sqliteTarget}
	}
	postgresTarget = func(t *testing.T) target {
		return target{backend: BackendPostgres, url: pgtest.NewDatabase(t, pgURL), newTarget: postgresTarget}
	}
	backends := map[string]func(t *testing.T) target{
		BackendSQLite:   sqliteTarget,
		BackendPostgres: postgresTarget,
	}
	for name, fresh := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range slices.Concat(conformance, governanceConformance, toolsConformance, leaseConformance, personalConformance, resultsConformance, ticketConformance, lifecycleConformance, outboxConformance) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, fresh(t))
				})
			}
		})
	}
}

// t0 is a time with nanoseconds in a non-UTC zone: the store must give it
// back to the nanosecond, in UTC.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

func ptr[T any](v T) *T { return &v }

var conformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"backend and ping", func(t *testing.T, tg target) {
		db := tg.open(t)
		if db.Backend() != tg.backend {
			t.Errorf("Backend() = %q, want %q", db.Backend(), tg.backend)
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Error(err)
		}
	}},

	{"keys create, look up, list, count", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if n, err := db.CountKeys(ctx); err != nil || n != 0 {
			t.Fatalf("CountKeys on empty store = %d, %v; want 0", n, err)
		}
		keys := []Key{
			{ID: "key_c", Name: "ops", Role: access.RoleOperator, Clearance: access.Internal, Hash: access.HashKey("c"),
				CreatedAt: t0.Add(time.Second), CreatedBy: "key_a"},
			{ID: "key_a", Name: "admin", Role: access.RoleAdmin, Clearance: access.Restricted, Hash: access.HashKey("a"),
				CreatedAt: t0},
			// Same creation time as key_c: the id breaks the tie.
			{ID: "key_b", Name: "hotline 12345", Role: access.RoleHotline, Clearance: access.Public, Hash: access.HashKey("b"),
				CreatedAt: t0.Add(time.Second), ExpiresAt: ptr(t0.Add(24 * time.Hour)), CreatedBy: "key_a"},
		}
		for _, k := range keys {
			if err := db.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.KeyByHash(ctx, access.HashKey("b"))
		if err != nil {
			t.Fatal(err)
		}
		assertKey(t, got, keys[2])
		got, err = db.GetKey(ctx, "key_c")
		if err != nil {
			t.Fatal(err)
		}
		assertKey(t, got, keys[0])

		list, err := db.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		if want := []string{"key_a", "key_b", "key_c"}; !slices.Equal(ids, want) {
			t.Errorf("ListKeys order = %v, want %v", ids, want)
		}
		if n, err := db.CountKeys(ctx); err != nil || n != 3 {
			t.Errorf("CountKeys = %d, %v; want 3", n, err)
		}
	}},

	{"keys conflict and not found", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		k := Key{ID: "key_1", Name: "one", Role: access.RoleDeveloper, Clearance: access.Sensitive, Hash: access.HashKey("1"), CreatedAt: t0}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		cases := map[string]struct {
			key  Key
			want error
		}{
			"same id":         {Key{ID: "key_1", Role: access.RoleOperator, Clearance: access.Public, Hash: access.HashKey("other")}, ErrConflict},
			"same hash":       {Key{ID: "key_2", Role: access.RoleOperator, Clearance: access.Public, Hash: k.Hash}, ErrConflict},
			"unknown role":    {Key{ID: "key_3", Role: "mayor", Clearance: access.Public, Hash: access.HashKey("3")}, access.ErrUnknownRole},
			"unknown level":   {Key{ID: "key_4", Role: access.RoleOperator, Clearance: "secret", Hash: access.HashKey("4")}, access.ErrUnknownClearance},
			"empty clearance": {Key{ID: "key_5", Role: access.RoleOperator, Hash: access.HashKey("5")}, access.ErrUnknownClearance},
		}
		for name, c := range cases {
			if err := db.CreateKey(ctx, c.key); !errors.Is(err, c.want) {
				t.Errorf("%s: CreateKey error = %v, want %v", name, err, c.want)
			}
		}
		if _, err := db.KeyByHash(ctx, access.HashKey("nobody")); !errors.Is(err, ErrNotFound) {
			t.Errorf("KeyByHash(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.GetKey(ctx, "key_nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetKey(unknown) error = %v, want ErrNotFound", err)
		}
		if err := db.RevokeKey(ctx, "key_nobody", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("RevokeKey(unknown) error = %v, want ErrNotFound", err)
		}
		if n, _ := db.CountKeys(ctx); n != 1 {
			t.Errorf("CountKeys after refused creates = %d, want 1", n)
		}
	}},

	{"keys revoke", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		k := Key{ID: "key_r", Name: "r", Role: access.RoleSupervisor, Clearance: access.Internal, Hash: access.HashKey("r"), CreatedAt: t0}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		revoked := t0.Add(time.Hour)
		if err := db.RevokeKey(ctx, k.ID, revoked); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeKey(ctx, k.ID, revoked.Add(time.Hour)); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		got, err := db.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil || !got.RevokedAt.Equal(revoked) {
			t.Fatalf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, revoked)
		}
		if got.Active(revoked) || !got.Active(revoked.Add(-time.Nanosecond)) {
			t.Error("key must be active until, and not from, its revocation")
		}
	}},

	{"sessions create, get, conflict, not found", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		s := Session{ID: "s1", Agent: "traffic", OwnerKeyID: "key_a", Title: "早高峰拥堵", CreatedAt: t0}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetSession(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		s.UpdatedAt = t0 // zero UpdatedAt means CreatedAt
		assertSession(t, got, s)
		if err := db.CreateSession(ctx, Session{ID: "s1", Agent: "other"}); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate CreateSession error = %v, want ErrConflict", err)
		}
		if _, err := db.GetSession(ctx, "s404"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetSession(unknown) error = %v, want ErrNotFound", err)
		}
	}},

	{"sessions paging", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		// Owner A: seven sessions, s3 and s4 created at the same instant.
		var wantA []string
		for i := range 7 {
			at := t0.Add(time.Duration(i) * time.Minute)
			if i == 4 {
				at = t0.Add(3 * time.Minute)
			}
			id := fmt.Sprintf("a%d", i)
			if err := db.CreateSession(ctx, Session{ID: id, Agent: "permits", OwnerKeyID: "A", CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			wantA = append(wantA, id)
		}
		slices.Reverse(wantA) // newest first; a4 and a3 tie on time, a4 > a3 by id
		for i := range 3 {
			if err := db.CreateSession(ctx, Session{ID: fmt.Sprintf("b%d", i), Agent: "energy", OwnerKeyID: "B", CreatedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}

		var got []string
		before := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			page, err := db.ListSessions(ctx, "A", 3, before)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 3 {
				t.Fatalf("page of %d, limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, s := range page {
				if s.OwnerKeyID != "A" {
					t.Fatalf("session %s of owner %s in A's list", s.ID, s.OwnerKeyID)
				}
				got = append(got, s.ID)
			}
			before = page[len(page)-1].ID
		}
		if !slices.Equal(got, wantA) {
			t.Errorf("pages of A = %v, want %v", got, wantA)
		}

		all, err := db.ListSessions(ctx, "", 0, "")
		if err != nil || len(all) != 10 {
			t.Errorf("ListSessions(all owners) = %d sessions, %v; want 10", len(all), err)
		}
		none, err := db.ListSessions(ctx, "nobody", 5, "")
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("ListSessions(nobody) = %#v, %v; want an empty list", none, err)
		}
		if _, err := db.ListSessions(ctx, "A", 3, "zz"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown cursor error = %v, want ErrNotFound", err)
		}
		if _, err := db.ListSessions(ctx, "A", 3, "b1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("another owner's cursor error = %v, want ErrNotFound", err)
		}
	}},

	{"events append, order, seq", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateSession(ctx, Session{ID: "s", Agent: "traffic", OwnerKeyID: "k", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if turn, err := db.LastTurn(ctx, "s"); err != nil || turn != 0 {
			t.Errorf("LastTurn without events = %d, %v; want 0", turn, err)
		}
		if evs, err := db.Events(ctx, "s"); err != nil || evs == nil || len(evs) != 0 {
			t.Errorf("Events without events = %#v, %v; want an empty list", evs, err)
		}

		first := []Event{
			{Turn: 1, Type: "user", Data: json.RawMessage(`{"text":"东三环现在堵吗？"}`), CreatedAt: t0.Add(time.Second)},
			{Turn: 1, Type: "tool_call", Data: json.RawMessage(`{"name":"traffic_segment","arguments":{"id":"E3"}}`), CreatedAt: t0.Add(2 * time.Second)},
			{Turn: 1, Type: "answer"}, // nil data, zero time
		}
		got, err := db.AppendEvents(ctx, "s", first)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) || e.SessionID != "s" {
				t.Errorf("event %d: seq %d session %q, want %d and s", i, e.Seq, e.SessionID, i+1)
			}
		}
		if string(got[2].Data) != "null" || got[2].CreatedAt.IsZero() {
			t.Errorf("nil data / zero time event = %s at %v; want null at now", got[2].Data, got[2].CreatedAt)
		}
		second, err := db.AppendEvents(ctx, "s", []Event{
			{Turn: 2, Type: "user", Data: json.RawMessage(`{"text":"and now?"}`), CreatedAt: t0.Add(time.Hour)},
			{Turn: 2, Type: "answer", Data: json.RawMessage(`{"text":"clear"}`), CreatedAt: t0.Add(time.Hour + time.Second)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if second[0].Seq != 4 || second[1].Seq != 5 {
			t.Errorf("second batch seqs = %d, %d; want 4, 5", second[0].Seq, second[1].Seq)
		}

		stored, err := db.Events(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		want := append(got, second...)
		if len(stored) != len(want) {
			t.Fatalf("Events = %d events, want %d", len(stored), len(want))
		}
		for i := range want {
			assertEvent(t, stored[i], want[i])
		}
		if turn, err := db.LastTurn(ctx, "s"); err != nil || turn != 2 {
			t.Errorf("LastTurn = %d, %v; want 2", turn, err)
		}
		s, err := db.GetSession(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		// The nil-time event was stamped now, after every explicit time.
		if !s.UpdatedAt.Equal(got[2].CreatedAt) {
			t.Errorf("UpdatedAt = %v, want the newest event's time %v", s.UpdatedAt, got[2].CreatedAt)
		}
	}},

	{"events refused", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateSession(ctx, Session{ID: "s", Agent: "a", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		cases := map[string]struct {
			session  string
			events   []Event
			notFound bool
		}{
			"unknown session": {"nope", []Event{{Type: "user", Data: json.RawMessage(`{}`)}}, true},
			"no type":         {"s", []Event{{Data: json.RawMessage(`{}`)}}, false},
			"data not JSON":   {"s", []Event{{Type: "user", Data: json.RawMessage(`{"text":`)}}, false},
		}
		for name, c := range cases {
			_, err := db.AppendEvents(ctx, c.session, c.events)
			if err == nil || errors.Is(err, ErrNotFound) != c.notFound {
				t.Errorf("%s: AppendEvents error = %v", name, err)
			}
		}
		if evs, _ := db.Events(ctx, "s"); len(evs) != 0 {
			t.Errorf("refused appends stored %d events", len(evs))
		}
		if _, err := db.Events(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Events(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.LastTurn(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LastTurn(unknown) error = %v, want ErrNotFound", err)
		}
	}},

	{"events concurrent appenders", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateSession(ctx, Session{ID: "busy", Agent: "a", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		const writers, batches, perBatch = 8, 10, 3
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		acked := make([][]Event, writers)
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					batch := make([]Event, perBatch)
					for i := range batch {
						batch[i] = Event{Turn: b, Type: "x", Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"b":%d,"i":%d}`, w, b, i))}
					}
					got, err := db.AppendEvents(ctx, "busy", batch)
					if err != nil {
						errs <- err
						return
					}
					for i := 1; i < len(got); i++ {
						if got[i].Seq != got[i-1].Seq+1 {
							errs <- fmt.Errorf("writer %d: batch seqs not consecutive: %d then %d", w, got[i-1].Seq, got[i].Seq)
							return
						}
					}
					acked[w] = append(acked[w], got...)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		stored, err := db.Events(ctx, "busy")
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != writers*batches*perBatch {
			t.Fatalf("stored %d events, want %d", len(stored), writers*batches*perBatch)
		}
		for i, e := range stored {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d: seqs must run 1..n", i, e.Seq)
			}
		}
		for w := range acked {
			for _, e := range acked[w] {
				if string(stored[e.Seq-1].Data) != string(e.Data) {
					t.Fatalf("seq %d holds %s, but writer %d was told it holds %s", e.Seq, stored[e.Seq-1].Data, w, e.Data)
				}
			}
		}
	}},

	{"reopen keeps data, migrations idempotent", func(t *testing.T, tg target) {
		ctx := t.Context()
		db := tg.open(t)
		if err := db.CreateSession(ctx, Session{ID: "kept", Agent: "a", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AppendEvents(ctx, "kept", []Event{{Turn: 1, Type: "user", Data: json.RawMessage(`"hi"`)}}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			db = tg.open(t)
			assertSchema(t, db)
			evs, err := db.Events(ctx, "kept")
			if err != nil || len(evs) != 1 || string(evs[0].Data) != `"hi"` {
				t.Fatalf("after reopen Events = %v, %v; want the one event", evs, err)
			}
			db.Close()
		}
	}},

	{"concurrent opens migrate once", func(t *testing.T, tg target) {
		const opens = 4
		dbs := make([]*DB, opens)
		errs := make([]error, opens)
		var wg sync.WaitGroup
		for i := range opens {
			wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), tg.url, tg.dir) })
		}
		wg.Wait()
		for i := range opens {
			if errs[i] != nil {
				t.Fatalf("Open %d: %v", i, errs[i])
			}
			defer dbs[i].Close()
		}
		assertSchema(t, dbs[0])
	}},

	{"newer schema refused", func(t *testing.T, tg target) {
		db := tg.open(t)
		if _, err := db.sql.ExecContext(t.Context(), db.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"), 9999, "future", 0); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if db, err := Open(t.Context(), tg.url, tg.dir); err == nil {
			db.Close()
			t.Fatal("Open of a database from a newer binary succeeded")
		}
	}},
}

func assertSchema(t *testing.T, db *DB) {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(t.Context())
	if err != nil || v != len(ms) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(ms))
	}
	var rows int
	if err := db.sql.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d (one per migration)", rows, err, len(ms))
	}
}

func assertKey(t *testing.T, got, want Key) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Role != want.Role || got.Clearance != want.Clearance ||
		got.Hash != want.Hash || got.CreatedBy != want.CreatedBy {
		t.Errorf("key = %+v, want %+v", got, want)
	}
	assertTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	assertTimePtr(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	assertTimePtr(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
}

func assertSession(t *testing.T, got, want Session) {
	t.Helper()
	if got.ID != want.ID || got.Agent != want.Agent || got.OwnerKeyID != want.OwnerKeyID || got.Title != want.Title {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	assertTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	assertTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func assertEvent(t *testing.T, got, want Event) {
	t.Helper()
	if got.SessionID != want.SessionID || got.Seq != want.Seq || got.Turn != want.Turn || got.Type != want.Type ||
		string(got.Data) != string(want.Data) {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	assertTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

func assertTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v, want %v in UTC", field, got, want)
	}
}

func assertTimePtr(t *testing.T, field string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", field, got, want)
	default:
		assertTime(t, field, *got, *want)
	}
}

func TestKeyActive(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		key  Key
		now  time.Time
		want bool
	}{
		"plain":              {Key{}, t0, true},
		"before expiry":      {Key{ExpiresAt: ptr(t0.Add(time.Second))}, t0, true},
		"at expiry":          {Key{ExpiresAt: ptr(t0)}, t0, false},
		"revoked":            {Key{RevokedAt: ptr(t0.Add(-time.Second))}, t0, false},
		"revoked later":      {Key{RevokedAt: ptr(t0.Add(time.Hour))}, t0, true},
		"expired and revoke": {Key{ExpiresAt: ptr(t0.Add(-time.Hour)), RevokedAt: ptr(t0.Add(-time.Hour))}, t0, false},
	}
	for name, c := range cases {
		if got := c.key.Active(c.now); got != c.want {
			t.Errorf("%s: Active = %v, want %v", name, got, c.want)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ in, want string }{
		"none":      {"SELECT 1", "SELECT 1"},
		"several":   {"UPDATE t SET a = ? WHERE b = ? AND c = ?", "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"},
		"in string": {"SELECT '?' , ? FROM t WHERE x = 'it''s ?'", "SELECT '?' , $1 FROM t WHERE x = 'it''s ?'"},
	}
	for name, c := range cases {
		if got := (postgresDialect{}).rebind(c.in); got != c.want {
			t.Errorf("%s: rebind(%q) = %q, want %q", name, c.in, got, c.want)
		}
		if got := (sqliteDialect{}).rebind(c.in); got != c.in {
			t.Errorf("%s: sqlite rebind changed %q", name, c.in)
		}
	}
}

func TestMigrationsLoad(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if len(m.stmts) == 0 {
			t.Errorf("migration %d (%s) has no statements", m.version, m.name)
		}
	}
	got := statements("-- comment\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\n-- tail\n")
	want := []string{"CREATE TABLE a (x TEXT);", "CREATE INDEX i ON a (x);"}
	if !slices.Equal(got, want) {
		t.Errorf("statements = %q, want %q", got, want)
	}
}

func TestOpenRefusesUnknownScheme(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"mysql://u:secret@h/db", "sqlite:///x.db", "u:secret@localhost/db"} {
		db, err := Open(t.Context(), u, t.TempDir())
		if err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded", u)
		}
		if want := "secret"; strings.Contains(err.Error(), want) {
			t.Errorf("error %q leaks the URL's password", err)
		}
	}
}
