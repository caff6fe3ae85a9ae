package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// instance is a cityagent serve running in this process on the embedded default.
type instance struct {
	base  string
	admin string
	stop  func()
}

func startServe(t testing.TB, dataDir string, tweak ...func(*config.Config)) *instance {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	for _, f := range tweak {
		f(&cfg)
	}
	cfg.Log.Level = "warn"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL == "" {
		seedStore(t, cfg.DataDir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, ready) }()
	// No deadline of its own: start-up is slow on a loaded machine (several
	// tests start a server at once), and go test -timeout ends a hang.
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve failed: %v", err)
	}
	// admin.key exists only where this data dir's first start created the admin.
	key, err := os.ReadFile(filepath.Join(dataDir, "admin.key"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	inst := &instance{base: "http://" + addr, admin: strings.TrimSpace(string(key))}
	stopped := false
	inst.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(inst.stop)
	return inst
}

func (in *instance) call(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, in.base+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (in *instance) newKey(t *testing.T, role, clearance string) string {
	t.Helper()
	code, body := in.call(t, "POST", "/v1/keys", in.admin, `{"name":"`+role+`","role":"`+role+`","clearance":"`+clearance+`"}`)
	if code != 201 {
		t.Fatalf("create key: %d %s", code, body)
	}
	var k struct{ Key string }
	_ = json.Unmarshal(body, &k)
	return k.Key
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// TestServeEndToEnd walks the core issue's "done when" list against the real
// binary's serve path: embedded stores, demo city, offline engine.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	in := startServe(t, data)
	if fi, err := os.Stat(filepath.Join(data, "admin.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v %v", fi.Mode(), err)
	}
	op := in.newKey(t, "operator", "internal")
	hot := in.newKey(t, "hotline", "public")

	code, body := in.call(t, "GET", "/v1/agents", op, "")
	var list struct {
		Agents []struct{ Name, Model, Version string }
	}
	_ = json.Unmarshal(body, &list)
	var names []string
	for _, a := range list.Agents {
		names = append(names, a.Name)
		if a.Model == "" || a.Version == "" {
			t.Errorf("agent %s lacks model or version", a.Name)
		}
	}
	if code != 200 || strings.Join(names, " ") != "city energy hotline permits traffic" {
		t.Fatalf("agents: %d %s", code, body)
	}

	chat := func(key, msg, session string) agents.ChatResult {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"message": msg, "session_id": session})
		code, body := in.call(t, "POST", "/v1/agents/traffic/chat", key, string(b))
		if code != 200 {
			t.Fatalf("chat %q: %d %s", msg, code, body)
		}
		var res agents.ChatResult
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	checkTurn := func(res agents.ChatResult) {
		t.Helper()
		ok := 0
		for _, c := range res.ToolCalls {
			if c.OK {
				ok++
			}
		}
		toolCited := false
		for _, c := range res.Citations {
			if c.Kind == "tool" && c.AsOf != nil && !c.AsOf.IsZero() && c.Source != "" {
				toolCited = true
			}
		}
		if ok == 0 || !toolCited || res.Answer == "" || res.Degraded || res.Model == "" {
			t.Fatalf("turn lacks a tool call, tool citation or answer: %+v", res)
		}
	}
	en := chat(op, "Which road segments are the most congested right now, and why?", "")
	checkTurn(en)
	if hasHan(strings.Split(en.Answer, "\n")[0]) {
		t.Errorf("English question answered in Chinese: %s", en.Answer)
	}
	zh := chat(op, "现在哪些路段最拥堵？原因是什么？", "")
	checkTurn(zh)
	if !hasHan(zh.Answer) {
		t.Errorf("Chinese question not answered in Chinese: %s", zh.Answer)
	}
	follow := chat(op, "What about incidents there?", en.SessionID)
	if follow.SessionID != en.SessionID || follow.Turn != 2 {
		t.Fatalf("follow-up did not continue the session: %+v", follow)
	}

	// Streaming: deltas then a done event with the whole result.
	req, _ := http.NewRequest("POST", in.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"Which road segments are the most congested right now?","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	deltas, sawDone := 0, false
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "event: delta":
			deltas++
		case line == "event: done":
			sawDone = true
		case sawDone && strings.HasPrefix(line, "data: "):
			var res agents.ChatResult
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &res); err != nil || res.Answer == "" {
				t.Fatalf("done payload: %v %s", err, line)
			}
		}
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" || deltas == 0 || !sawDone {
		t.Fatalf("stream: type %q, %d deltas, done %v", resp.Header.Get("Content-Type"), deltas, sawDone)
	}

	for name, tc := range map[string]struct {
		key, path, body string
		want            int
	}{
		"no key":             {"", "/v1/agents/traffic/chat", `{"message":"hi"}`, 401},
		"malformed JSON":     {op, "/v1/agents/traffic/chat", `{"message":`, 400},
		"unknown agent":      {op, "/v1/agents/weather/chat", `{"message":"hi"}`, 404},
		"hotline on traffic": {hot, "/v1/agents/traffic/chat", `{"message":"hi"}`, 403},
	} {
		if code, body := in.call(t, "POST", tc.path, tc.key, tc.body); code != tc.want || !strings.Contains(string(body), `"status":`) {
			t.Errorf("%s: %d %s, want %d problem+json", name, code, body, tc.want)
		}
	}

	// Sessions and keys survive a restart; no second admin key is made.
	in.stop()
	in2 := startServe(t, data)
	if in2.admin != in.admin {
		t.Fatal("restart replaced the admin key")
	}
	code, body = in2.call(t, "GET", "/v1/sessions/"+en.SessionID, op, "")
	if code != 200 || !strings.Contains(string(body), "What about incidents there?") {
		t.Fatalf("session after restart: %d %s", code, body)
	}
}

// TestServeOnPostgreSQL runs the same server with its state in a real
// PostgreSQL: keys, sessions and events survive a restart there too.
func TestServeOnPostgreSQL(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t, postgresURL(t))
	onPG := func(c *config.Config) { c.DatabaseURL = url }
	data := t.TempDir()
	in := startServe(t, data, onPG)
	op := in.newKey(t, "operator", "internal")
	code, body := in.call(t, "POST", "/v1/agents/traffic/chat", op, `{"message":"最堵的路段是哪些？"}`)
	if code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	var res agents.ChatResult
	_ = json.Unmarshal(body, &res)
	in.stop()
	// A fresh data directory: everything that must survive lives in PostgreSQL.
	in2 := startServe(t, t.TempDir(), onPG)
	code, body = in2.call(t, "GET", "/v1/sessions/"+res.SessionID, op, "")
	if code != 200 || !strings.Contains(string(body), "最堵的路段是哪些") {
		t.Fatalf("session after restart on PostgreSQL: %d %s", code, body)
	}
}
