package openaitest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
)

// modelFunc is a hand-written fake for behaviour scripts do not cover.
type modelFunc func(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error)

var _ llm.Model = modelFunc(nil)

func (modelFunc) Name() string { return "fake" }
func (f modelFunc) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	return f(ctx, req, stream)
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	res, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// events reads an SSE body and returns each event's data.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected SSE line %q", line)
		}
		out = append(out, data)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const conversation = `{
	"model": "client-model",
	"max_tokens": 99,
	"temperature": 0.25,
	"messages": [
		{"role": "system", "content": "be brief"},
		{"role": "user", "content": [{"type": "text", "text": "traffic on "}, {"type": "text", "text": "Main St?"}]},
		{"role": "assistant", "content": null, "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "traffic", "arguments": "{\"road\":\"Main St\"}"}}]},
		{"role": "tool", "tool_call_id": "call_a", "content": "clear"}
	],
	"tools": [{"type": "function", "function": {"name": "traffic", "description": "live traffic", "parameters": {"type": "object"}}}]
}`

func TestRequestConversion(t *testing.T) {
	model := scripted.New("m", scripted.Reply("Main St is clear."))
	url := openaitest.New(model).Start(t)
	res := post(t, url, conversation)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	temp := 0.25
	want := llm.Request{
		MaxTokens:   99,
		Temperature: &temp,
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "be brief"},
			{Role: llm.RoleUser, Content: "traffic on Main St?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_a", Name: "traffic", Arguments: json.RawMessage(`{"road":"Main St"}`)}}},
			{Role: llm.RoleTool, ToolCallID: "call_a", Name: "traffic", Content: "clear"},
		},
		Tools: []llm.ToolSpec{{Name: "traffic", Description: "live traffic", Parameters: json.RawMessage(`{"type": "object"}`)}},
	}
	got := model.Requests()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("model saw %+v\nwant %+v", got, want)
	}
}

func TestToolParametersMayBeNullOrAbsent(t *testing.T) {
	model := scripted.New("m", scripted.Reply("ok"))
	url := openaitest.New(model).Start(t)
	res := post(t, url, `{"model":"x","messages":[{"role":"user","content":"hi"}],"tools":[`+
		`{"type":"function","function":{"name":"a","parameters":null}},{"type":"function","function":{"name":"b"}}]}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	want := []llm.ToolSpec{{Name: "a"}, {Name: "b"}}
	if got := model.Requests()[0].Tools; !reflect.DeepEqual(got, want) {
		t.Errorf("tools %+v, want %+v", got, want)
	}
}

func TestCompletion(t *testing.T) {
	tests := map[string]struct {
		step       scripted.Step
		wantBody   string // a fragment the raw JSON must contain
		wantReason string
		wantCalls  int
	}{
		"text": {
			step:       scripted.Reply("Main St is clear."),
			wantBody:   `"content":"Main St is clear."`,
			wantReason: "stop",
		},
		"tool calls have null content": {
			step:       scripted.Call("traffic", `{"road":"Main St"}`).Call("permits", `{}`),
			wantBody:   `"content":null`,
			wantReason: "tool_calls",
			wantCalls:  2,
		},
		"malformed arguments verbatim": {
			step:       scripted.Call("traffic", `{"road":`),
			wantBody:   `"arguments":"{\"road\":"`,
			wantReason: "tool_calls",
			wantCalls:  1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := openaitest.New(scripted.New("m", tc.step)).Start(t)
			res := post(t, url, `{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(tc.wantBody)) {
				t.Fatalf("status %d body %s, want 200 containing %s", res.StatusCode, raw, tc.wantBody)
			}
			var c struct {
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Message struct {
						Role      string `json:"role"`
						ToolCalls []struct {
							ID, Type string
						} `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
				Usage llm.Usage `json:"usage"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if c.Object != "chat.completion" || c.Model != "m" || len(c.Choices) != 1 || c.Usage.TotalTokens == 0 {
				t.Fatalf("unexpected completion %s", raw)
			}
			ch := c.Choices[0]
			if ch.Message.Role != "assistant" || ch.FinishReason != tc.wantReason || len(ch.Message.ToolCalls) != tc.wantCalls {
				t.Errorf("choice %+v, want reason %s and %d calls", ch, tc.wantReason, tc.wantCalls)
			}
			for _, call := range ch.Message.ToolCalls {
				if call.ID == "" || call.Type != "function" {
					t.Errorf("tool call %+v lacks id or type", call)
				}
			}
		})
	}
}

// streamChunk is the part of chat.completion.chunk the tests look at.
type streamChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Usage   json.RawMessage `json:"usage"`
	Choices []struct {
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int     `json:"index"`
				ID       string  `json:"id"`
				Type     *string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

func TestStreaming(t *testing.T) {
	step := scripted.Reply("Checking both.").Call("traffic", `{"road":"Main St"}`).Call("permits", `{"ward":7}`)
	tests := map[string]struct {
		opts       []openaitest.Option
		usage      bool
		wantOrder  []int // tool-call delta indices in order
		repeatType bool
	}{
		"sequential":  {wantOrder: []int{0, 0, 0, 0, 1, 1, 1, 1}},
		"interleaved": {opts: []openaitest.Option{openaitest.InterleaveToolCalls()}, wantOrder: []int{0, 1, 0, 1, 0, 1, 0, 1}},
		"repeated type": {
			opts:       []openaitest.Option{openaitest.InterleaveToolCalls(), openaitest.RepeatToolType()},
			wantOrder:  []int{0, 1, 0, 1, 0, 1, 0, 1},
			repeatType: true,
		},
		"with usage":    {usage: true, wantOrder: []int{0, 0, 0, 0, 1, 1, 1, 1}},
		"two fragments": {opts: []openaitest.Option{openaitest.ArgumentFragments(2)}, wantOrder: []int{0, 0, 0, 1, 1, 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := openaitest.New(scripted.New("m", step), tc.opts...).Start(t)
			body := `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			if tc.usage {
				body = `{"model":"x","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			}
			res := post(t, url, body)
			if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
				t.Fatalf("status %d content type %q", res.StatusCode, ct)
			}
			evs := events(t, res.Body)
			if evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", evs[len(evs)-1])
			}
			var (
				chunks  []streamChunk
				text    strings.Builder
				order   []int
				ids     = map[int]string{}
				names   = map[int]string{}
				args    = map[int]string{}
				reasons []string
			)
			for _, ev := range evs[:len(evs)-1] {
				var c streamChunk
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatalf("chunk %s: %v", ev, err)
				}
				if c.Object != "chat.completion.chunk" || c.ID != "chatcmpl-openaitest-1" {
					t.Errorf("chunk header %s", ev)
				}
				if tc.usage != strings.Contains(ev, `"usage":`) {
					t.Errorf("usage field presence wrong in %s", ev)
				}
				chunks = append(chunks, c)
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						text.WriteString(*ch.Delta.Content)
					}
					if ch.FinishReason != nil {
						reasons = append(reasons, *ch.FinishReason)
					}
					for _, d := range ch.Delta.ToolCalls {
						order = append(order, d.Index)
						first := ids[d.Index] == ""
						if first != (d.ID != "") || first != (d.Function.Name != "") {
							t.Errorf("delta %s: id and name must come on the first delta of a call only", ev)
						}
						if wantType := first || tc.repeatType; wantType != (d.Type != nil) || (d.Type != nil && *d.Type != "function") {
							t.Errorf("delta %s: type present=%v, want %v", ev, d.Type != nil, wantType)
						}
						if first {
							ids[d.Index], names[d.Index] = d.ID, d.Function.Name
						}
						args[d.Index] += d.Function.Arguments
					}
				}
			}
			if first := chunks[0].Choices[0].Delta; first.Role != "assistant" {
				t.Errorf("first delta %+v, want the assistant role", first)
			}
			if text.String() != "Checking both." {
				t.Errorf("streamed text %q", text.String())
			}
			if !slices.Equal(order, tc.wantOrder) {
				t.Errorf("delta order %v, want %v", order, tc.wantOrder)
			}
			wantNames := map[int]string{0: "traffic", 1: "permits"}
			wantArgs := map[int]string{0: `{"road":"Main St"}`, 1: `{"ward":7}`}
			if !reflect.DeepEqual(names, wantNames) || !reflect.DeepEqual(args, wantArgs) || ids[0] == ids[1] {
				t.Errorf("assembled ids %v names %v args %v", ids, names, args)
			}
			if !slices.Equal(reasons, []string{"tool_calls"}) {
				t.Errorf("finish reasons %v, want one tool_calls", reasons)
			}
			last := chunks[len(chunks)-1]
			if tc.usage {
				var u llm.Usage
				if len(last.Choices) != 0 || json.Unmarshal(last.Usage, &u) != nil || u.TotalTokens == 0 {
					t.Errorf("last chunk %+v, want a usage chunk with no choices", last)
				}
			} else if last.Choices[0].FinishReason == nil {
				t.Errorf("finish_reason is not on the last chunk")
			}
		})
	}
}

func TestFailFirst(t *testing.T) {
	tests := map[string]struct {
		status         int
		retryAfter     time.Duration
		wantRetryAfter string
		wantMs         string
	}{
		"rate limited":        {status: 429, retryAfter: 1500 * time.Millisecond, wantRetryAfter: "2", wantMs: "1500"},
		"rate limited no hdr": {status: 429},
		"unavailable":         {status: 503, retryAfter: time.Second, wantRetryAfter: "1", wantMs: "1000"},
		"internal":            {status: 500},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := openaitest.New(scripted.New("m", scripted.Reply("ok")), openaitest.FailFirst(2, tc.status), openaitest.RetryAfter(tc.retryAfter))
			url := srv.Start(t)
			for i := range 2 {
				res := post(t, url, `{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
				e := decode[struct {
					Error struct{ Message, Type string }
				}](t, res.Body)
				if res.StatusCode != tc.status || e.Error.Message == "" {
					t.Fatalf("request %d: status %d error %+v, want %d with a message", i, res.StatusCode, e, tc.status)
				}
				if got := res.Header.Get("Retry-After"); got != tc.wantRetryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.wantRetryAfter)
				}
				if got := res.Header.Get("Retry-After-Ms"); got != tc.wantMs {
					t.Errorf("Retry-After-Ms = %q, want %q", got, tc.wantMs)
				}
			}
			if res := post(t, url, `{"model":"x","messages":[{"role":"user","content":"hi"}]}`); res.StatusCode != http.StatusOK {
				t.Errorf("third request: status %d", res.StatusCode)
			}
			if n := srv.Requests(); n != 3 {
				t.Errorf("Requests() = %d, want 3", n)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	tests := map[string]string{
		"not json":                `{"model":`,
		"no messages":             `{"model":"x","messages":[]}`,
		"unknown role":            `{"model":"x","messages":[{"role":"robot","content":"hi"}]}`,
		"tool message without id": `{"model":"x","messages":[{"role":"tool","content":"hi"}]}`,
		"content not text":        `{"model":"x","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
		"content a number":        `{"model":"x","messages":[{"role":"user","content":7}]}`,
		"tool not a function":     `{"model":"x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search"}]}`,
		"tool parameters array":   `{"model":"x","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"t","parameters":[]}}]}`,
		"assistant call no name":  `{"model":"x","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`,
	}
	model := scripted.New("m", scripted.Reply("never"))
	url := openaitest.New(model).Start(t)
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			res := post(t, url, body)
			e := decode[struct {
				Error struct{ Message, Type string }
			}](t, res.Body)
			if res.StatusCode != http.StatusBadRequest || e.Error.Type != "invalid_request_error" || e.Error.Message == "" {
				t.Errorf("status %d error %+v, want 400 invalid_request_error", res.StatusCode, e)
			}
		})
	}
	if n := len(model.Requests()); n != 0 {
		t.Errorf("model was called %d times for bad requests", n)
	}
}

func TestModelErrors(t *testing.T) {
	tests := map[string]struct {
		err    error
		stream bool
		want   int
	}{
		"unavailable":           {err: llm.ErrUnavailable, want: http.StatusServiceUnavailable},
		"other":                 {err: errors.New("boom"), want: http.StatusInternalServerError},
		"unavailable streaming": {err: llm.ErrUnavailable, stream: true, want: http.StatusServiceUnavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := openaitest.New(scripted.New("m", scripted.Fail(tc.err))).Start(t)
			body := `{"model":"x","messages":[{"role":"user","content":"hi"}]}`
			if tc.stream {
				body = `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			if res := post(t, url, body); res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}

func TestErrorAfterStreamStarted(t *testing.T) {
	model := modelFunc(func(ctx context.Context, _ llm.Request, stream llm.StreamFunc) (llm.Response, error) {
		if err := stream(ctx, "partial"); err != nil {
			return llm.Response{}, err
		}
		return llm.Response{}, errors.New("model crashed")
	})
	url := openaitest.New(model).Start(t)
	res := post(t, url, `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	evs := events(t, res.Body)
	if res.StatusCode != http.StatusOK || len(evs) != 3 {
		t.Fatalf("status %d events %q, want 200 with role, content and error events", res.StatusCode, evs)
	}
	if !strings.Contains(evs[1], `"content":"partial"`) || !strings.HasPrefix(evs[2], `{"error":`) {
		t.Errorf("events %q, want partial content then an error event (and no [DONE])", evs)
	}
}

func TestClientGoneEndsTheModelCall(t *testing.T) {
	done := make(chan error, 1)
	inner := scripted.New("m", scripted.Stall("partial answer"))
	model := modelFunc(func(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
		resp, err := inner.Generate(ctx, req, stream)
		done <- err
		return resp, err
	})
	tests := map[string]struct {
		opts   []openaitest.Option
		stream bool
	}{
		"mid stream":   {stream: true},
		"during delay": {opts: []openaitest.Option{openaitest.Delay(time.Hour)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := openaitest.New(model, tc.opts...).Start(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body := `{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/chat/completions", strings.NewReader(body))
			if !tc.stream {
				time.AfterFunc(20*time.Millisecond, cancel)
				if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v, want context.Canceled", err)
				}
				return // Start's cleanup would hang if the handler did not return
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() && !strings.Contains(sc.Text(), `"content":"p`) {
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("model returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("model call still running after the client left")
			}
		})
	}
}

func TestModels(t *testing.T) {
	url := openaitest.New(scripted.New("city-model")).Start(t)
	res, err := http.Get(url + "/models")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	l := decode[struct {
		Object string
		Data   []struct{ ID, Object string }
	}](t, res.Body)
	if res.StatusCode != http.StatusOK || l.Object != "list" || len(l.Data) != 1 || l.Data[0].ID != "city-model" || l.Data[0].Object != "model" {
		t.Errorf("status %d list %+v", res.StatusCode, l)
	}
}

func FuzzChatCompletions(f *testing.F) {
	f.Add(conversation)
	f.Add(`{"model":"x","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"max_completion_tokens":-1}`)
	// A fake rather than a scripted model, which would record every input.
	h := openaitest.New(modelFunc(func(ctx context.Context, _ llm.Request, stream llm.StreamFunc) (llm.Response, error) {
		if stream != nil {
			if err := stream(ctx, "ok"); err != nil {
				return llm.Response{}, err
			}
		}
		return llm.Response{Content: "ok", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "t", Arguments: json.RawMessage(`{}`)}}}, nil
	})).Handler()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
