package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// mcpEnv is a real server on a loopback port with a registry holding a
// public and a restricted tool, a traffic agent (stubModel calls lookup),
// the demo knowledge base, the state store as audit log, and keys by
// "role/clearance".
type mcpEnv struct {
	srv       *Server
	url       string // …/mcp
	base      string
	db        *store.DB
	reg       *tools.Registry
	kb        *knowledge.Base
	keys      map[string]string
	keyIDs    map[string]string
	proposals *viewerProposals
}

// viewerProposals is a hand-written ProposalService that returns one
// proposal per call and records the viewer it was asked for.
type viewerProposals struct {
	fakeProposals
	mu      sync.Mutex
	viewers []access.Principal
}

func (v *viewerProposals) List(_ context.Context, f actions.ListFilter, p access.Principal) ([]actions.Proposal, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.viewers = append(v.viewers, p)
	return []actions.Proposal{{ID: "prop_1", Action: "retime_signal", Status: actions.StatusProposed}}, nil
}

var _ ProposalService = (*viewerProposals)(nil)

func newMCPEnv(t *testing.T) *mcpEnv {
	t.Helper()
	return newMCPEnvWith(t, stubModel{"lookup"}, Options{Version: "test"})
}

func newMCPEnvWith(t *testing.T, model llm.Model, opts Options) *mcpEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		t.Fatal(err)
	}
	lookup := tools.MustTyped(tools.Spec{Name: "lookup", Description: "road lookup", Clearance: access.Public}, func(_ context.Context, a roadArgs) (tools.Result, error) {
		return tools.JSONResult(map[string]any{"road": a.Road, "summary": a.Road + " index 2.4"}, tools.Citation{Source: "test", AsOf: time.Now()})
	})
	secret := tools.MustTyped(tools.Spec{Name: "secret_lookup", Description: "restricted road data", Clearance: access.Restricted}, func(_ context.Context, a roadArgs) (tools.Result, error) {
		return tools.JSONResult(map[string]any{"road": a.Road, "secret": true}, tools.Citation{Source: "test", AsOf: time.Now()})
	})
	reg, _ := tools.NewRegistry(lookup, secret)
	traffic := agents.Spec{Name: "traffic", Description: "Traffic now.", Instructions: "x", Tools: []string{"lookup"},
		Budgets: agents.Budgets{Timeout: time.Minute, ToolTimeout: time.Minute}}
	hot := agents.Spec{Name: "hotline", Instructions: "x", Roles: []access.Role{access.RoleHotline}}
	cat, err := agents.NewCatalog(traffic, hot)
	if err != nil {
		t.Fatal(err)
	}
	runner := &agents.Runner{Catalog: cat, Tools: reg, Sessions: db, Audit: db,
		Models: agents.Models{ByName: map[string]llm.Model{"stub": model}, Default: "stub", Offline: stubModel{}}}
	env := &mcpEnv{db: db, reg: reg, kb: kb, keys: map[string]string{}, keyIDs: map[string]string{}, proposals: &viewerProposals{}}
	env.srv = New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db, Audit: db, AuditLog: db,
		Knowledge: kb, Proposals: env.proposals}, opts)
	for _, rc := range []string{"operator/public", "operator/internal", "developer/internal", "developer/restricted", "hotline/internal"} {
		role, cl, _ := strings.Cut(rc, "/")
		k, s, err := IssueKey(ctx, db, KeyRequest{Name: rc, Role: role, Clearance: cl}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[rc], env.keyIDs[rc] = s, k.ID
	}
	env.base = "http://" + serveLoopback(t, env.srv)
	env.url = env.base + "/mcp"
	return env
}

// bearer adds an Authorization header to every request.
type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}

// connect opens a go-sdk client session as key, speaking version (empty:
// the SDK's latest).
func (e *mcpEnv) connect(t *testing.T, key, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	tr := &mcp.StreamableClientTransport{Endpoint: e.url, HTTPClient: &http.Client{Transport: bearer{key, http.DefaultTransport}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts).Connect(t.Context(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

// Protocol versions the server is tested with: the go-sdk's latest and the
// session-based one the TypeScript SDK and most clients speak today.
var mcpVersions = []string{"", "2025-11-25"}

func TestMCPToolsFollowRoleAndClearance(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	for _, v := range mcpVersions {
		cases := map[string][]string{
			"operator/public":      {"ask_traffic", "list_proposals"},
			"hotline/internal":     {"ask_hotline"},
			"developer/internal":   {"ask_traffic", "list_proposals", "lookup"},
			"developer/restricted": {"ask_traffic", "list_proposals", "lookup", "secret_lookup"},
		}
		for key, want := range cases {
			t.Run(key+"@"+v, func(t *testing.T) {
				cs := env.connect(t, env.keys[key], v, nil)
				if got := toolNames(t, cs); !slices.Equal(got, want) {
					t.Fatalf("tools = %v, want %v", got, want)
				}
				// A tool the key may not see cannot be called either, and
				// looks exactly like one that does not exist.
				for _, hidden := range []string{"secret_lookup", "ask_hotline", "no_such_tool"} {
					if slices.Contains(want, hidden) {
						continue
					}
					_, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: hidden, Arguments: map[string]any{"road": "x"}})
					if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unknown tool %q", hidden)) {
						t.Fatalf("calling hidden %s: %v", hidden, err)
					}
				}
			})
		}
	}
}

func TestMCPAskRunsATurn(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	for _, v := range mcpVersions {
		t.Run("version="+v, func(t *testing.T) {
			deltas := make(chan string, 64)
			cs := env.connect(t, env.keys["operator/internal"], v, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					deltas <- r.Params.Message
				}})
			params := &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "How is Zhongshan Road?"}}
			params.SetProgressToken("p1")
			res, err := cs.CallTool(t.Context(), params)
			if err != nil || res.IsError {
				t.Fatalf("ask_traffic: %v %+v", err, res)
			}
			var cr agents.ChatResult
			b, _ := json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(b, &cr); err != nil {
				t.Fatal(err)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; text != "Zhongshan Road is congested." || cr.Answer != text {
				t.Fatalf("answer %q, structured %q", text, cr.Answer)
			}
			if len(cr.ToolCalls) != 1 || cr.ToolCalls[0].Name != "lookup" || !cr.ToolCalls[0].OK || !strings.HasPrefix(cr.SessionID, "ses_") {
				t.Fatalf("structured content: %+v", cr)
			}
			// Notifications are handled beside the result, so they may
			// finish arriving after it: wait for the whole text.
			got := ""
			for got != cr.Answer {
				select {
				case d := <-deltas:
					got += d
					if !strings.HasPrefix(cr.Answer, got) {
						t.Fatalf("progress deltas %q are not the answer %q", got, cr.Answer)
					}
				case <-t.Context().Done():
					t.Fatalf("progress deltas %q, answer %q", got, cr.Answer)
				}
			}
			// The turn is the runner's: its audit record names the key and session.
			recs, err := env.db.AuditChain(t.Context(), 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if !hasAudit(recs, audit.KindChatTurn, cr.SessionID, env.keyIDs["operator/internal"]) {
				t.Fatalf("no chat.turn audit for %s", cr.SessionID)
			}
			// The session continues, for this key only.
			res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "And now?", "session_id": cr.SessionID}})
			if err != nil || res.IsError {
				t.Fatalf("second turn: %v %+v", err, res)
			}
			other := env.connect(t, env.keys["developer/internal"], v, nil)
			res, err = other.CallTool(t.Context(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "peek", "session_id": cr.SessionID}})
			if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "unknown session") {
				t.Fatalf("another key's session: %v %+v", err, res)
			}
		})
	}
}

func hasAudit(recs []audit.Record, kind, subject, actor string) bool {
	for _, r := range recs {
		if r.Kind == kind && r.Subject == subject && r.Actor == actor {
			return true
		}
	}
	return false
}

func TestMCPBadArguments(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	cs := env.connect(t, env.keys["developer/internal"], "2025-11-25", nil)
	cases := map[string]struct {
		tool string
		args any
		want string
	}{
		"empty message":   {"ask_traffic", map[string]any{"message": " "}, "must not be empty"},
		"unknown field":   {"ask_traffic", map[string]any{"message": "hi", "stream": true}, `unknown field "stream"`},
		"wrong type":      {"ask_traffic", map[string]any{"message": 7}, "invalid arguments"},
		"tool schema":     {"lookup", map[string]any{"road": 7}, "invalid arguments"},
		"proposal status": {"list_proposals", map[string]any{"status": "done"}, "status must be one of"},
		"proposal limit":  {"list_proposals", map[string]any{"limit": 1000}, "limit must be 1 to 100"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
			if err != nil {
				t.Fatalf("%s: %v", c.tool, err)
			}
			if !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, c.want) {
				t.Fatalf("%s: %+v, want an error containing %q", c.tool, res.Content, c.want)
			}
		})
	}
}

func TestMCPCallsARegistryTool(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	cs := env.connect(t, env.keys["developer/restricted"], "", nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "secret_lookup", Arguments: map[string]any{"road": "Renmin"}})
	if err != nil || res.IsError {
		t.Fatalf("secret_lookup: %v %+v", err, res)
	}
	var content map[string]any
	if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &content); err != nil || content["road"] != "Renmin" || content["secret"] != true {
		t.Fatalf("content %v (%v)", content, err)
	}
	var out invokeResult
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || !out.OK || out.Citation == nil || out.Citation.Source != "test" {
		t.Fatalf("structured %s (%v)", b, err)
	}
	recs, err := env.db.AuditChain(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !hasAudit(recs, audit.KindToolCall, "secret_lookup", env.keyIDs["developer/restricted"]) {
		t.Fatal("the MCP tool call left no tool.call audit record")
	}
}

func TestMCPListsProposalsForTheCaller(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	cs := env.connect(t, env.keys["operator/public"], "", nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_proposals", Arguments: map[string]any{"status": "proposed"}})
	if err != nil || res.IsError {
		t.Fatalf("list_proposals: %v %+v", err, res)
	}
	if !strings.Contains(res.Content[0].(*mcp.TextContent).Text, `"id":"prop_1"`) {
		t.Fatalf("content %v", res.Content)
	}
	env.proposals.mu.Lock()
	viewers := env.proposals.viewers
	env.proposals.mu.Unlock()
	if len(viewers) != 1 || viewers[0].KeyID != env.keyIDs["operator/public"] || viewers[0].Clearance != access.Public {
		t.Fatalf("the service was asked for %+v, not the caller", viewers)
	}
}

// heldModel answers only when released, and says when a turn reached it.
type heldModel struct {
	started chan struct{}
	release chan struct{}
}

var _ llm.Model = heldModel{}

func (heldModel) Name() string { return "held" }

func (m heldModel) Generate(ctx context.Context, _ llm.Request, _ llm.StreamFunc) (llm.Response, error) {
	m.started <- struct{}{}
	select {
	case <-m.release:
		return llm.Response{Model: "held", Content: "done"}, nil
	case <-ctx.Done():
		return llm.Response{}, ctx.Err()
	}
}

// ask_<agent> takes a turn slot from the same admission control as the
// native chat route: with one slot and no queue, a turn over MCP makes the
// native route answer 503, and a second MCP turn is refused.
func TestMCPAskTakesATurnSlot(t *testing.T) {
	t.Parallel()
	m := heldModel{started: make(chan struct{}, 1), release: make(chan struct{})}
	env := newMCPEnvWith(t, m, Options{MaxTurns: 1, TurnQueue: -1})
	cs := env.connect(t, env.keys["operator/internal"], "2025-11-25", nil)
	first := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "one"}})
		if err != nil {
			res = toolError(err.Error())
		}
		first <- res
	}()
	<-m.started
	req, _ := http.NewRequest("POST", env.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"two"}`))
	req.Header.Set("Authorization", "Bearer "+env.keys["operator/internal"])
	req.Header.Set("Content-Type", "application/json")
	resp, body, err := roundTrip(http.DefaultClient, req)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("native chat while MCP holds the slot: %v %v %s", err, resp, body)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "ask_traffic", Arguments: map[string]any{"message": "three"}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "too many questions") {
		t.Fatalf("second MCP turn: %v %+v", err, res)
	}
	close(m.release)
	if r := <-first; r.IsError || r.Content[0].(*mcp.TextContent).Text != "done" {
		t.Fatalf("first turn: %+v", r.Content)
	}
}
