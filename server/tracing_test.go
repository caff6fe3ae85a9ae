package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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

// mcpRequests counts the /mcp requests a client sent (and had answered)
// and those the server finished, by method. The go-sdk writes an answer
// before its handler returns, and the server ends the request's span and
// counts it after that (endMCPRequest), then logs it: a test that shuts the
// exporter down as soon as its client has the answer may drop the span. The
// server's "request" log line (via mcp) is the signal that both happened.
type mcpRequests struct {
	next slog.Handler
	mu   sync.Mutex
	sent map[string]int
	done map[string]int
}

// watchMCPRequests wraps the server's log to count finished /mcp requests
// and next (the client's transport) to count sent ones. Call it before the
// env's first request.
func watchMCPRequests(env *mcpEnv, next http.RoundTripper) (*mcpRequests, http.RoundTripper) {
	w := &mcpRequests{next: env.srv.log.Handler(), sent: map[string]int{}, done: map[string]int{}}
	env.srv.log = slog.New(w)
	return w, countingTransport{w, next}
}

func (w *mcpRequests) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (w *mcpRequests) WithAttrs(a []slog.Attr) slog.Handler           { return w }
func (w *mcpRequests) WithGroup(string) slog.Handler                  { return w }

func (w *mcpRequests) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "request" {
		var method, via string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "method":
				method = a.Value.String()
			case "via":
				via = a.Value.String()
			}
			return true
		})
		if via == "mcp" {
			w.mu.Lock()
			w.done[method]++
			w.mu.Unlock()
		}
	}
	if !w.next.Enabled(ctx, r.Level) {
		return nil
	}
	return w.next.Handle(ctx, r)
}

type countingTransport struct {
	w    *mcpRequests
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.w.mu.Lock()
		c.w.sent[r.Method]++
		c.w.mu.Unlock()
	}
	return resp, err
}

// wait returns once the server has finished every POST and DELETE the
// client had answered (a GET stream may still be open). The limit only
// guards against a hang.
func (w *mcpRequests) wait(t *testing.T) {
	t.Helper()
	for limit := time.Now().Add(time.Minute); ; {
		w.mu.Lock()
		finished := w.done[http.MethodPost] >= w.sent[http.MethodPost] && w.done[http.MethodDelete] >= w.sent[http.MethodDelete]
		sent, done := fmt.Sprint(w.sent), fmt.Sprint(w.done)
		w.mu.Unlock()
		if finished {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("the server did not finish the /mcp requests: sent %s, finished %s", sent, done)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An MCP client's traceparent reaches the turn of ask_<agent> (the /mcp
// handler runs on net/http, outside the Fiber middleware): the turn's
// trace_id is the caller's, and with tracing on its spans hang from the
// MCP method's span, under the HTTP request's, under the caller's.
func TestMCPAskJoinsTheCallersTrace(t *testing.T) {
	t.Parallel()
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
		reqs, transport := watchMCPRequests(env, withTraceparent{"00-" + trace + "-" + parent + "-01", bearer{env.keys["operator/internal"], http.DefaultTransport}})
		tr := &mcp.StreamableClientTransport{Endpoint: env.url, HTTPClient: &http.Client{Transport: transport}}
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
		reqs.wait(t)
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
	t.Parallel()
	env, rcv, p := newTracedMCPEnv(t)
	reqs, transport := watchMCPRequests(env, bearer{env.keys["developer/internal"], http.DefaultTransport})
	tr := &mcp.StreamableClientTransport{Endpoint: env.url, HTTPClient: &http.Client{Transport: transport}}
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
	reqs.wait(t) // the spans have ended and the requests are counted
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
