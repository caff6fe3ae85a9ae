package agents

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/tools"
)

var weatherTool = llm.ToolSpec{Name: "get_weather", Description: "the weather in a city",
	Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

// TestClientToolPauseAndResume: a step that calls a server tool and a
// client tool runs the server tool, pauses the turn with the client's call,
// and the client's result continues the same turn to an answer.
func TestClientToolPauseAndResume(t *testing.T) {
	model := scripted.New("m",
		scripted.Reply("Checking both.").Call("road_lookup", `{"road":"Zhongshan"}`).Call("get_weather", `{"city":"Paris"}`),
		scripted.Func(func(req llm.Request) (llm.Response, error) {
			var got []string
			for _, m := range req.Messages {
				if m.Role == llm.RoleTool {
					for _, b := range llm.ParseData(m.Content) {
						got = append(got, b.Ref+"@"+b.Source+": "+b.Body)
					}
				}
			}
			return llm.Response{Content: strings.Join(got, " | ")}, nil
		}))
	h := newHarness(t, testSpec("road_lookup"), Models{ByName: map[string]llm.Model{"m": model}, Default: "m"}, lookupTool(t, "road_lookup", access.Public, nil))
	ctx := context.Background()
	turn := Turn{Agent: "traffic", Message: "Is Zhongshan Road slow, and is it raining in Paris?", Principal: operator, ClientTools: []llm.ToolSpec{weatherTool}}
	res, err := h.runner.Run(ctx, turn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ClientToolCalls) != 1 || res.ClientToolCalls[0].Name != "get_weather" || string(res.ClientToolCalls[0].Arguments) != `{"city":"Paris"}` {
		t.Fatalf("client calls: %+v", res.ClientToolCalls)
	}
	if res.Answer != "Checking both." || len(res.ToolCalls) != 2 || !res.ToolCalls[0].OK || !res.ToolCalls[1].Client {
		t.Fatalf("paused result: %+v", res)
	}
	// The model saw the client tool beside the agent's.
	if names := toolNames(model.Requests()[0].Tools); names != "road_lookup get_weather" {
		t.Fatalf("offered %s", names)
	}

	var events []string
	next := Turn{Agent: "traffic", SessionID: res.SessionID, Principal: operator, ClientTools: []llm.ToolSpec{weatherTool},
		ToolResults: []ToolResult{{CallID: res.ClientToolCalls[0].ID, Content: `{"sky":"rain"}`}}}
	res2, err := h.runner.Run(ctx, next, func(e Event) { events = append(events, e.Type) })
	if err != nil {
		t.Fatal(err)
	}
	if res2.Turn != res.Turn || res2.SessionID != res.SessionID || len(res2.ClientToolCalls) != 0 {
		t.Fatalf("resumed: %+v", res2)
	}
	want := `road_lookup@test:traffic: {"road":"Zhongshan","speed_kmh":12,"summary":"Zhongshan is slow"} | get_weather@client: {"sky":"rain"}`
	if res2.Answer != want {
		t.Fatalf("answer %q, want %q", res2.Answer, want)
	}
	if !hasToolCitation(res2.Citations, "test:traffic") {
		t.Fatalf("the server tool's citation was lost across the pause: %+v", res2.Citations)
	}
	if got := squash(events); got != "session tool_result delta citation done" {
		t.Fatalf("events %s", got)
	}
	evs, _ := h.db.Events(ctx, res.SessionID)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, " "); got != "user tool_call tool_call tool_result citation suspend done tool_result citation answer done" {
		t.Fatalf("recorded: %s", got)
	}
	// The turn is answered now: the same results cannot continue it again.
	if _, err := h.runner.Run(ctx, next, nil); !isInputError(err, "tool_results") {
		t.Fatalf("second resume: %v", err)
	}
}

func TestClientToolRefusals(t *testing.T) {
	model := scripted.New("m", scripted.Call("get_weather", `{"city":"Paris"}`))
	h := newHarness(t, testSpec("road_lookup"), Models{ByName: map[string]llm.Model{"m": model}, Default: "m"},
		lookupTool(t, "road_lookup", access.Public, nil), lookupTool(t, "secret_lookup", access.Restricted, nil))
	ctx := context.Background()
	for name, tc := range map[string]struct {
		tools []llm.ToolSpec
		field string
	}{
		"reserved proposal name":          {[]llm.ToolSpec{{Name: "propose_signal_timing"}}, "tools[0].function.name"},
		"reserved proposal name any case": {[]llm.ToolSpec{{Name: "PROPOSE_signal_timing"}}, "tools[0].function.name"},
		"agent's tool":                    {[]llm.ToolSpec{{Name: "road_lookup"}}, "tools[0].function.name"},
		"bad name":                        {[]llm.ToolSpec{{Name: "get weather"}}, "tools[0].function.name"},
		"duplicate":                       {[]llm.ToolSpec{weatherTool, weatherTool}, "tools[1].function.name"},
		"parameters not an object":        {[]llm.ToolSpec{{Name: "x", Parameters: []byte(`[1]`)}}, "tools[0].function.parameters"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "q", Principal: operator, ClientTools: tc.tools}, nil)
			if !isInputError(err, tc.field) {
				t.Fatalf("got %v, want an input error on %s", err, tc.field)
			}
		})
	}
	if model.Remaining() != 1 {
		t.Fatal("a refused turn reached the model")
	}
	res, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "weather?", Principal: operator, ClientTools: []llm.ToolSpec{weatherTool}}, nil)
	if err != nil || len(res.ClientToolCalls) != 1 {
		t.Fatalf("pause: %+v %v", res, err)
	}
	for name, results := range map[string][]ToolResult{
		"unknown call id": {{CallID: "call_nope", Content: "{}"}},
		"answered twice":  {{CallID: res.ClientToolCalls[0].ID}, {CallID: res.ClientToolCalls[0].ID}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.runner.Run(ctx, Turn{Agent: "traffic", SessionID: res.SessionID, Principal: operator, ToolResults: results}, nil)
			if !isInputError(err, "tool_results[") {
				t.Fatalf("got %v", err)
			}
		})
	}
	other := access.Principal{KeyID: "k-other", Role: access.RoleOperator, Clearance: access.Internal}
	_, err = h.runner.Run(ctx, Turn{Agent: "traffic", SessionID: res.SessionID, Principal: other,
		ToolResults: []ToolResult{{CallID: res.ClientToolCalls[0].ID}}}, nil)
	if !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("another key resumed the turn: %v", err)
	}
}

// TestClientInstructions: system messages reach the model below the
// agent's own instructions, fenced, and are bounded.
func TestClientInstructions(t *testing.T) {
	model := scripted.New("m", scripted.Reply("ok"))
	h := newHarness(t, testSpec(), Models{ByName: map[string]llm.Model{"m": model}, Default: "m"})
	ctx := context.Background()
	if _, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "q", Principal: operator, Instructions: "Answer in one sentence."}, nil); err != nil {
		t.Fatal(err)
	}
	sys := model.Requests()[0].Messages[0].Content
	own, client := strings.Index(sys, "Answer traffic questions."), strings.Index(sys, "<<<CLIENT INSTRUCTIONS>>>\nAnswer in one sentence.\n<<<END CLIENT INSTRUCTIONS>>>")
	if own < 0 || client < own {
		t.Fatalf("system prompt:\n%s", sys)
	}
	long := strings.Repeat("x", maxJoinedInstructionRunes+1)
	if _, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "q", Principal: operator, Instructions: long}, nil); !isInputError(err, "instructions") {
		t.Fatalf("over-long instructions: %v", err)
	}
}

// TestClientToolNamedLikeAHiddenServerTool: a registered tool above the
// key's clearance is as absent as a missing one. A client tool may take its
// name (refusing it would confirm the tool exists), and a call of that name
// goes to the client, never to the server tool — even when the agent's
// tool pattern matches it. A key that can see the tool may not take it.
func TestClientToolNamedLikeAHiddenServerTool(t *testing.T) {
	model := scripted.New("m", scripted.Call("secret_lookup", `{"road":"Renmin"}`))
	ran := 0
	secret := lookupTool(t, "secret_lookup", access.Restricted, func(context.Context, lookupArgs) (tools.Result, error) {
		ran++
		return tools.JSONResult(map[string]any{"secret": true}, tools.Citation{Source: "test:secret"})
	})
	h := newHarness(t, testSpec("road_lookup", "secret_*"), Models{ByName: map[string]llm.Model{"m": model}, Default: "m"},
		lookupTool(t, "road_lookup", access.Public, nil), secret)
	ctx := context.Background()
	clientSecret := llm.ToolSpec{Name: "secret_lookup", Description: "the client's own lookup"}
	res, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "Renmin?", Principal: operator, ClientTools: []llm.ToolSpec{clientSecret}}, nil)
	if err != nil {
		t.Fatalf("a client tool named like a hidden server tool: %v", err)
	}
	if len(res.ClientToolCalls) != 1 || res.ClientToolCalls[0].Name != "secret_lookup" || ran != 0 {
		t.Fatalf("the call went to the server tool (ran %d) or nowhere: %+v", ran, res.ClientToolCalls)
	}
	if len(res.ToolCalls) != 1 || !res.ToolCalls[0].Client {
		t.Fatalf("recorded calls: %+v", res.ToolCalls)
	}
	// The model saw the client's tool once, with the client's description.
	if tsp := model.Requests()[0].Tools; toolNames(tsp) != "road_lookup secret_lookup" || tsp[1].Description != clientSecret.Description {
		t.Fatalf("offered %+v", tsp)
	}
	cleared := access.Principal{KeyID: "k-dev", Role: access.RoleDeveloper, Clearance: access.Restricted}
	_, err = h.runner.Run(ctx, Turn{Agent: "traffic", Message: "Renmin?", Principal: cleared, ClientTools: []llm.ToolSpec{clientSecret}}, nil)
	if !isInputError(err, "tools[0].function.name") {
		t.Fatalf("a key that sees secret_lookup took its name: %v", err)
	}
}

func isInputError(err error, fieldPrefix string) bool {
	var ie *InputError
	return errors.As(err, &ie) && strings.HasPrefix(ie.Field, fieldPrefix)
}

func toolNames(specs []llm.ToolSpec) string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

func hasToolCitation(cs []Citation, source string) bool {
	for _, c := range cs {
		if c.Kind == "tool" && c.Source == source {
			return true
		}
	}
	return false
}
