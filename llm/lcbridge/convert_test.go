package lcbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/lcbridge"
)

// fakeLC is a hand-written langchaingo model for what the real provider
// cannot show: the exact values handed to a provider, and answers shaped
// like other providers'.
type fakeLC func(ctx context.Context, msgs []llms.MessageContent, opts llms.CallOptions) (*llms.ContentResponse, error)

var _ llms.Model = fakeLC(nil)

func (f fakeLC) GenerateContent(ctx context.Context, msgs []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	return f(ctx, msgs, opts)
}

func (f fakeLC) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, f, prompt, options...)
}

func TestRequestConversion(t *testing.T) {
	temp := 0.3
	req := llm.Request{
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "sys"},
			{Role: llm.RoleUser, Content: "hi"},
			{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "traffic", Arguments: json.RawMessage(`{"road":"Main St"}`)}}},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c2", Name: "now"}}},
			{Role: llm.RoleTool, ToolCallID: "c1", Name: "traffic", Content: "clear"},
			{Role: llm.RoleAssistant, Content: "Done."},
		},
		Tools: []llm.ToolSpec{
			{Name: "traffic", Description: "Live traffic.", Parameters: json.RawMessage(`{"type":"object","properties":{"road":{"type":"string"}}}`)},
			{Name: "now", Description: "Current time."},
		},
		MaxTokens:   128,
		Temperature: &temp,
	}
	wantMsgs := []llms.MessageContent{
		{Role: llms.ChatMessageTypeSystem, Parts: []llms.ContentPart{llms.TextContent{Text: "sys"}}},
		{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{llms.TextContent{Text: "hi"}}},
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.TextContent{Text: "Checking."},
			llms.ToolCall{ID: "c1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "traffic", Arguments: `{"road":"Main St"}`}},
		}},
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "c2", Type: "function", FunctionCall: &llms.FunctionCall{Name: "now", Arguments: `{}`}},
		}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "c1", Name: "traffic", Content: "clear"}}},
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.TextContent{Text: "Done."}}},
	}
	wantTools := []llms.Tool{
		{Type: "function", Function: &llms.FunctionDefinition{Name: "traffic", Description: "Live traffic.",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"road": map[string]any{"type": "string"}}}}},
		{Type: "function", Function: &llms.FunctionDefinition{Name: "now", Description: "Current time.",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{}}}},
	}
	var called bool
	m := lcbridge.New("fake", fakeLC(func(_ context.Context, msgs []llms.MessageContent, opts llms.CallOptions) (*llms.ContentResponse, error) {
		called = true
		if !reflect.DeepEqual(msgs, wantMsgs) {
			t.Errorf("messages\n%#v\nwant\n%#v", msgs, wantMsgs)
		}
		if !reflect.DeepEqual(opts.Tools, wantTools) {
			t.Errorf("tools\n%#v\nwant\n%#v", opts.Tools, wantTools)
		}
		if opts.MaxTokens != 128 || opts.Temperature != 0.3 || opts.StreamingFunc != nil {
			t.Errorf("options %+v: want max tokens 128, temperature 0.3, no streaming with tools", opts)
		}
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}, nil
	}))
	if _, err := m.Generate(context.Background(), req, func(context.Context, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Fatal("provider not called")
	}
}

func TestResponseConversion(t *testing.T) {
	provider := errors.New("provider says no")
	tests := map[string]struct {
		out     *llms.ContentResponse
		err     error
		want    llm.Response
		wantErr error
	}{
		"anthropic-style usage": {
			out: &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "hi", StopReason: "end_turn",
				GenerationInfo: map[string]any{"InputTokens": 12, "OutputTokens": 3}}}},
			want: llm.Response{Content: "hi", FinishReason: "end_turn", Model: "fake", Usage: llm.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15}},
		},
		"tool calls without id or arguments": {
			out: &llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{
				{FunctionCall: &llms.FunctionCall{Name: "now"}},
				{ID: "x", FunctionCall: &llms.FunctionCall{Name: "traffic", Arguments: `{"road":"A"}`}},
			}}}},
			want: llm.Response{FinishReason: "tool_calls", Model: "fake", ToolCalls: []llm.ToolCall{
				{ID: "call_0", Name: "now", Arguments: json.RawMessage(`{}`)},
				{ID: "x", Name: "traffic", Arguments: json.RawMessage(`{"road":"A"}`)},
			}},
		},
		"legacy function call": {
			out: &llms.ContentResponse{Choices: []*llms.ContentChoice{{FuncCall: &llms.FunctionCall{Name: "now", Arguments: `{}`}}}},
			want: llm.Response{FinishReason: "tool_calls", Model: "fake", ToolCalls: []llm.ToolCall{
				{ID: "call_0", Name: "now", Arguments: json.RawMessage(`{}`)},
			}},
		},
		"no choices":            {out: &llms.ContentResponse{}, wantErr: llm.ErrMalformedResponse},
		"call without function": {out: &llms.ContentResponse{Choices: []*llms.ContentChoice{{ToolCalls: []llms.ToolCall{{ID: "x"}}}}}, wantErr: llm.ErrMalformedResponse},
		"provider error":        {err: provider, wantErr: llm.ErrUnavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := lcbridge.New("fake", fakeLC(func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
				return tc.out, tc.err
			}))
			got, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want it to wrap the provider's error", err)
			}
			if tc.wantErr == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestUnsupportedRole(t *testing.T) {
	m := lcbridge.New("fake", fakeLC(func(context.Context, []llms.MessageContent, llms.CallOptions) (*llms.ContentResponse, error) {
		t.Error("provider called")
		return nil, nil
	}))
	if _, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: "robot"}}}, nil); err == nil {
		t.Error("unsupported role accepted")
	}
}
