package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/tools"
)

func TestToolSchemaCarriesTheTaxonomy(t *testing.T) {
	t.Parallel()
	tax := DefaultTaxonomy()
	tool, err := NewTool(tax)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Required             []string `json:"required"`
		AdditionalProperties any      `json:"additionalProperties"`
		Properties           map[string]struct {
			Enum         []string          `json:"enum"`
			Default      any               `json:"default"`
			Descriptions map[string]string `json:"x-enumDescriptions"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(tool.Spec().Parameters, &schema); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(schema.Required, []string{"type", "urgency"}) || schema.AdditionalProperties == nil {
		t.Errorf("required %v, additionalProperties %v", schema.Required, schema.AdditionalProperties)
	}
	want := map[string]int{"type": len(tax.Types), "category": len(tax.Categories()), "department": len(tax.Departments), "urgency": len(tax.Urgencies)}
	for prop, n := range want {
		p := schema.Properties[prop]
		if len(p.Enum) != n || len(p.Descriptions) != n {
			t.Errorf("%s: %d values, %d descriptions; want %d", prop, len(p.Enum), len(p.Descriptions), n)
		}
	}
	if d := schema.Properties["category"].Descriptions["020201"]; !strings.Contains(d, "路灯") || !strings.Contains(d, "street light") {
		t.Errorf("category 020201 description %q lacks its keywords", d)
	}
	if schema.Properties["type"].Default != "help" || schema.Properties["urgency"].Default != "normal" {
		t.Errorf("defaults %v %v", schema.Properties["type"].Default, schema.Properties["urgency"].Default)
	}
}

func TestToolCall(t *testing.T) {
	t.Parallel()
	tool, err := NewTool(DefaultTaxonomy())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args    string
		rule    string
		dept    string
		note    string
		argsErr bool
	}{
		"utilities":                 {args: `{"type":"help","category":"030101","urgency":"urgent"}`, rule: "utilities", dept: "water"},
		"emergency":                 {args: `{"type":"help","category":"030301","department":"gas","urgency":"emergency"}`, rule: "emergency", dept: "gas"},
		"department corrected":      {args: `{"type":"help","category":"020201","department":"water","urgency":"normal"}`, rule: "general", dept: "urban_management", note: "does not handle"},
		"no category":               {args: `{"type":"inquiry","urgency":"normal"}`},
		"type and urgency required": {args: `{}`, argsErr: true},
		"unknown category":          {args: `{"type":"help","category":"123456","urgency":"normal"}`, argsErr: true},
		"unknown field":             {args: `{"type":"help","urgency":"normal","priority":1}`, argsErr: true},
		"reply too long":            {args: `{"type":"help","urgency":"normal","reply":"` + strings.Repeat("好", MaxReplyRunes+1) + `"}`, argsErr: true},
		"arguments not a object":    {args: `[1]`, argsErr: true},
	}
	for name, c := range cases {
		res, err := tool.Call(context.Background(), json.RawMessage(c.args))
		if c.argsErr {
			if !errors.Is(err, tools.ErrInvalidArgs) {
				t.Errorf("%s: error = %v, want invalid arguments", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out TriageResult
		if err := json.Unmarshal(res.Content, &out); err != nil {
			t.Fatal(err)
		}
		if out.Rule != c.rule || out.Department != c.dept || (c.note != "" && !strings.Contains(out.Summary, c.note)) {
			t.Errorf("%s: %+v", name, out)
		}
		if out.Summary == "" || out.SummaryZh == "" || res.Citation.Source == "" {
			t.Errorf("%s: no summary or source: %+v", name, res)
		}
	}
}

// The offline engine knows nothing about hotlines: it fills the tool from
// the enum descriptions alone.
func TestOfflineEngineFillsTheTool(t *testing.T) {
	t.Parallel()
	tool, err := NewTool(DefaultTaxonomy())
	if err != nil {
		t.Fatal(err)
	}
	s := tool.Spec()
	resp, err := offline.New().Generate(context.Background(), llm.Request{
		Messages: []llm.Message{{Role: llm.RoleUser, Content: Prompt(TriageRequest{Text: "我要投诉：楼下饭店的油烟直接排到我家窗户"})}},
		Tools:    []llm.ToolSpec{{Name: s.Name, Description: s.Description, Parameters: s.Parameters}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != ToolName {
		t.Fatalf("calls = %+v", resp.ToolCalls)
	}
	var a TriageArgs
	if err := json.Unmarshal(resp.ToolCalls[0].Arguments, &a); err != nil {
		t.Fatal(err)
	}
	if a.Type != "complaint" || a.Category != "040203" {
		t.Errorf("offline triage = %+v, want a complaint about restaurant fumes (040203)", a)
	}
}
