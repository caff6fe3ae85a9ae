package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// fakeModel is a hand-written fake: gen decides each response.
type fakeModel struct {
	name  string
	gen   func(ctx context.Context, req llm.Request, n int) (llm.Response, error)
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []llm.Request
}

var _ llm.Model = (*fakeModel)(nil)

func (f *fakeModel) Name() string { return f.name }

func (f *fakeModel) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	n := int(f.calls.Add(1))
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	resp, err := f.gen(ctx, req, n)
	if err == nil && stream != nil && resp.Content != "" {
		if serr := stream(ctx, resp.Content); serr != nil {
			return llm.Response{}, serr
		}
	}
	if resp.Model == "" {
		resp.Model = f.name
	}
	return resp, err
}

// answerer answers with text at once.
func answerer(name, text string) *fakeModel {
	return &fakeModel{name: name, gen: func(context.Context, llm.Request, int) (llm.Response, error) {
		return llm.Response{Content: text, Usage: llm.Usage{TotalTokens: 10}}, nil
	}}
}

// toolThenAnswer calls tool with args on its first step, then answers.
func toolThenAnswer(tool, args string) *fakeModel {
	return &fakeModel{name: "fake", gen: func(_ context.Context, req llm.Request, n int) (llm.Response, error) {
		last := req.Messages[len(req.Messages)-1]
		if last.Role != llm.RoleTool && req.Tools != nil {
			return llm.Response{ToolCalls: []llm.ToolCall{{ID: fmt.Sprintf("c%d", n), Name: tool, Arguments: json.RawMessage(args)}}}, nil
		}
		return llm.Response{Content: "answer after " + last.Name, Usage: llm.Usage{TotalTokens: 5}}, nil
	}}
}

type lookupArgs struct {
	Road string `json:"road" jsonschema:"road name"`
}

func lookupTool(t *testing.T, name string, cl access.Clearance, fn func(ctx context.Context, a lookupArgs) (tools.Result, error)) tools.Tool {
	t.Helper()
	if fn == nil {
		fn = func(_ context.Context, a lookupArgs) (tools.Result, error) {
			return tools.JSONResult(map[string]any{"road": a.Road, "speed_kmh": 12, "summary": a.Road + " is slow"},
				tools.Citation{Source: "test:traffic", AsOf: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)})
		}
	}
	tool, err := tools.NewTyped(tools.Spec{Name: name, Description: "look up a road", Clearance: cl}, fn)
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

type harness struct {
	runner *Runner
	db     *store.DB
}

func newHarness(t *testing.T, spec Spec, models Models, ts ...tools.Tool) *harness {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := NewCatalog(spec)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	if models.Offline == nil {
		models.Offline = answerer("offline", "offline answer")
	}
	return &harness{runner: &Runner{Catalog: cat, Models: models, Tools: reg, Sessions: db}, db: db}
}

var operator = access.Principal{KeyID: "k-op", Role: access.RoleOperator, Clearance: access.Internal}

func testSpec(toolNames ...string) Spec {
	return Spec{Name: "traffic", Instructions: "Answer traffic questions.", Tools: toolNames,
		Budgets: Budgets{MaxSteps: 4, MaxToolCalls: 4, Timeout: 5 * time.Second, ToolTimeout: time.Second}}
}

func TestRunToolCallAndSession(t *testing.T) {
	model := toolThenAnswer("road_lookup", `{"road":"Zhongshan"}`)
	h := newHarness(t, testSpec("road_lookup"), Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"}, lookupTool(t, "road_lookup", access.Public, nil))
	var events []string
	res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "Is Zhongshan Road slow?", Principal: operator}, func(e Event) { events = append(events, e.Type) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Degraded || res.Answer != "answer after road_lookup" || res.Model != "fake" {
		t.Fatalf("result: %+v", res)
	}
	if len(res.ToolCalls) != 1 || !res.ToolCalls[0].OK {
		t.Fatalf("tool calls: %+v", res.ToolCalls)
	}
	var toolCite *Citation
	for i := range res.Citations {
		if res.Citations[i].Kind == "tool" {
			toolCite = &res.Citations[i]
		}
	}
	if toolCite == nil || toolCite.AsOf == nil || toolCite.Source != "test:traffic" || toolCite.Snippet != "Zhongshan is slow" {
		t.Fatalf("tool citation: %+v", res.Citations)
	}
	want := "session tool_call tool_result delta citation done"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	// The tool output reached the model fenced as data.
	toolMsg := model.reqs[1].Messages[len(model.reqs[1].Messages)-1]
	if blocks := llm.ParseData(toolMsg.Content); len(blocks) != 1 || blocks[0].Kind != "tool" || blocks[0].AsOf != "2026-11-21T08:00:00Z" {
		t.Fatalf("tool message not fenced: %q", toolMsg.Content)
	}

	// A follow-up continues the session and replays the first turn.
	res2, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", SessionID: res.SessionID, Message: "and why?", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Turn != 2 || res2.SessionID != res.SessionID {
		t.Fatalf("turn 2: %+v", res2)
	}
	hist := model.reqs[2].Messages
	if hist[1].Role != llm.RoleUser || hist[1].Content != "Is Zhongshan Road slow?" || hist[2].Role != llm.RoleAssistant || hist[2].Content != res.Answer {
		t.Fatalf("history not replayed: %+v", hist[:3])
	}
	evs, err := h.db.Events(context.Background(), res.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, " "); !strings.HasPrefix(got, "user tool_call tool_result citation answer done user") {
		t.Fatalf("recorded events: %s", got)
	}
}

func TestRunBudgets(t *testing.T) {
	t.Run("max steps forces an answer", func(t *testing.T) {
		greedy := &fakeModel{name: "greedy", gen: func(_ context.Context, req llm.Request, n int) (llm.Response, error) {
			if req.Tools == nil {
				return llm.Response{Content: "done"}, nil
			}
			return llm.Response{ToolCalls: []llm.ToolCall{{ID: fmt.Sprint(n), Name: "road_lookup", Arguments: json.RawMessage(`{"road":"a"}`)}}}, nil
		}}
		spec := testSpec("road_lookup")
		spec.Budgets.MaxSteps, spec.Budgets.MaxToolCalls = 3, 10
		h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"g": greedy}, Default: "g"}, lookupTool(t, "road_lookup", access.Public, nil))
		res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if greedy.calls.Load() != 3 || len(res.ToolCalls) != 2 || res.Answer != "done" {
			t.Fatalf("model calls %d, tool calls %d, answer %q", greedy.calls.Load(), len(res.ToolCalls), res.Answer)
		}
	})
	t.Run("max tool calls refuses the rest", func(t *testing.T) {
		var ran atomic.Int32
		burst := &fakeModel{name: "burst", gen: func(_ context.Context, req llm.Request, n int) (llm.Response, error) {
			if n > 1 {
				if req.Tools != nil {
					t.Errorf("tools still offered after the tool budget was spent")
				}
				return llm.Response{Content: "ok"}, nil
			}
			var calls []llm.ToolCall
			for i := range 5 {
				calls = append(calls, llm.ToolCall{ID: fmt.Sprint(i), Name: "road_lookup", Arguments: json.RawMessage(`{"road":"a"}`)})
			}
			return llm.Response{ToolCalls: calls}, nil
		}}
		spec := testSpec("road_lookup")
		spec.Budgets.MaxToolCalls = 2
		tool := lookupTool(t, "road_lookup", access.Public, func(_ context.Context, a lookupArgs) (tools.Result, error) {
			ran.Add(1)
			return tools.JSONResult(a, tools.Citation{Source: "t"})
		})
		h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"b": burst}, Default: "b"}, tool)
		res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, c := range res.ToolCalls {
			if strings.Contains(c.Error, "budget") {
				refused++
			}
		}
		if ran.Load() != 2 || refused != 3 {
			t.Fatalf("ran %d tools, refused %d", ran.Load(), refused)
		}
	})
	t.Run("token budget stops tools", func(t *testing.T) {
		hungry := &fakeModel{name: "h", gen: func(_ context.Context, req llm.Request, n int) (llm.Response, error) {
			if req.Tools == nil {
				return llm.Response{Content: "short answer"}, nil
			}
			return llm.Response{ToolCalls: []llm.ToolCall{{ID: fmt.Sprint(n), Name: "road_lookup", Arguments: json.RawMessage(`{"road":"a"}`)}}, Usage: llm.Usage{TotalTokens: 900}}, nil
		}}
		spec := testSpec("road_lookup")
		spec.Budgets.MaxTokens, spec.Budgets.MaxSteps = 1000, 10
		h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"h": hungry}, Default: "h"}, lookupTool(t, "road_lookup", access.Public, nil))
		res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.ToolCalls) != 2 || res.Answer != "short answer" || !strings.Contains(strings.Join(res.Warnings, ";"), "token budget") {
			t.Fatalf("tool calls %d, answer %q, warnings %v", len(res.ToolCalls), res.Answer, res.Warnings)
		}
	})
}

func TestRunFallback(t *testing.T) {
	// The hanging model reports how its context ended: the turn's deadline
	// must cut it (an order, not a timing: timings belong to benchmarks).
	cut := make(chan error, 1)
	hang := &fakeModel{name: "hang", gen: func(ctx context.Context, _ llm.Request, _ int) (llm.Response, error) {
		<-ctx.Done()
		cut <- ctx.Err()
		return llm.Response{}, ctx.Err()
	}}
	cases := map[string]struct {
		primary   *fakeModel
		fallbacks []string
		wantModel string
	}{
		"error falls back to the next model": {
			primary: &fakeModel{name: "p", gen: func(context.Context, llm.Request, int) (llm.Response, error) {
				return llm.Response{}, llm.ErrUnavailable
			}},
			fallbacks: []string{"second"}, wantModel: "second"},
		"garbage falls back to offline": {
			primary:   &fakeModel{name: "p", gen: func(context.Context, llm.Request, int) (llm.Response, error) { return llm.Response{Content: "  "}, nil }},
			wantModel: "offline"},
		"malformed tool call falls back": {
			primary: &fakeModel{name: "p", gen: func(context.Context, llm.Request, int) (llm.Response, error) {
				return llm.Response{ToolCalls: []llm.ToolCall{{ID: "1", Name: "road_lookup", Arguments: json.RawMessage(`{"road":`)}}}, nil
			}},
			wantModel: "offline"},
		"a hanging model is cut at the deadline": {primary: hang, wantModel: "offline"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := testSpec("road_lookup")
			spec.Budgets.Timeout = 400 * time.Millisecond
			models := Models{ByName: map[string]llm.Model{"p": tc.primary, "second": answerer("second", "second answer")}, Default: "p", Fallbacks: tc.fallbacks}
			h := newHarness(t, spec, models, lookupTool(t, "road_lookup", access.Public, nil))
			res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Degraded || res.Model != tc.wantModel || len(res.Warnings) == 0 {
				t.Fatalf("degraded %v model %q warnings %v", res.Degraded, res.Model, res.Warnings)
			}
			if tc.primary != hang {
				return
			}
			select {
			case err := <-cut:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("the hanging model ended with %v, want the turn's deadline", err)
				}
			case <-time.After(time.Minute): // only stops a broken runner from hanging the test
				t.Fatal("the turn answered but never cut the hanging model")
			}
		})
	}
}

func TestRunCancellationStopsTools(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	tool := lookupTool(t, "road_lookup", access.Public, func(ctx context.Context, _ lookupArgs) (tools.Result, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return tools.Result{}, ctx.Err()
	})
	spec := testSpec("road_lookup")
	spec.Budgets.ToolTimeout = time.Minute
	spec.Budgets.Timeout = time.Minute
	h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"f": toolThenAnswer("road_lookup", `{"road":"x"}`)}, Default: "f"}, tool)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("tool call was not cancelled")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
}

func TestRunRefusals(t *testing.T) {
	secret := lookupTool(t, "secret_lookup", access.Restricted, nil)
	model := toolThenAnswer("secret_lookup", `{"road":"x"}`)
	h := newHarness(t, testSpec("road_lookup", "secret_lookup"), Models{ByName: map[string]llm.Model{"f": model}, Default: "f"}, lookupTool(t, "road_lookup", access.Public, nil), secret)
	ctx := context.Background()

	res, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "q", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range model.reqs[0].Tools {
		if ts.Name == "secret_lookup" {
			t.Fatal("a tool above the caller's clearance was offered to the model")
		}
	}
	if len(res.ToolCalls) != 1 || res.ToolCalls[0].OK || !strings.Contains(res.ToolCalls[0].Error, "not available") {
		t.Fatalf("a tool the model was not offered was called: %+v", res.ToolCalls)
	}

	hotline := access.Principal{KeyID: "k-hot", Role: access.RoleHotline, Clearance: access.Public}
	cases := map[string]struct {
		turn Turn
		want error
	}{
		"hotline key on an operator agent": {Turn{Agent: "traffic", Message: "q", Principal: hotline}, ErrForbidden},
		"unknown agent":                    {Turn{Agent: "nope", Message: "q", Principal: operator}, ErrUnknownAgent},
		"unknown session":                  {Turn{Agent: "traffic", SessionID: "ses_missing", Message: "q", Principal: operator}, ErrUnknownSession},
		"another key's session":            {Turn{Agent: "traffic", SessionID: res.SessionID, Message: "q", Principal: access.Principal{KeyID: "other", Role: access.RoleOperator}}, ErrUnknownSession},
	}
	for name, tc := range cases {
		if _, err := h.runner.Run(ctx, tc.turn, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	var ie *InputError
	if _, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "   ", Principal: operator}, nil); !errors.As(err, &ie) || ie.Field != "message" {
		t.Errorf("empty message: %v", err)
	}
	sessions, err := h.db.ListSessions(ctx, "k-hot", 10, "")
	if err != nil || len(sessions) != 0 {
		t.Fatalf("a refused turn wrote a session: %v %v", sessions, err)
	}
}

func TestCatalogBuiltins(t *testing.T) {
	cat, err := LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cat.List() {
		names = append(names, s.Name)
		if !strings.HasPrefix(s.Version, "v") || len(s.Version) != 13 {
			t.Errorf("%s: version %q", s.Name, s.Version)
		}
	}
	if got := strings.Join(names, " "); got != "city energy hotline permits traffic" {
		t.Fatalf("agents: %s", got)
	}
	hot, _ := cat.Get("hotline")
	traffic, _ := cat.Get("traffic")
	if !hot.AdmitsRole(access.RoleHotline) || traffic.AdmitsRole(access.RoleHotline) || !traffic.AdmitsRole(access.RoleSupervisor) {
		t.Fatal("role admission of built-in agents is wrong")
	}
}

func TestCatalogOverrideAndVersion(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "traffic.yaml"), "name: traffic\ninstructions: shorter\ntools: []\ncollections: []\n")
	cat, err := LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	builtin, _ := LoadCatalog("")
	a, _ := cat.Get("traffic")
	b, _ := builtin.Get("traffic")
	if a.Instructions != "shorter" || a.Version == b.Version {
		t.Fatalf("override not applied or version unchanged: %+v", a)
	}
	writeFile(t, filepath.Join(dir, "bad.yaml"), "name: Bad Name\ninstructions: x\nunknown_key: 1\n")
	if _, err := LoadCatalog(dir); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("bad spec: %v", err)
	}
}
