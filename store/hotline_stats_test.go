package store

import (
	"testing"
	"time"
)

// resultsConformance (run by TestConformance on every backend) checks the
// results counts, the duplicate links and the hot-spot rows over a known
// history.

// lifecycle walks a stored ticket through transitions, as the lifecycle
// writes them (TransitionTicket: one conditional update and one
// hotline_transitions row each).
type lifecycle struct {
	t      *testing.T
	db     *DB
	id     string
	status string
	seq    int64
}

func walk(t *testing.T, db *DB, tk Ticket) *lifecycle {
	t.Helper()
	if err := db.CreateTicket(t.Context(), tk, nil); err != nil {
		t.Fatal(err)
	}
	return &lifecycle{t: t, db: db, id: tk.ID, status: tk.Status}
}

// to moves the ticket to status at t0+at with the update's other fields
// from mod.
func (l *lifecycle) to(status string, at time.Duration, mod func(u *TransitionUpdate)) *lifecycle {
	l.t.Helper()
	l.seq++
	u := TransitionUpdate{ID: l.id, From: l.status, To: status, Seq: l.seq, Actor: "key_test", At: t0.Add(at)}
	if mod != nil {
		mod(&u)
	}
	if _, _, err := l.db.TransitionTicket(l.t.Context(), u); err != nil {
		l.t.Fatalf("%s %s→%s: %v", l.id, l.status, status, err)
	}
	l.status = status
	return l
}

func (l *lifecycle) dispatch(dept string, at time.Duration) *lifecycle {
	return l.to("dispatched", at, func(u *TransitionUpdate) { u.Department, u.Stamp = dept, []string{"dispatched_at"} })
}
func (l *lifecycle) accept(at time.Duration) *lifecycle {
	return l.to("accepted", at, func(u *TransitionUpdate) { u.Stamp = []string{"accepted_at"} })
}
func (l *lifecycle) reply(at time.Duration) *lifecycle {
	return l.to("replied", at, func(u *TransitionUpdate) { u.Resolution, u.Stamp = "已处理 handled", []string{"replied_at"} })
}
func (l *lifecycle) visit(satisfaction string, solved bool, at time.Duration) *lifecycle {
	if satisfaction == "unsatisfied" {
		return l.to("reopened", at, func(u *TransitionUpdate) {
			u.Satisfaction, u.Solved, u.Stamp, u.IncReopened, u.ClearStamps = satisfaction, &solved, []string{"visited_at"}, true, []string{"replied_at"}
		})
	}
	return l.to("closed", at, func(u *TransitionUpdate) {
		u.Satisfaction, u.Solved, u.Stamp = satisfaction, &solved, []string{"visited_at", "closed_at"}
	})
}

var resultsConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"results counts per department over a known history", func(t *testing.T, tg target) {
		db := tg.open(t)
		h := time.Hour
		d := 24 * h
		tk := func(id string, received, due time.Duration) Ticket {
			x := testTicket(id, t0.Add(received))
			x.Department, x.Deadline = "water", t0.Add(due)
			return x
		}
		// A1: dispatched, accepted, replied in 19 h (due 25 h), satisfied, solved.
		walk(t, db, tk("a1", 1*h, 25*h)).dispatch("water", 2*h).accept(3*h).reply(20*h).visit("satisfied", true, 30*h)
		// A2: returned by water, re-dispatched to urban_management, replied late, basically satisfied, not solved.
		walk(t, db, tk("a2", 2*h, 26*h)).dispatch("water", 2*h).to("returned", 4*h, func(u *TransitionUpdate) { u.IncReturned = true }).
			dispatch("urban_management", 5*h).accept(6*h).reply(30*h).visit("basically_satisfied", false, 40*h)
		// A3: replied, unsatisfied → reopened, paused 2 h (deadline moved to 29 h), replied again, satisfied.
		walk(t, db, tk("a3", 3*h, 27*h)).dispatch("water", 3*h).accept(4*h).reply(10*h).visit("unsatisfied", false, 12*h).
			to("in_progress", 13*h, func(u *TransitionUpdate) { u.Pause = true }).
			to("in_progress", 15*h, func(u *TransitionUpdate) { u.Resume, u.Resumed, u.Deadline = true, 2*h, ptr(t0.Add(29*h)) }).
			reply(20*h).visit("satisfied", true, 22*h)
		// A4: accepted, in progress, past due at the report's time.
		walk(t, db, tk("a4", 4*h, 5*d)).dispatch("water", 4*h).accept(5*h).to("in_progress", 6*h, nil)
		// A5: a duplicate merged into A1.
		walk(t, db, tk("a5", 5*h, 29*h)).to("merged", 6*h, func(u *TransitionUpdate) { u.MergedInto = "a1" })
		// B1: urban_management, due after the period, handled in 24 h, satisfied.
		b1 := tk("b1", 1*d, 8*d)
		b1.Department = "urban_management"
		walk(t, db, b1).dispatch("urban_management", 1*d).accept(1*d+h).reply(2*d).visit("satisfied", true, 3*d)
		// OLD: received before the period, due and handled in it, basically satisfied, not solved.
		walk(t, db, tk("old", -2*d, 1*d)).dispatch("water", -2*d).accept(-2*d+h).reply(12*h).visit("basically_satisfied", false, 13*h)
		// LATE: received after the period, past due at the report's time.
		walk(t, db, tk("late", 8*d, 9*d)).dispatch("water", 8*d)

		from, to, now := t0, t0.Add(7*d), t0.Add(10*d)
		got, err := db.HotlineResults(t.Context(), from, to, now, "")
		if err != nil {
			t.Fatal(err)
		}
		water := DepartmentResults{Department: "water", Received: 4, Merged: 1, Due: 4, OnTime: 3, Dispatched: 4, Accepted: 3,
			Visited: 4, Solved: 2, Satisfied: 2, BasicallySatisfied: 1, Unsatisfied: 1, Returned: 1, Reopened: 1, OverdueNow: 2,
			Handled: 3, HandlingSeconds: int64((19*h + 15*h + 60*h) / time.Second)}
		urban := DepartmentResults{Department: "urban_management", Received: 2, Due: 1, OnTime: 0, Dispatched: 2, Accepted: 2,
			Visited: 2, Solved: 1, Satisfied: 1, BasicallySatisfied: 1, Handled: 2, HandlingSeconds: int64((28*h + 24*h) / time.Second)}
		if len(got) != 2 || got[0] != urban || got[1] != water {
			t.Fatalf("results:\n got %+v\nwant %+v", got, []DepartmentResults{urban, water})
		}
		one, err := db.HotlineResults(t.Context(), from, to, now, "water")
		if err != nil || len(one) != 1 || one[0] != water {
			t.Fatalf("water only: %+v %v", one, err)
		}
		none, err := db.HotlineResults(t.Context(), t0.Add(-10*d), t0.Add(-9*d), now, "")
		// Overdue now does not depend on the period: water appears with only that.
		if want := (DepartmentResults{Department: "water", OverdueNow: 2}); err != nil || len(none) != 1 || none[0] != want {
			t.Fatalf("empty period: %+v %v", none, err)
		}
	}},
	{"duplicate candidates, links and counts", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		for i, id := range []string{"d1", "d2", "d3", "d4"} {
			tk := testTicket(id, t0.Add(time.Duration(i)*time.Hour))
			switch id {
			case "d3":
				tk.Category = "030101"
			case "d4":
				tk.Status = "closed"
			}
			if err := db.CreateTicket(ctx, tk, nil); err != nil {
				t.Fatal(err)
			}
		}
		c, err := db.DuplicateCandidates(ctx, "020201", t0, 10)
		if err != nil || len(c) != 2 || c[0].ID != "d2" || c[1].ID != "d1" || c[0].Address != "人民路12号" || c[0].Lat == nil || *c[0].Lat != 30.5 {
			t.Fatalf("candidates: %+v %v", c, err)
		}
		if err := db.LinkDuplicate(ctx, "d2", "d1"); err != nil {
			t.Fatal(err)
		}
		if err := db.LinkDuplicate(ctx, "nope", "d1"); err == nil {
			t.Error("linking an unknown ticket succeeded")
		}
		if c, _ := db.DuplicateCandidates(ctx, "020201", t0, 10); len(c) != 1 || c[0].ID != "d1" {
			t.Errorf("a linked duplicate is still a candidate: %+v", c)
		}
		if c, _ := db.DuplicateCandidates(ctx, "020201", t0.Add(30*time.Minute), 10); len(c) != 0 {
			t.Errorf("candidates before the window: %+v", c)
		}
		if n, err := db.CountDuplicates(ctx, "d1"); err != nil || n != 1 {
			t.Errorf("duplicates of d1: %d %v", n, err)
		}
		got, _ := db.GetTicket(ctx, "d2")
		if got.Lifecycle.DuplicateOf != "d1" {
			t.Errorf("d2 duplicate_of %q", got.Lifecycle.DuplicateOf)
		}
		rows, err := db.HotspotRows(ctx, t0, t0.Add(3*time.Hour), "02", 100)
		if err != nil || len(rows) != 2 || rows[0].ID != "d1" || rows[1].ID != "d2" || rows[1].DuplicateOf != "d1" || rows[0].Category != "020201" {
			t.Fatalf("hotspot rows: %+v %v", rows, err)
		}
		if rows, _ := db.HotspotRows(ctx, t0, t0.Add(time.Hour), "", 100); len(rows) != 1 {
			t.Errorf("hotspot rows to is exclusive: %+v", rows)
		}
	}},
}
