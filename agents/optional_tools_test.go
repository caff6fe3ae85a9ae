package agents

import (
	"context"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
)

// A spec names the tools its source may lack as optional: a missing
// optional tool is reported once by MissingTools (for the start-up log) and
// never as a warning on an answer; a missing required tool still warns.
func TestOptionalToolsDoNotWarnOnAnswers(t *testing.T) {
	spec := testSpec("road_lookup")
	spec.OptionalTools = []string{"traffic_incidents"}
	model := toolThenAnswer("road_lookup", `{"road":"Zhongshan"}`)
	h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"}, lookupTool(t, "road_lookup", access.Public, nil))
	res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "Is Zhongshan Road slow?", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 || len(res.ToolCalls) != 1 {
		t.Errorf("warnings %v, tool calls %+v", res.Warnings, res.ToolCalls)
	}
	has := func(n string) bool { return n == "road_lookup" }
	if req, opt := spec.MissingTools(has); len(req) != 0 || len(opt) != 1 || opt[0] != "traffic_incidents" {
		t.Errorf("missing: required %v, optional %v", req, opt)
	}

	spec.Tools = append(spec.Tools, "traffic_signal_plan")
	h = newHarness(t, spec, Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"}, lookupTool(t, "road_lookup", access.Public, nil))
	res, err = h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "Is Zhongshan Road slow?", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, ";"); !strings.Contains(w, "traffic_signal_plan") || strings.Contains(w, "traffic_incidents") {
		t.Errorf("warnings %q: want the missing required tool only", w)
	}
}

func TestOptionalToolsParse(t *testing.T) {
	s, err := ParseSpec([]byte("name: traffic\ninstructions: x\ntools: [traffic_congestion]\noptional_tools: [traffic_incidents]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.ToolNames(), ","); got != "traffic_congestion,traffic_incidents" {
		t.Errorf("tool names %s", got)
	}
	if _, err := ParseSpec([]byte("name: traffic\ninstructions: x\ntools: [a]\noptional_tools: [a]\n"), "t.yaml"); err == nil {
		t.Error("a tool both required and optional was accepted")
	}
}
