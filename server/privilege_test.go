package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// secretText is what the restricted tool returns; no key below restricted
// may ever read it.
const secretText = "SECRET-PLAN-42"

// echoModel calls every tool it is offered (the restricted one only when
// the caller is cleared, since the runner offers nothing above the
// caller's clearance), proposes a signal retiming when asked to "retime",
// and answers with the tool results verbatim: whatever it could read ends
// up in the answer.
type echoModel struct{}

func (echoModel) Name() string { return "echo" }

func (echoModel) respond(req llm.Request) (llm.Response, error) {
	last := req.Messages[len(req.Messages)-1]
	if last.Role == llm.RoleUser {
		var calls []llm.ToolCall
		for _, t := range req.Tools {
			switch {
			case t.Name == "secret_lookup" || t.Name == "road_lookup":
				calls = append(calls, llm.ToolCall{ID: "c_" + t.Name, Name: t.Name, Arguments: json.RawMessage(`{"road":"renmin"}`)})
			case t.Name == actions.ToolName("traffic.retime_signal") && strings.Contains(last.Content, "retime"):
				calls = append(calls, llm.ToolCall{ID: "c_propose", Name: t.Name,
					Arguments: json.RawMessage(`{"corridor":"renmin","strategy":"more_main_green","rationale":"jammed"}`)})
			}
		}
		if len(calls) > 0 {
			return llm.Response{Model: "echo", ToolCalls: calls}, nil
		}
	}
	var b strings.Builder
	b.WriteString("Report:")
	for _, m := range req.Messages {
		if m.Role == llm.RoleTool {
			b.WriteString(" " + m.Content)
		}
	}
	return llm.Response{Model: "echo", Content: b.String()}, nil
}

// streamingEcho is echoModel as an llm.Model, streaming its answer whole.
type streamingEcho struct{ echoModel }

var _ llm.Model = streamingEcho{}

func (m streamingEcho) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	resp, err := m.respond(req)
	if err == nil && stream != nil && resp.Content != "" {
		if err := stream(ctx, resp.Content); err != nil {
			return llm.Response{}, err
		}
	}
	return resp, err
}

type roadQuery struct {
	Road string `json:"road"`
}

// privRig is a whole server over a real store: a restricted and a public
// tool, an agent that may propose signal retimings through the real action
// service, the real eval service on the same runner, and keys for every
// role and clearance pair a test names ("admin/public", …).
type privRig struct {
	base string
	db   *store.DB
	keys map[string]string
}

func newPrivRig(t *testing.T) *privRig {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	secret := tools.MustTyped(tools.Spec{Name: "secret_lookup", Description: "restricted plans", Clearance: access.Restricted},
		func(_ context.Context, a roadQuery) (tools.Result, error) {
			return tools.JSONResult(map[string]any{"summary": secretText + " for " + a.Road}, tools.Citation{Source: "test:secret", AsOf: time.Now()})
		})
	road := tools.MustTyped(tools.Spec{Name: "road_lookup", Description: "road speeds", Clearance: access.Public},
		func(_ context.Context, a roadQuery) (tools.Result, error) {
			return tools.JSONResult(map[string]any{"summary": a.Road + " index 2.4"}, tools.Citation{Source: "test:road", AsOf: time.Now()})
		})
	reg, err := tools.NewRegistry(secret, road)
	if err != nil {
		t.Fatal(err)
	}
	spec := agents.Spec{Name: "city", Instructions: "x", Tools: []string{"secret_lookup", "road_lookup"}, Actions: []string{"traffic.retime_signal"},
		Roles: []access.Role{access.RoleOperator}, Budgets: agents.Budgets{MaxSteps: 4, MaxToolCalls: 6, Timeout: 10 * time.Second, ToolTimeout: 5 * time.Second}}
	cat, err := agents.NewCatalog(spec)
	if err != nil {
		t.Fatal(err)
	}
	acat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	execs := map[string]actions.Executor{}
	for _, typ := range acat.List() {
		execs[typ.Executor] = actions.ExecutorFunc(func(context.Context, actions.Execution) (json.RawMessage, error) {
			t.Error("an executor ran")
			return nil, nil
		})
	}
	props, err := actions.NewService(actions.Config{Catalog: acat, Store: db, Executors: execs})
	if err != nil {
		t.Fatal(err)
	}
	runner := &agents.Runner{Catalog: cat, Tools: reg, Sessions: db, Actions: props, Audit: db,
		Models: agents.Models{ByName: map[string]llm.Model{"echo": streamingEcho{}}, Default: "echo", Offline: streamingEcho{}}}
	ev := evals.NewService(evals.NewLocal(runner), evals.Options{})
	t.Cleanup(func() { ev.Close() })
	srv := New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db, Evals: ev, Proposals: props, AuditLog: db, Audit: db}, Options{})
	rig := &privRig{db: db, keys: map[string]string{}}
	for _, rc := range []string{"admin/public", "admin/restricted", "developer/public", "developer/internal", "developer/restricted", "operator/restricted", "supervisor/restricted"} {
		role, cl, _ := strings.Cut(rc, "/")
		_, secret, err := IssueKey(ctx, db, KeyRequest{Name: rc, Role: role, Clearance: cl}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rig.keys[rc] = secret
	}
	addr := serveLoopback(t, srv)
	rig.base = "http://" + addr
	return rig
}

func (r *privRig) call(t *testing.T, key, method, path, body string) (int, string) {
	t.Helper()
	resp, b := evalCall(t, r.base, r.keys[key], method, path, body)
	return resp.StatusCode, b
}

// runEval starts a run of suite as key and waits for its report; a
// refused start returns its status and body with a nil status.
func (r *privRig) runEval(t *testing.T, key, suite string) (int, string, *evals.RunStatus) {
	t.Helper()
	req, _ := json.Marshal(evals.RunRequest{SuiteYAML: suite})
	code, body := r.call(t, key, "POST", "/v1/evals/runs", string(req))
	if code != 202 {
		return code, body, nil
	}
	var st evals.RunStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body = r.call(t, key, "GET", "/v1/evals/runs/"+st.ID, "")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if st.FinishedAt != nil {
			return code, body, &st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func suiteYAML(input string) string {
	return "name: priv\nagent: city\ncases:\n  - id: c1\n    input:\n" + input + "    expect:\n      answer:\n        must_contain: [Report]\n"
}

func TestEvalRunNeverActsAboveItsCaller(t *testing.T) {
	t.Parallel()
	rig := newPrivRig(t)
	for name, tc := range map[string]struct {
		key    string
		input  string
		status int    // of POST /v1/evals/runs
		want   string // in the 403 problem, or in the finished run
		leaks  bool   // the restricted text may appear in the report
	}{
		"asks for admin and restricted": {key: "developer/public", status: 403,
			input: "      message: what is planned?\n      role: admin\n      clearance: restricted\n", want: `case c1`},
		"asks for restricted only": {key: "developer/public", status: 403,
			input: "      message: what is planned?\n      clearance: restricted\n", want: `input.clearance`},
		"asks for a role the caller lacks": {key: "developer/restricted", status: 403,
			input: "      message: what is planned?\n      role: supervisor\n", want: `input.role`},
		"default runs no higher than the caller": {key: "developer/public", status: 202,
			input: "      message: what is planned?\n", want: `"clearance":"public"`},
		"within the caller's clearance": {key: "developer/restricted", status: 202, leaks: true,
			input: "      message: what is planned?\n      clearance: restricted\n", want: secretText},
	} {
		t.Run(name, func(t *testing.T) {
			code, body, st := rig.runEval(t, tc.key, suiteYAML(tc.input))
			if code != tc.status {
				t.Fatalf("POST /v1/evals/runs as %s: %d, want %d; %s", tc.key, code, tc.status, body)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("the answer lacks %s: %s", tc.want, body)
			}
			if st == nil {
				if !strings.Contains(body, `"status":403`) || !strings.Contains(body, "the key has") {
					t.Errorf("the refusal does not say what the key holds: %s", body)
				}
				return
			}
			if strings.Contains(body, secretText) != tc.leaks {
				t.Errorf("restricted text in the report = %v, want %v: %s", !tc.leaks, tc.leaks, body)
			}
		})
	}
}

func TestEvalProposalsAreNotQueued(t *testing.T) {
	t.Parallel()
	rig := newPrivRig(t)
	suite := "name: props\nagent: city\ncases:\n  - id: retime\n    input:\n      message: retime renmin road\n" +
		"    expect:\n      proposals:\n        must_propose:\n          - action: traffic.retime_signal\n"
	code, body, st := rig.runEval(t, "developer/internal", suite)
	if code != 202 || st == nil || st.Report == nil || len(st.Report.Cases) != 1 {
		t.Fatalf("the run: %d %s", code, body)
	}
	c := st.Report.Cases[0]
	if len(c.Proposals) != 1 || c.Proposals[0].Action != "traffic.retime_signal" || c.Proposals[0].Status != actions.StatusEval || c.Status != evals.StatusPass {
		t.Errorf("the report does not list the eval's proposal: %+v", c)
	}
	// A remote eval's turn (cityagent eval --remote) is reported the same way.
	code, body = rig.call(t, "developer/internal", "POST", "/v1/evals/turns", `{"agent":"city","message":"retime renmin road"}`)
	var tr evals.TurnResult
	if code != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.Result == nil || len(tr.Result.Proposals) != 1 || tr.Result.Proposals[0].Status != actions.StatusEval {
		t.Errorf("eval turn: %d %s", code, body)
	}
	for _, q := range []string{"?status=proposed", ""} {
		code, body := rig.call(t, "supervisor/restricted", "GET", "/v1/proposals"+q, "")
		if code != 200 || !strings.Contains(body, `"proposals":[]`) {
			t.Errorf("GET /v1/proposals%s after an eval: %d %s", q, code, body)
		}
	}
}

func TestClearanceBindsAdmin(t *testing.T) {
	t.Parallel()
	rig := newPrivRig(t)
	// A restricted operator's chat reads the restricted tool and proposes
	// from what it read, so the session and the proposal are restricted.
	code, body := rig.call(t, "operator/restricted", "POST", "/v1/agents/city/chat", `{"message":"retime renmin, what is planned?"}`)
	var res agents.ChatResult
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || !strings.Contains(res.Answer, secretText) || len(res.Proposals) != 1 {
		t.Fatalf("chat: %d %s", code, body)
	}
	ses := "/v1/sessions/" + res.SessionID
	prop := "/v1/proposals/" + res.Proposals[0].ID
	for name, tc := range map[string]struct {
		method, path, body string
		status             map[string]int // by key
		hidden             bool           // the restricted text must not be in a refused key's answer
	}{
		"session transcript": {"GET", ses, "", map[string]int{"admin/public": 403, "admin/restricted": 200}, true},
		"sessions list":      {"GET", "/v1/sessions", "", map[string]int{"admin/public": 200, "admin/restricted": 200}, true},
		"proposal":           {"GET", prop, "", map[string]int{"admin/public": 404, "admin/restricted": 200}, true},
		"proposals list":     {"GET", "/v1/proposals", "", map[string]int{"admin/public": 200, "admin/restricted": 200}, true},
		"key above own clearance": {"POST", "/v1/keys", `{"name":"x","role":"operator","clearance":"restricted"}`,
			map[string]int{"admin/public": 403, "admin/restricted": 201}, false},
		"key at own clearance": {"POST", "/v1/keys", `{"name":"y","role":"operator","clearance":"public"}`,
			map[string]int{"admin/public": 201, "admin/restricted": 201}, false},
		"eval above own clearance": {"POST", "/v1/evals/runs", jsonBody(t, evals.RunRequest{SuiteYAML: suiteYAML("      message: plans?\n      clearance: restricted\n")}),
			map[string]int{"admin/public": 403, "admin/restricted": 202}, true},
	} {
		for key, want := range tc.status {
			code, body := rig.call(t, key, tc.method, tc.path, tc.body)
			if code != want {
				t.Errorf("%s as %s: %d, want %d: %s", name, key, code, want, body)
			}
			if tc.hidden && key == "admin/public" && strings.Contains(body, secretText) {
				t.Errorf("%s as %s shows restricted text: %s", name, key, body)
			}
			if code == 403 && !strings.Contains(body, "restricted") {
				t.Errorf("%s as %s: the refusal does not name the clearance: %s", name, key, body)
			}
		}
	}
	// The audit log: records of the restricted turn keep their hashes but
	// withhold their payloads (tool and proposal arguments) from a key
	// below restricted; a restricted key sees them.
	code, body = rig.call(t, "admin/restricted", "GET", "/v1/audit?limit=500", "")
	if code != 200 || !strings.Contains(body, `"kind":"tool.call"`) || !strings.Contains(body, "renmin") {
		t.Errorf("audit as admin/restricted: %d %s", code, body)
	}
	for _, key := range []string{"admin/public", "developer/internal"} {
		code, body = rig.call(t, key, "GET", "/v1/audit?limit=500", "")
		if code != 200 || !strings.Contains(body, `"kind":"tool.call"`) || !strings.Contains(body, `"redacted":"payload withheld`) {
			t.Errorf("audit as %s: %d %s", key, code, body)
		}
		if strings.Contains(body, "renmin") || strings.Contains(body, secretText) {
			t.Errorf("audit as %s shows the restricted turn's arguments: %s", key, body)
		}
	}
	// Revoking is bound like minting: admin/public cannot lock out a
	// restricted key; admin/restricted can.
	code, body = rig.call(t, "admin/restricted", "POST", "/v1/keys", `{"name":"victim","role":"admin","clearance":"restricted"}`)
	var victim struct {
		ID string `json:"id"`
	}
	if code != 201 || json.Unmarshal([]byte(body), &victim) != nil || victim.ID == "" {
		t.Fatalf("mint victim: %d %s", code, body)
	}
	if code, body := rig.call(t, "admin/public", "DELETE", "/v1/keys/"+victim.ID, ""); code != 403 || !strings.Contains(body, "restricted") {
		t.Errorf("admin/public revoking a restricted key: %d %s, want 403", code, body)
	}
	if code, body := rig.call(t, "admin/restricted", "DELETE", "/v1/keys/"+victim.ID, ""); code != 204 {
		t.Errorf("admin/restricted revoking a restricted key: %d %s, want 204", code, body)
	}
	if code, body := rig.call(t, "admin/public", "GET", "/v1/proposals", ""); strings.Contains(body, res.Proposals[0].ID) {
		t.Errorf("admin/public lists the restricted proposal: %d %s", code, body)
	}
}

func TestEvalTurnsAndReportsStayWithinClearance(t *testing.T) {
	t.Parallel()
	rig := newPrivRig(t)
	for name, tc := range map[string]struct {
		key, body string
		status    int
		want      string
		leaks     bool
	}{
		"above the key":      {"developer/public", `{"agent":"city","message":"plans?","clearance":"restricted"}`, 403, `"field":"request clearance"`, false},
		"role above the key": {"developer/restricted", `{"agent":"city","message":"plans?","role":"supervisor"}`, 403, `"field":"request role"`, false},
		"defaults lowered":   {"developer/public", `{"agent":"city","message":"plans?"}`, 200, "road_lookup", false},
		"within the key":     {"developer/restricted", `{"agent":"city","message":"plans?","clearance":"restricted"}`, 200, secretText, true},
	} {
		code, body := rig.call(t, tc.key, "POST", "/v1/evals/turns", tc.body)
		if code != tc.status || !strings.Contains(body, tc.want) || strings.Contains(body, secretText) != tc.leaks {
			t.Errorf("%s: %d %s, want %d with %s (restricted text shown: %v)", name, code, body, tc.status, tc.want, tc.leaks)
		}
	}
	// A restricted run's report is not shown to a key below restricted.
	_, _, st := rig.runEval(t, "developer/restricted", suiteYAML("      message: plans?\n      clearance: restricted\n"))
	if st == nil {
		t.Fatal("the run did not start")
	}
	if code, body := rig.call(t, "developer/public", "GET", "/v1/evals/runs/"+st.ID, ""); code != 403 || strings.Contains(body, secretText) {
		t.Errorf("a public key reads a restricted run: %d %s", code, body)
	}
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
