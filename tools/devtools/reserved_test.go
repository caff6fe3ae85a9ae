package devtools_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

// Names the server offers itself (propose_*, ask_*, list_proposals) are
// refused as a name conflict for HTTP tools, OpenAPI sources and MCP
// sources, and nothing is registered.
func TestReservedNamesConflict(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	for _, name := range []string{"propose_traffic_retime_signal", "ask_planner", "list_proposals"} {
		_, err := e.mgr.RegisterHTTP(ctx, httptool.Def{Name: name, Description: "d", Endpoint: "http://127.0.0.1:1/x"}, "key_dev")
		if !errors.Is(err, devtools.ErrDuplicate) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("http tool %s: %v", name, err)
		}
	}
	doc := `{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":"http://127.0.0.1:1"}],
		"paths":{"/signals":{"post":{"operationId":"traffic_retime_signal","responses":{"200":{"description":"ok"}}}}}}`
	for _, src := range []string{"propose", "ask"} {
		_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: src, Kind: "openapi", Document: []byte(doc)}, "key_dev")
		if !errors.Is(err, devtools.ErrDuplicate) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("openapi source %s: %v", src, err)
		}
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "x", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "proposals", Description: "lists proposals"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct{}) (*mcp.CallToolResult, map[string]any, error) {
		return nil, map[string]any{}, nil
	})
	httpSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer httpSrv.Close()
	_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "list", Kind: "mcp", URL: httpSrv.URL}, "key_dev")
	if !errors.Is(err, devtools.ErrDuplicate) || !strings.Contains(err.Error(), "list_proposals") {
		t.Errorf("mcp source: %v", err)
	}
	for _, name := range []string{"propose_traffic_retime_signal", "ask_planner", "list_proposals"} {
		if _, err := e.reg.Get(name); err == nil {
			t.Errorf("%s was registered", name)
		}
	}
	if len(e.mgr.Sources(ctx)) != 0 {
		t.Errorf("sources %+v", e.mgr.Sources(ctx))
	}
}

// A security scheme without a secret makes its operations unavailable,
// and the source says why, as an unset named secret does.
func TestUnconfiguredSchemeShownInSource(t *testing.T) {
	api := echoAPI(t)
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	doc := fmt.Sprintf(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":%q}],"security":[{"key":[]}],
		"paths":{"/a":{"get":{"operationId":"a","responses":{"200":{"description":"ok"}}}}},
		"components":{"securitySchemes":{"key":{"type":"apiKey","in":"header","name":"X-Key"}}}}`, api.URL)
	if _, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "meters", Kind: "openapi", Document: []byte(doc)}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	si, err := e.mgr.Source(ctx, "meters")
	if err != nil {
		t.Fatal(err)
	}
	if si.Available || !strings.Contains(si.Status, "security.key") {
		t.Errorf("source %+v", si)
	}
}

// outbound.secret_hosts binds a secret to hosts: a tool or source that
// would send it elsewhere is refused, and one sending it there works.
func TestSecretHostsBinding(t *testing.T) {
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, _ := tools.NewRegistry()
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1", "localhost"}})
	mgr, err := devtools.New(devtools.Config{Registry: reg, Store: db, Outbound: guard,
		Getenv:      func(k string) string { return map[string]string{"CITYAGENT_SECRET_API": "tok-bound"}[k] },
		SecretHosts: map[string][]string{"CITYAGENT_SECRET_API": {"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	ctx := context.Background()
	api := echoAPI(t)
	hdr := map[string]string{"Authorization": "Bearer ${CITYAGENT_SECRET_API}"}
	elsewhere := strings.Replace(api.URL, "127.0.0.1", "localhost", 1)
	_, err = mgr.RegisterHTTP(ctx, httptool.Def{Name: "leak", Description: "d", Endpoint: elsewhere + "/x", Headers: hdr}, "key_dev")
	if !errors.Is(err, devtools.ErrInvalid) || !strings.Contains(err.Error(), "outbound.secret_hosts") {
		t.Errorf("to localhost: %v", err)
	}
	doc := `{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":"` + elsewhere + `"}],
		"paths":{"/a":{"get":{"operationId":"a","responses":{"200":{"description":"ok"}}}}}}`
	if _, err := mgr.AddSource(ctx, devtools.SourceRequest{Name: "leaky", Kind: "openapi", Document: []byte(doc), Headers: hdr}, "key_dev"); !errors.Is(err, devtools.ErrInvalid) {
		t.Errorf("source to localhost: %v", err)
	}
	if _, err := mgr.RegisterHTTP(ctx, httptool.Def{Name: "bound", Description: "d", Endpoint: api.URL + "/x", Headers: hdr}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	if out := call(t, reg, "bound", `{}`); !strings.Contains(out, httptool.Redacted) {
		t.Errorf("call: %s", out)
	}
}

// Limits apply at start too: a stored source over a lowered limit is not
// loaded, stays stored, and says which setting refused it.
func TestLoweredLimitUnloadsAtStart(t *testing.T) {
	dir := t.TempDir()
	api := echoAPI(t)
	doc := fmt.Sprintf(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":%q}],
		"paths":{"/a":{"get":{"operationId":"a","responses":{"200":{"description":"ok"}}}},"/b":{"get":{"operationId":"b","responses":{"200":{"description":"ok"}}}}}}`, api.URL)
	e := newEnv(t, dir)
	if _, err := e.mgr.AddSource(context.Background(), devtools.SourceRequest{Name: "two", Kind: "openapi", Document: []byte(doc)}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	e.mgr.Close()
	reg, _ := tools.NewRegistry()
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	mgr, err := devtools.New(devtools.Config{Registry: reg, Store: e.db, Outbound: guard, OpenAPI: openapi.Limits{MaxOperations: 1},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if err := mgr.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	si, err := mgr.Source(context.Background(), "two")
	if err != nil || si.Available || len(si.Tools) != 0 || !strings.Contains(si.Status, "tool_sources.openapi.max_operations") {
		t.Fatalf("source %+v, %v", si, err)
	}
	if _, err := reg.Get("two_a"); err == nil {
		t.Error("a tool of the unloaded source is registered")
	}
}
