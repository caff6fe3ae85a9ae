// Package citytooltest provides the checks every city tool's tests share:
// calling a tool and checking its citation and common result fields.
package citytooltest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/tools"
)

// ByName indexes ts by tool name.
func ByName(ts []tools.Tool) map[string]tools.Tool {
	m := make(map[string]tools.Tool, len(ts))
	for _, tl := range ts {
		m[tl.Spec().Name] = tl
	}
	return m
}

// Common are the fields every city tool result carries.
type Common struct {
	AsOf      time.Time `json:"as_of"`
	Summary   string    `json:"summary"`
	SummaryZh string    `json:"summary_zh"`
}

// Call runs tl with JSON args, checks that the result is cited to source as
// of its as_of — at, or the earlier time the source measured what it
// answers with, in at's zone — and carries both summaries, and decodes it
// into out.
func Call(t testing.TB, tl tools.Tool, args, source string, at time.Time, out any) tools.Result {
	t.Helper()
	res, err := tl.Call(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s %s: %v", tl.Spec().Name, args, err)
	}
	var common Common
	if err := json.Unmarshal(res.Content, &common); err != nil {
		t.Fatal(err)
	}
	if res.Citation.Source != source || !res.Citation.AsOf.Equal(common.AsOf) || res.Citation.Title == "" {
		t.Errorf("%s citation %+v, as_of %s", tl.Spec().Name, res.Citation, common.AsOf)
	}
	_, offAt := at.Zone()
	_, offAsOf := common.AsOf.Zone()
	if common.AsOf.IsZero() || common.AsOf.After(at) || offAt != offAsOf || common.Summary == "" || common.SummaryZh == "" {
		t.Errorf("%s: as_of %s (asked at %s), summary %q, summary_zh %q", tl.Spec().Name, common.AsOf, at, common.Summary, common.SummaryZh)
	}
	if err := json.Unmarshal(res.Content, out); err != nil {
		t.Fatal(err)
	}
	return res
}

// SpecWant is what a tool's spec must say: its clearance and words its
// description must contain.
type SpecWant struct {
	Clearance access.Clearance
	Keywords  []string
}

// CheckSpecs checks that ts holds exactly the tools of want, each cited to
// source with its clearance and keywords.
func CheckSpecs(t testing.TB, ts map[string]tools.Tool, source string, want map[string]SpecWant) {
	t.Helper()
	if len(ts) != len(want) {
		t.Fatalf("%d tools, want %d", len(ts), len(want))
	}
	for name, w := range want {
		tl, ok := ts[name]
		if !ok {
			t.Errorf("no tool %s", name)
			continue
		}
		sp := tl.Spec()
		if sp.Clearance != w.Clearance || sp.Source != source {
			t.Errorf("%s: clearance %s, source %q", name, sp.Clearance, sp.Source)
		}
		for _, k := range w.Keywords {
			if !strings.Contains(sp.Description, k) {
				t.Errorf("%s description lacks %q", name, k)
			}
		}
	}
}

// Property is the part of a parameter's JSON Schema the tests look at.
type Property struct {
	Description string          `json:"description"`
	Enum        []any           `json:"enum"`
	Pattern     string          `json:"pattern"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
	Default     json.RawMessage `json:"default"`
	Examples    []string        `json:"examples"`
}

// Schema is the part of a tool's parameter schema the tests look at.
type Schema struct {
	Properties           map[string]Property `json:"properties"`
	Required             []string            `json:"required"`
	AdditionalProperties bool                `json:"additionalProperties"`
}

// SchemaOf decodes tl's parameter schema.
func SchemaOf(t testing.TB, tl tools.Tool) Schema {
	t.Helper()
	var s Schema
	if err := json.Unmarshal(tl.Spec().Parameters, &s); err != nil {
		t.Fatalf("%s schema: %v", tl.Spec().Name, err)
	}
	return s
}

// Plan asks the offline engine to plan question over ts and returns its
// first tool call's name and arguments ("" and nil when it calls none).
func Plan(t testing.TB, ts []tools.Tool, question string) (string, map[string]any) {
	t.Helper()
	specs := make([]llm.ToolSpec, len(ts))
	for i, tl := range ts {
		s := tl.Spec()
		specs[i] = llm.ToolSpec{Name: s.Name, Description: s.Description, Parameters: s.Parameters}
	}
	resp, err := offline.New().Generate(context.Background(), llm.Request{
		Messages: []llm.Message{{Role: llm.RoleUser, Content: question}}, Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) == 0 {
		return "", nil
	}
	var args map[string]any
	if err := json.Unmarshal(resp.ToolCalls[0].Arguments, &args); err != nil {
		t.Fatalf("%s arguments %s: %v", resp.ToolCalls[0].Name, resp.ToolCalls[0].Arguments, err)
	}
	return resp.ToolCalls[0].Name, args
}
