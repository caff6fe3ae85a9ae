package offline

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func TestNamedToolCalls(t *testing.T) {
	weather := llm.ToolSpec{Name: "get_weather", Description: "the weather in a city",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}`)}
	for name, tc := range map[string]struct {
		question, want string // want: the arguments, "" for no call
	}{
		"with a property":       {"Call get_weather with city Paris.", `{"city":"Paris"}`},
		"several words and two": {"Please use get_weather for city New York and days 3", `{"city":"New York","days":3}`},
		"quoted":                {`get_weather city="San Jose", unit Celsius`, `{"city":"San Jose","unit":"celsius"}`},
		"JSON arguments":        {`use get_weather {"city": "Oslo"}`, `{"city":"Oslo"}`},
		"enum mismatch dropped": {"call get_weather city Rome unit kelvin", `{"city":"Rome"}`},
		"required missing":      {"Use get_weather.", ""},
		"not named":             {"What is the weather in Paris?", ""},
		"name inside a word":    {"call xget_weather city Paris", ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := New().Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: tc.question}}, Tools: []llm.ToolSpec{weather}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(resp.ToolCalls) != 0 {
					t.Fatalf("called %s %s", resp.ToolCalls[0].Name, resp.ToolCalls[0].Arguments)
				}
				return
			}
			if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != "get_weather" || string(resp.ToolCalls[0].Arguments) != tc.want {
				t.Fatalf("calls %+v, want get_weather %s", resp.ToolCalls, tc.want)
			}
		})
	}
}
