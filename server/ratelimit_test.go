package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// usageModel answers at once and reports tokens, or, for a message that
// says "hang", waits until the turn is cancelled.
type usageModel struct{ tokens int }

var _ llm.Model = usageModel{}

func (usageModel) Name() string { return "usage" }

func (m usageModel) Generate(ctx context.Context, req llm.Request, _ llm.StreamFunc) (llm.Response, error) {
	if strings.Contains(req.Messages[len(req.Messages)-1].Content, "hang") {
		<-ctx.Done()
		return llm.Response{}, ctx.Err()
	}
	return llm.Response{Model: "usage", Content: "ok", Usage: llm.Usage{TotalTokens: m.tokens}}, nil
}

type quotaEnv struct {
	srv  *Server
	base string
	keys map[string]string // by name
}

// newQuotaEnv serves the traffic agent on usageModel with limits counted
// in a real SQLite state store; keys "op1", "op2" (operators) and "sup"
// (supervisor).
func newQuotaEnv(t *testing.T, limits RateLimits, tokens int) *quotaEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, _ := tools.NewRegistry()
	cat, err := agents.NewCatalog(agents.Spec{Name: "traffic", Instructions: "x", Budgets: agents.Budgets{Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	m := usageModel{tokens}
	runner := &agents.Runner{Catalog: cat, Tools: reg, Sessions: db,
		Models: agents.Models{ByName: map[string]llm.Model{"usage": m}, Default: "usage", Offline: m}}
	env := &quotaEnv{keys: map[string]string{}}
	env.srv = New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db, Rates: db,
		Checks: []Check{{"state", db.Ping}}}, Options{HeartbeatInterval: 100 * time.Millisecond, RateLimits: limits})
	for name, role := range map[string]string{"op1": "operator", "op2": "operator", "sup": "supervisor"} {
		_, secret, err := IssueKey(ctx, db, KeyRequest{Name: name, Role: role, Clearance: "internal"}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[name] = secret
	}
	env.base = "http://" + serveLoopback(t, env.srv)
	return env
}

func (e *quotaEnv) do(t *testing.T, method, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.keys[key])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// check429 checks a refusal: problem+json with Retry-After and the limit headers.
func check429(t *testing.T, resp *http.Response, body []byte, limit int) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
		json.Unmarshal(body, &p) != nil || p.Status != 429 || p.Detail == "" {
		t.Fatalf("want 429 problem+json, got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if limit > 0 && (resp.Header.Get("RateLimit-Limit") != strconv.Itoa(limit) || resp.Header.Get("X-RateLimit-Limit") != strconv.Itoa(limit) ||
		resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Reset") == "") {
		t.Errorf("limit headers: %v", resp.Header)
	}
}

// startOfMinute waits, if needed, so that a burst runs well inside one
// fixed window.
func startOfMinute() {
	if left := time.Minute - time.Duration(time.Now().UnixNano())%time.Minute; left < 10*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
}

func TestRateLimitRequestsPerKeyAndRole(t *testing.T) {
	t.Parallel()
	env := newQuotaEnv(t, RateLimits{PerKey: RateLimit{RequestsPerMinute: 5},
		PerRole: map[access.Role]RateLimit{access.RoleOperator: {RequestsPerMinute: 8}}}, 1)
	startOfMinute()
	for i := range 5 {
		resp, body := env.do(t, "GET", "/v1/agents", "op1", "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
		if got := resp.Header.Get("RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Errorf("request %d: RateLimit-Remaining %q, want %d", i+1, got, 4-i)
		}
	}
	resp, body := env.do(t, "GET", "/v1/agents", "op1", "")
	check429(t, resp, body, 5)
	// Another operator key has its own 5, but the role's 8 are shared: op1
	// used 5 of them (its refused request stopped at its key's quota), so
	// op2 gets 3.
	for i := range 3 {
		if resp, body := env.do(t, "GET", "/v1/agents", "op2", ""); resp.StatusCode != 200 {
			t.Fatalf("op2 request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body = env.do(t, "GET", "/v1/agents", "op2", "")
	check429(t, resp, body, 8)
	if !strings.Contains(string(body), "role (operator)") {
		t.Errorf("the refusal does not say the role's quota is used up: %s", body)
	}
	// Another role is not limited by the operators' quota.
	if resp, body := env.do(t, "GET", "/v1/agents", "sup", ""); resp.StatusCode != 200 {
		t.Errorf("supervisor: %d %s", resp.StatusCode, body)
	}
	// Unauthenticated routes are not counted.
	if resp, _ := env.do(t, "GET", "/healthz", "", ""); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func TestRateLimitTokensPerMinute(t *testing.T) {
	t.Parallel()
	env := newQuotaEnv(t, RateLimits{PerKey: RateLimit{TokensPerMinute: 250}}, 100)
	startOfMinute()
	for i := range 3 { // 0, 100, 200 tokens used before each: under 250
		if resp, body := env.do(t, "POST", "/v1/agents/traffic/chat", "op1", `{"message":"how is traffic"}`); resp.StatusCode != 200 {
			t.Fatalf("turn %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := env.do(t, "POST", "/v1/agents/traffic/chat", "op1", `{"message":"how is traffic"}`)
	check429(t, resp, body, 250)
	if !strings.Contains(string(body), "model tokens") {
		t.Errorf("refusal: %s", body)
	}
	// Reads are not turns: the token quota does not refuse them.
	if resp, body := env.do(t, "GET", "/v1/agents", "op1", ""); resp.StatusCode != 200 {
		t.Errorf("GET after the token quota: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.do(t, "POST", "/v1/agents/traffic/chat", "op2", `{"message":"how is traffic"}`); resp.StatusCode != 200 {
		t.Errorf("another key's turn: %d", resp.StatusCode)
	}
}

func TestRateLimitConcurrentTurns(t *testing.T) {
	t.Parallel()
	env := newQuotaEnv(t, RateLimits{PerKey: RateLimit{ConcurrentTurns: 1}}, 1)
	// A streamed turn that hangs holds the key's only slot.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"hang","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys["op1"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("streamed turn: %v %v", resp, err)
	}
	for env.srv.RunningTurns() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	r2, body := env.do(t, "POST", "/v1/agents/traffic/chat", "op1", `{"message":"how is traffic"}`)
	check429(t, r2, body, 0)
	if r3, body := env.do(t, "POST", "/v1/agents/traffic/chat", "op2", `{"message":"how is traffic"}`); r3.StatusCode != 200 {
		t.Errorf("another key: %d %s", r3.StatusCode, body)
	}
	// The client leaves: the turn is cancelled and its slot given back.
	cancel()
	resp.Body.Close()
	for {
		r, _ := env.do(t, "POST", "/v1/agents/traffic/chat", "op1", `{"message":"how is traffic"}`)
		if r.StatusCode == 200 {
			break
		}
		if r.StatusCode != 429 {
			t.Fatalf("after the stream ended: %d", r.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDrainRefusesTurnsAndFailsReadiness(t *testing.T) {
	t.Parallel()
	env := newQuotaEnv(t, RateLimits{}, 1)
	if resp, _ := env.do(t, "GET", "/readyz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz before draining: %d", resp.StatusCode)
	}
	env.srv.StartDrain()
	resp, body := env.do(t, "GET", "/readyz", "", "")
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"drain":"draining"`) {
		t.Errorf("readyz while draining: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/v1/agents/traffic/chat", "/v1/chat/completions"} {
		resp, body = env.do(t, "POST", path, "op1", `{"message":"how is traffic","model":"traffic","messages":[{"role":"user","content":"hi"}]}`)
		// The OpenAI-compatible route answers errors in OpenAI's shape; the native one in problem+json.
		wantType := "application/problem+json"
		if path == "/v1/chat/completions" {
			wantType = "application/json"
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) ||
			!strings.Contains(string(body), "shutting down") {
			t.Errorf("POST %s while draining: %d %v %s", path, resp.StatusCode, resp.Header, body)
		}
	}
	// Everything else is still served while the balancer moves away.
	if resp, body := env.do(t, "GET", "/v1/agents", "op1", ""); resp.StatusCode != 200 {
		t.Errorf("GET /v1/agents while draining: %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.do(t, "GET", "/healthz", "", ""); resp.StatusCode != 200 {
		t.Errorf("healthz while draining: %d (liveness must not fail)", resp.StatusCode)
	}
	if !env.srv.WaitTurns(context.Background()) {
		t.Error("WaitTurns with no turn running did not report done")
	}
}

// TestDrainLetsRunningTurnsFinish starts a streamed turn, drains, and
// checks that the turn still runs (it is not cancelled by the drain) and
// WaitTurns waits for it.
func TestDrainLetsRunningTurnsFinish(t *testing.T) {
	t.Parallel()
	env := newQuotaEnv(t, RateLimits{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"hang","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+env.keys["op1"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("streamed turn: %v %v", resp, err)
	}
	defer resp.Body.Close()
	for env.srv.RunningTurns() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	env.srv.StartDrain()
	wctx, wcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	finished := env.srv.WaitTurns(wctx)
	wcancel()
	if finished || env.srv.RunningTurns() != 1 {
		t.Fatalf("the drain ended the running turn: finished %v, running %d", finished, env.srv.RunningTurns())
	}
	cancel() // the client leaves; the turn ends
	if !env.srv.WaitTurns(context.Background()) {
		t.Fatal("WaitTurns did not see the turn end")
	}
}
