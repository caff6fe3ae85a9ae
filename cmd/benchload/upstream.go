package main

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/openaitest"
)

// zeroLatency is the model behind the zero-latency OpenAI-protocol server:
// with no tool result in the conversation it asks for call (the tool call the
// offline engine made for the same question), otherwise it answers at once.
type zeroLatency struct{ call toolCall }

func (zeroLatency) Name() string { return "bench-zero-latency" }

func (m zeroLatency) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	for _, msg := range req.Messages {
		if msg.Role == llm.RoleTool {
			answer := "The most congested segments right now are listed in the tool result above, with their congestion index and speed."
			if stream != nil {
				if err := stream(ctx, answer); err != nil {
					return llm.Response{}, err
				}
			}
			return llm.Response{Content: answer, Model: m.Name(), Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120}}, nil
		}
	}
	if len(req.Tools) == 0 {
		return llm.Response{Content: "no tools offered", Model: m.Name()}, nil
	}
	return llm.Response{Model: m.Name(), ToolCalls: []llm.ToolCall{{ID: "call_1", Name: m.call.Name, Arguments: m.call.Arguments}},
		Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 10, TotalTokens: 110}}, nil
}

// startUpstream serves the zero-latency model on a loopback port; the
// returned server's URL ends in /v1.
func startUpstream(call *toolCall) (*upstream, error) {
	if call == nil {
		return nil, fmt.Errorf("openai variant: no tool call to replay (the embedded check did not run)")
	}
	srv := httptest.NewServer(openaitest.New(zeroLatency{*call}).Handler())
	return &upstream{srv: srv, URL: srv.URL + "/v1"}, nil
}

type upstream struct {
	srv *httptest.Server
	URL string
}

func (u *upstream) Close() { u.srv.CloseClientConnections(); u.srv.Close() }
