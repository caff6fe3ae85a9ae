package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/config"
)

// cityagent serve runs the shipped monitors on the demo city: the first
// tick happens at start-up and GET /v1/vital-signs shows all five.
func TestServeRunsTheShippedMonitors(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir())
	var signs struct {
		Indicators []struct {
			Monitor, Status string
		}
	}
	for {
		code, body := in.call(t, "GET", "/v1/vital-signs", in.admin, "")
		if code != 200 {
			t.Fatalf("vital signs: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &signs); err != nil {
			t.Fatal(err)
		}
		unknown := 0
		for _, s := range signs.Indicators {
			if s.Status == "unknown" {
				unknown++
			}
		}
		if len(signs.Indicators) != 5 {
			t.Fatalf("want 5 indicators: %s", body)
		}
		if unknown == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the first ticks run right after start-up
	}
	code, body := in.call(t, "GET", "/v1/tools", in.admin, "")
	if code != 200 || !strings.Contains(string(body), `"hotline_overdue"`) {
		t.Errorf("hotline_overdue not registered: %d", code)
	}
}

// An invalid monitor file stops start-up with its file, line and field.
func TestServeRefusesAnInvalidMonitor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := "name: bad\ntitle: Bad\ntitle_zh: 坏\ntool: traffic_congestion\nvalue: \"$.network_index\"\ncondition: \"about 1\"\nseverity: warning\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.Monitors.Dir, cfg.Log.Level = "127.0.0.1:0", t.TempDir(), dir, "error"
	err := serve(context.Background(), cfg, io.Discard, nil)
	if want := filepath.Join(dir, "bad.yaml") + ":6: condition:"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("serve = %v, want an error naming %s", err, want)
	}
}

// A monitor file naming an unknown agent or an unregistered tool stops
// start-up with its file, line and field.
func TestServeRefusesAMonitorWithUnknownReferences(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ text, want string }{
		"tool": {"name: x\ntitle: X\ntitle_zh: 某\ntool: no_such_tool\nvalue: \"$.v\"\ncondition: \"> 1\"\nseverity: info\n", ":4: tool: no registered tool is named \"no_such_tool\""},
		"agent": {"name: x\ntitle: X\ntitle_zh: 某\ntool: traffic_congestion\nvalue: \"$.network_index\"\ncondition: \"> 1\"\nseverity: info\n" +
			"propose:\n  agent: nobody\n  prompt: Propose.\n", ":9: propose.agent: no agent is named \"nobody\""},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Addr, cfg.DataDir, cfg.Monitors.Dir, cfg.Log.Level = "127.0.0.1:0", t.TempDir(), dir, "error"
		err := serve(context.Background(), cfg, io.Discard, nil)
		if want := filepath.Join(dir, "x.yaml") + c.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: serve = %v, want an error naming %s", name, err, want)
		}
	}
}
