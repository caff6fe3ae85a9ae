package monitors_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/sources"
)

var cst = time.FixedZone("CST", 8*3600)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openURL(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cityFixture is the demo city on a hand-moved clock with its tools, the
// built-in agents on the offline engine and the action service, wired as
// cmd/cityagent wires them.
type cityFixture struct {
	db      *store.DB
	clk     *testClock
	city    *democity.City
	reg     *tools.Registry
	runner  *agents.Runner
	actions *actions.Service
}

func newCityFixture(t *testing.T, db *store.DB, start time.Time) *cityFixture {
	t.Helper()
	ctx := context.Background()
	clk := &testClock{t: start}
	city := democity.New(democity.DefaultSeed, clk.Now)
	ts, err := sources.Tools(ctx, config.SourcesConfig{}, sources.Deps{City: city, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := agents.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	types, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := actions.NewService(actions.Config{Catalog: types, Store: db, Now: clk.Now,
		Executors: map[string]actions.Executor{"democity.signal_timing": actions.Once(actions.NewSignalTiming(city))}})
	if err != nil {
		t.Fatal(err)
	}
	off := offline.New()
	runner := &agents.Runner{Catalog: catalog, Tools: reg, Sessions: db, Actions: svc, Audit: db, // real time: turn deadlines

		Models: agents.Models{ByName: map[string]llm.Model{"offline": off}, Default: "offline", Offline: off}}
	return &cityFixture{db: db, clk: clk, city: city, reg: reg, runner: runner, actions: svc}
}

func (f *cityFixture) scheduler(cat *monitors.Catalog, holder string) *monitors.Scheduler {
	return &monitors.Scheduler{Catalog: cat, Store: f.db, Tools: f.reg, Runner: f.runner, Holder: holder, Now: f.clk.Now}
}

// gauge is a real tool whose readings the test sets: {"items":[{"id", "v"}]}.
type gauge struct {
	mu     sync.Mutex
	values map[string]float64
	fail   error
}

type gaugeItem struct {
	ID string  `json:"id"`
	V  float64 `json:"v"`
}

func (g *gauge) set(id string, v float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.values == nil {
		g.values = map[string]float64{}
	}
	g.values[id] = v
}

func (g *gauge) remove(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.values, id)
}

func (g *gauge) tool(clk *testClock, clearance access.Clearance) tools.Tool {
	type noArgs struct{}
	return tools.MustTyped(tools.Spec{Name: "test_gauge", Description: "test readings", Clearance: clearance, Source: "test:gauge"},
		func(_ context.Context, _ noArgs) (tools.Result, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.fail != nil {
				return tools.Result{}, g.fail
			}
			items := []gaugeItem{}
			for id, v := range g.values {
				items = append(items, gaugeItem{id, v})
			}
			return tools.JSONResult(map[string]any{"items": items}, tools.Citation{Source: "test:gauge", AsOf: clk.Now()})
		})
}

// gaugeMonitor parses a monitor over test_gauge.
func gaugeMonitor(t *testing.T, extra string) monitors.Monitor {
	t.Helper()
	m, err := monitors.Parse([]byte(`name: gauge
title: Gauge high
title_zh: 读数过高
tool: test_gauge
select: "$.items[*]"
subject: "$.id"
value: "$.v"
condition: "> 10"
severity: warning
every: 1m
`+extra), "test:gauge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCatalog(t *testing.T, ms ...monitors.Monitor) *monitors.Catalog {
	t.Helper()
	cat, err := monitors.NewCatalog(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func alerts(t *testing.T, db *store.DB, monitor string) []store.Alert {
	t.Helper()
	list, err := db.ListAlerts(context.Background(), store.AlertFilter{Monitor: monitor, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func auditKinds(t *testing.T, db *store.DB, prefix string) []string {
	t.Helper()
	recs, err := db.ListAudit(context.Background(), store.AuditFilter{Kind: prefix, Ascending: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Kind)
	}
	return out
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return v
}
