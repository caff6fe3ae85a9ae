package scripted_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/scripted"
)

var ask = llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "what is the traffic on Main St?"}}}

func TestSteps(t *testing.T) {
	boom := errors.New("boom")
	tests := map[string]struct {
		step    scripted.Step
		want    llm.Response // Usage is checked for being non-zero instead
		wantErr error
	}{
		"reply": {
			step: scripted.Reply("Main St is clear."),
			want: llm.Response{Content: "Main St is clear.", FinishReason: "stop", Model: "m"},
		},
		"one call": {
			step: scripted.Call("traffic", `{"road":"Main St"}`),
			want: llm.Response{FinishReason: "tool_calls", Model: "m", ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "traffic", Arguments: []byte(`{"road":"Main St"}`)},
			}},
		},
		"parallel calls with text": {
			step: scripted.Reply("Checking.").Call("traffic", `{}`).Call("permits", `{"id":7}`),
			want: llm.Response{Content: "Checking.", FinishReason: "tool_calls", Model: "m", ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "traffic", Arguments: []byte(`{}`)},
				{ID: "call_2", Name: "permits", Arguments: []byte(`{"id":7}`)},
			}},
		},
		"malformed arguments pass verbatim": {
			step: scripted.Call("traffic", `{"road":`),
			want: llm.Response{FinishReason: "tool_calls", Model: "m", ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "traffic", Arguments: []byte(`{"road":`)},
			}},
		},
		"respond keeps given fields": {
			step: scripted.Respond(llm.Response{Content: "x", FinishReason: "length", Model: "other",
				ToolCalls: []llm.ToolCall{{ID: "mine", Name: "t", Arguments: []byte(`{}`)}}}),
			want: llm.Response{Content: "x", FinishReason: "length", Model: "other",
				ToolCalls: []llm.ToolCall{{ID: "mine", Name: "t", Arguments: []byte(`{}`)}}},
		},
		"func sees the request": {
			step: scripted.Func(func(r llm.Request) (llm.Response, error) {
				return llm.Response{Content: "echo: " + r.Messages[0].Content}, nil
			}),
			want: llm.Response{Content: "echo: " + ask.Messages[0].Content, FinishReason: "stop", Model: "m"},
		},
		"func error": {
			step:    scripted.Func(func(llm.Request) (llm.Response, error) { return llm.Response{}, boom }),
			wantErr: boom,
		},
		"fail": {
			step:    scripted.Fail(boom),
			wantErr: boom,
		},
		"short delay then reply": {
			step: scripted.Delay(time.Millisecond, scripted.Reply("late")),
			want: llm.Response{Content: "late", FinishReason: "stop", Model: "m"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := scripted.New("m", tc.step)
			got, err := m.Generate(context.Background(), ask, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if got.Usage.TotalTokens == 0 || got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens {
				t.Errorf("usage = %+v, want a consistent estimate", got.Usage)
			}
			got.Usage = llm.Usage{}
			if !equalResponse(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func equalResponse(a, b llm.Response) bool {
	return a.Content == b.Content && a.FinishReason == b.FinishReason && a.Model == b.Model && a.Usage == b.Usage &&
		slices.EqualFunc(a.ToolCalls, b.ToolCalls, func(x, y llm.ToolCall) bool {
			return x.ID == y.ID && x.Name == y.Name && string(x.Arguments) == string(y.Arguments)
		})
}

func TestBlockingStepsHonourContext(t *testing.T) {
	tests := map[string]scripted.Step{
		"hang":       scripted.Hang(),
		"long delay": scripted.Delay(time.Hour, scripted.Reply("never")),
		"stall":      scripted.Stall("partial answer"),
	}
	for name, step := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err := scripted.New("m", step).Generate(ctx, ask, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestStallStreamsThenBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got strings.Builder
	_, err := scripted.New("m", scripted.Stall("partial answer")).Generate(ctx, ask, func(_ context.Context, s string) error {
		got.WriteString(s)
		if got.String() == "partial answer" {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got.String() != "partial answer" {
		t.Errorf("streamed %q", got.String())
	}
}

func TestStreaming(t *testing.T) {
	const text = "Main St is clear; 第二大街拥堵。"
	var parts []string
	resp, err := scripted.New("m", scripted.Reply(text)).Generate(context.Background(), ask, func(_ context.Context, s string) error {
		parts = append(parts, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 {
		t.Errorf("got %d chunks, want several", len(parts))
	}
	if strings.Join(parts, "") != text || resp.Content != text {
		t.Errorf("streamed %q, returned %q, want %q", strings.Join(parts, ""), resp.Content, text)
	}

	stop := errors.New("client gone")
	_, err = scripted.New("m", scripted.Reply(text)).Generate(context.Background(), ask, func(context.Context, string) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the stream func's error", err)
	}
}

func TestExhausted(t *testing.T) {
	m := scripted.New("m", scripted.Reply("one"))
	if _, err := m.Generate(context.Background(), ask, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(context.Background(), ask, nil); !errors.Is(err, scripted.ErrExhausted) {
		t.Errorf("err = %v, want ErrExhausted", err)
	}

	m = scripted.New("m", scripted.Reply("one"), scripted.Call("t", `{}`)).RepeatLast()
	for i, want := range []string{"", "call_1", "call_2", "call_3"} {
		resp, err := m.Generate(context.Background(), ask, nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if want == "" {
			continue
		}
		if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].ID != want {
			t.Errorf("call %d: tool calls %+v, want one with ID %s", i, resp.ToolCalls, want)
		}
	}
	if n := len(m.Requests()); n != 4 {
		t.Errorf("recorded %d requests, want 4", n)
	}
}

func TestRequestsAreCopies(t *testing.T) {
	m := scripted.New("m", scripted.Reply("a"), scripted.Reply("b"))
	req := llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "first"}}}
	if _, err := m.Generate(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	req.Messages[0].Content = "changed by caller"
	got := m.Requests()
	got[0].Messages[0].Content = "changed by test"
	if c := m.Requests()[0].Messages[0].Content; c != "first" {
		t.Errorf("recorded content = %q, want %q", c, "first")
	}
}

func TestConcurrentCallsTakeEachStepOnce(t *testing.T) {
	const n = 50
	steps := make([]scripted.Step, n)
	for i := range steps {
		steps[i] = scripted.Reply(fmt.Sprint(i))
	}
	m := scripted.New("m", steps...)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			resp, err := m.Generate(context.Background(), ask, func(context.Context, string) error { return nil })
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[resp.Content] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != n || m.Remaining() != 0 || len(m.Requests()) != n {
		t.Errorf("saw %d distinct answers, %d steps left, %d requests; want %d, 0, %d", len(seen), m.Remaining(), len(m.Requests()), n, n)
	}
}

func Example() {
	m := scripted.New("city-model",
		scripted.Call("traffic", `{"road":"Main St"}`),
		scripted.Reply("Main St is clear."),
	)
	ctx := context.Background()
	first, _ := m.Generate(ctx, ask, nil)
	fmt.Println(first.FinishReason, first.ToolCalls[0].ID, first.ToolCalls[0].Name, string(first.ToolCalls[0].Arguments))
	second, _ := m.Generate(ctx, ask, nil)
	fmt.Println(second.FinishReason, second.Content)
	_, err := m.Generate(ctx, ask, nil)
	fmt.Println(errors.Is(err, scripted.ErrExhausted))
	// Output:
	// tool_calls call_1 traffic {"road":"Main St"}
	// stop Main St is clear.
	// true
}
