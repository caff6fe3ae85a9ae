package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
)

// A method Fiber does not know (M123, PROPFIND) gets 405 problem+json with
// the path's methods in Allow (404 on a path with no route), and is traced,
// counted and given a request id like any request.
func TestUnknownMethodIsProblemJSON(t *testing.T) {
	t.Parallel()
	env, rcv, p := newTracedMCPEnv(t)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"M123", "/v1/agents", 405, "GET, HEAD"},
		{"PROPFIND", "/v1/agents/traffic/chat", 405, "POST"},
		{"PROPFIND", "/no/such/path", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, env.base+tc.path, nil)
		req.Header.Set("traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pr Problem
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &pr) != nil ||
			pr.Status != tc.status || pr.RequestID != trace || resp.Header.Get("X-Request-ID") != trace || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %s Allow=%q: %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), body)
		}
		if tc.status == 405 && !strings.Contains(pr.Detail, tc.allow) {
			t.Errorf("%s %s: detail %q does not name the allowed methods", tc.method, tc.path, pr.Detail)
		}
	}
	resp, err := http.Get(env.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cityagent_http_requests_total{method="_OTHER",route="/v1/agents",status="405"} 1`,
		`cityagent_http_requests_total{method="_OTHER",route="/v1/agents/:agent/chat",status="405"} 1`,
		`cityagent_http_requests_total{method="_OTHER",route="/",status="404"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Trace(trace)
	if len(spans) != 3 {
		t.Fatalf("%d spans in the caller's trace, want 3:\n%s", len(spans), otlptest.Tree(spans))
	}
	for _, s := range spans {
		if code, _ := s.Int(telemetry.AttrHTTPStatus); s.Name != "HTTP" || s.Str(telemetry.AttrHTTPMethod) != "_OTHER" || code < 404 || s.ParentID != "00f067aa0ba902b7" {
			t.Errorf("span %+v", s)
		}
	}
}
