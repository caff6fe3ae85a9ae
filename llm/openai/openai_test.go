package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/openai"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
)

// fakeModel is a hand-written fake for server behaviour scripts do not cover.
type fakeModel func(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error)

var _ llm.Model = fakeModel(nil)

func (fakeModel) Name() string { return "fake" }
func (f fakeModel) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	return f(ctx, req, stream)
}

var ask = llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "How is traffic on Main St?"}}}

// newModel returns a client for url with fast retries unless cfg says otherwise.
func newModel(t *testing.T, url string, cfg openai.Config) *openai.Model {
	t.Helper()
	cfg.BaseURL = url
	if cfg.Model == "" {
		cfg.Model = "gpt-test"
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Millisecond
	}
	m, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRequiresModel(t *testing.T) {
	if _, err := openai.New(openai.Config{BaseURL: "http://localhost:1/v1"}); err == nil {
		t.Error("New without a model succeeded")
	}
}

func TestPlainAnswer(t *testing.T) {
	for name, streaming := range map[string]bool{"json": false, "stream": true} {
		t.Run(name, func(t *testing.T) {
			sm := scripted.New("served-model", scripted.Reply("Main St is clear."))
			m := newModel(t, openaitest.New(sm).Start(t), openai.Config{Model: "gpt-test"})
			var stream llm.StreamFunc
			var streamed strings.Builder
			if streaming {
				stream = func(_ context.Context, s string) error { streamed.WriteString(s); return nil }
			}
			resp, err := m.Generate(testContext(t), ask, stream)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Content != "Main St is clear." || resp.FinishReason != "stop" || len(resp.ToolCalls) != 0 {
				t.Errorf("response %+v", resp)
			}
			if resp.Model != "served-model" {
				t.Errorf("Model = %q, want the server's %q", resp.Model, "served-model")
			}
			if resp.Usage.TotalTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
				t.Errorf("usage %+v", resp.Usage)
			}
			if streaming && streamed.String() != resp.Content {
				t.Errorf("streamed %q, want %q", streamed.String(), resp.Content)
			}
			if m.Name() != "openai:gpt-test" {
				t.Errorf("Name() = %q", m.Name())
			}
		})
	}
}

func TestRequestMapping(t *testing.T) {
	temp := 0.2
	req := llm.Request{
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You serve the city."},
			{Role: llm.RoleUser, Content: "Traffic and permits near Main St?"},
			{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{
				{ID: "call_a", Name: "traffic", Arguments: json.RawMessage(`{"road":"Main St"}`)},
				{ID: "call_b", Name: "permits", Arguments: json.RawMessage(`{}`)},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_a", Name: "traffic", Content: "clear"},
			{Role: llm.RoleTool, ToolCallID: "call_b", Name: "permits", Content: "none open"},
		},
		Tools: []llm.ToolSpec{
			{Name: "traffic", Description: "Live traffic.", Parameters: json.RawMessage(`{"type":"object","properties":{"road":{"type":"string"}},"required":["road"]}`)},
			{Name: "permits", Description: "Open permits.", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
		},
		MaxTokens:   256,
		Temperature: &temp,
	}
	sm := scripted.New("served-model", scripted.Reply("done"))
	m := newModel(t, openaitest.New(sm).Start(t), openai.Config{APIKey: "sk-test"})
	if _, err := m.Generate(testContext(t), req, nil); err != nil {
		t.Fatal(err)
	}
	got := sm.Requests()
	if len(got) != 1 {
		t.Fatalf("server model saw %d requests", len(got))
	}
	// Schemas travel as maps; compare them as JSON values.
	for i := range got[0].Tools {
		if !sameJSON(t, got[0].Tools[i].Parameters, req.Tools[i].Parameters) {
			t.Errorf("tool %d parameters %s, want %s", i, got[0].Tools[i].Parameters, req.Tools[i].Parameters)
		}
		got[0].Tools[i].Parameters = req.Tools[i].Parameters
	}
	if !reflect.DeepEqual(got[0], req) {
		t.Errorf("server model saw\n%+v\nwant\n%+v", got[0], req)
	}
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestStreamedParallelToolCalls(t *testing.T) {
	step := scripted.Reply("Let me check both.").
		Call("traffic", `{"road":"Main St","hours":[7,8,9],"note":"早高峰"}`).
		Call("permits", `{"ward":7,"status":"open"}`)
	tests := map[string][]openaitest.Option{
		"sequential":          nil,
		"interleaved":         {openaitest.InterleaveToolCalls()},
		"interleaved, type":   {openaitest.InterleaveToolCalls(), openaitest.RepeatToolType()},
		"many fragments":      {openaitest.InterleaveToolCalls(), openaitest.RepeatToolType(), openaitest.ArgumentFragments(9)},
		"one fragment a call": {openaitest.InterleaveToolCalls(), openaitest.ArgumentFragments(1)},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			m := newModel(t, openaitest.New(scripted.New("served-model", step), opts...).Start(t), openai.Config{})
			var chunks []string
			resp, err := m.Generate(testContext(t), ask, func(_ context.Context, s string) error {
				chunks = append(chunks, s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < 2 || strings.Join(chunks, "") != "Let me check both." || resp.Content != "Let me check both." {
				t.Errorf("streamed %q, content %q", chunks, resp.Content)
			}
			want := []llm.ToolCall{
				{ID: "call_1", Name: "traffic", Arguments: json.RawMessage(`{"road":"Main St","hours":[7,8,9],"note":"早高峰"}`)},
				{ID: "call_2", Name: "permits", Arguments: json.RawMessage(`{"ward":7,"status":"open"}`)},
			}
			if !reflect.DeepEqual(resp.ToolCalls, want) {
				t.Errorf("tool calls\n%s\nwant\n%s", dump(resp.ToolCalls), dump(want))
			}
			if resp.FinishReason != "tool_calls" || resp.Usage.TotalTokens == 0 || resp.Model != "served-model" {
				t.Errorf("finish %q usage %+v model %q", resp.FinishReason, resp.Usage, resp.Model)
			}
		})
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		opts         []openaitest.Option
		cfg          openai.Config
		stream       bool
		wantRequests int
		wantStatus   int // 0: success expected
	}{
		"429 then success": {
			// The 10 s backoff cannot fit in the test's deadline, so success
			// shows that the 10 ms Retry-After was used instead.
			opts:         []openaitest.Option{openaitest.FailFirst(1, 429), openaitest.RetryAfter(10 * time.Millisecond)},
			cfg:          openai.Config{MaxRetries: 2, RetryBaseDelay: 10 * time.Second},
			wantRequests: 2,
		},
		"429 then success, streaming": {
			opts:         []openaitest.Option{openaitest.FailFirst(1, 429), openaitest.RetryAfter(10 * time.Millisecond)},
			cfg:          openai.Config{MaxRetries: 2, RetryBaseDelay: 10 * time.Second},
			stream:       true,
			wantRequests: 2,
		},
		"Retry-After capped by MaxRetryDelay": {
			opts:         []openaitest.Option{openaitest.FailFirst(1, 503), openaitest.RetryAfter(time.Hour)},
			cfg:          openai.Config{MaxRetries: 1, MaxRetryDelay: 5 * time.Millisecond},
			wantRequests: 2,
		},
		"503 twice then success": {
			opts:         []openaitest.Option{openaitest.FailFirst(2, 503)},
			cfg:          openai.Config{MaxRetries: 2},
			wantRequests: 3,
		},
		"500 on every attempt": {
			opts:         []openaitest.Option{openaitest.FailFirst(3, 500)},
			cfg:          openai.Config{MaxRetries: 2},
			wantRequests: 3,
			wantStatus:   500,
		},
		"500 on every attempt, streaming": {
			opts:         []openaitest.Option{openaitest.FailFirst(3, 500)},
			cfg:          openai.Config{MaxRetries: 2},
			stream:       true,
			wantRequests: 3,
			wantStatus:   500,
		},
		"no retries configured": {
			opts:         []openaitest.Option{openaitest.FailFirst(1, 503)},
			wantRequests: 1,
			wantStatus:   503,
		},
		"400 is not retried": {
			opts:         []openaitest.Option{openaitest.FailFirst(1, 400)},
			cfg:          openai.Config{MaxRetries: 3},
			wantRequests: 1,
			wantStatus:   400,
		},
		"backoff longer than the caller's deadline": {
			opts:         []openaitest.Option{openaitest.FailFirst(1, 429), openaitest.RetryAfter(time.Minute)},
			cfg:          openai.Config{MaxRetries: 3, MaxRetryDelay: time.Minute},
			wantRequests: 1,
			wantStatus:   429,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := openaitest.New(scripted.New("served-model", scripted.Reply("ok")), tc.opts...)
			m := newModel(t, srv.Start(t), tc.cfg)
			var stream llm.StreamFunc
			if tc.stream {
				stream = func(context.Context, string) error { return nil }
			}
			resp, err := m.Generate(testContext(t), ask, stream)
			if n := srv.Requests(); n != tc.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tc.wantRequests)
			}
			if tc.wantStatus == 0 {
				if err != nil || resp.Content != "ok" {
					t.Fatalf("Generate = %+v, %v; want ok", resp, err)
				}
				return
			}
			var ue *openai.UnavailableError
			if !errors.Is(err, llm.ErrUnavailable) || !errors.As(err, &ue) {
				t.Fatalf("err = %v, want an UnavailableError", err)
			}
			if ue.StatusCode != tc.wantStatus || ue.Attempts != tc.wantRequests || ue.Message == "" {
				t.Errorf("UnavailableError %+v, want status %d after %d attempts with a message", ue, tc.wantStatus, tc.wantRequests)
			}
		})
	}
}

// TestTimeout: an attempt that exceeds Config.Timeout is retried; when all
// attempts time out the error wraps both llm.ErrUnavailable and
// context.DeadlineExceeded, and the caller's own context is still live.
func TestTimeout(t *testing.T) {
	for name, streaming := range map[string]bool{"json": false, "stream": true} {
		t.Run(name, func(t *testing.T) {
			srv := openaitest.New(scripted.New("served-model", scripted.Reply("late")), openaitest.Delay(time.Minute))
			m := newModel(t, srv.Start(t), openai.Config{Timeout: 50 * time.Millisecond, MaxRetries: 1})
			var stream llm.StreamFunc
			if streaming {
				stream = func(context.Context, string) error { return nil }
			}
			ctx := testContext(t)
			// The server answers after a minute: only the per-attempt
			// timeout ends Generate while ctx is live.
			_, err := m.Generate(ctx, ask, stream)
			if !errors.Is(err, llm.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
			}
			if ctx.Err() != nil {
				t.Error("the caller's context ended; the test proves nothing")
			}
			if n := srv.Requests(); n != 2 {
				t.Errorf("server got %d requests, want 2", n)
			}
		})
	}
}

func TestMalformedToolCall(t *testing.T) {
	tests := map[string]struct {
		step   scripted.Step
		stream bool
	}{
		"truncated object":           {step: scripted.Call("traffic", `{"road":"Main`)},
		"truncated object, streamed": {step: scripted.Call("traffic", `{"road":"Main`), stream: true},
		"array":                      {step: scripted.Call("traffic", `[1,2]`)},
		"second of two, streamed":    {step: scripted.Call("traffic", `{}`).Call("permits", `"ward 7"`), stream: true},
		"no name":                    {step: scripted.Call("", `{}`)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := openaitest.New(scripted.New("served-model", tc.step), openaitest.InterleaveToolCalls())
			m := newModel(t, srv.Start(t), openai.Config{MaxRetries: 2})
			var stream llm.StreamFunc
			if tc.stream {
				stream = func(context.Context, string) error { return nil }
			}
			_, err := m.Generate(testContext(t), ask, stream)
			if !errors.Is(err, llm.ErrMalformedResponse) {
				t.Errorf("err = %v, want ErrMalformedResponse", err)
			}
			if n := srv.Requests(); n != 1 {
				t.Errorf("server got %d requests, want 1 (malformed answers are not retried)", n)
			}
		})
	}
}

func TestEmptyArgumentsBecomeAnObject(t *testing.T) {
	m := newModel(t, openaitest.New(scripted.New("served-model", scripted.Call("now", ""))).Start(t), openai.Config{})
	resp, err := m.Generate(testContext(t), ask, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 1 || string(resp.ToolCalls[0].Arguments) != "{}" {
		t.Errorf("tool calls %s, want one with arguments {}", dump(resp.ToolCalls))
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/v1"
	l.Close() // nothing listens there any more
	m := newModel(t, url, openai.Config{MaxRetries: 1})
	_, err = m.Generate(testContext(t), ask, nil)
	var ue *openai.UnavailableError
	if !errors.Is(err, llm.ErrUnavailable) || !errors.As(err, &ue) || ue.Attempts != 2 || ue.StatusCode != 0 {
		t.Errorf("err = %v (%+v), want ErrUnavailable after 2 attempts without a status", err, ue)
	}
}

func TestCancelMidStream(t *testing.T) {
	srv := openaitest.New(scripted.New("served-model", scripted.Stall("partial answer")))
	m := newModel(t, srv.Start(t), openai.Config{MaxRetries: 2})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var got strings.Builder
	done := make(chan error, 1)
	go func() {
		_, err := m.Generate(ctx, ask, func(_ context.Context, s string) error {
			got.WriteString(s)
			if got.String() == "partial answer" {
				cancel()
			}
			return nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, llm.ErrUnavailable) {
			t.Errorf("err = %v, want context.Canceled and not ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Generate did not return after its context was cancelled")
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestNoRetryAfterStreamedText(t *testing.T) {
	model := fakeModel(func(ctx context.Context, _ llm.Request, stream llm.StreamFunc) (llm.Response, error) {
		if err := stream(ctx, "partial"); err != nil {
			return llm.Response{}, err
		}
		return llm.Response{}, errors.New("model crashed")
	})
	srv := openaitest.New(model)
	m := newModel(t, srv.Start(t), openai.Config{MaxRetries: 3})
	var got strings.Builder
	_, err := m.Generate(testContext(t), ask, func(_ context.Context, s string) error { got.WriteString(s); return nil })
	if !errors.Is(err, llm.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if n := srv.Requests(); n != 1 || got.String() != "partial" {
		t.Errorf("server got %d requests and the caller %q; want 1 and the partial text once", n, got.String())
	}
}

func TestStreamFuncErrorIsReturned(t *testing.T) {
	srv := openaitest.New(scripted.New("served-model", scripted.Reply("a long answer")))
	m := newModel(t, srv.Start(t), openai.Config{MaxRetries: 3})
	stop := errors.New("client went away")
	_, err := m.Generate(testContext(t), ask, func(context.Context, string) error { return stop })
	if !errors.Is(err, stop) || errors.Is(err, llm.ErrUnavailable) {
		t.Errorf("err = %v, want the stream func's error", err)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestUnsupportedInput(t *testing.T) {
	tests := map[string]llm.Request{
		"unknown role":        {Messages: []llm.Message{{Role: "robot", Content: "hi"}}},
		"non-object schema":   {Messages: ask.Messages, Tools: []llm.ToolSpec{{Name: "t", Parameters: json.RawMessage(`[1]`)}}},
		"invalid JSON schema": {Messages: ask.Messages, Tools: []llm.ToolSpec{{Name: "t", Parameters: json.RawMessage(`{`)}}},
	}
	srv := openaitest.New(scripted.New("served-model", scripted.Reply("never")))
	m := newModel(t, srv.Start(t), openai.Config{})
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := m.Generate(testContext(t), req, nil); err == nil || errors.Is(err, llm.ErrUnavailable) {
				t.Errorf("err = %v, want a request error", err)
			}
		})
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("server got %d requests for unusable input", n)
	}
}
