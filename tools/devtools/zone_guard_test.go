package devtools_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/outbound"
)

// TestZonedLoopbackRefusedEverywhere: every way a developer can point the
// platform at a URL — an HTTP tool, an OpenAPI document by URL, an
// OpenAPI servers URL, an MCP server — is refused for http://[::1%25lo]:PORT/
// (the environment allows 127.0.0.1 only), and the server on ::1 is never
// reached.
func TestZonedLoopbackRefusedEverywhere(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here (%v); the test needs one", err)
	}
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{}`))
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://[::1%25lo]:" + port

	e := newEnv(t, t.TempDir())
	ctx := context.Background()

	t.Run("http tool", func(t *testing.T) {
		if _, err := e.mgr.RegisterHTTP(ctx, httptool.Def{Name: "zoned_api", Description: "d", Endpoint: base + "/aqi"}, "k"); err != nil {
			t.Fatal(err)
		}
		_, err := e.reg.Call(ctx, access.Restricted, "zoned_api", json.RawMessage(`{}`))
		if !errors.Is(err, outbound.ErrForbidden) {
			t.Errorf("call: %v, want ErrForbidden", err)
		}
	})
	t.Run("openapi document url", func(t *testing.T) {
		_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "zoned_doc", Kind: devtools.KindOpenAPI, URL: base + "/openapi.yaml"}, "k")
		if !errors.Is(err, outbound.ErrForbidden) {
			t.Errorf("add source: %v, want ErrForbidden", err)
		}
	})
	t.Run("openapi servers url", func(t *testing.T) {
		doc, _ := json.Marshal("openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: '" + base + "'}]\n" +
			"paths:\n  /ping:\n    get:\n      operationId: ping\n      responses: {'200': {description: ok}}\n")
		if _, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "zoned_servers", Kind: devtools.KindOpenAPI, Document: doc}, "k"); err != nil {
			t.Fatal(err)
		}
		_, err := e.reg.Call(ctx, access.Restricted, "zoned_servers_ping", json.RawMessage(`{}`))
		if !errors.Is(err, outbound.ErrForbidden) {
			t.Errorf("call: %v, want ErrForbidden", err)
		}
	})
	t.Run("mcp url", func(t *testing.T) {
		if _, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "zoned_mcp", Kind: devtools.KindMCP, URL: base + "/mcp"}, "k"); err == nil {
			t.Error("an MCP source on [::1%lo] was added")
		}
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server on ::1 got %d requests", n)
	}
}
