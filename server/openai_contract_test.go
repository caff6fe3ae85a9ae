package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/llm/openai"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// oaiEnv is a server whose traffic agent runs on the given models, with
// the real offline engine as the last fallback.
type oaiEnv struct {
	// outOfTime counts turns whose last model, the offline engine, ran out
	// of the turn's budget (as the runner logs it).
	outOfTime *lastModelTimeouts
	base      string
	keys      map[access.Role]string
	keyIDs    map[access.Role]string
	db        *store.DB
}

func newOAIEnv(t *testing.T, byName map[string]llm.Model, timeout time.Duration) *oaiEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lookup := tools.MustTyped(tools.Spec{Name: "lookup", Description: "road lookup"}, func(_ context.Context, a roadArgs) (tools.Result, error) {
		return tools.JSONResult(map[string]any{"road": a.Road, "summary": a.Road + " index 2.4"}, tools.Citation{Source: "test", AsOf: time.Now()})
	})
	reg, _ := tools.NewRegistry(lookup)
	spec := agents.Spec{Name: "traffic", Instructions: "Answer traffic questions.", Tools: []string{"lookup"},
		Budgets: agents.Budgets{Timeout: timeout, ToolTimeout: timeout}}
	hot := agents.Spec{Name: "hotline", Instructions: "x", Roles: []access.Role{access.RoleHotline}}
	cat, err := agents.NewCatalog(spec, hot)
	if err != nil {
		t.Fatal(err)
	}
	models := agents.Models{ByName: byName, Offline: offline.New()}
	for name := range byName {
		models.Default = name
	}
	outOfTime := &lastModelTimeouts{model: models.Offline.Name()}
	runner := &agents.Runner{Catalog: cat, Tools: reg, Sessions: db, Models: models, Log: slog.New(outOfTime)}
	srv := New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db}, Options{BodyLimit: 1 << 20, HeartbeatInterval: time.Second})
	env := &oaiEnv{db: db, keys: map[access.Role]string{}, keyIDs: map[access.Role]string{}, outOfTime: outOfTime}
	for _, r := range []access.Role{access.RoleOperator, access.RoleHotline} {
		k, secret, err := IssueKey(ctx, db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal"}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[r], env.keyIDs[r] = secret, k.ID
	}
	env.base = "http://" + serveLoopback(t, srv)
	return env
}

// lastModelTimeouts is the runner's log: it counts the "model failed"
// records of model (the chain's last) that ended at the turn's deadline.
type lastModelTimeouts struct {
	model string
	n     atomic.Int32
}

var _ slog.Handler = (*lastModelTimeouts)(nil)

func (h *lastModelTimeouts) Enabled(context.Context, slog.Level) bool { return true }
func (h *lastModelTimeouts) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lastModelTimeouts) WithGroup(string) slog.Handler            { return h }

func (h *lastModelTimeouts) Handle(_ context.Context, r slog.Record) error {
	var model string
	var timedOut bool
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "model":
			model = a.Value.String()
		case "err":
			err, _ := a.Value.Any().(error)
			timedOut = errors.Is(err, context.DeadlineExceeded)
		}
		return true
	})
	if r.Message == "model failed" && model == h.model && timedOut {
		h.n.Add(1)
	}
	return nil
}

func (e *oaiEnv) client(role access.Role) *oai.Client {
	c := oai.NewClient(option.WithBaseURL(e.base+"/v1"), option.WithAPIKey(e.keys[role]), option.WithMaxRetries(0))
	return &c
}

// post sends a raw JSON body to the OpenAI route and returns the response.
func (e *oaiEnv) post(t *testing.T, role access.Role, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[role])
	}
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestOpenAIErrorEnvelope(t *testing.T) {
	t.Parallel()
	env := newOAIEnv(t, nil, 5*time.Second)
	user := `"messages":[{"role":"user","content":"hi"}]`
	for name, tc := range map[string]struct {
		role             access.Role
		path, body       string
		status           int
		typ, code, param string
	}{
		"no key":        {"", "/v1/chat/completions", `{"model":"traffic",` + user + `}`, 401, "authentication_error", "invalid_api_key", ""},
		"unknown model": {access.RoleOperator, "/v1/chat/completions", `{"model":"weather",` + user + `}`, 404, "invalid_request_error", "model_not_found", ""},
		// A forbidden model is as unknown as a missing one, as GET /v1/models/{id} says.
		"forbidden":      {access.RoleOperator, "/v1/chat/completions", `{"model":"hotline",` + user + `}`, 404, "invalid_request_error", "model_not_found", ""},
		"bad field":      {access.RoleOperator, "/v1/chat/completions", `{"model":"traffic","temperature":3,` + user + `}`, 400, "invalid_request_error", "", "temperature"},
		"reserved tool":  {access.RoleOperator, "/v1/chat/completions", `{"model":"traffic","tools":[{"type":"function","function":{"name":"propose_x"}}],` + user + `}`, 400, "invalid_request_error", "", "tools[0].function.name"},
		"unknown choice": {access.RoleOperator, "/v1/chat/completions", `{"model":"traffic","tool_choice":{"type":"function","function":{"name":"nope"}},` + user + `}`, 400, "invalid_request_error", "", "tool_choice"},
		"orphan results": {access.RoleOperator, "/v1/chat/completions", `{"model":"traffic","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"x"}]}`, 400, "invalid_request_error", "", "messages"},
		"model by id":    {access.RoleOperator, "/v1/models/weather", "", 404, "invalid_request_error", "model_not_found", ""},
		"no such route":  {access.RoleOperator, "/v1/models/traffic/extra", "", 404, "invalid_request_error", "not_found", ""},
	} {
		t.Run(name, func(t *testing.T) {
			method := "POST"
			if tc.body == "" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, env.base+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.role != "" {
				req.Header.Set("Authorization", "Bearer "+env.keys[tc.role])
			}
			resp, b, err := roundTrip(http.DefaultClient, req)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Error oaiError }
			if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			e := got.Error
			if e.Message == "" || e.Type != tc.typ || deref(e.Code) != tc.code || deref(e.Param) != tc.param {
				t.Fatalf("error %s", b)
			}
		})
	}
	// The official client reads the detail instead of "(no body)".
	_, err := env.client(access.RoleOperator).Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{Model: "weather",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || !strings.Contains(apiErr.Message, "weather") {
		t.Fatalf("official client: %v", err)
	}
	// The native API keeps problem+json.
	req, _ := http.NewRequest("GET", env.base+"/v1/agents/weather", nil)
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	if resp, _, _ := roundTrip(http.DefaultClient, req); resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("native route answered %s", resp.Header.Get("Content-Type"))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestOpenAIModelByID(t *testing.T) {
	t.Parallel()
	env := newOAIEnv(t, nil, 5*time.Second)
	m, err := env.client(access.RoleOperator).Models.Get(context.Background(), "traffic")
	if err != nil || m.ID != "traffic" || m.OwnedBy != "cityagent" {
		t.Fatalf("model %+v, %v", m, err)
	}
	// An agent the key may not use is as unknown as a missing one.
	if _, err := env.client(access.RoleOperator).Models.Get(context.Background(), "hotline"); err == nil {
		t.Fatal("operator sees the hotline agent")
	}
}

// TestOpenAIStreamUsageAndSession: include_usage adds a last chunk with the
// usage; the session is in a header and in the last chunk's extension.
func TestOpenAIStreamUsageAndSession(t *testing.T) {
	t.Parallel()
	env := newOAIEnv(t, nil, 5*time.Second)
	resp, _ := env.post(t, access.RoleOperator, `{"model":"traffic","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Is Zhongshan Road congested?"}]}`)
	session := resp.Header.Get(sessionHeader)
	if !strings.HasPrefix(session, "ses_") {
		t.Fatalf("session header %q", session)
	}
	stream := env.client(access.RoleOperator).Chat.Completions.NewStreaming(context.Background(), oai.ChatCompletionNewParams{Model: "traffic",
		Messages:      []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Is Zhongshan Road congested?")},
		StreamOptions: oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}})
	var last oai.ChatCompletionChunk
	var acc oai.ChatCompletionAccumulator
	for stream.Next() {
		last = stream.Current()
		acc.AddChunk(last)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(last.Choices) != 0 || last.Usage.TotalTokens == 0 || acc.Choices[0].FinishReason != "stop" || acc.Choices[0].Message.Content == "" {
		t.Fatalf("last chunk %s; accumulated %+v", last.RawJSON(), acc.Choices)
	}
	var ext struct {
		Cityagent struct {
			SessionID string `json:"session_id"`
		} `json:"cityagent"`
	}
	if json.Unmarshal([]byte(last.RawJSON()), &ext) != nil || !strings.HasPrefix(ext.Cityagent.SessionID, "ses_") {
		t.Fatalf("last chunk has no cityagent extension: %s", last.RawJSON())
	}
	if _, err := env.db.GetSession(context.Background(), ext.Cityagent.SessionID); err != nil {
		t.Fatalf("the extension names no session: %v", err)
	}
}

// TestOpenAIClientToolRoundTrip: the offline engine calls a client tool the
// question names; the response ends with tool_calls; the client's tool
// message continues the same turn of the same session.
func TestOpenAIClientToolRoundTrip(t *testing.T) {
	t.Parallel()
	for _, streamed := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[streamed], func(t *testing.T) {
			env := newOAIEnv(t, nil, 5*time.Second)
			client := env.client(access.RoleOperator)
			ctx := context.Background()
			tool := oai.ChatCompletionFunctionTool(oai.FunctionDefinitionParam{Name: "get_weather", Description: oai.String("the weather in a city"),
				Parameters: oai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}})
			params := oai.ChatCompletionNewParams{Model: "traffic", Tools: []oai.ChatCompletionToolUnionParam{tool},
				Messages: []oai.ChatCompletionMessageParamUnion{oai.SystemMessage("Be brief."), oai.UserMessage("Call get_weather with city Paris.")}}
			complete := func() oai.ChatCompletionMessage {
				t.Helper()
				if !streamed {
					resp, err := client.Chat.Completions.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					if want := map[bool]string{true: "tool_calls", false: "stop"}[len(resp.Choices[0].Message.ToolCalls) > 0]; resp.Choices[0].FinishReason != want {
						t.Fatalf("finish %q", resp.Choices[0].FinishReason)
					}
					return resp.Choices[0].Message
				}
				s := client.Chat.Completions.NewStreaming(ctx, params)
				var acc oai.ChatCompletionAccumulator
				for s.Next() {
					acc.AddChunk(s.Current())
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				return acc.Choices[0].Message
			}
			msg := complete()
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
				t.Fatalf("tool calls %+v", msg.ToolCalls)
			}
			params.Messages = append(params.Messages, msg.ToParam(), oai.ToolMessage(`{"city":"Paris","sky":"light rain","temp_c":9}`, msg.ToolCalls[0].ID))
			answer := complete()
			if len(answer.ToolCalls) != 0 || !strings.Contains(answer.Content, "light rain") {
				t.Fatalf("answer %q, calls %+v", answer.Content, answer.ToolCalls)
			}
			sessions, err := env.db.ListSessions(ctx, env.keyIDs[access.RoleOperator], 10, "")
			if err != nil || len(sessions) != 1 {
				t.Fatalf("sessions %d (%v), want the round trip in one", len(sessions), err)
			}
			evs, _ := env.db.Events(ctx, sessions[0].ID)
			for _, e := range evs {
				if e.Turn != 1 {
					t.Fatalf("the results started turn %d instead of continuing turn 1", e.Turn)
				}
			}
		})
	}
}

// TestStreamResetOnModelFailure: a model (over the real OpenAI protocol)
// that dies or stalls after part of its text makes the native stream send
// reset before the fallback's answer, and the OpenAI stream say so and end
// cleanly with the answer in its extension.
func TestStreamResetOnModelFailure(t *testing.T) {
	t.Parallel()
	const partial = "Zhongshan Road is flo"
	for name, tc := range map[string]struct {
		inner   llm.Model
		budgets []time.Duration
	}{
		// Nothing waits on the budget here: one far above a turn's time, a hang guard.
		"dies": {scripted.Dies("m", partial, errors.New("upstream connection lost")), []time.Duration{time.Minute}},
		// A stall ends only at the turn's deadline, and the partial must reach the
		// client before it, and the offline engine answer in the reserve after it;
		// under load either may not, so the budget doubles until both do.
		"stalls": {scripted.New("m", scripted.Stall(partial)).RepeatLast(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			primary, err := openai.New(openai.Config{BaseURL: openaitest.New(tc.inner).Start(t), Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			for proto, turn := range map[string]func(*testing.T, *oaiEnv) (before, after, answer string, failed error){
				"native": nativeResetTurn, "openai": openAIResetTurn,
			} {
				shown := false
				for _, budget := range tc.budgets {
					env := newOAIEnv(t, map[string]llm.Model{"primary": primary}, budget)
					before, after, answer, failed := turn(t, env)
					if failed != nil {
						// The turn failed: allowed only when the offline engine,
						// the last fallback, ran out of the turn's reserve.
						if env.outOfTime.n.Load() == 0 || len(tc.budgets) == 1 {
							t.Fatalf("%s, budget %v: %v", proto, budget, failed)
						}
						t.Logf("%s, budget %v: the offline engine ran out of the turn's reserve (%v); retrying", proto, budget, failed)
						continue
					}
					if answer == "" || after != answer || !strings.HasPrefix(partial, before) {
						t.Fatalf("%s, budget %v: before reset %q; after %q; answer %q", proto, budget, before, after, answer)
					}
					if shown = before == partial; shown {
						break
					}
					t.Logf("%s, budget %v: the deadline came before the partial reached the client (%q shown); retrying", proto, budget, before)
				}
				if !shown {
					t.Fatalf("%s: the partial never reached the client before the fallback", proto)
				}
			}
		})
	}
}

// nativeResetTurn streams a native chat and returns the text shown before
// the reset (empty without one), the text after it and the done answer; a
// done event that is not degraded fails the test. failed: the stream ended
// with an error event instead of a done event.
func nativeResetTurn(t *testing.T, env *oaiEnv) (before, after, answer string, failed error) {
	t.Helper()
	req, _ := http.NewRequest("POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"Is Zhongshan Road flowing?","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := readSSE(t, resp.Body)
	resp.Body.Close()
	var shown strings.Builder
	var done agents.ChatResult
	var doneSeen bool
	for _, e := range events {
		switch e.name {
		case "delta":
			var d agents.DeltaData
			json.Unmarshal([]byte(e.data), &d)
			shown.WriteString(d.Text)
		case "reset":
			before = shown.String()
			shown.Reset()
		case "done":
			doneSeen = true
			json.Unmarshal([]byte(e.data), &done)
		}
	}
	if !doneSeen && len(events) > 0 && events[len(events)-1].name == "error" {
		return "", "", "", fmt.Errorf("native: the stream ended with an error: %+v", events)
	}
	if !done.Degraded {
		t.Fatalf("native: done %+v is not degraded (events %+v)", done, events)
	}
	return before, shown.String(), done.Answer, nil
}

// openAIResetTurn does the same over the OpenAI stream: the content is the
// partial, the note and the answer; the extension has the answer alone.
// failed: the stream ended with an error chunk.
func openAIResetTurn(t *testing.T, env *oaiEnv) (before, after, answer string, failed error) {
	t.Helper()
	s := env.client(access.RoleOperator).Chat.Completions.NewStreaming(context.Background(), oai.ChatCompletionNewParams{Model: "traffic",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Is Zhongshan Road flowing?")}})
	var acc oai.ChatCompletionAccumulator
	var last oai.ChatCompletionChunk
	for s.Next() {
		last = s.Current()
		acc.AddChunk(last)
	}
	if err := s.Err(); err != nil {
		if se := (*ssestream.StreamError)(nil); errors.As(err, &se) {
			return "", "", "", fmt.Errorf("openai: the stream ended with an error chunk: %w", err)
		}
		t.Fatalf("the OpenAI stream did not end cleanly: %v", err)
	}
	var ext struct {
		Cityagent struct {
			Reset  bool   `json:"reset"`
			Answer string `json:"answer"`
		} `json:"cityagent"`
	}
	json.Unmarshal([]byte(last.RawJSON()), &ext)
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("openai: choices %+v", acc.Choices)
	}
	content := acc.Choices[0].Message.Content
	before, after, found := strings.Cut(content, resetNote)
	if found != ext.Cityagent.Reset {
		t.Fatalf("openai: content %q; extension %+v: the note and the reset flag disagree", content, ext.Cityagent)
	}
	if !found { // no reset, so no extension: the content is the fallback's answer alone
		return "", content, content, nil
	}
	return before, after, ext.Cityagent.Answer, nil
}

// TestOpenAIToolChoice: "none" withholds the client's tools; a named
// function offers that one alone.
func TestOpenAIToolChoice(t *testing.T) {
	t.Parallel()
	env := newOAIEnv(t, nil, 5*time.Second)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},` +
		`{"type":"function","function":{"name":"get_tide","parameters":{"type":"object","properties":{"port":{"type":"string"}},"required":["port"]}}}]`
	ask := `"messages":[{"role":"user","content":"Call get_weather with city Paris and get_tide with port Brest."}]`
	for name, tc := range map[string]struct{ choice, finish, calls string }{
		"auto":  {`"auto"`, "tool_calls", "get_weather get_tide"},
		"none":  {`"none"`, "stop", ""},
		"named": {`{"type":"function","function":{"name":"get_tide"}}`, "tool_calls", "get_tide"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := env.post(t, access.RoleOperator, `{"model":"traffic",`+tools+`,"tool_choice":`+tc.choice+`,`+ask+`}`)
			var got struct {
				Choices []struct {
					FinishReason string `json:"finish_reason"`
					Message      struct {
						ToolCalls []oaiToolCall `json:"tool_calls"`
					} `json:"message"`
				} `json:"choices"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || len(got.Choices) != 1 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			var names []string
			for _, c := range got.Choices[0].Message.ToolCalls {
				names = append(names, c.Function.Name)
			}
			if got.Choices[0].FinishReason != tc.finish || strings.Join(names, " ") != tc.calls {
				t.Fatalf("finish %q, calls %v: %s", got.Choices[0].FinishReason, names, b)
			}
			if !strings.HasPrefix(resp.Header.Get(sessionHeader), "ses_") {
				t.Fatalf("no session header")
			}
		})
	}
}

// errorContentType is the media type of an error response on path: OpenAI's
// envelope on the OpenAI routes, problem+json elsewhere.
func errorContentType(path string) string {
	if isOpenAIPath(path) {
		return "application/json"
	}
	return "application/problem+json"
}

// decodeError reads an error body of either form as a Problem, for tests
// that run the same checks on every route: OpenAI's message becomes the
// detail, and its param the one field error.
func decodeError(path string, b []byte) Problem {
	var p Problem
	if !isOpenAIPath(path) {
		_ = json.Unmarshal(b, &p)
		return p
	}
	var env struct{ Error oaiError }
	_ = json.Unmarshal(b, &env)
	p.Detail = env.Error.Message
	if env.Error.Param != nil {
		p.Errors = []FieldError{{Field: *env.Error.Param, Message: env.Error.Message}}
	}
	return p
}
