package agents

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
)

// events collects a turn's events; emit may be called from tool goroutines.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) emit(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// shown is what a client that honours reset displays: the deltas after the
// last reset.
func (e *events) shown() (text string, resets int) {
	var b strings.Builder
	for _, ev := range e.all {
		switch d := ev.Data.(type) {
		case DeltaData:
			b.WriteString(d.Text)
		case ResetData:
			b.Reset()
			resets++
		}
	}
	return b.String(), resets
}

// TestResetAfterPartialText: a model that fails after streaming part of its
// text is followed by a reset event, then the fallback's answer, and the
// done event's answer is the fallback's alone.
func TestResetAfterPartialText(t *testing.T) {
	for name, primary := range map[string]llm.Model{
		"fails":  scripted.Dies("flaky", "Zhongshan Road is fl", errors.New("connection reset by peer")),
		"stalls": scripted.New("stalls", scripted.Stall("Zhongshan Road is fl")),
	} {
		t.Run(name, func(t *testing.T) {
			spec := testSpec()
			spec.Budgets.Timeout = time.Second
			h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"p": primary}, Default: "p", Offline: answerer("offline", "Offline answer.")})
			var evs events
			res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "Is Zhongshan Road flowing?", Principal: operator}, evs.emit)
			if err != nil {
				t.Fatal(err)
			}
			text, resets := evs.shown()
			if resets != 1 || text != "Offline answer." || res.Answer != "Offline answer." || !res.Degraded {
				t.Fatalf("resets %d, shown %q, answer %q, degraded %v", resets, text, res.Answer, res.Degraded)
			}
			var order []string
			for _, ev := range evs.all {
				order = append(order, ev.Type)
			}
			if got := squash(order); got != "session delta reset warning delta done" {
				t.Fatalf("events %s", got)
			}
			recorded, _ := h.db.Events(context.Background(), res.SessionID)
			if !hasEvent(recorded, EventReset) {
				t.Fatal("the session does not record the reset")
			}
		})
	}
	t.Run("no reset when nothing was streamed", func(t *testing.T) {
		h := newHarness(t, testSpec(), Models{ByName: map[string]llm.Model{"p": scripted.New("p", scripted.Fail(errors.New("503")))}, Default: "p"})
		var evs events
		if _, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "q", Principal: operator}, evs.emit); err != nil {
			t.Fatal(err)
		}
		if _, resets := evs.shown(); resets != 0 {
			t.Fatal("reset without streamed text")
		}
	})
}

// TestHungModelFallbackKeepsLiveData: when the model hangs to the soft
// deadline, the fallback's tool calls run in the reserve instead of being
// cut at once, so the degraded answer carries the tool's data.
func TestHungModelFallbackKeepsLiveData(t *testing.T) {
	spec := testSpec("road_lookup")
	spec.Budgets.Timeout = 500 * time.Millisecond
	fallback := scripted.New("offline",
		scripted.Call("road_lookup", `{"road":"Zhongshan"}`),
		scripted.Func(func(req llm.Request) (llm.Response, error) {
			last := req.Messages[len(req.Messages)-1]
			return llm.Response{Content: "From live data: " + last.Content}, nil
		}))
	h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"hung": scripted.New("hung", scripted.Hang())}, Default: "hung", Offline: fallback},
		lookupTool(t, "road_lookup", access.Public, nil))
	res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "Is Zhongshan Road slow?", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Degraded || len(res.ToolCalls) != 1 || !res.ToolCalls[0].OK {
		t.Fatalf("degraded %v, tool calls %+v", res.Degraded, res.ToolCalls)
	}
	if !strings.Contains(res.Answer, "Zhongshan is slow") {
		t.Fatalf("answer without the live data: %q", res.Answer)
	}
}

func TestToolLimit(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	d := newDeadlines(start, 10*time.Second) // reserve 2 s, margin 500 ms
	for name, tc := range map[string]struct {
		now  time.Time
		want time.Time
	}{
		"in time: the soft deadline":       {start.Add(time.Second), start.Add(8 * time.Second)},
		"in the reserve: hard less margin": {start.Add(8 * time.Second), start.Add(9500 * time.Millisecond)},
	} {
		if got := d.toolLimit(tc.now); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func hasEvent(evs []store.Event, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// squash joins event types, one for each run of the same type.
func squash(types []string) string {
	var out []string
	for i, t := range types {
		if i == 0 || t != types[i-1] {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
