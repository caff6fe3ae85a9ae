package devtools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

type builtinArgs struct{}

// env is a manager over a fresh store and a registry holding one built-in.
type env struct {
	dir string
	db  *store.DB
	reg *tools.Registry
	mgr *devtools.Manager
}

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	builtin := tools.MustTyped(tools.Spec{Name: "traffic_congestion", Description: "built in", Source: "democity:traffic"},
		func(context.Context, builtinArgs) (tools.Result, error) { return tools.Result{}, nil })
	reg, _ := tools.NewRegistry(builtin)
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}, Timeout: 5 * time.Second})
	mgr, err := devtools.New(devtools.Config{Registry: reg, Store: db, Outbound: guard,
		Getenv: func(k string) string { return map[string]string{"CITYAGENT_SECRET_API": "tok"}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	return &env{dir: dir, db: db, reg: reg, mgr: mgr}
}

func echoAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing.yaml" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/openapi.yaml" {
			fmt.Fprintf(w, "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: '%s'}]\npaths:\n  /water/{district}:\n    get:\n      operationId: waterPressure\n      summary: Water pressure by district\n      parameters: [{name: district, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: ok}}\n", "http://"+r.Host)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "query": r.URL.RawQuery, "auth": r.Header.Get("Authorization")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, reg *tools.Registry, name, args string) string {
	t.Helper()
	res, err := reg.Call(context.Background(), access.Restricted, name, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(res.Content)
}

func TestRegisterPersistRestart(t *testing.T) {
	api := echoAPI(t)
	dir := t.TempDir()
	e := newEnv(t, dir)
	ctx := context.Background()
	info, err := e.mgr.RegisterHTTP(ctx, httptool.Def{Name: "air_quality", Description: "Air quality index by district 空气质量",
		Parameters: json.RawMessage(`{"type":"object","properties":{"district":{"type":"string"}},"required":["district"]}`),
		Endpoint:   api.URL + "/aqi", Headers: map[string]string{"Authorization": "Bearer ${CITYAGENT_SECRET_API}"}}, "key_dev")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != devtools.KindHTTP || !info.Available || info.Definition == nil || info.Definition.Headers["Authorization"] != "Bearer ${CITYAGENT_SECRET_API}" {
		t.Errorf("info %+v", info)
	}
	if out := call(t, e.reg, "air_quality", `{"district":"nanhu"}`); !strings.Contains(out, `"query":"district=nanhu"`) || !strings.Contains(out, `"auth":"Bearer tok"`) {
		t.Errorf("call: %s", out)
	}
	src, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "water", Kind: devtools.KindOpenAPI, URL: api.URL + "/openapi.yaml"}, "key_dev")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(src.Tools, []string{"water_water_pressure"}) || !src.Available {
		t.Errorf("source %+v", src)
	}
	if out := call(t, e.reg, "water_water_pressure", `{"district":"beian"}`); !strings.Contains(out, `"path":"/water/beian"`) {
		t.Errorf("openapi call: %s", out)
	}
	// Nothing stores a secret value.
	recs, _ := e.db.ListTools(ctx)
	srcs, _ := e.db.ListToolSources(ctx)
	for _, r := range append(recs, srcs...) {
		if strings.Contains(string(r.Definition), "tok") && !strings.Contains(string(r.Definition), "${CITYAGENT_SECRET_API}") {
			t.Errorf("a secret is stored: %s", r.Definition)
		}
	}

	// A new process over the same store has them back.
	e.mgr.Close()
	e2 := newEnv(t, dir)
	if out := call(t, e2.reg, "air_quality", `{"district":"xicheng"}`); !strings.Contains(out, "district=xicheng") {
		t.Errorf("after restart: %s", out)
	}
	if out := call(t, e2.reg, "water_water_pressure", `{"district":"gaoxin"}`); !strings.Contains(out, "/water/gaoxin") {
		t.Errorf("openapi after restart: %s", out)
	}
	list := e2.mgr.List(ctx, false)
	var names []string
	for _, ti := range list {
		names = append(names, ti.Name+":"+ti.Kind)
	}
	if !slices.Equal(names, []string{"air_quality:http", "traffic_congestion:builtin", "water_water_pressure:openapi"}) {
		t.Errorf("list %v", names)
	}

	// Deleting: a registered tool yes, a built-in or a source's tool no.
	if err := e2.mgr.DeleteTool(ctx, "traffic_congestion"); !errors.Is(err, devtools.ErrBuiltin) {
		t.Errorf("delete built-in: %v", err)
	}
	if err := e2.mgr.DeleteTool(ctx, "water_water_pressure"); !errors.Is(err, devtools.ErrBuiltin) {
		t.Errorf("delete a source's tool: %v", err)
	}
	if err := e2.mgr.DeleteTool(ctx, "air_quality"); err != nil {
		t.Fatal(err)
	}
	if err := e2.mgr.DeleteTool(ctx, "air_quality"); !errors.Is(err, devtools.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if err := e2.mgr.DeleteSource(ctx, "water"); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.reg.Get("water_water_pressure"); err == nil {
		t.Error("the source's tool survived its source")
	}
	e2.mgr.Close()
	e3 := newEnv(t, dir)
	if n := len(e3.reg.List()); n != 1 {
		t.Errorf("%d tools after deleting everything and restarting", n)
	}
}

func TestBadRegistrations(t *testing.T) {
	api := echoAPI(t)
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	ok := httptool.Def{Name: "ok_tool", Description: "d", Endpoint: api.URL}
	if _, err := e.mgr.RegisterHTTP(ctx, ok, "k"); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"duplicate": {func() error { _, err := e.mgr.RegisterHTTP(ctx, ok, "k"); return err }(), devtools.ErrDuplicate},
		"built-in name": {func() error {
			d := ok
			d.Name = "traffic_congestion"
			_, err := e.mgr.RegisterHTTP(ctx, d, "k")
			return err
		}(), devtools.ErrDuplicate},
		"invalid schema": {func() error {
			d := ok
			d.Name = "x_tool"
			d.Parameters = json.RawMessage(`{"type":"array"}`)
			_, err := e.mgr.RegisterHTTP(ctx, d, "k")
			return err
		}(), httptool.ErrInvalid},
		"broken openapi": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "bad", Kind: "openapi", Document: json.RawMessage(`"openapi: 3.0.3\ninfo: {}"`)}, "k")
			return err
		}(), openapi.ErrDocument},
		"openapi fetch 404": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "gone", Kind: "openapi", URL: api.URL + "/missing.yaml"}, "k")
			return err
		}(), devtools.ErrInvalid},
		"metadata url": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "meta", Kind: "openapi", URL: "http://169.254.169.254/openapi.json"}, "k")
			return err
		}(), outbound.ErrForbidden},
		"unreachable mcp": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "down", Kind: "mcp", URL: "http://127.0.0.1:1/mcp", TimeoutMS: 2000}, "k")
			return err
		}(), mcptool.ErrUnreachable},
		"command refused": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "sh", Kind: "mcp", Command: []string{"/bin/sh", "-c", "id"}}, "k")
			return err
		}(), mcptool.ErrCommandNotAllowed},
		"unknown kind": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "x1", Kind: "grpc"}, "k")
			return err
		}(), devtools.ErrInvalid},
		"bad source name": {func() error {
			_, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "Bad!", Kind: "mcp"}, "k")
			return err
		}(), devtools.ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", name, tc.err, tc.want)
		}
	}
	if n := len(e.reg.List()); n != 2 {
		t.Errorf("failed registrations left %d tools", n)
	}
	if srcs, _ := e.db.ListToolSources(ctx); len(srcs) != 0 {
		t.Errorf("failed registrations stored %d sources", len(srcs))
	}
}

// TestMCPSourceOverHTTP connects an in-process MCP server (the SDK's) over
// real streamable HTTP: its tools appear, follow list changes, and go
// unavailable when the server is down.
func TestMCPSourceOverHTTP(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "city-extras", Version: "1"}, nil)
	type in struct {
		Stop string `json:"stop"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "bus-eta", Description: "Bus arrival estimate"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, map[string]any, error) {
		return nil, map[string]any{"stop": a.Stop, "minutes": 4}, nil
	})
	httpSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer httpSrv.Close()
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	src, err := e.mgr.AddSource(ctx, devtools.SourceRequest{Name: "extras", Kind: "mcp", URL: httpSrv.URL}, "key_dev")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(src.Tools, []string{"extras_bus_eta"}) || !src.Available {
		t.Fatalf("source %+v", src)
	}
	if out := call(t, e.reg, "extras_bus_eta", `{"stop":"1203"}`); !strings.Contains(out, `"minutes":4`) {
		t.Errorf("call: %s", out)
	}
	mcp.AddTool(server, &mcp.Tool{Name: "stop-list", Description: "Stops"}, func(ctx context.Context, req *mcp.CallToolRequest, a struct{}) (*mcp.CallToolResult, map[string]any, error) {
		return nil, map[string]any{"stops": []string{"1203"}}, nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.reg.Get("extras_stop_list"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new MCP tool never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	httpSrv.CloseClientConnections()
	httpSrv.Close()
	deadline = time.Now().Add(15 * time.Second)
	for {
		list := e.mgr.List(ctx, false)
		i := slices.IndexFunc(list, func(ti devtools.ToolInfo) bool { return ti.Name == "extras_bus_eta" })
		if i >= 0 && !list[i].Available && list[i].Status != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool of a server that is down still shows available: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if srcs := e.mgr.Sources(ctx); len(srcs) != 1 || srcs[0].Available {
		t.Errorf("sources %+v", srcs)
	}
}

// TestEndpointDownIsUnavailable: an HTTP tool whose endpoint does not
// answer, or whose secret is not set, shows unavailable, with the reason.
func TestEndpointDownIsUnavailable(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	if _, err := e.mgr.RegisterHTTP(ctx, httptool.Def{Name: "gone_api", Description: "d", Endpoint: url}, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.RegisterHTTP(ctx, httptool.Def{Name: "no_secret", Description: "d", Endpoint: url,
		Headers: map[string]string{"X-Key": "${CITYAGENT_SECRET_MISSING}"}}, "k"); err != nil {
		t.Fatal(err)
	}
	status := map[string]devtools.ToolInfo{}
	for _, ti := range e.mgr.List(ctx, false) {
		status[ti.Name] = ti
	}
	if ti := status["gone_api"]; ti.Available || !strings.Contains(ti.Status, "connection refused") {
		t.Errorf("gone_api: %+v", ti)
	}
	if ti := status["no_secret"]; ti.Available || !strings.Contains(ti.Status, "CITYAGENT_SECRET_MISSING") {
		t.Errorf("no_secret: %+v", ti)
	}
	if ti := status["traffic_congestion"]; !ti.Available || ti.Kind != devtools.KindBuiltin {
		t.Errorf("built-in: %+v", ti)
	}
}
