package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// stubModel calls the "slow_lookup" or "lookup" tool once, then answers in two
// streamed pieces. It is a hand-written fake for what a hosted model would do.
type stubModel struct{ tool string }

var _ llm.Model = stubModel{}

func (stubModel) Name() string { return "stub" }

func (m stubModel) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	last := req.Messages[len(req.Messages)-1]
	if last.Role == llm.RoleUser && req.Tools != nil && m.tool != "" {
		return llm.Response{Model: "stub", ToolCalls: []llm.ToolCall{{ID: "c1", Name: m.tool, Arguments: json.RawMessage(`{"road":"Zhongshan"}`)}}}, nil
	}
	parts := []string{"Zhongshan Road ", "is congested."}
	if stream != nil {
		for _, p := range parts {
			if err := stream(ctx, p); err != nil {
				return llm.Response{}, err
			}
		}
	}
	return llm.Response{Model: "stub", Content: strings.Join(parts, "")}, nil
}

type roadArgs struct {
	Road string `json:"road"`
}

type testEnv struct {
	srv      *Server
	base     string
	db       *store.DB
	keys     map[access.Role]string
	keyIDs   map[access.Role]string
	toolDone atomic.Int32 // slow_lookup calls that saw their context cancelled
	started  chan struct{}
}

func newEnv(t *testing.T, tool string) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env := &testEnv{db: db, keys: map[access.Role]string{}, keyIDs: map[access.Role]string{}, started: make(chan struct{}, 8)}
	lookup := tools.MustTyped(tools.Spec{Name: "lookup", Description: "road lookup"}, func(_ context.Context, a roadArgs) (tools.Result, error) {
		return tools.JSONResult(map[string]any{"road": a.Road, "summary": a.Road + " index 2.4"}, tools.Citation{Source: "test", AsOf: time.Now()})
	})
	slow := tools.MustTyped(tools.Spec{Name: "slow_lookup", Description: "hangs"}, func(ctx context.Context, a roadArgs) (tools.Result, error) {
		env.started <- struct{}{}
		<-ctx.Done()
		env.toolDone.Add(1)
		return tools.Result{}, ctx.Err()
	})
	reg, _ := tools.NewRegistry(lookup, slow)
	spec := agents.Spec{Name: "traffic", Instructions: "x", Tools: []string{"lookup", "slow_lookup"},
		Budgets: agents.Budgets{Timeout: time.Minute, ToolTimeout: time.Minute}}
	hot := agents.Spec{Name: "hotline", Instructions: "x", Roles: []access.Role{access.RoleOperator, access.RoleHotline}}
	cat, err := agents.NewCatalog(spec, hot)
	if err != nil {
		t.Fatal(err)
	}
	runner := &agents.Runner{Catalog: cat, Tools: reg, Sessions: db,
		Models: agents.Models{ByName: map[string]llm.Model{"stub": stubModel{tool}}, Default: "stub", Offline: stubModel{}}}
	env.srv = New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db,
		Checks: []Check{{"state", db.Ping}}}, Options{BodyLimit: 4096, HeartbeatInterval: 100 * time.Millisecond})
	for _, r := range access.Roles {
		k, secret, err := IssueKey(ctx, db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal", Department: testDepartment(r)}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[r], env.keyIDs[r] = secret, k.ID
	}
	addr := serveLoopback(t, env.srv)
	env.base = "http://" + addr
	return env
}

func (e *testEnv) do(t *testing.T, method, path string, role access.Role, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := roundTrip(http.DefaultClient, e.request(method, path, role, body, hdr...))
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// request builds a request as role; a body is sent as JSON unless hdr says otherwise.
func (e *testEnv) request(method, path string, role access.Role, body string, hdr ...string) *http.Request {
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[role])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// roundTrip sends req and reads the whole answer.
func roundTrip(client *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// closedEarly reports whether err is the server closing the connection
// before the client finished sending the body. fasthttp answers 413 as soon
// as the declared Content-Length is over the limit and closes without
// reading the rest (RFC 9112 §9.6 allows a server to), so the client may see
// a reset or a broken pipe instead of the answer.
func closedEarly(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestProblems(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup")
	big := `{"message":"` + strings.Repeat("x", 5000) + `"}`
	cases := map[string]struct {
		method, path string
		role         access.Role
		body         string
		hdr          []string
		status       int
		field        string
	}{
		"no key":             {"GET", "/v1/agents", "", "", nil, 401, ""},
		"bad scheme":         {"GET", "/v1/agents", "", "", []string{"Authorization", "Basic abc"}, 401, ""},
		"unknown key":        {"GET", "/v1/agents", "", "", []string{"Authorization", "Bearer ca_nope"}, 401, ""},
		"malformed JSON":     {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":`, nil, 400, ""},
		"wrong type":         {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":42}`, nil, 400, "message"},
		"unknown field":      {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":"hi","temperature":1}`, nil, 400, "temperature"},
		"empty message":      {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":"  "}`, nil, 400, "message"},
		"two values":         {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":"a"}{}`, nil, 400, ""},
		"oversize body":      {"POST", "/v1/agents/traffic/chat", access.RoleOperator, big, nil, 413, ""},
		"not JSON":           {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `message=hi`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		"unknown agent":      {"POST", "/v1/agents/nope/chat", access.RoleOperator, `{"message":"hi"}`, nil, 404, ""},
		"hotline on traffic": {"POST", "/v1/agents/traffic/chat", access.RoleHotline, `{"message":"hi"}`, nil, 403, ""},
		"unknown session":    {"GET", "/v1/sessions/ses_nope", access.RoleOperator, "", nil, 404, ""},
		"continue unknown":   {"POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":"hi","session_id":"ses_x"}`, nil, 404, ""},
		"keys need admin":    {"GET", "/v1/keys", access.RoleSupervisor, "", nil, 403, ""},
		"bad key request":    {"POST", "/v1/keys", access.RoleAdmin, `{"name":"","role":"king","clearance":"top"}`, nil, 400, "name"},
		"unknown route":      {"GET", "/v1/nothing", access.RoleOperator, "", nil, 404, ""},
		"unknown key id":     {"DELETE", "/v1/keys/key_nope", access.RoleAdmin, "", nil, 404, ""},
	}
	before, _ := env.db.ListSessions(context.Background(), env.keyIDs[access.RoleOperator], 100, "")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body, err := roundTrip(http.DefaultClient, env.request(tc.method, tc.path, tc.role, tc.body, tc.hdr...))
			if err != nil && tc.status == 413 && closedEarly(err) {
				t.Logf("the server closed before the client sent the whole body: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Status != tc.status || p.Title == "" || p.Detail == "" || p.RequestID == "" {
				t.Fatalf("problem body %s (%v)", body, err)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Fatalf("want field error on %q: %s", tc.field, body)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	after, _ := env.db.ListSessions(context.Background(), env.keyIDs[access.RoleOperator], 100, "")
	if len(after) != len(before) {
		t.Fatalf("a refused request wrote a session")
	}
}

func TestChatAndSessions(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup")
	resp, body := env.do(t, "POST", "/v1/agents/traffic/chat", access.RoleOperator, `{"message":"Is Zhongshan Road congested?"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	var res agents.ChatResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Answer != "Zhongshan Road is congested." || len(res.ToolCalls) != 1 || !res.ToolCalls[0].OK || res.AgentVersion == "" || res.TraceID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("result: %s", body)
	}
	resp, body = env.do(t, "POST", "/v1/agents/traffic/chat", access.RoleOperator, fmt.Sprintf(`{"message":"why?","session_id":%q}`, res.SessionID))
	if resp.StatusCode != 200 {
		t.Fatalf("follow-up: %d %s", resp.StatusCode, body)
	}
	for role, want := range map[access.Role]int{access.RoleOperator: 200, access.RoleAdmin: 200, access.RoleSupervisor: 404} {
		resp, body = env.do(t, "GET", "/v1/sessions/"+res.SessionID, role, "")
		if resp.StatusCode != want {
			t.Fatalf("%s reading the session: %d %s", role, resp.StatusCode, body)
		}
	}
	resp, body = env.do(t, "GET", "/v1/sessions/"+res.SessionID, access.RoleOperator, "")
	var sv sessionView
	if err := json.Unmarshal(body, &sv); err != nil || resp.StatusCode != 200 {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	turns := map[int]bool{}
	for _, e := range sv.Events {
		turns[e.Turn] = true
	}
	if len(turns) != 2 || sv.Events[0].Type != "user" {
		t.Fatalf("session events: %s", body)
	}
	resp, body = env.do(t, "GET", "/v1/sessions?limit=1", access.RoleOperator, "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), res.SessionID) {
		t.Fatalf("list sessions: %d %s", resp.StatusCode, body)
	}
	resp, body = env.do(t, "GET", "/v1/agents", access.RoleHotline, "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"version":"v`) {
		t.Fatalf("agents: %d %s", resp.StatusCode, body)
	}
	resp, body = env.do(t, "GET", "/readyz", "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"state":"ok"`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
}

type sseEvent struct {
	name string
	data string
}

// readSSE reads events until done or error, returning them and the count of pings.
func readSSE(t *testing.T, r io.Reader) ([]sseEvent, int) {
	t.Helper()
	var out []sseEvent
	pings := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == ": ping":
			pings++
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "" && cur.name != "":
			out = append(out, cur)
			if cur.name == "done" || cur.name == "error" {
				return out, pings
			}
			cur = sseEvent{}
		}
	}
	return out, pings
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup")
	req, _ := http.NewRequest("POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"Is Zhongshan Road congested?","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	events, _ := readSSE(t, resp.Body)
	var names []string
	var text bytes.Buffer
	for _, e := range events {
		names = append(names, e.name)
		if e.name == "delta" {
			var d agents.DeltaData
			_ = json.Unmarshal([]byte(e.data), &d)
			text.WriteString(d.Text)
		}
	}
	if got := strings.Join(names, " "); got != "session tool_call tool_result delta delta citation done" {
		t.Fatalf("events: %s", got)
	}
	var done agents.ChatResult
	if err := json.Unmarshal([]byte(events[len(events)-1].data), &done); err != nil || done.Answer != text.String() || done.SessionID == "" {
		t.Fatalf("done %s vs deltas %q", events[len(events)-1].data, text.String())
	}
}

func TestStreamDisconnectCancelsTools(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "slow_lookup")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"q"}`))
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-env.started:
	case <-time.After(streamHangGuard):
		t.Fatal("tool never started")
	}
	cancel()
	resp.Body.Close()
	waitUntil(t, func() bool { return env.toolDone.Load() != 0 },
		func() string { return "the tool call was not cancelled after the client left" })
}

func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "slow_lookup")
	req, _ := http.NewRequest("POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"q","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-env.started
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), streamHangGuard)
		defer cancel()
		env.srv.Shutdown(ctx)
	}()
	events, _ := readSSE(t, resp.Body)
	if len(events) == 0 {
		t.Fatal("the stream ended without an event")
	}
	last := events[len(events)-1]
	if last.name != "error" || !strings.Contains(last.data, "shutting down") {
		t.Fatalf("last event %+v", last)
	}
	// The error event is written before the turn is cancelled; wait for
	// the tool to see its context end.
	waitUntil(t, func() bool { return env.toolDone.Load() == 1 },
		func() string {
			return fmt.Sprintf("tool not cancelled at shutdown (%d cancelled calls)", env.toolDone.Load())
		})
}

func TestHeartbeats(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "slow_lookup")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"q","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	pings := 0
	for pings < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before two heartbeats: %v", err)
		}
		if line == ": ping\n" {
			pings++
		}
	}
}

func TestKeysAPI(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup")
	resp, body := env.do(t, "POST", "/v1/keys", access.RoleAdmin, `{"name":"desk","role":"operator","clearance":"public","expires_in":"24h"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var kv keyView
	_ = json.Unmarshal(body, &kv)
	if !strings.HasPrefix(kv.Key, access.KeyPrefix) || kv.ExpiresAt == nil {
		t.Fatalf("created key: %s", body)
	}
	env.keys["desk"] = kv.Key
	if resp, _ := env.do(t, "GET", "/v1/agents", "desk", ""); resp.StatusCode != 200 {
		t.Fatalf("new key refused: %d", resp.StatusCode)
	}
	resp, body = env.do(t, "GET", "/v1/keys", access.RoleAdmin, "")
	if resp.StatusCode != 200 || strings.Contains(string(body), kv.Key) || strings.Contains(string(body), `"hash"`) {
		t.Fatalf("list leaks secrets or fails: %s", body)
	}
	if resp, _ := env.do(t, "DELETE", "/v1/keys/"+kv.ID, access.RoleAdmin, ""); resp.StatusCode != 204 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := env.do(t, "GET", "/v1/agents", "desk", ""); resp.StatusCode != 401 {
		t.Fatalf("revoked key still works: %d", resp.StatusCode)
	}
	if resp, _ := env.do(t, "DELETE", "/v1/keys/"+env.keyIDs[access.RoleAdmin], access.RoleAdmin, ""); resp.StatusCode != 409 {
		t.Fatalf("self-revoke: %d", resp.StatusCode)
	}
}
