package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/internal/pgtest"
)

// pair opens the same database twice, as two replicas would.
type pair func(t *testing.T) (a, b *DB)

// TestScaleOut runs the stores several replicas share — registry versions,
// rate counters, turn slots, city effects — on both backends, each test
// with two handles on one database.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	backends := map[string]pair{
		BackendSQLite: func(t *testing.T) (*DB, *DB) {
			dir := t.TempDir()
			return openT(t, "", dir), openT(t, "", dir)
		},
		BackendPostgres: func(t *testing.T) (*DB, *DB) {
			url := pgtest.NewDatabase(t, pgURL)
			return openT(t, url, ""), openT(t, url, "")
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range scaleOutCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					a, b := open(t)
					c.run(t, a, b)
				})
			}
		})
	}
}

func openT(t *testing.T, url, dir string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var scaleOutCases = []struct {
	name string
	run  func(t *testing.T, a, b *DB)
}{
	{"a registry bump on one handle wakes the other's watcher", func(t *testing.T, a, b *DB) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		seen := make(chan int64, 10)
		done := make(chan struct{})
		go func() {
			defer close(done)
			b.WatchRegistry(ctx, RegistryTools, 50*time.Millisecond, nil, func(v int64) { seen <- v })
		}()
		time.Sleep(100 * time.Millisecond) // the watcher has read the starting version
		v1, err := a.BumpRegistry(ctx, RegistryTools)
		if err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got != v1 {
			t.Errorf("watcher saw version %d, want %d", got, v1)
		}
		v2, _ := a.BumpRegistry(ctx, RegistryTools)
		if got := <-seen; got != v2 || v2 != v1+1 {
			t.Errorf("second bump: saw %d, bumped to %d after %d", got, v2, v1)
		}
		if v, err := b.RegistryVersion(ctx, RegistryTools); err != nil || v != v2 {
			t.Errorf("RegistryVersion = %d, %v; want %d", v, err, v2)
		}
		cancel()
		<-done
	}},
	{"rate counters lose no count under concurrent adds from two handles", func(t *testing.T, a, b *DB) {
		ctx := t.Context()
		now := time.Date(2026, 5, 1, 10, 0, 30, 0, time.UTC)
		var wg sync.WaitGroup
		for i := range 40 {
			db := []*DB{a, b}[i%2]
			wg.Go(func() {
				if _, _, err := db.AddRate(ctx, "req:key:k1", 1, time.Minute, now); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		total, end, err := a.AddRate(ctx, "req:key:k1", 0, time.Minute, now)
		if err != nil || total != 40 || !end.Equal(time.Date(2026, 5, 1, 10, 1, 0, 0, time.UTC)) {
			t.Fatalf("total %d, window end %v, %v; want 40 ending 10:01", total, end, err)
		}
		// The next window starts from zero; a replica whose clock is
		// behind adds to the later window, not back to the old one.
		if total, _, _ := b.AddRate(ctx, "req:key:k1", 5, time.Minute, now.Add(time.Minute)); total != 5 {
			t.Errorf("next window: %d, want 5", total)
		}
		if total, _, _ := a.AddRate(ctx, "req:key:k1", 1, time.Minute, now); total != 6 {
			t.Errorf("a late clock: %d, want 6 (added to the later window)", total)
		}
		if _, _, err := a.AddRate(ctx, "", 1, time.Minute, now); err == nil {
			t.Error("an empty key was accepted")
		}
	}},
	{"turn slots hold their limit across handles, release and expire", func(t *testing.T, a, b *DB) {
		ctx := t.Context()
		now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var got atomic.Int64
		for i := range 12 {
			db := []*DB{a, b}[i%2]
			wg.Go(func() {
				ok, err := db.AcquireSlot(ctx, "turns:key:k1", fmt.Sprint("turn", i), 3, time.Minute, now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					got.Add(1)
				}
			})
		}
		wg.Wait()
		if got.Load() != 3 {
			t.Fatalf("%d of 12 concurrent turns got a slot, want 3", got.Load())
		}
		if ok, _ := a.AcquireSlot(ctx, "turns:key:k1", "late", 3, time.Minute, now); ok {
			t.Error("a fourth turn got a slot")
		}
		// Release every slot and take them again.
		for i := range 12 {
			if err := b.ReleaseSlot(ctx, "turns:key:k1", fmt.Sprint("turn", i)); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := a.AcquireSlot(ctx, "turns:key:k1", "late", 3, time.Minute, now); !ok {
			t.Error("no slot after every turn released its own")
		}
		// Slots of a dead replica expire.
		for i := range 2 {
			a.AcquireSlot(ctx, "turns:key:k1", fmt.Sprint("dead", i), 3, time.Minute, now)
		}
		if ok, _ := b.AcquireSlot(ctx, "turns:key:k1", "after", 3, time.Minute, now.Add(30*time.Second)); ok {
			t.Error("a slot beyond the limit before the others expired")
		}
		if ok, _ := b.AcquireSlot(ctx, "turns:key:k1", "after", 3, time.Minute, now.Add(61*time.Second)); !ok {
			t.Error("no slot once the held ones expired")
		}
		if ok, _ := b.AcquireSlot(ctx, "turns:key:other", "x", 1, time.Minute, now); !ok {
			t.Error("scopes are not independent")
		}
	}},
	{"city effects are ordered, shared and recorded once per proposal", func(t *testing.T, a, b *DB) {
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 16 {
			db := []*DB{a, b}[i%2]
			wg.Go(func() {
				if _, err := db.AppendCityEffect(ctx, CityEffect{ProposalID: fmt.Sprint("prop_", i), Kind: "democity.signal_timing",
					Payload: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		es, err := b.CityEffectsAfter(ctx, 0, 0)
		if err != nil || len(es) != 16 {
			t.Fatalf("effects = %d, %v; want 16", len(es), err)
		}
		var seqs []int64
		props := map[string]bool{}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
			props[e.ProposalID] = true
		}
		if !slices.IsSorted(seqs) || seqs[0] != 1 || seqs[15] != 16 || len(props) != 16 {
			t.Errorf("seqs %v over %d proposals", seqs, len(props))
		}
		dup, err := a.AppendCityEffect(ctx, CityEffect{ProposalID: "prop_3", Kind: "democity.signal_timing", Payload: json.RawMessage(`{}`)})
		if !errors.Is(err, ErrConflict) || dup.ProposalID != "prop_3" || dup.Seq == 0 {
			t.Errorf("a second effect of prop_3: %+v, %v; want the first with ErrConflict", dup, err)
		}
		if later, _ := a.CityEffectsAfter(ctx, 14, 10); len(later) != 2 || later[0].Seq != 15 {
			t.Errorf("after 14: %+v", later)
		}
		if v, _ := b.RegistryVersion(ctx, RegistryCityEffects); v != 16 {
			t.Errorf("effects version %d, want 16 (one bump per effect)", v)
		}
	}},
}

// TestPoolParams checks that the pool_* parameters of a PostgreSQL URL are
// taken out of it and honoured, with the defaults for the rest.
func TestPoolParams(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		url, rest string
		want      poolSettings
		bad       bool
	}{
		"none": {url: "postgres://u@h/db?sslmode=disable", rest: "postgres://u@h/db?sslmode=disable", want: defaultPool()},
		"max only": {url: "postgres://u@h/db?pool_max_conns=4&sslmode=disable", rest: "postgres://u@h/db?sslmode=disable",
			want: poolSettings{MaxConns: 4, MinConns: 4, MaxConnIdleTime: 5 * time.Minute}},
		"all": {url: "postgres://u:p@h:5433/db?pool_max_conns=30&pool_min_conns=2&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=30s",
			rest: "postgres://u:p@h:5433/db", want: poolSettings{MaxConns: 30, MinConns: 2, MaxConnLifetime: time.Hour, MaxConnIdleTime: 30 * time.Second}},
		"key=value string": {url: "host=h dbname=db pool_max_conns=3", rest: "host=h dbname=db pool_max_conns=3", want: defaultPool()},
		"zero max":         {url: "postgres://h/db?pool_max_conns=0", bad: true},
		"not a number":     {url: "postgres://h/db?pool_max_conns=many", bad: true},
		"min above max":    {url: "postgres://h/db?pool_max_conns=2&pool_min_conns=5", bad: true},
		"bad duration":     {url: "postgres://h/db?pool_max_conn_lifetime=soon", bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			rest, got, err := splitPoolParams(c.url)
			if c.bad {
				if err == nil {
					t.Fatalf("accepted %q", c.url)
				}
				return
			}
			if err != nil || rest != c.rest || got != c.want {
				t.Errorf("splitPoolParams(%q) = %q, %+v, %v; want %q, %+v", c.url, rest, got, err, c.rest, c.want)
			}
		})
	}
}

// TestPoolMaxConnsHonoured opens PostgreSQL with pool_max_conns in the URL:
// the pool has that size, not the built-in one.
func TestPoolMaxConnsHonoured(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t, postgresURL(t))
	for _, c := range []struct {
		url  string
		want int
	}{{url, postgresMaxConns}, {url + "&pool_max_conns=3", 3}, {url + "&pool_max_conns=40", 40}} {
		db := openT(t, c.url, "")
		if got := db.PoolMaxConns(); got != c.want {
			t.Errorf("%s: pool of %d, want %d", c.url, got, c.want)
		}
	}
}
