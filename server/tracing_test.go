package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
)

// withTraceparent adds a W3C traceparent to every request.
type withTraceparent struct {
	tp   string
	next http.RoundTripper
}

func (w withTraceparent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("traceparent", w.tp)
	return w.next.RoundTrip(r)
}

// An MCP client's traceparent reaches the turn of ask_<agent> (the /mcp
// handler runs on net/http, outside the Fiber middleware): the turn's
// trace_id is the caller's, and with tracing on its spans hang from the
// MCP method's span, under the HTTP request's, under the caller's.
func TestMCPAskJoinsTheCallersTrace(t *testing.T) {
	const trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, on := range []bool{false, true} {
		env := newMCPEnv(t)
		var rcv *otlptest.Receiver
		if on {
			rcv = otlptest.Start(t)
			p, err := telemetry.Setup(telemetry.Config{Endpoint: rcv.Endpoint(), ServiceName: "mcp-test"})
			if err != nil {
				t.Fatal(err)
			}
			env.srv.deps.Telemetry = p
		}
		tr := &mcp.StreamableClientTransport{Endpoint: env.url, HTTPClient: &http.Client{
			Transport: withTraceparent{"00-" + trace + "-" + parent + "-01", bearer{env.keys["operator/internal"], http.DefaultTransport}}}}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "How is Zhongshan Road?"}})
		cs.Close()
		if err != nil || res.IsError {
			t.Fatalf("ask_traffic: %v %+v", err, res)
		}
		var cr agents.ChatResult
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &cr); err != nil || cr.TraceID != trace {
			t.Fatalf("on=%v: trace_id %q (%v), want the caller's %s", on, cr.TraceID, err, trace)
		}
		if !on {
			continue
		}
		if err := env.srv.deps.Telemetry.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		spans := rcv.Trace(trace)
		var req, call, turn, tool otlptest.Span
		for _, s := range spans {
			switch s.Name {
			case "POST /mcp":
				if s.ParentID == parent {
					req = s
				}
			case "tools/call ask_traffic":
				call = s
			case "invoke_agent traffic":
				turn = s
			case "execute_tool lookup":
				tool = s
			}
		}
		if req.SpanID == "" || call.ParentID != req.SpanID || turn.ParentID != call.SpanID || tool.ParentID != turn.SpanID || call.SpanID == "" {
			t.Fatalf("MCP span tree:\n%s", otlptest.Tree(spans))
		}
	}
}

// Every /mcp request is an HTTP server span (route /mcp) and is counted in
// cityagent_http_requests_total; its MCP methods are spans under it, and a
// tools/call refused for bad arguments is one, with status Error.
func TestMCPRequestsTracedAndCounted(t *testing.T) {
	env, rcv, p := newTracedMCPEnv(t)
	tr := &mcp.StreamableClientTransport{Endpoint: env.url, HTTPClient: &http.Client{Transport: bearer{env.keys["developer/internal"], http.DefaultTransport}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(t.Context(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "lookup", Arguments: map[string]any{"road": 7}})
	if err == nil && !res.IsError {
		t.Fatalf("lookup with a number for road succeeded: %+v", res)
	}
	_, unknownErr := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "no_such_tool", Arguments: map[string]any{}})
	cs.Close()
	if unknownErr == nil {
		t.Fatal("an unknown tool was called")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	byID := map[string]otlptest.Span{}
	for _, s := range rcv.Spans() {
		byID[s.SpanID] = s
	}
	checkMethodSpan := func(name, errType string) {
		t.Helper()
		for _, s := range byID {
			if s.Name != name {
				continue
			}
			req := byID[s.ParentID]
			if code, _ := req.Int(telemetry.AttrHTTPStatus); req.Name != "POST /mcp" || req.Str(telemetry.AttrHTTPRoute) != "/mcp" || code != 200 {
				t.Errorf("%s: parent %+v, want the POST /mcp server span", name, req)
			}
			if !s.Error || s.Str("error.type") != errType || s.TraceID != req.TraceID {
				t.Errorf("%s: error %v, error.type %q; want Error with %q", name, s.Error, s.Str("error.type"), errType)
			}
			return
		}
		t.Errorf("no span %q:\n%s", name, otlptest.Tree(rcv.Spans()))
	}
	checkMethodSpan("tools/call lookup", "tool_error")
	checkMethodSpan("tools/call no_such_tool", "-32602")
	if _, ok := byID[findSpan(byID, "initialize")]; !ok {
		t.Errorf("initialize is not traced:\n%s", otlptest.Tree(rcv.Spans()))
	}

	resp, err := http.Get(env.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`cityagent_http_requests_total{method="POST",route="/mcp",status="200"}`,
		`cityagent_http_requests_total{method="DELETE",route="/mcp",status="204"} 1`, `cityagent_http_request_duration_seconds_count{route="/mcp"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// newTracedMCPEnv is newMCPEnv with tracing on, exporting to a receiver.
func newTracedMCPEnv(t *testing.T) (*mcpEnv, *otlptest.Receiver, *telemetry.Provider) {
	t.Helper()
	env := newMCPEnv(t)
	rcv := otlptest.Start(t)
	p, err := telemetry.Setup(telemetry.Config{Endpoint: rcv.Endpoint(), ServiceName: "mcp-test"})
	if err != nil {
		t.Fatal(err)
	}
	env.srv.deps.Telemetry = p
	return env, rcv, p
}

func findSpan(byID map[string]otlptest.Span, name string) string {
	for id, s := range byID {
		if s.Name == name {
			return id
		}
	}
	return ""
}
