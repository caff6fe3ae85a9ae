package offline_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
)

func ExampleEngine_Generate() {
	ctx := context.Background()
	tools := []llm.ToolSpec{{
		Name:        "traffic_congestion",
		Description: "The most congested roads now. 拥堵 最堵",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"limit":{"type":"integer","maximum":10,"description":"how many roads (top N)"}}}`),
	}}
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "What are the top 3 congested roads?"}}
	e := offline.New()

	// First step: the engine plans tool calls from the schemas.
	resp, _ := e.Generate(ctx, llm.Request{Messages: msgs, Tools: tools}, nil)
	for _, c := range resp.ToolCalls {
		fmt.Println(c.ID, c.Name, string(c.Arguments))
	}

	// Second step: with the result in the conversation, it answers.
	msgs = append(msgs,
		llm.Message{Role: llm.RoleAssistant, ToolCalls: resp.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_1", Name: "traffic_congestion", Content: llm.FormatData([]llm.DataBlock{{
			Kind: "tool", Ref: "traffic_congestion", Source: "democity", AsOf: "2026-11-21T08:00:00Z",
			Body: `{"roads":[{"name":"Jianguomen Inner St","speed_kmh":12},{"name":"Ping'an Ave","speed_kmh":15},{"name":"Dongsi N St","speed_kmh":17}]}`,
		}})})
	resp, _ = e.Generate(ctx, llm.Request{Messages: msgs, Tools: tools}, nil)
	fmt.Println(resp.Content)
	// Output:
	// call_1 traffic_congestion {"limit":3}
	// Data from traffic_congestion [1]:
	// - roads (3 items):
	//   - name: Jianguomen Inner St, speed_kmh: 12
	//   - name: Ping'an Ave, speed_kmh: 15
	//   - name: Dongsi N St, speed_kmh: 17
	//
	// Sources:
	// [1] traffic_congestion — democity, as of 2026-11-21T08:00:00Z
	//
	// — Answered by cityagent offline engine (extractive, not a large language model).
}
