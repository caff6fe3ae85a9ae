package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// toolsCLI runs `cityagent args...` in this process.
func toolsCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := rootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return out.String() + errb.String(), err
}

func TestToolsCLI(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	out, err := toolsCLI(t, "tools", "list", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAME", "traffic_congestion", "permits_search", "energy_demand_response", "builtin", "internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("tools list lacks %q:\n%s", want, out)
		}
	}
	out, err = toolsCLI(t, "tools", "invoke", "--data", data, "permits_search", `{"district":"nanhu","limit":2}`)
	var res struct {
		OK       bool
		Content  struct{ Total int }
		Citation struct{ Source string }
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.OK || res.Citation.Source != "democity:permits" || res.Content.Total == 0 {
		t.Fatalf("invoke: %v\n%s", err, out)
	}
	if out, err := toolsCLI(t, "tools", "invoke", "--data", data, "permits_search", `{"district":"atlantis"}`); err == nil || !strings.Contains(out, "invalid arguments") {
		t.Errorf("invoke with bad arguments: %v\n%s", err, out)
	}
	if _, err := toolsCLI(t, "tools", "invoke", "--data", data, "no_such_tool"); err == nil {
		t.Error("invoke of an unknown tool succeeded")
	}

	// A tool registered through the API is listed and invoked by the CLI
	// from the same store.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pm25":18,"summary":"PM2.5 18 µg/m³"}`))
	}))
	defer api.Close()
	in := startServe(t, data)
	dev := in.newKey(t, "developer", "internal")
	if code, body := in.call(t, "POST", "/v1/tools", dev, `{"name":"pm25","description":"PM2.5 now","endpoint":"`+api.URL+`"}`); code != 201 {
		t.Fatalf("register: %d %s", code, body)
	}
	in.stop()
	// The CLI's outbound guard admits the test API through a config file,
	// not the environment, so that this test can run in parallel.
	cfg := filepath.Join(t.TempDir(), "cityagent.yaml")
	if err := os.WriteFile(cfg, []byte("outbound:\n  allow: [\"127.0.0.1\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = toolsCLI(t, "tools", "list", "--config", cfg, "--data", data)
	if err != nil || !strings.Contains(out, "pm25") || !strings.Contains(out, "http") {
		t.Fatalf("list after registration: %v\n%s", err, out)
	}
	out, err = toolsCLI(t, "tools", "invoke", "--config", cfg, "--data", data, "pm25")
	if err != nil || !strings.Contains(out, `"pm25": 18`) {
		t.Fatalf("invoke the registered tool: %v\n%s", err, out)
	}
}
