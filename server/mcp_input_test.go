package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPAskAppliesTheChatRules: ask_<agent> refuses what POST
// /v1/agents/{agent}/chat refuses, with the same words, and stores nothing.
func TestMCPAskAppliesTheChatRules(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	cs := env.connect(t, env.keys["operator/internal"], "2025-11-25", nil)
	for name, c := range map[string]struct{ message, want string }{
		"bidi override":     {"Is Zhongshan \u202eRoad congested?", "message must not contain the bidirectional control U+202E"},
		"control character": {"Is Zhongshan\u0007 Road congested?", "message must not contain the control character U+0007"},
		"too long":          {strings.Repeat("x", 200_000), "message must be at most 8000 characters"},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": c.message}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Content[0].(*mcp.TextContent).Text; !res.IsError || got != c.want {
				t.Fatalf("%q, want the tool error %q", got, c.want)
			}
			// The native route says the same.
			msg, _ := json.Marshal(map[string]string{"message": c.message})
			resp, body := apiCall(t, "POST", env.base+"/v1/agents/traffic/chat", env.keys["operator/internal"], string(msg))
			var p Problem
			if resp.StatusCode != 400 || json.Unmarshal(body, &p) != nil || len(p.Errors) != 1 || "message "+p.Errors[0].Message != c.want {
				t.Fatalf("native route: %d %s", resp.StatusCode, body)
			}
		})
	}
	if list, err := env.db.ListSessions(t.Context(), env.keyIDs["operator/internal"], 10, ""); err != nil || len(list) != 0 {
		t.Fatalf("refused questions were stored: %d sessions (%v)", len(list), err)
	}
}

// TestMCPErrorsAreProblems: the 401 and the transport's own refusals (a
// session of another key) are problem+json naming the request, whose id is
// also the X-Request-Id header, as on /v1.
func TestMCPErrorsAreProblems(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	resp, body := mcpPost(t, env.url, "", "", initializeBody)
	checkMCPProblem(t, "no key", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"), body, 401)

	resp, _ = mcpPost(t, env.url, "Bearer "+env.keys["operator/internal"], "", initializeBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("initialize: %d, session %q, request id %q", resp.StatusCode, sid, resp.Header.Get("X-Request-Id"))
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	resp, body = mcpPost(t, env.url, "Bearer "+env.keys["developer/restricted"], sid, list)
	p := checkMCPProblem(t, "another key's session", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"), body, 403)
	if !strings.Contains(p.Detail, "session") {
		t.Fatalf("detail %q", p.Detail)
	}
	resp, body = mcpPost(t, env.url, "Bearer "+env.keys["operator/internal"], "no-such-session", list)
	checkMCPProblem(t, "unknown session", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"), body, 404)
}

// apiCall sends a request with key and a JSON body (none when empty).
func apiCall(t *testing.T, method, url, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func checkMCPProblem(t *testing.T, name string, status int, contentType, requestID, body string, want int) Problem {
	t.Helper()
	var p Problem
	if status != want || contentType != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil {
		t.Fatalf("%s: %d %s %s", name, status, contentType, body)
	}
	if p.Status != want || p.RequestID == "" || p.RequestID != requestID || p.Detail == "" {
		t.Fatalf("%s: problem %+v, X-Request-Id %q", name, p, requestID)
	}
	return p
}

// TestMCPAuditsReadsThatFindNothing: a read above the key's clearance is
// answered exactly as a read of a missing document, and both leave an
// mcp.read record with outcome not_found.
func TestMCPAuditsReadsThatFindNothing(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	_, closed := demoDocuments(t, env)
	cs := env.connect(t, env.keys["operator/internal"], "2025-11-25", nil)
	hidden, missing := documentURI(closed[0], closed[1]), documentURI(closed[0], "no-such-doc")
	_, errHidden := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: hidden})
	_, errMissing := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: missing})
	if errHidden == nil || errMissing == nil ||
		strings.ReplaceAll(errHidden.Error(), hidden, "URI") != strings.ReplaceAll(errMissing.Error(), missing, "URI") {
		t.Fatalf("hidden %v, missing %v: they must look alike", errHidden, errMissing)
	}
	recs, err := env.db.AuditChain(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{hidden, missing} {
		found := false
		for _, r := range recs {
			var payload struct{ Outcome, Via string }
			if r.Kind == kindMCPRead && r.Subject == uri && r.Actor == env.keyIDs["operator/internal"] &&
				json.Unmarshal(r.Payload, &payload) == nil && payload.Outcome == "not_found" && payload.Via == "mcp" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no mcp.read not_found record for %s", uri)
		}
	}
}
