package store

import (
	"errors"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

var lifecycleConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"transitions are conditional, numbered and audited", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateTicket(ctx, testTicket("tkt_1", t0), nil); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Hour)
		u := TransitionUpdate{ID: "tkt_1", From: "triaged", To: "dispatched", Seq: 1, Actor: "key_s", Note: "派单", At: at,
			Department: "water", Stamp: []string{"dispatched_at"}}
		up, tr, err := db.TransitionTicket(ctx, u, audit.Entry{Actor: "key_s", Kind: "hotline.ticket_transition", Subject: "tkt_1"})
		if err != nil {
			t.Fatal(err)
		}
		if up.Status != "dispatched" || up.Department != "water" || up.Lifecycle.Transitions != 1 || up.Lifecycle.DispatchedAt == nil ||
			!up.Lifecycle.DispatchedAt.Equal(at) || tr.Seq != 1 || tr.Department != "water" {
			t.Errorf("after dispatch: %+v %+v", up.Lifecycle, tr)
		}
		// The same transition again: the ticket is no longer triaged.
		if _, _, err := db.TransitionTicket(ctx, u); !errors.Is(err, ErrTicketChanged) {
			t.Errorf("repeat = %v", err)
		}
		// A stale seq on the right status loses too.
		stale := TransitionUpdate{ID: "tkt_1", From: "dispatched", To: "accepted", Seq: 1, Actor: "key_w", At: at}
		if _, _, err := db.TransitionTicket(ctx, stale); !errors.Is(err, ErrTicketChanged) {
			t.Errorf("stale seq = %v", err)
		}
		if _, _, err := db.TransitionTicket(ctx, TransitionUpdate{ID: "tkt_none", From: "triaged", To: "x", Seq: 1}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown ticket = %v", err)
		}
		solved := true
		steps := []TransitionUpdate{
			{From: "dispatched", To: "accepted", Actor: "key_w", Stamp: []string{"accepted_at"}},
			{From: "accepted", To: "in_progress", Actor: "key_w", Note: "waiting", Pause: true},
			{From: "in_progress", To: "replied", Actor: "key_w", Resume: true, Resumed: 2 * time.Hour, Resolution: "已修复", Stamp: []string{"replied_at"}},
			{From: "replied", To: "reopened", Actor: "key_h", Satisfaction: "unsatisfied", Solved: new(bool), IncReopened: true, Stamp: []string{"visited_at"}},
			{From: "reopened", To: "replied", Actor: "key_w", Stamp: []string{"replied_at"}},
			{From: "replied", To: "closed", Actor: "key_h", Satisfaction: "satisfied", Solved: &solved, Stamp: []string{"visited_at", "closed_at"}},
		}
		for i, s := range steps {
			s.ID, s.Seq, s.At = "tkt_1", int64(i+2), at.Add(time.Duration(i+1)*time.Hour)
			if up, _, err = db.TransitionTicket(ctx, s); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		lc := up.Lifecycle
		if up.Status != "closed" || up.ClosedAt == nil || up.Resolution != "已修复" || lc.Satisfaction != "satisfied" || lc.Solved == nil || !*lc.Solved ||
			lc.Reopened != 1 || lc.Paused != 2*time.Hour || lc.PausedAt != nil || lc.Transitions != 7 || lc.AcceptedAt == nil || lc.VisitedAt == nil {
			t.Errorf("closed: %+v %+v", up, lc)
		}
		trs, err := db.TicketTransitions(ctx, "tkt_1")
		if err != nil || len(trs) != 7 || trs[0].From != "triaged" || trs[6].To != "closed" || trs[6].Seq != 7 || trs[1].Actor != "key_w" {
			t.Errorf("transitions = %+v, %v", trs, err)
		}
		if chain, err := db.AuditChain(ctx, 0, 10); err != nil || len(chain) != 1 {
			t.Errorf("audit: %d records, %v", len(chain), err)
		}
		if _, _, err := db.TransitionTicket(ctx, TransitionUpdate{ID: "tkt_1", From: "closed", To: "x", Seq: 8, Stamp: []string{"deadline"}}); err == nil {
			t.Error("a non-time column stamped")
		}
	}},
	{"supervision flags once, queue by deadline", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		for i, id := range []string{"tkt_a", "tkt_b", "tkt_c"} {
			tk := testTicket(id, t0)
			tk.Department, tk.Deadline = "water", t0.Add(time.Duration(10*(i+1))*time.Hour) // 10h, 20h, 30h
			if err := db.CreateTicket(ctx, tk, nil); err != nil {
				t.Fatal(err)
			}
		}
		running := []string{"triaged"}
		at := t0.Add(16 * time.Hour) // past 80 % of a (8h) and b (16h), not c (24h); past a's deadline only
		warn, err := db.TicketsToSupervise(ctx, FlagWarned, 0.8, running, at, 10)
		if err != nil || len(warn) != 2 || warn[0].ID != "tkt_a" || warn[1].ID != "tkt_b" {
			t.Fatalf("to warn = %v, %v", lifecycleIDs(warn), err)
		}
		over, err := db.TicketsToSupervise(ctx, FlagOverdue, 1, running, at, 10)
		if err != nil || len(over) != 1 || over[0].ID != "tkt_a" {
			t.Fatalf("overdue = %v, %v", lifecycleIDs(over), err)
		}
		set, err := db.FlagTicket(ctx, "tkt_a", FlagOverdue, "triaged", at, audit.Entry{Actor: "system", Kind: "hotline.ticket_overdue", Subject: "tkt_a"})
		if err != nil || !set {
			t.Fatalf("flag = %v, %v", set, err)
		}
		if set, err := db.FlagTicket(ctx, "tkt_a", FlagOverdue, "triaged", at, audit.Entry{Actor: "system", Kind: "hotline.ticket_overdue", Subject: "tkt_a"}); err != nil || set {
			t.Errorf("second flag = %v, %v", set, err)
		}
		if set, _ := db.FlagTicket(ctx, "tkt_b", FlagOverdue, "dispatched", at); set {
			t.Error("flagged a ticket that is not in the status it was found in")
		}
		if chain, _ := db.AuditChain(ctx, 0, 10); len(chain) != 1 {
			t.Errorf("audit records = %d, want 1", len(chain))
		}
		if over, _ := db.TicketsToSupervise(ctx, FlagOverdue, 1, running, at, 10); len(over) != 0 {
			t.Errorf("flagged ticket listed again: %v", lifecycleIDs(over))
		}
		q, err := db.ListQueue(ctx, QueueFilter{Department: "water", Statuses: running, Limit: 2})
		if err != nil || len(q) != 2 || q[0].ID != "tkt_a" || q[1].ID != "tkt_b" {
			t.Fatalf("queue = %v, %v", lifecycleIDs(q), err)
		}
		if q, err = db.ListQueue(ctx, QueueFilter{Department: "water", Statuses: running, After: "tkt_b"}); err != nil || len(q) != 1 || q[0].ID != "tkt_c" {
			t.Errorf("queue after b = %v, %v", lifecycleIDs(q), err)
		}
		if q, _ = db.ListQueue(ctx, QueueFilter{Statuses: running, Escalated: true}); len(q) != 1 || q[0].Lifecycle.OverdueAt == nil {
			t.Errorf("escalated = %v", lifecycleIDs(q))
		}
		if q, _ = db.ListQueue(ctx, QueueFilter{Department: "power", Statuses: running}); len(q) != 0 {
			t.Errorf("power queue = %v", lifecycleIDs(q))
		}
		if _, err := db.ListQueue(ctx, QueueFilter{Statuses: running, After: "tkt_none"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("bad cursor = %v", err)
		}
	}},
}

func lifecycleIDs(ts []Ticket) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
