package mcptool_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/outbound"
)

// A tool call over streamable HTTP carries the calling turn's W3C
// traceparent to the MCP server.
func TestCallsCarryTraceparent(t *testing.T) {
	srv := newInProcess(t)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv.server }, nil)
	var mu sync.Mutex
	var seen []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("traceparent"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()
	guard, err := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "calc", URL: hs.URL}, mcptool.Deps{HTTP: guard.Streaming()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	i := slices.Index(names(src), "calc_add_numbers")
	if i < 0 {
		t.Fatalf("tools %v", names(src))
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var off *telemetry.Provider // tracing off still propagates the caller's trace
	ctx, _ := off.StartServer(context.Background(), tp, "", "test")
	if _, err := src.Tools()[i].Call(ctx, json.RawMessage(`{"a":2,"b":3}`)); err != nil {
		t.Fatalf("call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, tp) {
		t.Fatalf("the MCP server saw traceparents %q, want %s on the tool call", seen, tp)
	}
}
