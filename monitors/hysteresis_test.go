package monitors_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// gaugeRig runs one gauge monitor on SQLite, one tick per minute.
type gaugeRig struct {
	t     *testing.T
	db    *store.DB
	clk   *testClock
	g     *gauge
	tick  func() []string
	start time.Time
}

func newGaugeRig(t *testing.T, extra string) *gaugeRig {
	t.Helper()
	db := openSQLite(t)
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, cst)
	clk := &testClock{t: start}
	g := &gauge{}
	reg, err := tools.NewRegistry(g.tool(clk, access.Internal))
	if err != nil {
		t.Fatal(err)
	}
	m := gaugeMonitor(t, extra)
	s := &cityFixture{db: db, clk: clk, reg: reg}
	sched := s.scheduler(mustCatalog(t, m), "replica-a")
	return &gaugeRig{t: t, db: db, clk: clk, g: g, start: start, tick: func() []string { return sched.RunDue(context.Background()) }}
}

// step moves to minute n after the start and ticks; it fails unless the
// monitor ticked.
func (r *gaugeRig) step(n int) {
	r.t.Helper()
	r.clk.Set(r.start.Add(time.Duration(n) * time.Minute))
	if got := r.tick(); !slices.Equal(got, []string{"gauge"}) {
		r.t.Fatalf("minute %d: ticked %v, want [gauge]", n, got)
	}
}

func (r *gaugeRig) open() []store.Alert {
	var out []store.Alert
	for _, a := range alerts(r.t, r.db, "gauge") {
		if a.Status != store.AlertResolved {
			out = append(out, a)
		}
	}
	return out
}

func TestForHoldsBeforeFiring(t *testing.T) {
	r := newGaugeRig(t, "for: 3m\nclear: 2m\n")
	r.g.set("a", 11)
	for n := 0; n < 3; n++ {
		r.step(n)
		if got := r.open(); len(got) != 0 {
			t.Fatalf("minute %d: fired before for elapsed: %+v", n, got)
		}
	}
	r.step(3)
	got := r.open()
	if len(got) != 1 || got[0].Subject != "a" || got[0].Status != store.AlertFiring {
		t.Fatalf("minute 3: want one firing alert for a, got %+v", got)
	}
	if !got[0].StartedAt.Equal(r.start) || !got[0].FiredAt.Equal(r.start.Add(3*time.Minute)) {
		t.Errorf("started %s fired %s, want %s and 3m later", got[0].StartedAt, got[0].FiredAt, r.start)
	}
	if got[0].Source != "test:gauge" || !got[0].AsOf.Equal(r.start.Add(3*time.Minute)) {
		t.Errorf("citation %s @ %s, want test:gauge at the tick", got[0].Source, got[0].AsOf)
	}
}

func TestForRestartsWhenTheConditionBreaks(t *testing.T) {
	r := newGaugeRig(t, "for: 3m\n")
	r.g.set("a", 11)
	r.step(0)
	r.step(1)
	r.g.set("a", 10) // "> 10" no longer holds
	r.step(2)
	r.g.set("a", 12)
	r.step(3)
	r.step(4)
	r.step(5)
	if got := r.open(); len(got) != 0 {
		t.Fatalf("fired 2m into the second hold: %+v", got)
	}
	r.step(6)
	got := r.open()
	if len(got) != 1 || !got[0].StartedAt.Equal(r.start.Add(3*time.Minute)) {
		t.Fatalf("want one alert started at minute 3, got %+v", got)
	}
}

func TestClearHysteresisAndDedup(t *testing.T) {
	r := newGaugeRig(t, "clear: 2m\n")
	r.g.set("a", 20)
	r.step(0) // for 0: fires at once
	r.g.set("a", 25)
	r.step(1) // still firing: the same alert, a new value
	got := r.open()
	if len(got) != 1 || got[0].Value != 25 || got[0].PeakValue != 25 || got[0].FirstValue != 20 || len(got[0].Values) != 2 {
		t.Fatalf("want one alert with values 20, 25: %+v", got)
	}
	id := got[0].ID
	r.g.set("a", 5)
	r.step(2) // clear since minute 2
	r.g.set("a", 15)
	r.step(3) // holds again: the clear timer restarts
	r.g.set("a", 5)
	r.step(4)
	r.step(5)
	if got := r.open(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("resolved before 2m clear: %+v", got)
	}
	r.step(6)
	if got := r.open(); len(got) != 0 {
		t.Fatalf("not resolved after 2m clear: %+v", got)
	}
	all := alerts(t, r.db, "gauge")
	if len(all) != 1 || all[0].Status != store.AlertResolved || !all[0].ResolvedAt.Equal(r.start.Add(6*time.Minute)) {
		t.Fatalf("want the alert resolved at minute 6: %+v", all)
	}
	r.g.set("a", 30)
	r.step(7)
	all = alerts(t, r.db, "gauge")
	if len(all) != 2 || all[0].ID == id || all[0].Status != store.AlertFiring {
		t.Fatalf("a new hold after resolution is a new alert: %+v", all)
	}
	want := []string{"alert.fire", "alert.resolve", "alert.fire"}
	if got := auditKinds(t, r.db, "alert."); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

func TestZeroForAndClearAndVanishingSubjects(t *testing.T) {
	r := newGaugeRig(t, "")
	r.g.set("a", 11)
	r.g.set("b", 1)
	r.step(0)
	if got := r.open(); len(got) != 1 || got[0].Subject != "a" {
		t.Fatalf("want a firing: %+v", got)
	}
	r.g.remove("a") // a subject missing from the result counts as clear
	r.step(1)
	if got := r.open(); len(got) != 0 {
		t.Fatalf("clear 0 resolves at the first clear tick: %+v", got)
	}
}

func TestToolFailureChangesNoAlert(t *testing.T) {
	r := newGaugeRig(t, "")
	r.g.set("a", 11)
	r.step(0)
	r.g.mu.Lock()
	r.g.fail = errors.New("source down")
	r.g.mu.Unlock()
	r.step(1)
	got := r.open()
	if len(got) != 1 || got[0].Status != store.AlertFiring {
		t.Fatalf("a failed tick must leave the alert alone: %+v", got)
	}
	st, err := r.db.MonitorState(context.Background(), "gauge")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastStatus != "error" || st.LastError == "" || st.Seq != 2 {
		t.Errorf("state %+v, want the error recorded on the second tick", st)
	}
}

func TestNotDueDoesNotTick(t *testing.T) {
	r := newGaugeRig(t, "")
	r.step(0)
	r.clk.Set(r.start.Add(59 * time.Second))
	if got := r.tick(); len(got) != 0 {
		t.Fatalf("ticked %v before the next run", got)
	}
	// A clock that jumps over several periods ticks once, then waits for
	// the next slot of the grid.
	r.clk.Set(r.start.Add(5*time.Minute + 30*time.Second))
	if got := r.tick(); len(got) != 1 {
		t.Fatalf("after a jump: ticked %v", got)
	}
	if got := r.tick(); len(got) != 0 {
		t.Fatalf("ticked twice in one period: %v", got)
	}
	st, _ := r.db.MonitorState(context.Background(), "gauge")
	if want := r.start.Add(6 * time.Minute); !st.NextRun.Equal(want) {
		t.Errorf("next run %s, want %s", st.NextRun, want)
	}
}

// Start polls in the background; Stop ends it and waits for ticks in flight.
func TestStartTicksInTheBackgroundUntilStopped(t *testing.T) {
	db := openSQLite(t)
	clk := &testClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, cst)}
	g := &gauge{}
	g.set("a", 11)
	reg, err := tools.NewRegistry(g.tool(clk, access.Internal))
	if err != nil {
		t.Fatal(err)
	}
	sched := (&cityFixture{db: db, clk: clk, reg: reg}).scheduler(mustCatalog(t, gaugeMonitor(t, "")), "bg")
	sched.Poll = 5 * time.Millisecond
	loop := sched.Start(context.Background())
	waitTicks := func(n int64) {
		for {
			st, err := db.MonitorState(context.Background(), "gauge")
			if err == nil && st.Seq >= n {
				if st.Seq != n {
					t.Fatalf("ticks %d, want %d", st.Seq, n)
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitTicks(1)
	clk.Advance(time.Minute)
	waitTicks(2)
	loop.Stop()
	clk.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond) // polls that would have come
	st, err := db.MonitorState(context.Background(), "gauge")
	if err != nil || st.Seq != 2 {
		t.Fatalf("ticked after Stop: %+v %v", st, err)
	}
}
