package mcptool_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/outbound"
)

type sumIn struct {
	A float64 `json:"a" jsonschema:"first number"`
	B float64 `json:"b" jsonschema:"second number"`
}

type sumOut struct {
	Sum float64 `json:"sum"`
}

// inProcess is a real MCP server (the SDK's) reached over in-memory
// transports; every (re)connection opens a new server session.
type inProcess struct {
	server   *mcp.Server
	mu       sync.Mutex
	sessions []*mcp.ServerSession
	connects atomic.Int32
}

func newInProcess(t *testing.T) *inProcess {
	t.Helper()
	s := &inProcess{server: mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "1"}, nil)}
	mcp.AddTool(s.server, &mcp.Tool{Name: "add-numbers", Description: "Adds two numbers"}, func(ctx context.Context, req *mcp.CallToolRequest, in sumIn) (*mcp.CallToolResult, sumOut, error) {
		return nil, sumOut{Sum: in.A + in.B}, nil
	})
	s.server.AddTool(&mcp.Tool{Name: "fail", Description: "Always fails", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "out of cheese"}}}, nil
		})
	return s
}

func (s *inProcess) transport() (mcp.Transport, error) {
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.server.Connect(context.Background(), st, nil)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sessions = append(s.sessions, ss)
	s.mu.Unlock()
	s.connects.Add(1)
	return ct, nil
}

func (s *inProcess) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		ss.Close()
	}
	s.sessions = nil
}

func names(src *mcptool.Source) []string {
	var out []string
	for _, t := range src.Tools() {
		out = append(out, t.Spec().Name)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInProcessServer(t *testing.T) {
	srv := newInProcess(t)
	var changes atomic.Int32
	src, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "calc", TimeoutMS: 5000},
		mcptool.Deps{Transport: srv.transport, OnChange: func(*mcptool.Source) { changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := names(src); !slices.Equal(got, []string{"calc_add_numbers", "calc_fail"}) {
		t.Fatalf("tools %v", got)
	}
	add := src.Tools()[0]
	if sp := add.Spec(); sp.Source != "mcp:calc" || !strings.Contains(sp.Description, "Adds two numbers") || !strings.Contains(string(sp.Parameters), `"a"`) {
		t.Errorf("spec %+v", sp)
	}
	res, err := add.Call(context.Background(), json.RawMessage(`{"a":2,"b":3.5}`))
	if err != nil || string(res.Content) != `{"sum":5.5}` || res.Citation.Source != "mcp:calc/add-numbers" {
		t.Fatalf("call: %s %+v %v", res.Content, res.Citation, err)
	}
	if _, err := add.Call(context.Background(), json.RawMessage(`{"a":"two"}`)); err == nil || !strings.Contains(err.Error(), "invalid arguments") {
		t.Errorf("bad arguments: %v", err)
	}
	if _, err := src.Tools()[1].Call(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "out of cheese") {
		t.Errorf("server error: %v", err)
	}

	// The server adds a tool: notifications/tools/list_changed brings it in.
	srv.server.AddTool(&mcp.Tool{Name: "echo", Description: "Echoes", InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}}}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var in struct{ Message string }
			_ = json.Unmarshal(req.Params.Arguments, &in)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Echo: " + in.Message}}}, nil
		})
	waitFor(t, "the new tool", func() bool { return slices.Contains(names(src), "calc_echo") })
	i := slices.Index(names(src), "calc_echo")
	res, err = src.Tools()[i].Call(context.Background(), json.RawMessage(`{"message":"你好"}`))
	if err != nil || !strings.Contains(string(res.Content), "Echo: 你好") {
		t.Fatalf("echo: %s %v", res.Content, err)
	}

	// The server goes away: tools report it, then the source reconnects.
	srv.dropAll()
	waitFor(t, "the reconnection", func() bool { return srv.connects.Load() >= 2 })
	waitFor(t, "the source to be connected", func() bool { ok, _ := src.Status(); return ok })
	if _, err := src.Tools()[0].Call(context.Background(), json.RawMessage(`{"a":1,"b":1}`)); err != nil {
		t.Errorf("call after reconnect: %v", err)
	}
	if changes.Load() < 3 {
		t.Errorf("%d change notifications", changes.Load())
	}
}

func TestStartRetriesUntilReachable(t *testing.T) {
	srv := newInProcess(t)
	var up atomic.Bool
	src, err := mcptool.Start(mcptool.Config{Name: "late"}, mcptool.Deps{Transport: func() (mcp.Transport, error) {
		if !up.Load() {
			return nil, errors.New("connection refused")
		}
		return srv.transport()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if ok, err := src.Status(); ok || err == nil || len(src.Tools()) != 0 {
		t.Fatalf("before the server is up: %v %v %d tools", ok, err, len(src.Tools()))
	}
	up.Store(true)
	waitFor(t, "the late server", func() bool { ok, _ := src.Status(); return ok && len(src.Tools()) == 2 })
}

func TestConfigChecks(t *testing.T) {
	allow := mcptool.CommandAllowed([]string{"/usr/bin/node /opt/mcp/server.js"})
	for name, tc := range map[string]struct {
		cfg  mcptool.Config
		want error
	}{
		"bad name":          {mcptool.Config{Name: "Bad Name", URL: "http://x"}, mcptool.ErrConfig},
		"neither":           {mcptool.Config{Name: "x1"}, mcptool.ErrConfig},
		"both":              {mcptool.Config{Name: "x1", URL: "http://x", Command: []string{"a"}}, mcptool.ErrConfig},
		"interpreter alone": {mcptool.Config{Name: "x1", Command: []string{"/usr/bin/node", "-e", "evil()"}}, mcptool.ErrCommandNotAllowed},
		"other script":      {mcptool.Config{Name: "x1", Command: []string{"/usr/bin/node", "/tmp/other.js"}}, mcptool.ErrCommandNotAllowed},
		"literal secret":    {mcptool.Config{Name: "x1", URL: "http://x", Headers: map[string]string{"Authorization": "Bearer abc"}}, mcptool.ErrConfig},
		"ftp url":           {mcptool.Config{Name: "x1", URL: "ftp://x/mcp"}, mcptool.ErrConfig},
	} {
		if _, err := mcptool.Connect(context.Background(), tc.cfg, mcptool.Deps{AllowCommand: allow}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if !allow([]string{"/usr/bin/node", "/opt/mcp/server.js", "stdio"}) {
		t.Error("the allowed server with an argument is refused")
	}
}

// repoRoot finds the module root, where testenv/ lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// Everything is the real @modelcontextprotocol/server-everything from
// testenv/mcp (installed by scripts/test-deps.sh).
func Everything(t *testing.T) (node, script, httpWrapper string) {
	t.Helper()
	root := repoRoot(t)
	script = filepath.Join(root, "testenv", "mcp", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("server-everything is not installed (run scripts/test-deps.sh): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return node, script, filepath.Join(root, "testenv", "mcp", "http.mjs")
}

func TestEverythingOverStdio(t *testing.T) {
	node, script, _ := Everything(t)
	src, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "everything", Command: []string{node, script, "stdio"}},
		mcptool.Deps{AllowCommand: mcptool.CommandAllowed([]string{node + " " + script})})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := names(src)
	for _, want := range []string{"everything_echo", "everything_get_sum"} {
		if !slices.Contains(got, want) {
			t.Fatalf("tools %v lack %s", got, want)
		}
	}
	sum := src.Tools()[slices.Index(got, "everything_get_sum")]
	res, err := sum.Call(context.Background(), json.RawMessage(`{"a":17,"b":25}`))
	if err != nil || !strings.Contains(string(res.Content), "The sum of 17 and 25 is 42") {
		t.Fatalf("get-sum: %s %v", res.Content, err)
	}
}

// startHTTP runs server-everything's streamable HTTP transport on a free
// loopback port and returns its /mcp URL.
func startHTTP(t *testing.T) string {
	t.Helper()
	node, _, wrapper := Everything(t)
	cmd := exec.Command(node, wrapper)
	cmd.Dir = filepath.Dir(wrapper)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=0"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		return fmt.Sprintf("http://127.0.0.1:%s/mcp", p)
	case <-time.After(20 * time.Second):
		t.Fatal("server-everything did not start")
	}
	return ""
}

func TestEverythingOverStreamableHTTP(t *testing.T) {
	url := startHTTP(t)
	guard, err := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "everything", URL: url}, mcptool.Deps{HTTP: guard.Streaming()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	i := slices.Index(names(src), "everything_echo")
	if i < 0 {
		t.Fatalf("tools %v", names(src))
	}
	res, err := src.Tools()[i].Call(context.Background(), json.RawMessage(`{"message":"路况 ok"}`))
	if err != nil || !strings.Contains(string(res.Content), "Echo: 路况 ok") {
		t.Fatalf("echo: %s %v", res.Content, err)
	}

	// Without the allow entry the guard refuses the loopback server.
	strict, _ := outbound.New(outbound.Config{})
	if _, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "everything", URL: url, TimeoutMS: 3000}, mcptool.Deps{HTTP: strict.Streaming()}); !errors.Is(err, mcptool.ErrUnreachable) || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("loopback without allow: %v", err)
	}
}
