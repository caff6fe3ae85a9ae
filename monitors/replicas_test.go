package monitors_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/tools"
)

// Two servers (two database handles) with two scheduler replicas each, on
// one PostgreSQL, racing on a shared clock: every monitor ticks exactly
// once per period, and an alert that holds throughout fires once.
func TestReplicasTickEachMonitorOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t, pgtest.Start(t))
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, cst)
	clk := &testClock{t: start}
	g := &gauge{}
	g.set("a", 11)
	fast := gaugeMonitor(t, "")
	slow := gaugeMonitor(t, "")
	slow.Name, slow.Every = "gauge-slow", 3*time.Minute
	cat := mustCatalog(t, fast, slow)
	var replicas []*monitors.Scheduler
	for srv := range 2 {
		db := openURL(t, url)
		reg, err := tools.NewRegistry(g.tool(clk, access.Internal))
		if err != nil {
			t.Fatal(err)
		}
		for r := range 2 {
			replicas = append(replicas, &monitors.Scheduler{Catalog: cat, Store: db, Tools: reg, Now: clk.Now, Holder: fmt.Sprintf("server%d/replica%d", srv, r)})
		}
	}
	const periods = 12
	counts := map[string]int{}
	for p := range periods {
		clk.Set(start.Add(time.Duration(p) * time.Minute))
		var mu sync.Mutex
		perPeriod := map[string]int{}
		var wg sync.WaitGroup
		for _, s := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, name := range s.RunDue(ctx) {
					mu.Lock()
					perPeriod[name]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wantSlow := 0
		if p%3 == 0 {
			wantSlow = 1
		}
		if perPeriod["gauge"] != 1 || perPeriod["gauge-slow"] != wantSlow {
			t.Fatalf("period %d: ticks %v, want gauge once and gauge-slow %d", p, perPeriod, wantSlow)
		}
		for k, v := range perPeriod {
			counts[k] += v
		}
	}
	db := openURL(t, url)
	for name, want := range map[string]int{"gauge": periods, "gauge-slow": periods / 3} {
		st, err := db.MonitorState(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if counts[name] != want || st.Seq != int64(want) {
			t.Errorf("%s: %d ticks counted, %d claimed in the store, want %d", name, counts[name], st.Seq, want)
		}
		if n := len(alerts(t, db, name)); n != 1 {
			t.Errorf("%s: %d alerts, want one (deduplicated)", name, n)
		}
	}
	if got := auditKinds(t, db, "alert."); len(got) != 2 {
		t.Errorf("audit %v, want one alert.fire per monitor", got)
	}
}
