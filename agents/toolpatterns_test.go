package agents

import (
	"context"
	"slices"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/tools"
)

// sourced is a lookup tool as an imported source registers it.
func sourced(t *testing.T, name, source string) tools.Tool {
	t.Helper()
	tool, err := tools.NewTyped(tools.Spec{Name: name, Description: "an imported operation", Clearance: access.Public, Source: source},
		func(context.Context, lookupArgs) (tools.Result, error) {
			return tools.JSONResult(map[string]any{}, tools.Citation{Source: source})
		})
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

// Defect 11: a spec names a source's tools by pattern, and the model is
// offered exactly the tools the patterns match.
func TestToolPatterns(t *testing.T) {
	ts := []tools.Tool{lookupTool(t, "road_lookup", access.Public, nil),
		sourced(t, "gh_issues_get", "openapi:gh"), sourced(t, "gh_issues_list_for_repo", "openapi:gh"), sourced(t, "gh_repos_get", "openapi:gh"),
		sourced(t, "pet_add_pet", "openapi:pet"), sourced(t, "files_read", "mcp:files")}
	spec := testSpec("road_lookup", "gh_issues_*", "source:pet", "nothing_*")
	spec.OptionalTools = []string{"source:files", "gh_issues_get"}
	want := []string{"road_lookup", "gh_issues_get", "gh_issues_list_for_repo", "pet_add_pet", "files_read"}
	if got := spec.ToolNames(ts...); !slices.Equal(got, want) {
		t.Errorf("ToolNames %v, want %v", got, want)
	}
	if got := spec.ToolNames(); !slices.Equal(got, []string{"road_lookup", "gh_issues_get"}) {
		t.Errorf("with nothing registered: %v", got)
	}
	if req, opt := spec.MissingTools(func(string) bool { return false }); !slices.Equal(req, []string{"road_lookup"}) || !slices.Equal(opt, []string{"gh_issues_get"}) {
		t.Errorf("patterns reported missing: %v %v", req, opt)
	}

	model := answerer("fake", "ok")
	h := newHarness(t, spec, Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"}, ts...)
	res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "hi", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var offered []string
	for _, s := range model.reqs[0].Tools {
		offered = append(offered, s.Name)
	}
	if !slices.Equal(offered, want) || len(res.Warnings) != 0 {
		t.Errorf("offered %v (warnings %v), want %v", offered, res.Warnings, want)
	}
}
