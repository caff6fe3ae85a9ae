package monitors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/store"
)

// Every shipped monitor reads the demo city's real tool results: its
// arguments pass the tool's schema and its selectors find subjects.
func TestShippedMonitorsReadTheDemoCity(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, cst) // B098's meter sends nothing from 11:30
	f := newCityFixture(t, db, day)
	overdue, err := hotline.NewOverdueTool(db, f.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Register(overdue); err != nil {
		t.Fatal(err)
	}
	cat, err := monitors.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	sched := f.scheduler(cat, "replica-a")
	sched.Runner = nil // proposals are covered elsewhere; alerts record why none was made
	subjects := map[string]int{}
	// A day in hourly steps: every monitor is due at each.
	for step := 0; step < 24; step++ {
		f.clk.Set(day.Add(time.Duration(step) * time.Hour))
		sched.RunDue(ctx)
		states, err := db.MonitorStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			if st.LastStatus != "ok" {
				t.Fatalf("%s at %s: %s %s", st.Monitor, f.clk.Now().Format("15:04"), st.LastStatus, st.LastError)
			}
			subjects[st.Monitor] = max(subjects[st.Monitor], st.Subjects)
		}
	}
	for _, name := range []string{"corridor-congestion", "district-load", "permits-over-limit", "meter-missing"} {
		if subjects[name] == 0 {
			t.Errorf("%s found no subject in a day of the demo city", name)
		}
	}
	for _, name := range []string{"meter-missing", "corridor-congestion"} {
		if len(alerts(t, db, name)) == 0 {
			t.Errorf("%s never fired in a day of the demo city", name)
		}
	}
	var gaps []string
	for _, a := range alerts(t, db, "meter-missing") {
		gaps = append(gaps, a.Subject+":"+a.Status)
	}
	if want := []string{"B098:resolved", "B022:resolved"}; !slices.Equal(gaps, want) {
		t.Errorf("meter-missing alerts %v, want %v (newest first)", gaps, want)
	}
	t.Logf("most subjects seen per monitor: %v", subjects)
}

// hotline-overdue reads open tickets past their deadline from the state
// store through the read-only hotline_overdue tool.
func TestHotlineOverdueMonitor(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, cst)
	f := newCityFixture(t, db, now)
	overdue, err := hotline.NewOverdueTool(db, f.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Register(overdue); err != nil {
		t.Fatal(err)
	}
	for i, tk := range []struct {
		dept     string
		deadline time.Duration
		status   string
	}{{"water", -time.Hour, "dispatched"}, {"water", -2 * time.Hour, "triaged"}, {"roads", time.Hour, "triaged"}, {"roads", -time.Hour, "closed"}} {
		err := db.CreateTicket(ctx, store.Ticket{ID: fmt.Sprintf("tkt_%d", i), Token: fmt.Sprintf("tok_%d", i), Channel: "phone", Text: "x",
			Caller: json.RawMessage(`{}`), Data: json.RawMessage(`{}`), Type: "complaint", Department: tk.dept, Urgency: "normal", Status: tk.status,
			ReceivedAt: now.Add(-3 * time.Hour), CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-3 * time.Hour), Deadline: now.Add(tk.deadline)}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	cat, err := monitors.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.Get("hotline-overdue")
	if err != nil {
		t.Fatal(err)
	}
	f.scheduler(mustCatalog(t, m), "a").RunDue(ctx)
	list := alerts(t, db, "hotline-overdue")
	if len(list) != 1 || list[0].Subject != "water" || list[0].Value != 2 || list[0].Source != "hotline:tickets" {
		t.Fatalf("want one alert for water with 2 overdue tickets: %+v", list)
	}
}
