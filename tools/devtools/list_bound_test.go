package devtools_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/outbound"
)

// checkedTool is a tool whose availability check is a function.
type checkedTool struct {
	tools.Tool
	check func(context.Context) error
}

var _ tools.Checker = checkedTool{}

func (c checkedTool) Check(ctx context.Context) error { return c.check(ctx) }

// List checks availability with a bounded number of goroutines it owns:
// however many tools there are, no more than ListChecks checks run at once,
// and none is left running when List returns.
func TestListBoundsAvailabilityChecks(t *testing.T) {
	const bound, n = 2, 20
	var inflight, maxInflight, entered atomic.Int32
	release := make(chan struct{})
	check := func(ctx context.Context) error {
		v := inflight.Add(1)
		defer inflight.Add(-1)
		for m := maxInflight.Load(); v > m && !maxInflight.CompareAndSwap(m, v); m = maxInflight.Load() {
		}
		entered.Add(1)
		<-release
		return nil
	}
	var ts []tools.Tool
	for i := range n {
		ts = append(ts, checkedTool{Tool: tools.MustTyped(tools.Spec{Name: fmt.Sprintf("slow_%02d", i), Description: "d", Source: "http:x"},
			func(context.Context, builtinArgs) (tools.Result, error) { return tools.Result{}, nil }), check: check})
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}, Timeout: 5 * time.Second})
	mgr, err := devtools.New(devtools.Config{Registry: reg, Store: db, Outbound: guard, ListChecks: bound})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	done := make(chan []devtools.ToolInfo)
	go func() { done <- mgr.List(context.Background(), false) }()
	for entered.Load() < bound {
		runtime.Gosched()
	}
	// Let every goroutine that could start a check run before releasing.
	for range 1000 {
		runtime.Gosched()
	}
	if g := runtime.NumGoroutine(); g > before+1+bound+4 { // one per tool would be +20
		t.Errorf("%d goroutines while checks are held, %d before (bound %d)", g, before, bound)
	}
	close(release)
	out := <-done
	if len(out) != n || !out[0].Available {
		t.Fatalf("list: %d tools, first %+v", len(out), out[0])
	}
	if m := maxInflight.Load(); m > bound {
		t.Errorf("%d checks at once, bound %d", m, bound)
	}
	if inflight.Load() != 0 {
		t.Error("a check still runs after List returned")
	}
}
