package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/store"
)

// TestResults computes the rates from a history written to the store (the
// lifecycle's transitions) and checks them figure by figure; an empty
// denominator gives null, never 0 or NaN.
func TestResults(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	to := from.Add(7 * 24 * time.Hour)
	r := newRig(t, rigOptions{noDispatch: true, now: func() time.Time { return to.Add(time.Hour) }})
	ctx := context.Background()
	h := time.Hour
	ticket := func(id string, received, due time.Duration) {
		t.Helper()
		at := from.Add(received)
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "停水", Type: "help", Category: "030101",
			Department: "water", Urgency: "urgent", Status: StatusTriaged, Data: json.RawMessage(`{}`), ReceivedAt: at, CreatedAt: at, Deadline: from.Add(due)}
		if err := r.db.CreateTicket(ctx, tk, nil); err != nil {
			t.Fatal(err)
		}
	}
	steps := func(id string, steps ...store.TransitionUpdate) {
		t.Helper()
		status := StatusTriaged
		for i, u := range steps {
			u.ID, u.From, u.Seq, u.Actor = id, status, int64(i+1), "key_water"
			if _, _, err := r.db.TransitionTicket(ctx, u); err != nil {
				t.Fatal(err)
			}
			status = u.To
		}
	}
	at := func(d time.Duration) time.Time { return from.Add(d) }
	yes, no := true, false
	// t1: accepted, replied after 10 h (due at 24 h), satisfied and solved.
	ticket("t1", h, 24*h)
	steps("t1", store.TransitionUpdate{To: StatusDispatched, At: at(h), Stamp: []string{"dispatched_at"}},
		store.TransitionUpdate{To: StatusAccepted, At: at(2 * h), Stamp: []string{"accepted_at"}},
		store.TransitionUpdate{To: StatusReplied, At: at(11 * h), Resolution: "已恢复供水", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: StatusClosed, At: at(12 * h), Satisfaction: "satisfied", Solved: &yes, Stamp: []string{"visited_at", "closed_at"}})
	// t2: dispatched, never accepted, overdue; t3: replied late after 40 h, unsatisfied → reopened
	// (being handled again past its deadline: overdue too).
	ticket("t2", 2*h, 26*h)
	steps("t2", store.TransitionUpdate{To: StatusDispatched, At: at(2 * h)})
	ticket("t3", 3*h, 27*h)
	steps("t3", store.TransitionUpdate{To: StatusDispatched, At: at(3 * h)},
		store.TransitionUpdate{To: StatusAccepted, At: at(4 * h)},
		store.TransitionUpdate{To: StatusReplied, At: at(43 * h), Resolution: "已处理", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: StatusReopened, At: at(44 * h), Satisfaction: "unsatisfied", Solved: &no, IncReopened: true, Stamp: []string{"visited_at"}})

	res, err := r.svc.Results(ctx, from, to, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Departments) != 1 || res.Departments[0].Department != "water" || res.Departments[0].DepartmentName == nil {
		t.Fatalf("departments: %+v", res.Departments)
	}
	w := res.Departments[0]
	ints := map[string][2]int{"received": {w.Received, 3}, "due": {w.Due, 3}, "on_time": {w.OnTime, 1}, "dispatched": {w.Dispatched, 3},
		"accepted": {w.Accepted, 2}, "visited": {w.Visited, 2}, "solved": {w.Solved, 1}, "satisfied": {w.Satisfied, 1},
		"unsatisfied": {w.Unsatisfied, 1}, "reopened": {w.Reopened, 1}, "returned": {w.Returned, 0}, "overdue_now": {w.OverdueNow, 2},
		"handled": {w.Handled, 2}}
	for name, v := range ints {
		if v[0] != v[1] {
			t.Errorf("%s = %d, want %d", name, v[0], v[1])
		}
	}
	rates := map[string]struct {
		got  *float64
		want float64
	}{"on_time_rate": {w.OnTimeRate, 1.0 / 3}, "response_rate": {w.ResponseRate, 2.0 / 3}, "solved_rate": {w.SolvedRate, 0.5},
		"satisfaction_rate": {w.SatisfactionRate, 0.5}, "strict_satisfaction_rate": {w.StrictSatisfaction, 0.5},
		"mean_handling_hours": {w.MeanHandlingHours, (10.0 + 40.0) / 2}}
	for name, v := range rates {
		if v.got == nil || math.Abs(*v.got-v.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, v.got, v.want)
		}
	}
	if res.Total.Received != 3 || res.Total.Department != "" || res.Definitions["on_time_rate"] == "" {
		t.Errorf("total: %+v", res.Total)
	}

	empty, err := r.svc.Results(ctx, from.Add(-30*24*h), from.Add(-29*24*h), "water")
	if err != nil || len(empty.Departments) != 1 || empty.Departments[0].OnTimeRate != nil || empty.Departments[0].MeanHandlingHours != nil ||
		empty.Departments[0].OverdueNow != 2 {
		t.Fatalf("empty period: %+v %v", empty, err)
	}
	if b, _ := json.Marshal(empty.Departments[0]); !json.Valid(b) || string(b) == "" {
		t.Errorf("results do not encode: %s", b)
	}
	for name, c := range map[string][3]any{
		"reversed": {to, from, ""}, "too_long": {from, from.Add(400 * 24 * h), ""}, "zero": {time.Time{}, to, ""},
		"unknown_department": {from, to, "nope"},
	} {
		if _, err := r.svc.Results(ctx, c[0].(time.Time), c[1].(time.Time), c[2].(string)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestResultsEveryVisitAndDue: every return visit in the period counts (an
// unsatisfied visit, a reopen and a satisfied visit are two visits), and a
// ticket still inside its time and not handled is not due yet.
func TestResultsEveryVisitAndDue(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	to := from.Add(7 * 24 * time.Hour)
	now := from.Add(3 * 24 * time.Hour)
	r := newRig(t, rigOptions{noDispatch: true, now: func() time.Time { return now }})
	ctx := context.Background()
	h := time.Hour
	at := func(d time.Duration) time.Time { return from.Add(d) }
	walk := func(id string, due time.Duration, steps ...store.TransitionUpdate) {
		t.Helper()
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "停水", Type: "help", Category: "030101",
			Department: "water", Urgency: "urgent", Status: StatusTriaged, Data: json.RawMessage(`{}`), ReceivedAt: from, CreatedAt: from, Deadline: at(due)}
		if err := r.db.CreateTicket(ctx, tk, nil); err != nil {
			t.Fatal(err)
		}
		status := StatusTriaged
		for i, u := range steps {
			u.ID, u.From, u.Seq, u.Actor = id, status, int64(i+1), "key_water"
			if _, _, err := r.db.TransitionTicket(ctx, u); err != nil {
				t.Fatal(err)
			}
			status = u.To
		}
	}
	yes, no := true, false
	// v: visited unsatisfied, reopened, replied again and visited satisfied; handled in time.
	walk("v", 48*h, store.TransitionUpdate{To: StatusDispatched, At: at(h)}, store.TransitionUpdate{To: StatusAccepted, At: at(2 * h)},
		store.TransitionUpdate{To: StatusReplied, At: at(10 * h), Resolution: "已处理", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: StatusReopened, At: at(11 * h), Satisfaction: "unsatisfied", Solved: &no, IncReopened: true, Stamp: []string{"visited_at"}},
		store.TransitionUpdate{To: StatusReplied, At: at(20 * h), Resolution: "已恢复供水", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: StatusClosed, At: at(21 * h), Satisfaction: "satisfied", Solved: &yes, Stamp: []string{"visited_at", "closed_at"}})
	// waiting: deadline in the period but after now, not handled: not due.
	walk("waiting", 5*24*h, store.TransitionUpdate{To: StatusDispatched, At: at(h)})
	// late: deadline passed at now, not handled: due, not on time.
	walk("late", 24*h, store.TransitionUpdate{To: StatusDispatched, At: at(h)})

	res, err := r.svc.Results(ctx, from, to, "water")
	if err != nil {
		t.Fatal(err)
	}
	w := res.Departments[0]
	for name, v := range map[string][2]int{"visited": {w.Visited, 2}, "satisfied": {w.Satisfied, 1}, "unsatisfied": {w.Unsatisfied, 1},
		"solved": {w.Solved, 1}, "reopened": {w.Reopened, 1}, "due": {w.Due, 2}, "on_time": {w.OnTime, 1}} {
		if v[0] != v[1] {
			t.Errorf("%s = %d, want %d", name, v[0], v[1])
		}
	}
	for _, name := range []string{"visited", "due"} {
		if !strings.Contains(res.Definitions[name], map[string]string{"visited": "counts twice", "due": "left out"}[name]) {
			t.Errorf("definition of %s: %q", name, res.Definitions[name])
		}
	}
}
