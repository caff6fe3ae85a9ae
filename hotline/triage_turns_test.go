package hotline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
)

// runnerFunc is a Runner from a function.
type runnerFunc func(ctx context.Context, t agents.Turn, emit func(agents.Event)) (agents.ChatResult, error)

var _ Runner = runnerFunc(nil)

func (f runnerFunc) Run(ctx context.Context, t agents.Turn, emit func(agents.Event)) (agents.ChatResult, error) {
	return f(ctx, t, emit)
}

// A runner that ignores cancellation leaves its turn running past the
// budget. The Triager owns those goroutines: it bounds how many are
// outstanding (beyond that the model is skipped) and Wait drains them.
func TestAbandonedTriageTurnsAreBoundedAndDrained(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var calls, running atomic.Int32
	stuck := runnerFunc(func(ctx context.Context, _ agents.Turn, _ func(agents.Event)) (agents.ChatResult, error) {
		calls.Add(1)
		running.Add(1)
		defer running.Add(-1)
		<-release // ignores ctx, as a misbehaving backend would
		return agents.ChatResult{}, ctx.Err()
	})
	tax := DefaultTaxonomy()
	tr := &Triager{Tax: tax, Rules: NewClassifier(tax), Runner: stuck, Budget: time.Millisecond, MaxAbandoned: 2}
	req := TriageRequest{Text: "小区垃圾三天没人清运了"}
	for i := 0; i < 5; i++ {
		out := tr.Triage(context.Background(), req)
		if !out.Degraded || out.Category != "050101" {
			t.Fatalf("triage %d: degraded %v category %s, want the rules' answer", i, out.Degraded, out.Category)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("runner called %d times, want 2 (the bound)", n)
	}
	if n := tr.Abandoned(); n != 2 {
		t.Fatalf("%d abandoned turns, want 2", n)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Wait(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with stuck turns = %v, want context.Canceled", err)
	}
	close(release)
	if err := tr.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Wait returns only once every turn goroutine has run its last step
	// (the group's done), so none is left behind.
	if n := running.Load(); n != 0 || tr.Abandoned() != 0 {
		t.Fatalf("after Wait: %d running, %d abandoned", n, tr.Abandoned())
	}
	// Once the turns returned, the model is asked again.
	tr.Triage(context.Background(), req)
	if err := tr.Wait(context.Background()); err != nil || calls.Load() != 3 {
		t.Fatalf("after drain: %d calls, wait %v", calls.Load(), err)
	}
}
