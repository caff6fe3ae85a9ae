package offline

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func TestPlanSchemaShapes(t *testing.T) {
	signal := llm.ToolSpec{
		Name:        "signal_plan",
		Description: "Traffic signal timing plan of a corridor. 信号配时 红绿灯",
		Parameters: json.RawMessage(`{"type":"object","anyOf":[{"required":["corridor"]},{"required":["segment_id"]}],"properties":{
			"corridor":{"type":"string","enum":["jiefang","gaoxin_ave"],"description":"Corridor. Codes: jiefang = 解放大道 Jiefang Avenue; gaoxin_ave = 高新大道 Gaoxin Avenue."},
			"segment_id":{"type":"string","pattern":"^S\\d{3}$","description":"Or a segment id"}}}`),
	}
	jams := llm.ToolSpec{
		Name:        "jams",
		Description: "Congestion ranking. 拥堵 最堵 堵不堵",
		Parameters: json.RawMessage(`{"type":"object","properties":{
			"district":{"type":"string","enum":["gaoxin","nanhu"],"description":"District. Codes: gaoxin = 高新区 Gaoxin High-tech Zone; nanhu = 南湖区 Nanhu District."},
			"road":{"type":"string","enum":["gaoxin_ave","jiefang"],"description":"Road. Codes: gaoxin_ave = 高新大道 Gaoxin Avenue; jiefang = 解放大道 Jiefang Avenue."},
			"live":{"type":"boolean","default":true},
			"unit":{"const":"kmh"}}}`),
	}
	specs := []llm.ToolSpec{signal, jams}
	for name, tc := range map[string]struct {
		question string
		want     map[string]string // tool → arguments
		need     string
	}{
		"one alternative given":    {"What is the signal plan on Jiefang Avenue?", map[string]string{"signal_plan": `{"corridor":"jiefang"}`}, ""},
		"other alternative":        {"信号配时 S012", map[string]string{"signal_plan": `{"segment_id":"S012"}`}, ""},
		"no alternative":           {"show the signal timing plan", nil, "signal_plan"},
		"district keeps its words": {"高新区最堵的路", map[string]string{"jams": `{"district":"gaoxin","live":true,"unit":"kmh"}`}, ""},
		"road keeps its words":     {"高新大道堵不堵", map[string]string{"jams": `{"live":true,"road":"gaoxin_ave","unit":"kmh"}`}, ""},
		"english road":             {"congestion on Gaoxin Avenue", map[string]string{"jams": `{"live":true,"road":"gaoxin_ave","unit":"kmh"}`}, ""},
		// A city fact no tool gives: the district is only what the tools
		// filter by, so none is called (in both languages).
		"concept only filtered":    {"What is the population of Nanhu district?", nil, ""},
		"concept only filtered zh": {"南湖区的常住人口有多少？", nil, ""},
		"concept and subject":      {"How congested is Nanhu district, and what is its area?", map[string]string{"jams": `{"district":"nanhu","live":true,"unit":"kmh"}`}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := New()
			calls, need := plan(tc.question, nil, nil, nil, e.index(specs))
			got := map[string]string{}
			for _, c := range calls {
				got[c.Name] = string(c.Arguments)
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("calls %v, want %v", got, tc.want)
			}
			gotNeed := ""
			if need != nil {
				gotNeed = need.tool
			}
			if gotNeed != tc.need {
				t.Fatalf("need %q, want %q", gotNeed, tc.need)
			}
		})
	}
}

func TestPlanUnreadableSchema(t *testing.T) {
	specs := []llm.ToolSpec{
		{Name: "broken_congestion", Description: "congestion", Parameters: json.RawMessage(`[1,2]`)},
		{Name: "odd_congestion", Description: "congestion", Parameters: json.RawMessage(`{"properties":{"x":{"description":7}},"required":["x"]}`)},
		{Name: "loose_congestion", Description: "congestion", Parameters: json.RawMessage(`{"properties":{"x":{"description":7}}}`)},
		{Name: "", Description: "congestion"},
	}
	calls, _ := plan("congestion", nil, nil, nil, New().index(specs))
	if len(calls) != 1 || calls[0].Name != "loose_congestion" || string(calls[0].Arguments) != "{}" {
		t.Fatalf("calls %v", calls)
	}
}

// A rules question the passages answer calls no live tool beside them; the
// same words with live data or an entity a tool looks at still do.
func TestDocumentsAnswerRulesQuestions(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "dr#3", Body: "每个季度最多调用15次、40小时。\nA participant is called at most 15 times and 40 hours a quarter."}}
	tools := New().index([]llm.ToolSpec{{Name: "energy_demand_response", Description: "Demand-response events: status, participants, delivered reduction. 需求响应 调用",
		Parameters: json.RawMessage(`{"type":"object","properties":{"district":{"type":"string","enum":["nanhu"],"description":"District. Codes: nanhu = 南湖区 Nanhu District."}}}`)}})
	for q, want := range map[string]bool{
		"同一个用户一个季度里最多会被调用多少次？":                                                 true,
		"How many times a quarter may a participant be called at most?":        true,
		"How many times has Nanhu been called this quarter?":                   false, // an entity and a period
		"How many times were participants called today?":                       false, // live
		"请安排一次需求响应，每个季度最多调用几次？":                                                false, // a request
		"Who approves the demand-response events, and how much are they paid?": false, // nothing says it
	} {
		tr := turn{question: q, docs: docs}
		if got := documentsAnswer(tr, tools); got != want {
			t.Errorf("documentsAnswer(%q) = %v, want %v", q, got, want)
		}
	}
}

// Answered from documents, a turn still makes the calls that record or
// classify (a tool with required properties, such as hotline_triage); only
// lookups are dropped.
func TestWithoutLookupsKeepsClassifiers(t *testing.T) {
	tools := New().index([]llm.ToolSpec{
		{Name: "incidents", Description: "Live incidents.", Parameters: json.RawMessage(`{"type":"object","properties":{"district":{"type":"string"}}}`)},
		{Name: "triage", Description: "Triage a request.", Parameters: json.RawMessage(`{"type":"object","required":["category"],"properties":{"category":{"type":"string","enum":["power","water"]}}}`)},
	})
	calls := []llm.ToolCall{{ID: "call_1", Name: "incidents"}, {ID: "call_2", Name: "triage"}}
	got := withoutLookups(calls, tools)
	if len(got) != 1 || got[0].Name != "triage" {
		t.Errorf("kept %v, want only the triage call", got)
	}
}

// A question about the present that leaves open a window of time the tool
// needs takes the window the tool describes as its usual one; a question
// that is not about the present still asks for it.
func TestPlanDescribedWindow(t *testing.T) {
	for name, desc := range map[string]string{
		"omitted": "Window in days: permits issued in the last N days (最近N天发证); omit for the last 90 days (默认90天).",
		"example": "Window in days: permits issued in the last N days (最近N天发证), e.g. 90.",
	} {
		spec := llm.ToolSpec{Name: "processing_times", Description: "Processing-time statistics of permits: average processing time. 办理时效 平均办理时间",
			Parameters: json.RawMessage(`{"type":"object","anyOf":[{"required":["days"]},{"required":["district"]}],"properties":{
				"days":{"type":"integer","minimum":7,"maximum":730,"description":"` + desc + `"},
				"district":{"type":"string","enum":["nanhu"],"description":"District. Codes: nanhu = 南湖区 Nanhu District."}}}`)}
		docs := New().index([]llm.ToolSpec{spec})
		for q, want := range map[string]string{
			"What are the current processing times of permits?":  `{"days":90}`,
			"目前许可的平均办理时间是多少？":                                    `{"days":90}`,
			"What are the processing times in the last 30 days?": `{"days":30}`,
			"What is the processing time of permits?":            "",
		} {
			calls, _ := plan(q, nil, nil, nil, docs)
			got := ""
			if len(calls) == 1 {
				got = string(calls[0].Arguments)
			}
			if got != want {
				t.Errorf("%s: %q: calls %s, want %s", name, q, got, want)
			}
		}
	}
}

// The word of an entity's kind names no entity ("office buildings" are a
// category, not building B012), and a question of no type asks a rule when
// its words are normative.
func TestDocumentsAnswerKindWords(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "pb#2", Body: "Office buildings have a yearly energy allowance of 60 kWh per square metre.\nEach stairwell must keep at least one lift running when lifts are switched off."}}
	tools := New().index([]llm.ToolSpec{{Name: "energy_consumption", Description: "Metered electricity consumption of a building or a district. 用电量",
		Parameters: json.RawMessage(`{"type":"object","properties":{
			"building_id":{"type":"string","description":"Building id (楼宇编号), e.g. B012."},
			"district":{"type":"string","enum":["nanhu"],"description":"District. Codes: nanhu = 南湖区 Nanhu District."}}}`)}})
	for q, want := range map[string]bool{
		"What yearly energy allowance applies to office buildings?":               true,
		"What yearly energy allowance applies to office buildings in Nanhu?":      false, // a district
		"When lifts are switched off, must each stairwell keep one lift running?": true,
		"When lifts are switched off, does each stairwell keep one lift running?": false, // no type, not normative
		"What yearly energy allowance applies to office buildings right now?":     false, // live
	} {
		if got := documentsAnswer(turn{question: q, docs: docs}, tools); got != want {
			t.Errorf("documentsAnswer(%q) = %v, want %v", q, got, want)
		}
	}
}
