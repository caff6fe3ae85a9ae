package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/tools/traffic"
)

// trafficSpecs are the tool specs a traffic turn offers, as the agents
// build them from the registry.
func trafficSpecs() []llm.ToolSpec {
	c := democity.New(democity.DefaultSeed, nil)
	var specs []llm.ToolSpec
	for _, t := range traffic.Tools(c, time.Now) {
		s := t.Spec()
		specs = append(specs, llm.ToolSpec{Name: s.Name, Description: s.Description, Parameters: s.Parameters})
	}
	return specs
}

func turnRequest(specs []llm.ToolSpec) llm.Request {
	return llm.Request{Tools: specs, Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: "You are the traffic desk."},
		{Role: llm.RoleUser, Content: "Which road segments are the most congested right now?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: traffic.NameCongestion, Arguments: []byte(`{"limit":5}`)}}},
		{Role: llm.RoleTool, ToolCallID: "call_1", Content: `{"segments":[]}`},
	}}
}

// BenchmarkParams measures mapping a traffic turn's request to the wire
// and encoding it, as every model call does.
// Run with: go test -run '^$' -bench Params -benchmem ./llm/openai/
func BenchmarkParams(b *testing.B) {
	m, err := New(Config{Model: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := turnRequest(trafficSpecs())
	b.ReportAllocs()
	for b.Loop() {
		p, err := m.params(req, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.MarshalJSON(); err != nil { // as the SDK encodes a request body
			b.Fatal(err)
		}
	}
}

// BenchmarkParamsUncached is BenchmarkParams decoding and encoding every
// tool schema on every call, as the provider did before toolParams.
func BenchmarkParamsUncached(b *testing.B) {
	m, err := New(Config{Model: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	req := turnRequest(trafficSpecs())
	b.ReportAllocs()
	for b.Loop() {
		m.tools = toolParams{}
		p, err := m.params(req, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCachedParametersEncodeAsBefore checks that requests built from the
// cached parameters encode to the very bytes the decoded schemas gave.
func TestCachedParametersEncodeAsBefore(t *testing.T) {
	specs := append(trafficSpecs(),
		llm.ToolSpec{Name: "empty"},
		llm.ToolSpec{Name: "tricky", Description: "<b>&</b>", Parameters: json.RawMessage(`{
			"type": "object", "description": "a < b & c > d 中文 \u2028 \"q\"",
			"properties": {"z": {"type": "number", "maximum": 1e21, "minimum": 0.000001, "default": 1000000},
				"a": {"type": "array", "items": {"enum": ["x", 1, true, null, 2.50]}}},
			"required": ["z"], "additionalProperties": false}`)},
	)
	m, err := New(Config{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the first fills the cache, the second reads it
		for _, s := range specs {
			want := encodeTools(t, []llm.ToolSpec{s}, func(s llm.ToolSpec) (oai.FunctionParameters, error) { return parameters(s) })
			got := encodeTools(t, []llm.ToolSpec{s}, m.tools.get)
			if !bytes.Equal(got, want) {
				t.Errorf("round %d, tool %s:\n got %s\nwant %s", round, s.Name, got, want)
			}
		}
	}
	if n := len(m.tools.byJSON); n != len(specs)-1 {
		t.Errorf("%d schemas cached, want %d (the empty one is not)", n, len(specs)-1)
	}
	for _, bad := range []string{`[1]`, `null`, `{"type":`} {
		_, err1 := parameters(llm.ToolSpec{Name: "bad", Parameters: json.RawMessage(bad)})
		_, err2 := m.tools.get(llm.ToolSpec{Name: "bad", Parameters: json.RawMessage(bad)})
		if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
			t.Errorf("parameters %s: errors %v and %v", bad, err1, err2)
		}
	}
}

func encodeTools(t *testing.T, specs []llm.ToolSpec, params func(llm.ToolSpec) (oai.FunctionParameters, error)) []byte {
	t.Helper()
	p := oai.ChatCompletionNewParams{Model: "m"}
	for _, s := range specs {
		fp, err := params(s)
		if err != nil {
			t.Fatal(err)
		}
		def := oai.FunctionDefinitionParam{Name: s.Name, Parameters: fp}
		if s.Description != "" {
			def.Description = oai.String(s.Description)
		}
		p.Tools = append(p.Tools, oai.ChatCompletionFunctionTool(def))
	}
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestToolParamsConcurrent shares one cache between goroutines, past its
// bound (run under -race).
func TestToolParamsConcurrent(t *testing.T) {
	var c toolParams
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range maxCachedSchemas {
				s := llm.ToolSpec{Name: "t", Parameters: json.RawMessage(fmt.Sprintf(`{"type":"object","description":"%d"}`, (g*97+i)%(maxCachedSchemas+10)))}
				p, err := c.get(s)
				if err != nil || len(p) != 2 {
					t.Errorf("%s: %v, %v", s.Parameters, p, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
