package lcbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"
	lcopenai "github.com/tmc/langchaingo/llms/openai"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/lcbridge"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
)

var ask = llm.Request{Messages: []llm.Message{
	{Role: llm.RoleSystem, Content: "You serve the city."},
	{Role: llm.RoleUser, Content: "Traffic and permits near Main St?"},
}}

var tools = []llm.ToolSpec{
	{Name: "traffic", Description: "Live traffic.", Parameters: json.RawMessage(`{"type":"object","properties":{"road":{"type":"string"}},"required":["road"]}`)},
	{Name: "permits", Description: "Open permits.", Parameters: json.RawMessage(`{"type":"object","properties":{"ward":{"type":"integer"}}}`)},
}

// server runs an openaitest server and records whether each request asked
// for streaming, to check what the bridge passes to langchaingo.
type server struct {
	*openaitest.Server
	URL string

	mu      sync.Mutex
	streams []bool
}

func startServer(t *testing.T, model llm.Model, opts ...openaitest.Option) *server {
	s := &server{Server: openaitest.New(model, opts...)}
	h := s.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct{ Stream bool }
		_ = json.Unmarshal(body, &req)
		s.mu.Lock()
		s.streams = append(s.streams, req.Stream)
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	s.URL = hs.URL + "/v1"
	return s
}

func (s *server) streamed() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.streams...)
}

// bridge wraps langchaingo's real openai provider pointed at url.
func bridge(t *testing.T, url string) *lcbridge.Model {
	t.Helper()
	lc, err := lcopenai.New(lcopenai.WithBaseURL(url), lcopenai.WithToken("test"), lcopenai.WithModel("lc-model"))
	if err != nil {
		t.Fatal(err)
	}
	return lcbridge.New("lc:openai", lc)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPlainAnswer(t *testing.T) {
	for name, streaming := range map[string]bool{"json": false, "stream": true} {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, scripted.New("served-model", scripted.Reply("Main St is clear.")))
			m := bridge(t, srv.URL)
			var chunks []string
			var stream llm.StreamFunc
			if streaming {
				stream = func(_ context.Context, s string) error { chunks = append(chunks, s); return nil }
			}
			resp, err := m.Generate(testContext(t), ask, stream)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Content != "Main St is clear." || resp.FinishReason != "stop" || resp.Model != "lc:openai" || len(resp.ToolCalls) != 0 {
				t.Errorf("response %+v", resp)
			}
			if resp.Usage.TotalTokens == 0 {
				t.Errorf("usage %+v, want the server's counts", resp.Usage)
			}
			if streaming && (len(chunks) < 2 || strings.Join(chunks, "") != resp.Content) {
				t.Errorf("streamed %q, want the answer in several live chunks", chunks)
			}
			if got := srv.streamed(); !reflect.DeepEqual(got, []bool{streaming}) {
				t.Errorf("requests asked for streaming: %v, want [%v]", got, streaming)
			}
		})
	}
}

// TestToolTurn plays a tool call and the follow-up with the tool results
// through langchaingo's openai provider, streaming requested throughout.
func TestToolTurn(t *testing.T) {
	sm := scripted.New("served-model",
		scripted.Reply("Checking.").Call("traffic", `{"road":"Main St"}`).Call("permits", `{"ward":7}`),
		scripted.Reply("Main St is clear; no permits open."),
	)
	srv := startServer(t, sm, openaitest.InterleaveToolCalls(), openaitest.RepeatToolType())
	m := bridge(t, srv.URL)
	var streamed []string
	stream := func(_ context.Context, s string) error { streamed = append(streamed, s); return nil }

	first := llm.Request{Messages: ask.Messages, Tools: tools}
	resp, err := m.Generate(testContext(t), first, stream)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []llm.ToolCall{
		{ID: "call_1", Name: "traffic", Arguments: json.RawMessage(`{"road":"Main St"}`)},
		{ID: "call_2", Name: "permits", Arguments: json.RawMessage(`{"ward":7}`)},
	}
	if !reflect.DeepEqual(resp.ToolCalls, wantCalls) || resp.Content != "Checking." || resp.FinishReason != "tool_calls" {
		t.Fatalf("first turn %+v, want text and two tool calls", resp)
	}
	if !reflect.DeepEqual(streamed, []string{"Checking."}) {
		t.Errorf("streamed %q, want the text once at the end", streamed)
	}

	second := llm.Request{Tools: tools, Messages: append(append([]llm.Message(nil), ask.Messages...),
		llm.Message{Role: llm.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_1", Name: "traffic", Content: "clear"},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_2", Name: "permits", Content: "none open"},
	)}
	resp, err = m.Generate(testContext(t), second, stream)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != "Main St is clear; no permits open." || len(resp.ToolCalls) != 0 {
		t.Errorf("second turn %+v", resp)
	}
	if got := srv.streamed(); !reflect.DeepEqual(got, []bool{false, false}) {
		t.Errorf("requests asked for streaming: %v, want none with tools", got)
	}

	seen := sm.Requests()
	if len(seen) != 2 {
		t.Fatalf("server model saw %d requests", len(seen))
	}
	if !reflect.DeepEqual(seen[1].Messages, second.Messages) {
		t.Errorf("server model saw\n%+v\nwant\n%+v", seen[1].Messages, second.Messages)
	}
	for i, tool := range seen[0].Tools {
		if tool.Name != tools[i].Name || tool.Description != tools[i].Description || !sameJSON(t, tool.Parameters, tools[i].Parameters) {
			t.Errorf("tool %d arrived as %+v", i, tool)
		}
	}
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestFailures(t *testing.T) {
	stop := errors.New("client went away")
	tests := map[string]struct {
		step    scripted.Step
		opts    []openaitest.Option
		stream  llm.StreamFunc
		tools   bool
		wantErr error
	}{
		"malformed arguments":    {step: scripted.Call("traffic", `{"road":`), tools: true, wantErr: llm.ErrMalformedResponse},
		"arguments not object":   {step: scripted.Call("traffic", `["Main St"]`), tools: true, wantErr: llm.ErrMalformedResponse},
		"server keeps failing":   {step: scripted.Reply("never"), opts: []openaitest.Option{openaitest.FailFirst(5, 503)}, wantErr: llm.ErrUnavailable},
		"stream func error":      {step: scripted.Reply("a long answer"), stream: func(context.Context, string) error { return stop }, wantErr: stop},
		"stream func error, end": {step: scripted.Reply("text"), tools: true, stream: func(context.Context, string) error { return stop }, wantErr: stop},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, scripted.New("served-model", tc.step), tc.opts...)
			req := llm.Request{Messages: ask.Messages}
			if tc.tools {
				req.Tools = tools
			}
			_, err := bridge(t, srv.URL).Generate(testContext(t), req, tc.stream)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestCancelMidStream(t *testing.T) {
	srv := startServer(t, scripted.New("served-model", scripted.Stall("partial answer")))
	m := bridge(t, srv.URL)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.Generate(ctx, ask, func(context.Context, string) error { cancel(); return nil })
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Generate did not return after its context was cancelled")
	}
}

// TestLangchaingoStreamedToolCallsStillBroken is a canary for the reason the
// bridge never streams with tools: langchaingo's openai provider mis-assembles
// streamed tool calls. If this fails after an upgrade, the bug is fixed and
// the bridge may stream tool turns again.
func TestLangchaingoStreamedToolCallsStillBroken(t *testing.T) {
	step := scripted.Call("traffic", `{"road":"Main St"}`).Call("permits", `{"ward":7}`)
	tests := map[string][]openaitest.Option{
		"interleaved parallel calls": {openaitest.InterleaveToolCalls()},
		"type on every delta":        {openaitest.RepeatToolType()},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, scripted.New("served-model", step), opts...)
			lc, err := lcopenai.New(lcopenai.WithBaseURL(srv.URL), lcopenai.WithToken("test"), lcopenai.WithModel("lc-model"))
			if err != nil {
				t.Fatal(err)
			}
			out, err := lc.GenerateContent(testContext(t),
				[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")},
				llms.WithTools([]llms.Tool{{Type: "function", Function: &llms.FunctionDefinition{Name: "traffic"}}}),
				llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range out.Choices[0].ToolCalls {
				got = append(got, c.FunctionCall.Name+" "+c.FunctionCall.Arguments)
			}
			if want := []string{`traffic {"road":"Main St"}`, `permits {"ward":7}`}; reflect.DeepEqual(got, want) {
				t.Errorf("langchaingo assembled streamed tool calls correctly (%q); the bridge may stream tool turns now", got)
			} else {
				t.Logf("langchaingo assembled %q", got)
			}
		})
	}
}
