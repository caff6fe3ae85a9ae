package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/config"
)

// mcpReport is what testenv/mcpclient/client.mjs prints.
type mcpReport struct {
	Unauthenticated string `json:"unauthenticated"`
	Server          struct {
		Name string `json:"name"`
	} `json:"server"`
	Tools []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"tools"`
	Ask struct {
		IsError    bool   `json:"isError"`
		Text       string `json:"text"`
		Structured struct {
			SessionID string `json:"session_id"`
			Answer    string `json:"answer"`
			Model     string `json:"model"`
			Citations []struct {
				Kind string `json:"kind"`
			} `json:"citations"`
			ToolCalls []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
			} `json:"tool_calls"`
		} `json:"structured"`
		ProgressDeltas int    `json:"progressDeltas"`
		ProgressText   string `json:"progressText"`
	} `json:"ask"`
	Resources []string `json:"resources"`
	Read      struct {
		URI, Text, MIMEType string
	} `json:"read"`
	RegisterStatus int      `json:"registerStatus"`
	Registered     string   `json:"registered"`
	AfterRegister  []string `json:"afterRegister"`
	DeleteStatus   int      `json:"deleteStatus"`
	RemoveNotified bool     `json:"removeNotified"`
	AfterRemove    []string `json:"afterRemove"`
	ListChanged    int      `json:"listChanged"`
}

// The official TypeScript SDK client, unmodified, against `cityagent
// serve` on the embedded default: initialize, list tools, ask the traffic
// agent, read a knowledge resource, and see list_changed when a tool is
// registered and removed over the HTTP API.
func TestMCPTypeScriptClient(t *testing.T) {
	t.Parallel()
	root := toolsRepoRoot(t)
	script := filepath.Join(root, "testenv", "mcpclient", "client.mjs")
	if _, err := os.Stat(filepath.Join(root, "testenv", "mcpclient", "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("the MCP TypeScript SDK is not installed (scripts/test-deps.sh installs testenv/mcpclient): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	bus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"next_minutes":[3,11]}`)
	}))
	defer bus.Close()
	in := startServe(t, t.TempDir(), func(c *config.Config) { c.Outbound.Allow = []string{"127.0.0.1"} })
	dev := in.newKey(t, "developer", "internal")

	cmd := exec.CommandContext(t.Context(), node, script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "MCP_URL="+in.base+"/mcp", "MCP_KEY="+dev, "API_BASE="+in.base, "TOOL_ENDPOINT="+bus.URL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("client.mjs: %v\n%s", err, stderr.String())
	}
	var r mcpReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}

	if !strings.Contains(r.Unauthenticated, "401") {
		t.Errorf("without a key the client saw %q, want a 401", r.Unauthenticated)
	}
	if r.Server.Name != "cityagent" {
		t.Errorf("server %q", r.Server.Name)
	}
	var names []string
	for _, tl := range r.Tools {
		names = append(names, tl.Name)
		if tl.Type != "object" {
			t.Errorf("tool %s has input schema type %q", tl.Name, tl.Type)
		}
	}
	for _, want := range []string{"ask_traffic", "ask_permits", "list_proposals"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	if len(names) < 8 {
		t.Errorf("a developer key sees only %v; the city tools are missing", names)
	}

	a := r.Ask
	if a.IsError || a.Text == "" || a.Text != a.Structured.Answer || !strings.HasPrefix(a.Structured.SessionID, "ses_") {
		t.Errorf("ask_traffic: %+v", a)
	}
	if len(a.Structured.ToolCalls) == 0 || !a.Structured.ToolCalls[0].OK || len(a.Structured.Citations) == 0 {
		t.Errorf("ask_traffic used no live data: tool calls %+v, citations %d", a.Structured.ToolCalls, len(a.Structured.Citations))
	}
	if a.ProgressDeltas > 0 && a.ProgressText != a.Structured.Answer {
		t.Errorf("streamed progress %q differs from the answer %q", a.ProgressText, a.Structured.Answer)
	}

	if !slices.Contains(r.Resources, "cityagent://collections/traffic") || r.Read.URI == "" {
		t.Fatalf("resources %v, read %+v", r.Resources, r.Read)
	}
	var doc struct{ ID, Title, Clearance string }
	if err := json.Unmarshal([]byte(r.Read.Text), &doc); err != nil || doc.ID == "" || !strings.HasSuffix(r.Read.URI, "/"+doc.ID) || r.Read.MIMEType != "application/json" {
		t.Errorf("read %+v: %v", r.Read, err)
	}

	if r.Registered == "" {
		t.Fatalf("no list_changed after registering a tool (register status %d)", r.RegisterStatus)
	}
	if !slices.Contains(r.AfterRegister, r.Registered) {
		t.Errorf("%s is not listed after list_changed: %v", r.Registered, r.AfterRegister)
	}
	if r.DeleteStatus != 204 || !r.RemoveNotified || slices.Contains(r.AfterRemove, r.Registered) {
		t.Errorf("removal: status %d, notified %v, tools %v", r.DeleteStatus, r.RemoveNotified, r.AfterRemove)
	}
	t.Logf("protocol via TS SDK: %d tools, ask_traffic %d progress deltas, %d list_changed", len(names), a.ProgressDeltas, r.ListChanged)
}
