package actions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/traffic"
)

// TestOfflineEngineProposes checks that the proposal tools' descriptions
// and schemas let the generic offline planner propose when an operator asks
// for an action, and only then: informational questions, even ones naming a
// corridor, make no proposal.
func TestOfflineEngineProposes(t *testing.T) {
	clock := func() time.Time { return time.Date(2026, 11, 23, 8, 30, 0, 0, time.FixedZone("CST", 8*3600)) }
	city := democity.New(democity.DefaultSeed, clock)
	dir := t.TempDir()
	actions.SeedStoreForTest(t, dir)
	db, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	nop := actions.ExecutorFunc(func(context.Context, actions.Execution) (json.RawMessage, error) { return nil, nil })
	districts := map[string]string{}
	for _, d := range city.Districts() {
		districts[d.ID] = d.NameZh + " " + d.NameEn
	}
	svc, err := actions.NewService(actions.Config{Catalog: cat, Store: db, Executors: map[string]actions.Executor{
		"democity.signal_timing":       actions.NewSignalTiming(city),
		"democity.dispatch_crew":       nop,
		"democity.schedule_inspection": nop,
		"democity.flag_permit":         nop,
		"democity.demand_response":     actions.NewDemandResponse(nil, districts, clock, time.UTC),
		"store.dispatch":               nop,
	}})
	if err != nil {
		t.Fatal(err)
	}
	trafficTools := map[string]bool{}
	var trafficSpecs []llm.ToolSpec
	for _, tl := range traffic.Tools(city, clock) {
		s := tl.Spec()
		trafficTools[s.Name] = true
		trafficSpecs = append(trafficSpecs, llm.ToolSpec{Name: s.Name, Description: s.Description, Parameters: s.Parameters})
	}
	// Each agent's tools as the built-in specs list them: its own tools and
	// the proposal tools of its actions.
	agentTools := map[string][]llm.ToolSpec{}
	for agent, acts := range map[string][]string{
		"traffic": {"traffic.retime_signal", "traffic.dispatch_crew"},
		"permits": {"permits.schedule_inspection", "permits.flag_for_review"},
		"energy":  {"energy.demand_response_event"},
		"hotline": {"hotline.dispatch_ticket"},
	} {
		var specs []llm.ToolSpec
		if agent == "traffic" {
			specs = append(specs, trafficSpecs...)
		}
		if agent == "hotline" {
			for _, ts := range trafficSpecs {
				if ts.Name == "traffic_incidents" {
					specs = append(specs, ts)
				}
			}
		}
		for _, a := range acts {
			ts, err := svc.Tool(a)
			if err != nil {
				t.Fatal(err)
			}
			specs = append(specs, llm.ToolSpec{Name: ts.Name, Description: ts.Description, Parameters: ts.Parameters})
		}
		agentTools[agent] = specs
	}
	cases := map[string]struct {
		agent    string
		question string
		want     string // the proposal tool called, "" for none
		args     map[string]any
	}{
		"retime en":              {"traffic", "The Renmin Road corridor is congested — retime the signals.", "propose_traffic_retime_signal", map[string]any{"corridor": "renmin", "strategy": "more_main_green"}},
		"retime zh":              {"traffic", "人民路干线拥堵，建议调整信号配时。", "propose_traffic_retime_signal", map[string]any{"corridor": "renmin", "strategy": "more_main_green"}},
		"retime jammed":          {"traffic", "Renmin Road is jammed. Propose retiming its signals to give the main road more green.", "propose_traffic_retime_signal", map[string]any{"corridor": "renmin", "strategy": "more_main_green"}},
		"green wave":             {"traffic", "Coordinate Binjiang Avenue as a green wave.", "propose_traffic_retime_signal", map[string]any{"corridor": "binjiang", "strategy": "green_wave"}},
		"green wave zh":          {"traffic", "请提议对高新大道实行绿波协调。", "propose_traffic_retime_signal", map[string]any{"corridor": "gaoxin_ave", "strategy": "green_wave"}},
		"longer cycle zh":        {"traffic", "建议延长建设路的信号周期", "propose_traffic_retime_signal", map[string]any{"corridor": "jianshe", "strategy": "longer_cycle"}},
		"optimise green":         {"traffic", "Please optimise the green time on Renmin Road, it is jammed.", "propose_traffic_retime_signal", map[string]any{"corridor": "renmin"}},
		"tow truck":              {"traffic", "There is a crash on S042, dispatch a tow truck.", "propose_traffic_dispatch_crew", map[string]any{"segment_id": "S042", "crew": "tow_truck"}},
		"signal technician zh":   {"traffic", "S101路段信号灯不亮，请派人维修信号灯。", "propose_traffic_dispatch_crew", map[string]any{"segment_id": "S101", "crew": "technician"}},
		"most congested":         {"traffic", "Which road segments are the most congested right now, and why?", "", nil},
		"most congested zh":      {"traffic", "现在哪些路段最拥堵？原因是什么？", "", nil},
		"why corridor":           {"traffic", "Why is the Renmin Road corridor congested?", "", nil},
		"why jammed":             {"traffic", "Why is Renmin Road jammed?", "", nil},
		"signal plan":            {"traffic", "What is the signal plan on Renmin Road?", "", nil},
		"signal plan zh":         {"traffic", "人民路现在的信号配时方案是什么？", "", nil},
		"plan, no change zh":     {"traffic", "滨江大道现在执行的是什么信号配时方案？只需要告诉我，不要做任何调整。", "", nil},
		"segment":                {"traffic", "How is traffic on S042 this morning?", "", nil},
		"segment detail":         {"traffic", "Show me the details of road segment S073.", "", nil},
		"segment zh":             {"traffic", "路段S125的实时情况怎么样？", "", nil},
		"incidents":              {"traffic", "Any incidents in Binjiang district?", "", nil},
		"renmin follow-up":       {"traffic", "And what about Renmin Road?", "", nil},
		"crash on segment":       {"traffic", "Is there a crash on S042?", "", nil},
		"debris on segment":      {"traffic", "Any debris or flooding on S042?", "", nil},
		"signal timing":          {"traffic", "Show the signal timing of the Binjiang Avenue corridor", "", nil},
		"green wave question":    {"traffic", "Which corridors run a green wave?", "", nil},
		"congestion zh corridor": {"traffic", "滨江大道干线为什么拥堵？", "", nil},
		"technician en":          {"traffic", "The light at S101 is dark, send a technician.", "propose_traffic_dispatch_crew", map[string]any{"segment_id": "S101", "crew": "technician"}},
		"segment plan zh":        {"traffic", "路段S042的信号配时方案是什么？", "", nil},
		"signal working zh":      {"traffic", "S042的信号灯正常吗？", "", nil},
		"light working":          {"traffic", "Is the traffic light at S101 working?", "", nil},
		"schedule inspection":    {"permits", "Schedule a site inspection of permit BP-2025-00017 next week.", "propose_permits_schedule_inspection", map[string]any{"permit_id": "BP-2025-00017", "kind": "routine"}},
		"final inspection zh":    {"permits", "请为许可BP-20261120-03安排竣工检查，日期2026-11-27。", "propose_permits_schedule_inspection", map[string]any{"permit_id": "BP-20261120-03", "kind": "final", "date": "2026-11-27"}},
		"flag fraud":             {"permits", "Flag permit BP-20261120-03 for review: the documents look forged.", "propose_permits_flag_for_review", map[string]any{"permit_id": "BP-20261120-03", "reason": "suspected_fraud"}},
		"permit status":          {"permits", "What is the status of permit BP-20261120-03?", "", nil},
		"permit documents":       {"permits", "Which documents do I need for a building construction permit?", "", nil},
		"inspections due":        {"permits", "Which site inspections are due in Gaoxin in the next 7 days?", "", nil},
		"emergency dr":           {"energy", "Load in Gaoxin is above 95% of capacity. Propose an emergency demand-response event there.", "propose_energy_demand_response_event", map[string]any{"district": "gaoxin", "event_type": "emergency"}},
		"day-ahead dr zh":        {"energy", "明天高温，建议在滨江区启动日前需求响应，削减负荷800千瓦。", "propose_energy_demand_response_event", map[string]any{"district": "binjiang", "event_type": "day_ahead"}},
		"dr payment zh":          {"energy", "请解释一下需求响应的补偿是怎么结算的。", "", nil},
		"dr rules":               {"energy", "How much notice does an hour-ahead event give?", "", nil},
		"dispatch water zh":      {"hotline", "市民反映长江路停水，请把这张工单派给市水务集团处理。", "propose_hotline_dispatch_ticket", map[string]any{"department": "water", "handling": "direct_dispatch"}},
		"which department zh":    {"hotline", "路灯坏了应该找哪个部门？", "", nil},
		"deadlines":              {"hotline", "What are the hotline's handling deadlines for urgent, utility and general requests?", "", nil},
		"water outage dept":      {"hotline", "Which department handles a water outage?", "", nil},
	}
	eng := offline.New()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := eng.Generate(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: c.agent + " agent"},
				{Role: llm.RoleUser, Content: c.question}}, Tools: agentTools[c.agent]}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got *llm.ToolCall
			var names []string
			for i, tc := range resp.ToolCalls {
				names = append(names, tc.Name)
				if _, ok := svc.ActionForTool(tc.Name); ok {
					got = &resp.ToolCalls[i]
				}
			}
			switch {
			case c.want == "" && got != nil:
				t.Fatalf("%q proposed %s %s (calls %v); informational questions must not propose", c.question, got.Name, got.Arguments, names)
			case c.want != "" && (got == nil || got.Name != c.want):
				t.Fatalf("%q: calls %v, want %s", c.question, names, c.want)
			case got != nil:
				var args map[string]any
				_ = json.Unmarshal(got.Arguments, &args)
				for k, v := range c.args {
					if args[k] != v {
						t.Errorf("%q: argument %s = %v, want %v (all: %s)", c.question, k, args[k], v, got.Arguments)
					}
				}
			}
		})
	}
}
