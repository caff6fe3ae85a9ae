package offline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

// chicagoTools are the tool specs a Chicago-style configuration gives
// (SODA permits and congestion feed, as tools/sources builds them), with
// energy from a source whose building ids are free-form (CHI-0042).
func chicagoTools(t *testing.T) []llm.ToolSpec {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "chicago_tools.json"))
	if err != nil {
		t.Fatal(err)
	}
	var specs []llm.ToolSpec
	if err := json.Unmarshal(raw, &specs); err != nil {
		t.Fatal(err)
	}
	return specs
}

// withSegmentExample is specs with the segment id example and range of an
// NGSI-LD broker whose ids are free-form strings.
func withSegmentExample(specs []llm.ToolSpec, example string) []llm.ToolSpec {
	out := make([]llm.ToolSpec, len(specs))
	for i, s := range specs {
		s.Description = strings.ReplaceAll(s.Description, "1309", example)
		s.Parameters = json.RawMessage(strings.NewReplacer("e.g. 1309", "e.g. "+example, "1309–88", example+"–chi-wac-sb-9").Replace(string(s.Parameters)))
		out[i] = s
	}
	return out
}

// firstCall plans question against specs and returns the first call.
func firstCall(t *testing.T, specs []llm.ToolSpec, msgs ...llm.Message) (string, map[string]any) {
	t.Helper()
	resp, err := New().Generate(t.Context(), llm.Request{Messages: msgs, Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) == 0 {
		return "", nil
	}
	c := resp.ToolCalls[0]
	var args map[string]any
	if err := json.Unmarshal(c.Arguments, &args); err != nil {
		t.Fatalf("%s arguments %s: %v", c.Name, c.Arguments, err)
	}
	return c.Name, args
}

// withBuildingEnum is specs with energy_consumption's building_id listing
// the source's buildings by name, as a source with a closed list may.
func withBuildingEnum(t *testing.T, specs []llm.ToolSpec) []llm.ToolSpec {
	t.Helper()
	out := append([]llm.ToolSpec(nil), specs...)
	for i, s := range out {
		if s.Name != "energy_consumption" {
			continue
		}
		var params map[string]any
		if err := json.Unmarshal(s.Parameters, &params); err != nil {
			t.Fatal(err)
		}
		props := params["properties"].(map[string]any)
		props["building_id"] = map[string]any{
			"type":             "string",
			"description":      "Building (楼宇); omit for the whole city.",
			"enum":             []string{"CHI-0007", "CHI-0011", "CHI-0042"},
			"enumDescriptions": []string{"City Hall 市政厅", "Harold Washington Library 图书馆", "Navy Pier 海军码头"},
		}
		raw, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		out[i].Parameters = raw
	}
	return out
}

// TestSourceIdentifiers: the ids of a non-demo source (numeric SODA ids,
// free-form NGSI-LD ids, prefixed building ids) are recognised after a noun
// that names them, in English and Chinese, and by the shape of the
// schema's examples when that shape cannot be a quantity; numbers that are
// quantities stay quantities.
func TestSourceIdentifiers(t *testing.T) {
	soda := chicagoTools(t)
	ngsi := withSegmentExample(soda, "chi-lsd-nb-1")
	cases := []struct {
		specs    []llm.ToolSpec
		question string
		tool     string
		args     map[string]any // the arguments that must have these values
		absent   []string       // arguments that must not be given
	}{
		{soda, "How is segment 1309 doing now?", "traffic_segment", map[string]any{"segment_id": "1309", "history_hours": 3.0}, nil},
		{soda, "Show segment id 88 history", "traffic_segment", map[string]any{"segment_id": "88"}, nil},
		{soda, "路段1309现在怎么样？", "traffic_segment", map[string]any{"segment_id": "1309"}, nil},
		{soda, "路段编号 1309 的车速", "traffic_segment", map[string]any{"segment_id": "1309"}, nil},
		{ngsi, "What is the current state of segment chi-lsd-nb-1?", "traffic_segment", map[string]any{"segment_id": "chi-lsd-nb-1"}, nil},
		{ngsi, "What is the current state of chi-lsd-nb-1?", "traffic_segment", map[string]any{"segment_id": "chi-lsd-nb-1"}, nil},
		{soda, "Show permit 100900001 details", "permits_detail", map[string]any{"permit_id": "100900001"}, nil},
		{soda, "Show permit no. 100900001", "permits_detail", map[string]any{"permit_id": "100900001"}, nil},
		{soda, "许可证100900001的办理进度", "permits_detail", map[string]any{"permit_id": "100900001"}, nil},
		{soda, "许可证号100900001", "permits_detail", map[string]any{"permit_id": "100900001"}, nil},
		{soda, "How much electricity did building CHI-0042 use today?", "energy_consumption", map[string]any{"building_id": "CHI-0042"}, nil},
		// Quantities.
		{soda, "Show me the 10 worst segments", "traffic_congestion", map[string]any{"limit": 10.0}, nil},
		{soda, "Show the 5 most congested segments over the last 2 hours", "traffic_congestion", map[string]any{"limit": 5.0}, nil},
		{soda, "Which buildings use more than 3000 kW?", "energy_consumption", nil, []string{"building_id"}},
		// A building named by an enum value's description.
		{withBuildingEnum(t, soda), "How much electricity did City Hall use today?", "energy_consumption", map[string]any{"building_id": "CHI-0007"}, nil},
		{withBuildingEnum(t, soda), "市政厅今天的用电量是多少？", "energy_consumption", map[string]any{"building_id": "CHI-0007"}, nil},
	}
	for _, tc := range cases {
		name, args := firstCall(t, tc.specs, user(tc.question))
		if name != tc.tool {
			t.Errorf("%q: called %q %v, want %s", tc.question, name, args, tc.tool)
			continue
		}
		for k, want := range tc.args {
			if args[k] != want {
				t.Errorf("%q: %s(%s=%v), want %v (all: %v)", tc.question, name, k, args[k], want, args)
			}
		}
		for _, k := range tc.absent {
			if v, ok := args[k]; ok {
				t.Errorf("%q: %s was given %s=%v", tc.question, name, k, v)
			}
		}
	}
}

// seenTurn is a conversation whose first turn listed buildings by name and
// id, then asks question.
func seenTurn(question string) []llm.Message {
	result := `{"buildings":[{"building_id":"CHI-0007","name":"City Hall","name_zh":"市政厅","kwh":5200},` +
		`{"building_id":"CHI-0011","name":"Harold Washington Library","name_zh":"哈罗德·华盛顿图书馆","kwh":4100}]}`
	return []llm.Message{
		user("Which buildings used the most electricity?"),
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "energy_consumption", Arguments: json.RawMessage(`{}`)}}},
		{Role: llm.RoleTool, ToolCallID: "call_1", Name: "energy_consumption",
			Content: llm.FormatData([]llm.DataBlock{{Kind: "tool", Ref: "energy_consumption", Body: result}})},
		assistant("City Hall used the most: 5,200 kWh."),
		user(question),
	}
}

// TestNamesFromEarlierResults: a building the user names by the name an
// earlier tool result gave it is called by that result's id; a name the
// results do not hold fills nothing.
func TestNamesFromEarlierResults(t *testing.T) {
	specs := chicagoTools(t)
	for q, want := range map[string]any{
		"How much electricity did City Hall use today?":      "CHI-0007",
		"市政厅今天的用电量是多少？":                                      "CHI-0007",
		"And the harold washington library, how much today?": "CHI-0011",
		"How much electricity did Navy Pier use today?":      nil,
	} {
		name, args := firstCall(t, specs, seenTurn(q)...)
		if name != "energy_consumption" || args["building_id"] != want {
			t.Errorf("%q: %s %v, want building_id %v", q, name, args, want)
		}
	}
}

// TestExampleShape: the shape of a schema's examples, and whether it may
// name an id without a noun.
func TestExampleShape(t *testing.T) {
	for _, tc := range []struct {
		examples []string
		fits     []string
		misses   []string
		bare     bool
	}{
		{[]string{"1309", "88"}, []string{"402", "1"}, []string{"S12", "12a"}, false},
		{[]string{"chi-lsd-nb-1", "chi-wac-sb-9"}, []string{"chi-dan-eb-12"}, []string{"chi-1", "CHI-LSD-NB-1"}, true},
		{[]string{"CHI-0042"}, []string{"CHI-7"}, []string{"chi-7", "CHI7"}, true},
	} {
		re, bare := exampleShape(tc.examples)
		if re == nil || bare != tc.bare {
			t.Fatalf("%v: shape %v, bare %v", tc.examples, re, bare)
		}
		for _, f := range tc.fits {
			if !re.MatchString(f) {
				t.Errorf("%v: %s does not fit %q", tc.examples, re, f)
			}
		}
		for _, m := range tc.misses {
			if re.MatchString(m) {
				t.Errorf("%v: %s fits %q", tc.examples, re, m)
			}
		}
	}
	if re, _ := exampleShape([]string{"1309", "chi-lsd-nb-1"}); re != nil {
		t.Errorf("examples of two shapes gave %s", re)
	}
	if re, _ := exampleShape([]string{"main"}); re != nil {
		t.Errorf("an example without a digit gave %s", re)
	}
}

// TestSeenNamesNeverFillActions: an id an earlier result gave is data; it
// never fills what a proposed action acts on.
func TestSeenNamesNeverFillActions(t *testing.T) {
	specs := append(chicagoTools(t), llm.ToolSpec{
		Name:        "propose_demand_response",
		Description: "Propose a demand-response event that curtails a building's electricity load.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"building_id":{"type":"string","description":"Building id (楼宇编号), e.g. CHI-0042."}},"required":["building_id"]}`),
	})
	resp, err := New().Generate(t.Context(), llm.Request{Messages: seenTurn("Propose a demand-response event to curtail City Hall's load"), Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.ToolCalls {
		if c.Name == "propose_demand_response" {
			t.Errorf("proposed %s on an id from an earlier result", c.Arguments)
		}
	}
	// Named by its id, the action is proposed.
	resp, err = New().Generate(t.Context(), llm.Request{Messages: seenTurn("Propose a demand-response event to curtail building CHI-0007's load"), Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) == 0 || resp.ToolCalls[0].Name != "propose_demand_response" || !strings.Contains(string(resp.ToolCalls[0].Arguments), "CHI-0007") {
		t.Errorf("calls %+v, want propose_demand_response on CHI-0007", resp.ToolCalls)
	}
}
