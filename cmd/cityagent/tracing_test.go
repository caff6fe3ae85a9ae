package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
	"github.com/cityagent/cityagent/llm/openaitest"
)

// post sends body to path with key and extra headers (name, value pairs)
// and returns the status, the response headers and the body.
func (in *instance) post(t *testing.T, path, key, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (in *instance) chatAs(t *testing.T, key, agent, msg string, hdr ...string) (agents.ChatResult, http.Header) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"message": msg})
	code, h, body := in.post(t, "/v1/agents/"+agent+"/chat", key, string(b), hdr...)
	if code != 200 {
		t.Fatalf("chat %q: %d %s", msg, code, body)
	}
	var res agents.ChatResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	return res, h
}

// spanIndex finds spans of one trace by name.
type spanIndex []otlptest.Span

func (x spanIndex) named(name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range x {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func (x spanIndex) one(t *testing.T, name string) otlptest.Span {
	t.Helper()
	got := x.named(name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %q, want 1; the trace:\n%s", len(got), name, otlptest.Tree(x))
	}
	return got[0]
}

func (x spanIndex) prefixed(prefix string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range x {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestTracingChatTurn runs the real server with OTLP/HTTP export to a
// receiver in the test and checks the span tree of a traffic turn that
// calls a tool and makes a proposal, of the proposal's approval, and of a
// turn that arrives with a W3C traceparent; then the /metrics series.
func TestTracingChatTurn(t *testing.T) {
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_SERVICE_NAME", "cityagent-tracing-test")
	in := startServe(t, t.TempDir())
	op := in.newKey(t, "operator", "internal")
	sup := in.newKey(t, "supervisor", "internal")

	res, hdr := in.chatAs(t, op, "traffic", "Renmin Road is jammed. Propose retiming its signals to give the main road more green.")
	if len(res.Proposals) != 1 || len(res.ToolCalls) < 2 {
		t.Fatalf("the turn should call a traffic tool and propose: tools %+v, proposals %+v", res.ToolCalls, res.Proposals)
	}
	if !traceIDPattern.MatchString(res.TraceID) || hdr.Get("X-Request-ID") != res.TraceID {
		t.Fatalf("trace_id %q (request id %q): want a W3C trace id, also the request id", res.TraceID, hdr.Get("X-Request-ID"))
	}
	code, _, body := in.post(t, "/v1/proposals/"+res.Proposals[0].ID+"/approve", sup, `{"comment":"ok"}`)
	if code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}

	const callerTrace, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	res2, _ := in.chatAs(t, op, "traffic", "Which road segments are the most congested right now?",
		"traceparent", "00-"+callerTrace+"-"+callerSpan+"-01", "tracestate", "congo=t61rcWkgMzE")
	if res2.TraceID != callerTrace {
		t.Fatalf("trace_id %q, want the incoming traceparent's %s", res2.TraceID, callerTrace)
	}

	// A streamed turn: its request span ends with the stream, after the handler.
	const streamTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	code, _, sse := in.post(t, "/v1/agents/traffic/chat", op, `{"message":"Which road segments are the most congested right now?","stream":true}`,
		"traceparent", "00-"+streamTrace+"-00f067aa0ba902b7-01")
	if code != 200 || !strings.Contains(string(sse), "event: done") || !strings.Contains(string(sse), streamTrace) {
		t.Fatalf("stream: %d %s", code, sse)
	}

	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	in.stop() // shutdown flushes the spans still buffered

	streamed := spanIndex(rcv.Trace(streamTrace))
	if sroot := streamed.one(t, "POST /v1/agents/:agent/chat"); streamed.one(t, "invoke_agent traffic").ParentID != sroot.SpanID {
		t.Errorf("streamed turn's spans:\n%s", otlptest.Tree(streamed))
	}

	turn := spanIndex(rcv.Trace(res.TraceID))
	checkTurnTree(t, turn, res)
	var decide, execute []otlptest.Span
	for _, s := range rcv.Spans() {
		switch s.Name {
		case "proposal decide":
			decide = append(decide, s)
		case "proposal execute":
			execute = append(execute, s)
		}
	}
	if len(decide) != 1 || len(execute) != 1 || decide[0].TraceID != execute[0].TraceID || decide[0].TraceID == res.TraceID ||
		decide[0].Str("cityagent.proposal.id") != res.Proposals[0].ID || execute[0].Str("cityagent.proposal.status") != "executed" {
		t.Errorf("approval spans: decide %+v, execute %+v", decide, execute)
	} else {
		root := spanIndex(rcv.Trace(decide[0].TraceID)).one(t, "POST /v1/proposals/:id/approve")
		if decide[0].ParentID != root.SpanID || execute[0].ParentID != root.SpanID {
			t.Errorf("decision spans are not children of the approval request:\n%s", otlptest.Tree(rcv.Trace(decide[0].TraceID)))
		}
	}

	caller := spanIndex(rcv.Trace(callerTrace))
	root := caller.one(t, "POST /v1/agents/:agent/chat")
	if root.ParentID != callerSpan || caller.one(t, "invoke_agent traffic").ParentID != root.SpanID {
		t.Errorf("the request with a traceparent is not a child of the caller's span:\n%s", otlptest.Tree(caller))
	}

	for _, want := range []string{
		`cityagent_chat_turn_duration_seconds_count{agent="traffic",model="cityagent-offline"} 3`,
		`cityagent_tool_call_duration_seconds_count{tool="` + res.ToolCalls[0].Name + `"}`,
		`cityagent_tool_calls_total{ok="true",tool="propose_traffic_retime_signal"} 1`,
		`cityagent_proposals{status="executed"} 1`,
		`cityagent_hotline_deadline_misses{state="open"} 0`,
		`cityagent_hotline_deadline_misses{state="closed_late"} 0`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// checkTurnTree checks one chat turn's trace: the HTTP request is the
// root, the turn its child, and retrieval, the model calls, the tool calls,
// the proposal and the store writes the turn's children, with the GenAI
// attributes.
func checkTurnTree(t *testing.T, x spanIndex, res agents.ChatResult) {
	t.Helper()
	root := x.one(t, "POST /v1/agents/:agent/chat")
	if root.ParentID != "" || root.Kind != tracepb.Span_SPAN_KIND_SERVER || root.Service != "cityagent-tracing-test" {
		t.Errorf("root span %+v", root)
	}
	if st, _ := root.Int("http.response.status_code"); st != 200 || root.Str("http.route") != "/v1/agents/:agent/chat" {
		t.Errorf("root span attributes %v", root.Attrs)
	}
	turn := x.one(t, "invoke_agent traffic")
	if turn.ParentID != root.SpanID || turn.Str("gen_ai.operation.name") != "invoke_agent" || turn.Str("gen_ai.agent.name") != "traffic" ||
		turn.Str("gen_ai.conversation.id") != res.SessionID || turn.Str("gen_ai.response.model") != res.Model {
		t.Errorf("turn span %+v", turn)
	}
	child := func(s otlptest.Span) {
		t.Helper()
		if s.ParentID != turn.SpanID {
			t.Errorf("span %q is not a child of the turn:\n%s", s.Name, otlptest.Tree(x))
		}
	}
	retr := x.one(t, "retrieval traffic")
	child(retr)
	if n, _ := retr.Int("cityagent.retrieval.hits"); n == 0 || retr.Str("gen_ai.data_source.id") != "traffic" {
		t.Errorf("retrieval span %v", retr.Attrs)
	}
	chats := x.prefixed("chat ")
	if len(chats) < 2 {
		t.Errorf("%d model call spans, want one per step (≥ 2)", len(chats))
	}
	for _, c := range chats {
		child(c)
		if c.Kind != tracepb.Span_SPAN_KIND_CLIENT || c.Str("gen_ai.operation.name") != "chat" || c.Str("gen_ai.request.model") != "offline" || c.Str("gen_ai.response.model") == "" {
			t.Errorf("model call span %+v", c)
		}
	}
	for _, tc := range res.ToolCalls {
		s := x.one(t, "execute_tool "+tc.Name)
		child(s)
		if s.Str("gen_ai.tool.name") != tc.Name || s.Str("gen_ai.tool.call.id") != tc.ID || s.Str("gen_ai.operation.name") != "execute_tool" {
			t.Errorf("tool span %+v for %+v", s, tc)
		}
	}
	prop := x.one(t, "execute_tool propose_traffic_retime_signal")
	create := x.one(t, "proposal create")
	if prop.Str("cityagent.proposal.id") != res.Proposals[0].ID || create.ParentID != prop.SpanID ||
		create.Str("cityagent.proposal.id") != res.Proposals[0].ID || create.Str("cityagent.proposal.action") != "traffic.retime_signal" {
		t.Errorf("proposal spans: tool %+v, create %+v", prop, create)
	}
	for _, name := range []string{"store create_session", "store append_audit"} {
		child(x.one(t, name))
	}
	if appends := x.named("store append_events"); len(appends) < 2 {
		t.Errorf("%d session writes traced, want ≥ 2 (question, then the answer)", len(appends))
	}
}

// TestTracingOutboundTraceparent checks that a registered HTTP tool and the
// model server receive the turn's traceparent, and that a model failure is
// counted as a fallback.
func TestTracingOutboundTraceparent(t *testing.T) {
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.BaseURL())
	var mu sync.Mutex
	var toolSaw, modelSaw []string
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		toolSaw = append(toolSaw, r.Header.Get("traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"district":%q,"aqi":42}`, r.URL.Query().Get("district"))
	}))
	defer tool.Close()
	model := openaitest.New(toolsCaller(), openaitest.FailFirst(1, 500)).Handler()
	modelSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		modelSaw = append(modelSaw, r.Header.Get("traceparent"))
		mu.Unlock()
		model.ServeHTTP(w, r)
	}))
	defer modelSrv.Close()
	in, op := startToolAgent(t, modelSrv.URL, tool.URL)

	failed, _ := in.chatAs(t, op, "aq", "hello") // the model server's first answer is a 500
	if !failed.Degraded || failed.Model != "cityagent-offline" {
		t.Fatalf("first turn should fall back to the offline engine: %+v", failed)
	}
	res, _ := in.chatAs(t, op, "aq", `CALL air_quality {"district":"nanhu"}`)
	if len(res.ToolCalls) != 1 || !res.ToolCalls[0].OK || !strings.Contains(res.Answer, `"aqi":42`) {
		t.Fatalf("tool turn: %+v", res)
	}
	resp, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	in.stop()

	x := spanIndex(rcv.Trace(res.TraceID))
	toolSpan := x.one(t, "execute_tool air_quality")
	mu.Lock()
	defer mu.Unlock()
	if len(toolSaw) != 1 || toolSaw[0] != "00-"+res.TraceID+"-"+toolSpan.SpanID+"-01" {
		t.Errorf("the tool saw traceparent %q, want the tool span's in trace %s", toolSaw, res.TraceID)
	}
	var ofTurn int
	for _, tp := range modelSaw {
		if strings.HasPrefix(tp, "00-"+res.TraceID+"-") {
			ofTurn++
		}
	}
	if ofTurn != 2 || len(x.prefixed("chat openai:scripted-caller")) != 2 {
		t.Errorf("model server saw traceparents %q; want the turn's trace on both of its calls:\n%s", modelSaw, otlptest.Tree(x))
	}
	if !strings.Contains(string(metrics), `cityagent_model_fallbacks_total{from="openai:scripted-caller",to="offline"} 1`) {
		t.Errorf("/metrics lacks the fallback:\n%s", grepLines(string(metrics), "cityagent_model"))
	}
}

// startToolAgent starts cityagent with the agent "aq" on the OpenAI-compatible
// model server at modelURL, and the HTTP tool air_quality at toolURL
// registered; it returns the instance and an operator key.
func startToolAgent(t *testing.T, modelURL, toolURL string) (*instance, string) {
	t.Helper()
	agentsDir := t.TempDir()
	const spec = "name: aq\ndescription: Air quality. 空气质量。\ninstructions: Call the tool the operator names.\n" +
		"tools: [air_quality]\ncollections: []\nroles: [operator]\nbudgets: {max_steps: 3, max_tool_calls: 3, timeout: 20s, max_tokens: 16000, tool_timeout: 5s}\n"
	if err := os.WriteFile(filepath.Join(agentsDir, "aq.yaml"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startServe(t, t.TempDir(), func(c *config.Config) {
		c.AgentsDir = agentsDir
		c.LLM.Provider, c.LLM.BaseURL, c.LLM.Model, c.LLM.MaxRetries = "openai", modelURL+"/v1", "scripted-caller", 0
		c.Outbound.Allow = []string{"127.0.0.1"}
	})
	dev, op := in.newKey(t, "developer", "internal"), in.newKey(t, "operator", "internal")
	reg := fmt.Sprintf(`{"name":"air_quality","description":"Air quality index of a district","parameters":{"type":"object","properties":{"district":{"type":"string"}},"required":["district"]},"endpoint":%q,"timeout_ms":3000}`, toolURL)
	if code, _, body := in.post(t, "/v1/tools", dev, reg); code != 201 {
		t.Fatalf("register: %d %s", code, body)
	}

	return in, op
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
