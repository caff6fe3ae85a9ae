package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleInBrowser drives the operator console (/console) in Debian's
// Chromium with playwright-core (testenv/console/console.mjs, installed by
// scripts/test-deps.sh) against the real serve path on the embedded
// default: sign in, a streamed answer with a tool citation, a proposal
// approved by a supervisor and executed, the UI and an answer in Chinese,
// a hotline key that sees only the board, and no request to another
// origin. CITYAGENT_CONSOLE_SHOTS=dir keeps the screenshots (docs/console.md).
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testenv", "console"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed (run scripts/test-deps.sh): %v", err)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is not installed (scripts/test-deps.sh installs Debian's chromium): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	in := startServe(t, t.TempDir())
	keys := map[string]string{"ADMIN": in.admin}
	for _, role := range []string{"operator", "supervisor", "hotline"} {
		keys[strings.ToUpper(role)] = in.newKey(t, role, "internal")
	}
	// A ticket, so that the hotline board has a row.
	code, body := in.call(t, "POST", "/v1/hotline/tickets", keys["HOTLINE"], `{"text":"人民路和中山路路口的路灯坏了三天了，晚上很黑。","channel":"phone"}`)
	if code != 201 {
		t.Fatalf("ticket: %d %s", code, body)
	}
	shots := os.Getenv("CITYAGENT_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if shots, err = filepath.Abs(shots); err != nil {
		t.Fatal(err)
	}
	// A guard against a hung browser, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CITYAGENT_BASE="+in.base, "CHROMIUM="+chromium, "SHOTS="+shots)
	for role, k := range keys {
		cmd.Env = append(cmd.Env, "CITYAGENT_"+role+"_KEY="+k)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("console.mjs: %v\n%s", err, out)
	}
	checks := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct{ Check string }
		if json.Unmarshal([]byte(line), &r) == nil {
			checks[r.Check] = true
		}
	}
	for _, want := range []string{"sign in", "streamed answer with a tool citation", "proposal", "sign out", "approved and executed", "中文",
		"hotline board only", "audit verifies", "same origin only", "done"} {
		if !checks[want] {
			t.Errorf("check %q did not pass:\n%s", want, out)
		}
	}
}
