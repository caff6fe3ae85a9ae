package server

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

// TestOpenAINpmClient runs testenv/openaiclient/client.mjs — the official
// openai npm client, unmodified — against a real server on a free port:
// models, a completion, a stream with usage, errors, and a client tool
// round trip, JSON and streamed (installed by scripts/test-deps.sh).
func TestOpenAINpmClient(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("..", "testenv", "openaiclient"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		t.Fatalf("the openai npm client is not installed (run scripts/test-deps.sh): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	env := newOAIEnv(t, nil, 5*time.Second)
	// A guard against a hung client, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CITYAGENT_BASE="+env.base+"/v1", "CITYAGENT_KEY="+env.keys[access.RoleOperator])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client.mjs: %v\n%s", err, out)
	}
	checks := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct{ Check string }
		if json.Unmarshal([]byte(line), &r) == nil {
			checks[r.Check] = true
		}
	}
	for _, want := range []string{"models", "completion", "stream", "unknown model", "bad temperature", "reserved tool name", "bad key",
		"unknown model by id", "client tools", "client tools (stream)", "done"} {
		if !checks[want] {
			t.Errorf("check %q did not pass:\n%s", want, out)
		}
	}
}
