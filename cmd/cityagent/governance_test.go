package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to tamper with PostgreSQL directly
	_ "modernc.org/sqlite"             // the "sqlite" driver, to tamper with the file directly

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/store"
)

// signalPlanSeen asks the traffic agent for a corridor's signal plan and
// returns what the traffic_signal_plan tool reported, from the transcript.
func signalPlanSeen(t *testing.T, in *instance, key, corridorQuestion string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"message": corridorQuestion})
	code, body := in.call(t, "POST", "/v1/agents/traffic/chat", key, string(b))
	if code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	var res agents.ChatResult
	_ = json.Unmarshal(body, &res)
	if len(res.Proposals) != 0 {
		t.Fatalf("a question about the plan made proposals: %+v", res.Proposals)
	}
	code, body = in.call(t, "GET", "/v1/sessions/"+res.SessionID, key, "")
	if code != 200 {
		t.Fatalf("session: %d %s", code, body)
	}
	var sess struct {
		Events []struct {
			Type string
			Data json.RawMessage
		}
	}
	_ = json.Unmarshal(body, &sess)
	for _, e := range sess.Events {
		var d struct {
			Name    string
			OK      bool
			Content map[string]any
		}
		if e.Type == agents.EventToolResult && json.Unmarshal(e.Data, &d) == nil && d.Name == "traffic_signal_plan" && d.OK {
			return d.Content
		}
	}
	t.Fatalf("%q: no traffic_signal_plan result in the transcript", corridorQuestion)
	return nil
}

func getProposal(t *testing.T, in *instance, key, id string) (int, actions.Proposal) {
	t.Helper()
	code, body := in.call(t, "GET", "/v1/proposals/"+id, key, "")
	var p actions.Proposal
	_ = json.Unmarshal(body, &p)
	return code, p
}

// TestGovernanceEndToEnd is the governance issue's "done when", through the
// real server: a traffic chat about a congested corridor proposes a
// retiming; the proposer's own key and an operator get 403; another
// supervisor's approval executes it once; the traffic tool then reports the
// new plan and changed travel times; every step is in a verifying audit log.
func TestGovernanceEndToEnd(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	in := startServe(t, data)
	supA := in.newKey(t, "supervisor", "internal")
	supB := in.newKey(t, "supervisor", "internal")
	supPublic := in.newKey(t, "supervisor", "public")
	op := in.newKey(t, "operator", "internal")
	dev := in.newKey(t, "developer", "internal")

	before := signalPlanSeen(t, in, op, "What is the signal plan on Renmin Road?")

	b, _ := json.Marshal(map[string]string{"message": "The Renmin Road corridor is congested — retime the signals."})
	code, body := in.call(t, "POST", "/v1/agents/traffic/chat", supA, string(b))
	if code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	var res agents.ChatResult
	_ = json.Unmarshal(body, &res)
	if len(res.Proposals) != 1 || res.Proposals[0].Action != "traffic.retime_signal" || res.Proposals[0].Status != "proposed" {
		t.Fatalf("proposals = %+v; answer %s", res.Proposals, res.Answer)
	}
	id := res.Proposals[0].ID
	if !strings.Contains(res.Answer, id) {
		t.Errorf("the answer does not tell the user about proposal %s: %s", id, res.Answer)
	}

	code, p := getProposal(t, in, op, id)
	if code != 200 || p.Agent != "traffic" || p.AgentVersion == "" || p.Model == "" || p.SessionID != res.SessionID ||
		!strings.Contains(p.Question, "Renmin Road") || p.Rationale == "" || p.Clearance != "internal" || p.ApproverRole != "supervisor" {
		t.Fatalf("GET proposal: %d %+v", code, p)
	}
	var toolEvidence, docEvidence bool
	for _, e := range p.Evidence {
		toolEvidence = toolEvidence || (e.Kind == "tool" && e.Tool == "traffic_signal_plan" && e.Source != "" && e.AsOf != nil)
		docEvidence = docEvidence || (e.Kind == "document" && e.Source != "")
	}
	if !toolEvidence || !docEvidence {
		t.Errorf("evidence lacks the signal plan result or a document: %+v", p.Evidence)
	}
	if code, _ := getProposal(t, in, supPublic, id); code != 404 {
		t.Errorf("a public-clearance key read an internal proposal: %d", code)
	}

	decide := func(key, verb, id string) (int, []byte) {
		return in.call(t, "POST", "/v1/proposals/"+id+"/"+verb, key, `{"comment":"checked the corridor data 已核实"}`)
	}
	for name, c := range map[string]struct {
		key, verb, id string
		want          int
	}{
		"the proposer's own key approves": {supA, "approve", id, 403},
		"the proposer's own key rejects":  {supA, "reject", id, 403},
		"an operator approves":            {op, "approve", id, 403},
		"a developer approves":            {dev, "approve", id, 403},
		"above the key's clearance":       {supPublic, "approve", id, 404},
		"unknown proposal":                {supB, "approve", "prop_nope", 404},
	} {
		if code, body := decide(c.key, c.verb, c.id); code != c.want || !strings.Contains(string(body), `"status":`) {
			t.Errorf("%s: %d %s, want %d problem+json", name, code, body, c.want)
		}
	}
	if code, body := in.call(t, "POST", "/v1/proposals/"+id+"/approve", supB, `{"comment":5}`); code != 400 {
		t.Errorf("bad body: %d %s", code, body)
	}

	// Concurrent approvals by two supervisors and the admin: one wins.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	bodies := make([][]byte, 3)
	for i, k := range []string{supB, in.admin, supB} {
		wg.Go(func() { codes[i], bodies[i] = decide(k, "approve", id) })
	}
	wg.Wait()
	wins := 0
	for i, c := range codes {
		switch c {
		case 200:
			wins++
			_ = json.Unmarshal(bodies[i], &p)
		case 409:
		default:
			t.Errorf("concurrent approval: %d %s", c, bodies[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%d approvals won (codes %v), want exactly 1", wins, codes)
	}
	if p.Status != "executed" || p.Execution == nil || p.Execution.Attempts != 1 || p.Decision == nil || p.Decision.By == "" {
		t.Fatalf("after approval: %+v %+v", p.Status, p.Execution)
	}
	if code, _ := decide(supB, "reject", id); code != 409 {
		t.Errorf("rejecting an executed proposal: %d, want 409", code)
	}

	after := signalPlanSeen(t, in, op, "What is the signal plan on Renmin Road?")
	planOf := func(m map[string]any) (string, float64) {
		pl, _ := m["plan"].(map[string]any)
		id, _ := pl["id"].(string)
		green := 0.0
		for _, ph := range pl["phases"].([]any) {
			if phm := ph.(map[string]any); phm["main"] == true {
				green = phm["green_s"].(float64)
			}
		}
		return id, green
	}
	oldID, oldGreen := planOf(before)
	newID, newGreen := planOf(after)
	if newID == oldID || newGreen != oldGreen+10 {
		t.Errorf("signal plan after approval: %s with %v s of main green; before %s with %v s", newID, newGreen, oldID, oldGreen)
	}
	if before["average_speed_kmh"] == after["average_speed_kmh"] && before["average_index"] == after["average_index"] {
		t.Errorf("travel times on the corridor did not change: %v km/h, index %v", after["average_speed_kmh"], after["average_index"])
	}

	// Streaming carries the proposal as it is made; a rejection ends it.
	req, _ := http.NewRequest("POST", in.base+"/v1/agents/traffic/chat", strings.NewReader(`{"message":"人民路干线拥堵，建议调整信号配时。","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+supA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var streamed agents.ProposalRef
	if _, after, ok := strings.Cut(string(raw), "event: proposal\ndata: "); ok {
		line, _, _ := strings.Cut(after, "\n")
		_ = json.Unmarshal([]byte(line), &streamed)
	}
	if streamed.ID == "" || streamed.Action != "traffic.retime_signal" || !strings.Contains(string(raw), "event: done") {
		t.Fatalf("no proposal event in the stream:\n%s", raw)
	}
	if code, body := decide(supB, "reject", streamed.ID); code != 200 || !strings.Contains(string(body), `"status":"rejected"`) {
		t.Errorf("reject: %d %s", code, body)
	}
	if code, _ := decide(in.admin, "approve", streamed.ID); code != 409 {
		t.Errorf("approving a rejected proposal: %d, want 409", code)
	}

	// Lists and filters.
	code, body = in.call(t, "GET", "/v1/proposals?status=executed&action=traffic.retime_signal&agent=traffic", op, "")
	if code != 200 || !strings.Contains(string(body), id) {
		t.Errorf("filtered list: %d %s", code, body)
	}
	for _, q := range []string{"?status=done", "?limit=0", "?limit=x"} {
		if code, _ := in.call(t, "GET", "/v1/proposals"+q, op, ""); code != 400 {
			t.Errorf("GET /v1/proposals%s: %d, want 400", q, code)
		}
	}
	if code, body := in.call(t, "GET", "/v1/proposals", supPublic, ""); code != 200 || strings.Contains(string(body), id) {
		t.Errorf("a public key's list shows the internal proposal: %d", code)
	}
	code, body = in.call(t, "GET", "/v1/actions", op, "")
	if code != 200 || !strings.Contains(string(body), `"traffic.retime_signal"`) || !strings.Contains(string(body), `"hotline.dispatch_ticket"`) {
		t.Errorf("GET /v1/actions: %d %s", code, body)
	}

	// The audit log: developer+ only; every step is there; it verifies.
	if code, _ := in.call(t, "GET", "/v1/audit", op, ""); code != 403 {
		t.Errorf("an operator read the audit log: %d", code)
	}
	code, body = in.call(t, "GET", "/v1/audit?subject="+id+"&limit=100", dev, "")
	var page struct {
		Records []audit.Record
	}
	_ = json.Unmarshal(body, &page)
	kinds := map[string]int{}
	for _, r := range page.Records {
		kinds[r.Kind]++
	}
	if code != 200 || kinds[audit.KindProposalCreate] != 1 || kinds[audit.KindApprove] != 1 || kinds[audit.KindExecute] != 1 ||
		kinds[audit.KindDecisionRefused] < 8 {
		t.Errorf("audit records of the proposal: %d %v", code, kinds)
	}
	code, body = in.call(t, "GET", "/v1/audit?kind=chat.turn&limit=2", dev, "")
	if code != 200 || !strings.Contains(string(body), `"next_before"`) || strings.Count(string(body), `"kind":"chat.turn"`) != 2 {
		t.Errorf("audit page: %d %s", code, body)
	}
	code, body = in.call(t, "GET", "/v1/audit/verify", dev, "")
	var rep audit.Report
	_ = json.Unmarshal(body, &rep)
	if code != 200 || !rep.OK || rep.Records < 15 {
		t.Fatalf("verify: %d %s", code, body)
	}
	anchor := fmt.Sprintf("%d:%s", rep.Head.Seq, rep.Head.Hash)
	if code, body := in.call(t, "GET", "/v1/audit/verify?anchor="+anchor, in.admin, ""); code != 200 || !strings.Contains(string(body), `"ok":true`) {
		t.Errorf("verify with anchor: %d %s", code, body)
	}
	if code, _ := in.call(t, "GET", "/v1/audit/verify?anchor=x", in.admin, ""); code != 400 {
		t.Errorf("bad anchor: %d", code)
	}

	// Offline, the CLI verifies the same chain.
	in.stop()
	out, err := cityagentCLI(t, "audit", "verify", "--data", data)
	if err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("cityagent audit verify: %v\n%s", err, out)
	}
}

// runCLI runs the cityagent command line in this process.
func cityagentCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestRecoveryAtStartup: the process stops after an approval is committed
// and before the action ran; the next start executes it, once.
func TestRecoveryAtStartup(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	in := startServe(t, data)
	supA := in.newKey(t, "supervisor", "internal")
	code, body := in.call(t, "POST", "/v1/agents/traffic/chat", supA, `{"message":"建议调整滨江大道的信号配时，延长主路绿灯。"}`)
	var res agents.ChatResult
	_ = json.Unmarshal(body, &res)
	if code != 200 || len(res.Proposals) != 1 {
		t.Fatalf("chat: %d %s", code, body)
	}
	id := res.Proposals[0].ID
	in.stop()

	// What the crashed process left: the approval, committed, and nothing else.
	db, err := store.Open(t.Context(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DecideProposal(t.Context(), store.Decision{ID: id, Status: store.ProposalApproved, By: "key_other_supervisor", Role: "supervisor", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	in2 := startServe(t, data)
	code, p := getProposal(t, in2, supA, id)
	if code != 200 || p.Status != "executed" || p.Execution == nil || p.Execution.Attempts != 1 {
		t.Fatalf("after restart: %d %s %+v", code, p.Status, p.Execution)
	}
	var result actions.RetimeResult
	if err := json.Unmarshal(p.Execution.Result, &result); err != nil || result.Corridor != "binjiang" || result.Plan.ID == result.Previous.ID {
		t.Fatalf("execution result: %s (%v)", p.Execution.Result, err)
	}
	in2.stop()
	in3 := startServe(t, data) // a further restart executes nothing again
	if code, p := getProposal(t, in3, supA, id); code != 200 || p.Execution.Attempts != 1 {
		t.Fatalf("after a second restart: %d %+v", code, p.Execution)
	}
}

// TestAuditVerifyDetectsTampering edits, deletes, reorders and inserts rows
// directly in the SQLite file and in PostgreSQL; `cityagent audit verify`
// must fail naming the first bad seq, and pass on the untouched log.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	cases := []struct {
		name    string
		sql     []string
		wantBad int
	}{
		{"edit", []string{"UPDATE audit_log SET payload = '{\"role\":\"admin\"}' WHERE seq = 3"}, 3},
		{"delete", []string{"DELETE FROM audit_log WHERE seq = 4"}, 4},
		{"reorder", []string{"UPDATE audit_log SET seq = 1000 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 5", "UPDATE audit_log SET seq = 5 WHERE seq = 1000"}, 2},
		{"delete last", []string{"DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"}, -1},
	}
	type target struct {
		args  []string // for the CLI
		data  string
		tweak func(*config.Config)
		raw   func() *sql.DB
	}
	backends := map[string]func(t *testing.T) target{
		"sqlite": func(t *testing.T) target {
			dir := t.TempDir()
			return target{[]string{"--data", dir}, dir, func(*config.Config) {}, func() *sql.DB {
				db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
				if err != nil {
					t.Fatal(err)
				}
				return db
			}}
		},
		"postgres": func(t *testing.T) target {
			url := pgtest.NewDatabase(t, pgURL)
			cfg := filepath.Join(t.TempDir(), "cityagent.yaml")
			if err := os.WriteFile(cfg, []byte("database_url: "+url+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			return target{[]string{"--config", cfg, "--data", dir}, dir, func(c *config.Config) { c.DatabaseURL = url }, func() *sql.DB {
				db, err := sql.Open("pgx", url)
				if err != nil {
					t.Fatal(err)
				}
				return db
			}}
		},
	}
	for bname, backend := range backends {
		for _, c := range cases {
			t.Run(bname+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				tg := backend(t)
				args := tg.args
				// A real log: the bootstrap key, a key and a chat turn.
				in := startServe(t, tg.data, tg.tweak)
				op := in.newKey(t, "operator", "internal")
				in.call(t, "POST", "/v1/agents/traffic/chat", op, `{"message":"Any incidents in Binjiang district?"}`)
				in.stop()
				out, err := cityagentCLI(t, append([]string{"audit", "verify"}, args...)...)
				if err != nil || !strings.Contains(out, "audit chain OK") {
					t.Fatalf("untouched log: %v %s", err, out)
				}
				db := tg.raw()
				var last int
				if err := db.QueryRowContext(context.Background(), "SELECT MAX(seq) FROM audit_log").Scan(&last); err != nil || last < 5 {
					t.Fatalf("log has %d records, %v", last, err)
				}
				for _, q := range c.sql {
					if _, err := db.ExecContext(context.Background(), q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				db.Close()
				want := c.wantBad
				if want < 0 {
					want = last
				}
				out, err = cityagentCLI(t, append([]string{"audit", "verify"}, args...)...)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("broken at seq %d:", want)) {
					t.Fatalf("after %s: err %v, out %s; want the chain broken at seq %d", c.name, err, out, want)
				}
			})
		}
	}
}
