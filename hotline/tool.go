package hotline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
)

// ToolName is the name of the triage tool models fill.
const ToolName = "hotline_triage"

// TriageArgs are the triage tool's arguments: the taxonomy's values, as a
// model picks them. Category, department and reply are optional; the rules
// classifier completes what a model leaves out.
type TriageArgs struct {
	Type       string `json:"type"`
	Category   string `json:"category,omitempty"`
	Department string `json:"department,omitempty"`
	Urgency    string `json:"urgency"`
	Reply      string `json:"reply,omitempty"`
}

// MaxReplyRunes bounds a model's draft reply.
const MaxReplyRunes = 1500

// TriageResult is what the tool tells the model: the names, the deadline
// rule and the reply template of what it picked.
type TriageResult struct {
	Type        string  `json:"type"`
	TypeName    string  `json:"type_name"`
	Category    string  `json:"category,omitempty"`
	Path        string  `json:"category_path,omitempty"`
	Department  string  `json:"department,omitempty"`
	DeptName    string  `json:"department_name,omitempty"`
	Urgency     string  `json:"urgency"`
	Rule        string  `json:"deadline_rule,omitempty"`
	WithinHours float64 `json:"within_hours,omitempty"`
	Summary     string  `json:"summary"`
	SummaryZh   string  `json:"summary_zh"`
}

// NewTool returns the hotline_triage tool: its JSON Schema carries the
// taxonomy as enums whose descriptions list each value's names and
// keywords, so that any model — the offline engine included — can fill it.
// Calling it checks the choice and returns its deadline rule (a department
// that does not handle the category is replaced by the category's owner);
// it changes nothing.
func NewTool(t *Taxonomy) (tools.Tool, error) {
	spec := tools.Spec{
		Name: ToolName,
		Description: "Hotline ticket triage 热线工单分诊: classify a citizen's 12345 request — request type " +
			"(咨询/求助/投诉/举报/建议/表扬), category (taxonomy code), handling department and urgency — and " +
			"optionally draft the reply to the citizen in their language. Returns the deadline rule. " +
			"Call it once for every hotline ticket you are asked to triage.",
		Clearance: access.Public,
		Timeout:   time.Second,
		Source:    "hotline:taxonomy",
	}
	return tools.NewTuned(spec, func(s *jsonschema.Schema) { tuneSchema(t, s) }, func(_ context.Context, a TriageArgs) (tools.Result, error) {
		res, err := t.describe(a)
		if err != nil {
			return tools.Result{}, &tools.ArgsError{Tool: ToolName, Reason: err.Error()}
		}
		return tools.JSONResult(res, tools.Citation{Source: "hotline:taxonomy " + t.Version, Title: "Hotline triage 热线分诊", AsOf: time.Now()})
	})
}

func tuneSchema(t *Taxonomy, s *jsonschema.Schema) {
	s.AdditionalProperties = &jsonschema.Schema{Not: &jsonschema.Schema{}}
	p := s.Properties
	enum := func(prop *jsonschema.Schema, values []string, descs map[string]string) {
		prop.Enum = nil
		for _, v := range values {
			prop.Enum = append(prop.Enum, v)
		}
		if prop.Extra == nil {
			prop.Extra = map[string]any{}
		}
		prop.Extra["x-enumDescriptions"] = descs
	}
	var ids []string
	descs := map[string]string{}
	for _, ty := range t.Types {
		ids = append(ids, ty.ID)
		descs[ty.ID] = fmt.Sprintf("%s %s: %s; %s", ty.NameZh, ty.Name, ty.Description, strings.Join(ty.Keywords, " "))
	}
	p["type"].Description = "Request type 诉求类型. Use help (求助) when the citizen asks for something to be fixed and none of the others fits."
	enum(p["type"], ids, descs)
	p["type"].Default = []byte(`"` + typeDefault + `"`)

	ids, descs = nil, map[string]string{}
	for _, c := range t.Categories() {
		ids = append(ids, c.Code)
		descs[c.Code] = fmt.Sprintf("%s %s (%s): %s", c.NameZh, c.Name, c.Path, strings.Join(c.Keywords, " "))
	}
	p["category"].Description = "Category code 诉求分类代码 (" + t.Standard + "): the item the request is about."
	enum(p["category"], ids, descs)

	ids, descs = nil, map[string]string{}
	for _, d := range t.Departments {
		ids = append(ids, d.ID)
		var owns []string
		for _, c := range t.Categories() {
			if c.Owns(d.ID) {
				owns = append(owns, c.NameZh)
			}
		}
		descs[d.ID] = fmt.Sprintf("%s %s (%s): %s", d.NameZh, d.Name, strings.Join(d.Aliases, " "), strings.Join(owns, " "))
	}
	p["department"].Description = "Handling department 承办单位; it must own the category (leave it out to use the category's owner)."
	enum(p["department"], ids, descs)

	ids, descs = nil, map[string]string{}
	for _, u := range t.Urgencies {
		ids = append(ids, u.ID)
		descs[u.ID] = fmt.Sprintf("%s %s: %s; %s", u.NameZh, u.Name, u.Description, strings.Join(u.Keywords, " "))
	}
	p["urgency"].Description = "Urgency 紧急程度, which sets the deadline."
	enum(p["urgency"], ids, descs)
	p["urgency"].Default = []byte(`"` + UrgencyNormal + `"`)

	p["reply"].Description = "Optional: a short, polite draft reply to the citizen in the citizen's language, " +
		"without promises the rules do not make. 可选：用市民的语言起草简短答复。"
	p["reply"].MaxLength = jsonschema.Ptr(MaxReplyRunes)
}

// describe checks a triage against the taxonomy and names its parts.
func (t *Taxonomy) describe(a TriageArgs) (TriageResult, error) {
	ty, ok := t.Type(a.Type)
	if !ok {
		return TriageResult{}, fmt.Errorf("unknown type %q", a.Type)
	}
	if _, ok := t.Urgency(a.Urgency); !ok {
		return TriageResult{}, fmt.Errorf("unknown urgency %q", a.Urgency)
	}
	res := TriageResult{Type: ty.ID, TypeName: ty.NameZh + " " + ty.Name, Urgency: a.Urgency}
	if a.Category == "" {
		res.Summary = fmt.Sprintf("Type %s, urgency %s; category not chosen.", ty.Name, a.Urgency)
		res.SummaryZh = fmt.Sprintf("类型%s，紧急程度%s；未选择分类。", ty.NameZh, a.Urgency)
		return res, nil
	}
	c, ok := t.Category(a.Category)
	if !ok {
		return TriageResult{}, fmt.Errorf("unknown category %q", a.Category)
	}
	dept := a.Department
	if dept == "" {
		dept = c.Department
	}
	d, ok := t.Department(dept)
	if !ok {
		return TriageResult{}, fmt.Errorf("unknown department %q", a.Department)
	}
	note, noteZh := "", ""
	if !c.Owns(dept) {
		// Not an error: the ticket goes to the category's owner, and the
		// model hears so.
		note = fmt.Sprintf(" The %s does not handle %s; the %s does.", d.Name, c.Name, t.depts[c.Department].Name)
		noteZh = fmt.Sprintf("%s不承办%s，由%s承办。", d.NameZh, c.NameZh, t.depts[c.Department].NameZh)
		d = t.depts[c.Department]
	}
	rule := t.Deadline(ty.ID, c, a.Urgency)
	res.Category, res.Path, res.Department, res.DeptName = c.Code, c.Path, d.ID, d.NameZh+" "+d.Name
	res.Rule, res.WithinHours = rule.Name, rule.Within.Hours()
	res.Summary = fmt.Sprintf("%s about %s (%s), handled by the %s, %s: due within %s (%s rule).",
		ty.Name, c.Name, c.Code, d.Name, a.Urgency, humanWithin(rule.Within, LangEn), rule.Name)
	res.SummaryZh = fmt.Sprintf("%s：%s（%s），承办单位%s，%s，%s内办结（%s）。",
		ty.NameZh, c.NameZh, c.Code, d.NameZh, a.Urgency, humanWithin(rule.Within, LangZh), rule.NameZh)
	res.Summary += note
	res.SummaryZh += noteZh
	return res, nil
}

// humanWithin writes a deadline period: "2 hours", "7 days", "24小时", "7日".
func humanWithin(d time.Duration, lang string) string {
	h := int(d.Round(time.Hour).Hours())
	if h >= 48 && h%24 == 0 {
		if lang == LangZh {
			return fmt.Sprintf("%d日", h/24)
		}
		return fmt.Sprintf("%d days", h/24)
	}
	if lang == LangZh {
		return fmt.Sprintf("%d小时", h)
	}
	if h == 1 {
		return "1 hour"
	}
	return fmt.Sprintf("%d hours", h)
}
