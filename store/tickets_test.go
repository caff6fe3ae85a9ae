package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

func testTicket(id string, at time.Time) Ticket {
	return Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "路灯坏了 street light out",
		Caller: json.RawMessage(`{"name":"张三"}`), Address: "人民路12号", Lat: ptr(30.5), Lon: ptr(114.3),
		Type: "help", Category: "020201", Department: "urban_management", Urgency: "normal", Status: "triaged",
		Data: json.RawMessage(`{"ticket_id":"` + id + `"}`), ReceivedAt: at, CreatedAt: at, Deadline: at.Add(7 * 24 * time.Hour)}
}

var ticketConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"tickets create, get, token, conflicts", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		tk := testTicket("tkt_1", t0)
		tk.Degraded = true
		if err := db.CreateTicket(ctx, tk, nil, audit.Entry{Actor: "key_h", Kind: "hotline.ticket_create", Subject: "tkt_1"}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetTicket(ctx, "tkt_1")
		if err != nil {
			t.Fatal(err)
		}
		assertTime(t, "ReceivedAt", got.ReceivedAt, t0)
		assertTime(t, "Deadline", got.Deadline, t0.Add(7*24*time.Hour))
		assertTime(t, "UpdatedAt", got.UpdatedAt, t0) // zero UpdatedAt means CreatedAt
		if got.Text != tk.Text || got.Address != tk.Address || *got.Lat != 30.5 || *got.Lon != 114.3 || !got.Degraded ||
			got.Status != "triaged" || got.ClosedAt != nil || string(got.Caller) != `{"name":"张三"}` {
			t.Errorf("GetTicket = %+v", got)
		}
		byTok, err := db.TicketByToken(ctx, "tok_tkt_1")
		if err != nil || byTok.ID != "tkt_1" {
			t.Errorf("TicketByToken = %v, %v", byTok.ID, err)
		}
		if chain, err := db.AuditChain(ctx, 0, 10); err != nil || len(chain) != 1 || chain[0].Subject != "tkt_1" {
			t.Errorf("audit in the same transaction: %+v, %v", chain, err)
		}
		noPlace := testTicket("tkt_2", t0)
		noPlace.Lat, noPlace.Lon, noPlace.Caller, noPlace.Data = nil, nil, nil, nil
		if err := db.CreateTicket(ctx, noPlace, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetTicket(ctx, "tkt_2"); got.Lat != nil || string(got.Caller) != "{}" || string(got.Data) != "{}" {
			t.Errorf("ticket without place or caller = %+v", got)
		}
		cases := map[string]struct {
			t    Ticket
			want error
		}{
			"same id":    {func() Ticket { x := testTicket("tkt_1", t0); x.Token = "tok_other"; return x }(), ErrConflict},
			"same token": {func() Ticket { x := testTicket("tkt_3", t0); x.Token = "tok_tkt_1"; return x }(), ErrConflict},
		}
		for name, c := range cases {
			if err := db.CreateTicket(ctx, c.t, nil); !errors.Is(err, c.want) {
				t.Errorf("%s: error = %v, want %v", name, err, c.want)
			}
		}
		for name, bad := range map[string]Ticket{
			"no id":       {Token: "x", Status: "triaged"},
			"no status":   {ID: "x", Token: "x"},
			"caller JSON": func() Ticket { x := testTicket("tkt_9", t0); x.Caller = json.RawMessage("{"); return x }(),
		} {
			if err := db.CreateTicket(ctx, bad, nil); err == nil {
				t.Errorf("%s: stored", name)
			}
		}
		if _, err := db.GetTicket(ctx, "tkt_404"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetTicket(unknown) error = %v", err)
		}
		if _, err := db.TicketByToken(ctx, "tok_404"); !errors.Is(err, ErrNotFound) {
			t.Errorf("TicketByToken(unknown) error = %v", err)
		}
	}},

	{"tickets update, conditional status, close", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateTicket(ctx, testTicket("tkt_1", t0), nil); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Hour)
		got, err := db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_1", FromStatus: "triaged", Status: "pending_approval", ProposalID: "prop_1",
			Data: json.RawMessage(`{"v":2}`), At: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "pending_approval" || got.ProposalID != "prop_1" || string(got.Data) != `{"v":2}` || got.Text == "" {
			t.Errorf("after update = %+v", got)
		}
		assertTime(t, "UpdatedAt", got.UpdatedAt, at)
		stale, err := db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_1", FromStatus: "triaged", Status: "dispatched"}, nil)
		if !errors.Is(err, ErrTicketChanged) || !errors.Is(err, ErrConflict) || stale.Status != "pending_approval" {
			t.Errorf("update from a stale status = %v, %v; want ErrTicketChanged with the stored ticket", stale.Status, err)
		}
		closed := at.Add(time.Hour)
		got, err = db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_1", Status: TicketStatusClosed, Resolution: "已修复", ClosedAt: &closed, At: closed},
			nil, audit.Entry{Actor: "key_h", Kind: "hotline.ticket_close", Subject: "tkt_1"})
		if err != nil || got.Status != TicketStatusClosed || got.Resolution != "已修复" || got.ProposalID != "prop_1" {
			t.Fatalf("close = %+v, %v", got, err)
		}
		assertTimePtr(t, "ClosedAt", got.ClosedAt, &closed)
		if _, err := db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_404", Status: "closed"}, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("update of an unknown ticket: %v", err)
		}
		if _, err := db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_1", Data: json.RawMessage("{")}, nil); err == nil {
			t.Error("update with data that is not JSON succeeded")
		}
	}},

	{"tickets list filters and paging", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		mk := func(id string, i int, mut func(*Ticket)) {
			x := testTicket(id, t0.Add(time.Duration(i)*time.Minute))
			if mut != nil {
				mut(&x)
			}
			if err := db.CreateTicket(ctx, x, nil); err != nil {
				t.Fatal(err)
			}
		}
		mk("a", 0, nil)
		mk("b", 1, func(x *Ticket) {
			x.Type, x.Category, x.Department, x.Urgency = "complaint", "030101", "water", "urgent"
		})
		mk("c", 2, func(x *Ticket) { x.Category, x.Department, x.Degraded = "030201", "power", true })
		mk("d", 3, func(x *Ticket) { x.Status, x.Channel = TicketStatusClosed, "web" })
		mk("e", 3, func(x *Ticket) { x.Deadline = t0.Add(time.Hour) }) // same time as d: ids break the tie
		none := false
		cases := map[string]struct {
			f    TicketFilter
			want []string
		}{
			"newest first":      {TicketFilter{}, []string{"e", "d", "c", "b", "a"}},
			"oldest first":      {TicketFilter{Oldest: true}, []string{"a", "b", "c", "d", "e"}},
			"type":              {TicketFilter{Type: "complaint"}, []string{"b"}},
			"category prefix":   {TicketFilter{Category: "03"}, []string{"c", "b"}},
			"category exact":    {TicketFilter{Category: "030201"}, []string{"c"}},
			"categories":        {TicketFilter{Categories: []string{"030101", "020201"}}, []string{"e", "d", "b", "a"}},
			"department":        {TicketFilter{Department: "water"}, []string{"b"}},
			"urgency":           {TicketFilter{Urgency: "urgent"}, []string{"b"}},
			"channel":           {TicketFilter{Channel: "web"}, []string{"d"}},
			"status":            {TicketFilter{Status: TicketStatusClosed}, []string{"d"}},
			"statuses":          {TicketFilter{Statuses: []string{"triaged"}, Department: "urban_management"}, []string{"e", "a"}},
			"degraded":          {TicketFilter{Degraded: ptr(true)}, []string{"c"}},
			"not degraded":      {TicketFilter{Degraded: &none, Limit: 2}, []string{"e", "d"}},
			"ids":               {TicketFilter{IDs: []string{"a", "c", "zz"}}, []string{"c", "a"}},
			"received window":   {TicketFilter{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []string{"c", "b"}},
			"overdue":           {TicketFilter{OverdueAt: t0.Add(2 * time.Hour)}, []string{"e"}},
			"offset":            {TicketFilter{Limit: 2, Offset: 2}, []string{"c", "b"}},
			"nothing":           {TicketFilter{Type: "praise"}, []string{}},
			"prefix not a LIKE": {TicketFilter{Category: "%"}, []string{"e", "d", "c", "b", "a"}},
		}
		for name, c := range cases {
			got, err := db.ListTickets(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ids := []string{}
			for _, x := range got {
				ids = append(ids, x.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("%s: %v, want %v", name, ids, c.want)
			}
		}
		var pages []string
		before := ""
		for range 10 {
			page, err := db.ListTickets(ctx, TicketFilter{Limit: 2, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, x := range page {
				pages = append(pages, x.ID)
			}
			before = page[len(page)-1].ID
		}
		if want := []string{"e", "d", "c", "b", "a"}; !slices.Equal(pages, want) {
			t.Errorf("cursor pages = %v, want %v", pages, want)
		}
		if _, err := db.ListTickets(ctx, TicketFilter{Before: "zz"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown cursor error = %v", err)
		}
	}},

	{"tickets stats", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if st, err := db.TicketStats(ctx, TicketFilter{}, t0); err != nil || st.Total != 0 || st.Closed != 0 {
			t.Fatalf("empty stats = %+v, %v", st, err)
		}
		mk := func(id string, mut func(*Ticket)) {
			x := testTicket(id, t0)
			x.Deadline = t0.Add(2 * time.Hour)
			mut(&x)
			if err := db.CreateTicket(ctx, x, nil); err != nil {
				t.Fatal(err)
			}
		}
		early, late := t0.Add(time.Hour), t0.Add(3*time.Hour)
		mk("on-time", func(x *Ticket) { x.Status, x.ClosedAt = TicketStatusClosed, &early })
		mk("late", func(x *Ticket) { x.Status, x.ClosedAt, x.Type = TicketStatusClosed, &late, "complaint" })
		mk("overdue", func(x *Ticket) { x.Degraded, x.ProposalID = true, "prop_1" })
		mk("open", func(x *Ticket) { x.Deadline, x.Category, x.Department = t0.Add(48*time.Hour), "030101", "water" })
		st, err := db.TicketStats(ctx, TicketFilter{}, t0.Add(4*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := TicketStats{Total: 4, Closed: 2, ClosedOnTime: 1, OpenPastDue: 1, Degraded: 1, DispatchedOnce: 1,
			ByType: map[string]int{"help": 3, "complaint": 1}, ByCategory: map[string]int{"020201": 3, "030101": 1},
			ByDepartment: map[string]int{"urban_management": 3, "water": 1}, ByStatus: map[string]int{"closed": 2, "triaged": 2}}
		if fmt.Sprint(st) != fmt.Sprint(want) {
			t.Errorf("stats = %+v\nwant    %+v", st, want)
		}
		if st, _ := db.TicketStats(ctx, TicketFilter{Department: "water", Limit: 1, Before: "x"}, t0); st.Total != 1 || st.OpenPastDue != 0 {
			t.Errorf("filtered stats = %+v", st)
		}
	}},

	{"idempotency claim, replay, expiry, takeover, release, purge", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		rec := Idempotency{Scope: "v1:key_h", Key: "k1", RequestHash: "h1", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
		got, claimed, err := db.ClaimIdempotency(ctx, rec, t0.Add(-time.Minute))
		if err != nil || !claimed || !got.InFlight() || got.RequestHash != "h1" {
			t.Fatalf("first claim = %+v, %v, %v", got, claimed, err)
		}
		assertTime(t, "LockedAt", got.LockedAt, t0)
		// Another request with the key while the first runs: not claimed.
		later := rec
		later.CreatedAt = t0.Add(time.Second)
		if got, claimed, err := db.ClaimIdempotency(ctx, later, t0.Add(-time.Minute)); err != nil || claimed || !got.InFlight() {
			t.Fatalf("claim while in flight = %+v, %v, %v", got, claimed, err)
		}
		// A different request with the key is reported as stored; the caller compares hashes.
		other := later
		other.RequestHash = "h2"
		if got, claimed, _ := db.ClaimIdempotency(ctx, other, t0.Add(time.Hour)); claimed || got.RequestHash != "h1" {
			t.Fatalf("claim with another hash = %+v, %v", got, claimed)
		}
		// The ticket is created under the key, in the same transaction.
		if err := db.CreateTicket(ctx, testTicket("tkt_k1", t0), &IdempotencyRef{Scope: rec.Scope, Key: rec.Key}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetIdempotency(ctx, rec.Scope, rec.Key); got.TicketID != "tkt_k1" {
			t.Errorf("ticket id under the key = %q", got.TicketID)
		}
		// A flight whose claim is stale (its process died) is taken over by the same request.
		staleAfter := t0.Add(time.Nanosecond)
		taken, claimed, err := db.ClaimIdempotency(ctx, later, staleAfter)
		if err != nil || !claimed || taken.TicketID != "tkt_k1" {
			t.Fatalf("takeover = %+v, %v, %v", taken, claimed, err)
		}
		assertTime(t, "LockedAt after takeover", taken.LockedAt, later.CreatedAt)
		// Finishing stores the response, and ends the flight.
		resp := IdempotencyResponse{Scope: rec.Scope, Key: rec.Key, Status: 201, Response: json.RawMessage(`{"ticket_id":"tkt_k1"}`)}
		if _, err := db.UpdateTicket(ctx, TicketUpdate{ID: "tkt_k1", Status: "pending_approval"}, &resp); err != nil {
			t.Fatal(err)
		}
		done, claimed, err := db.ClaimIdempotency(ctx, later, t0.Add(time.Hour))
		if err != nil || claimed || done.InFlight() || done.Status != 201 || string(done.Response) != `{"ticket_id":"tkt_k1"}` {
			t.Fatalf("replay record = %+v, %v, %v", done, claimed, err)
		}
		if err := db.CompleteIdempotency(ctx, resp); !errors.Is(err, ErrTicketChanged) {
			t.Errorf("completing twice: %v", err)
		}
		// After expiry the key is new again.
		expired := rec
		expired.RequestHash, expired.CreatedAt, expired.ExpiresAt = "h3", t0.Add(25*time.Hour), t0.Add(49*time.Hour)
		again, claimed, err := db.ClaimIdempotency(ctx, expired, t0)
		if err != nil || !claimed || again.RequestHash != "h3" || again.TicketID != "" || !again.InFlight() {
			t.Fatalf("claim after expiry = %+v, %v, %v", again, claimed, err)
		}
		// Releasing an in-flight key without a ticket frees it.
		if err := db.ReleaseIdempotency(ctx, rec.Scope, rec.Key, again.LockedAt); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetIdempotency(ctx, rec.Scope, rec.Key); !errors.Is(err, ErrNotFound) {
			t.Errorf("released key still stored: %v", err)
		}
		// A ticket under a key that is not in flight is refused, and not stored.
		if err := db.CreateTicket(ctx, testTicket("tkt_orphan", t0), &IdempotencyRef{Scope: rec.Scope, Key: "nope"}); !errors.Is(err, ErrTicketChanged) {
			t.Errorf("ticket under a key not in flight: %v", err)
		}
		if _, err := db.GetTicket(ctx, "tkt_orphan"); !errors.Is(err, ErrNotFound) {
			t.Errorf("refused ticket was stored: %v", err)
		}
		// Purge deletes finished keys past their expiry only.
		for i, exp := range []time.Duration{time.Hour, 3 * time.Hour} {
			r := Idempotency{Scope: "s", Key: fmt.Sprint("p", i), RequestHash: "h", CreatedAt: t0, ExpiresAt: t0.Add(exp)}
			if _, _, err := db.ClaimIdempotency(ctx, r, t0); err != nil {
				t.Fatal(err)
			}
			if err := db.CompleteIdempotency(ctx, IdempotencyResponse{Scope: "s", Key: r.Key, Status: 201, Response: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := db.ClaimIdempotency(ctx, Idempotency{Scope: "s", Key: "flying", RequestHash: "h", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0); err != nil {
			t.Fatal(err)
		}
		if n, err := db.PurgeIdempotency(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
			t.Errorf("purge = %d, %v; want 1", n, err)
		}
		if _, err := db.GetIdempotency(ctx, "s", "p1"); err != nil {
			t.Errorf("unexpired key purged: %v", err)
		}
		if _, err := db.GetIdempotency(ctx, "s", "flying"); err != nil {
			t.Errorf("in-flight key purged: %v", err)
		}
		if _, _, err := db.ClaimIdempotency(ctx, Idempotency{Scope: "s"}, t0); err == nil {
			t.Error("a claim without key or hash succeeded")
		}
	}},

	{"idempotency concurrent claims: exactly one wins", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, claimed, err := db.ClaimIdempotency(ctx, Idempotency{Scope: "v1:k", Key: "same", RequestHash: "h",
					CreatedAt: t0.Add(time.Duration(i)), ExpiresAt: t0.Add(24 * time.Hour)}, t0.Add(-time.Hour))
				if err != nil {
					t.Error(err)
				}
				if claimed {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d of 50 concurrent claims won; want exactly 1", wins.Load())
		}
	}},
}
