// Package lcbridge adapts any langchaingo llms.Model to llm.Model, so that
// langchaingo's providers (Anthropic, Google, Bedrock, Ernie, …) can serve
// as cityagent models.
//
// Streaming is passed to the provider only when the request has no tools.
// langchaingo v0.1.14 assembles streamed tool calls wrongly in its openai
// provider (it ignores the delta index: interleaved parallel calls get
// concatenated arguments, repeated type deltas split one call into several)
// and other providers do not stream tool calls at all, so a turn with tools
// is generated without streaming and its text is handed to the StreamFunc
// in one piece at the end. For OpenAI-compatible servers use package
// llm/openai instead, which streams tool calls correctly.
//
// The bridge does not retry; providers' own retry behaviour applies.
package lcbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tmc/langchaingo/llms"

	"github.com/cityagent/cityagent/llm"
)

// Model is a langchaingo model seen through llm.Model.
type Model struct {
	name string
	lc   llms.Model
}

var _ llm.Model = (*Model)(nil)

// New wraps m under name (which is also reported as Response.Model, since
// langchaingo does not say which model answered).
func New(name string, m llms.Model) *Model { return &Model{name: name, lc: m} }

// Name returns the name given to New.
func (m *Model) Name() string { return m.name }

// Generate converts req, calls the langchaingo model and converts its first
// choice back.
//
// Errors: when ctx ends, the error wraps ctx.Err(); an error from stream is
// returned as it is; tool calls that are not usable wrap
// llm.ErrMalformedResponse; any other provider failure wraps
// llm.ErrUnavailable.
func (m *Model) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	msgs, err := messages(req.Messages)
	if err != nil {
		return llm.Response{}, fmt.Errorf("lcbridge: %s: %w", m.name, err)
	}
	var opts []llms.CallOption
	if len(req.Tools) > 0 {
		tools, err := toolsOf(req.Tools)
		if err != nil {
			return llm.Response{}, fmt.Errorf("lcbridge: %s: %w", m.name, err)
		}
		opts = append(opts, llms.WithTools(tools))
	}
	if req.MaxTokens > 0 {
		opts = append(opts, llms.WithMaxTokens(req.MaxTokens))
	}
	if req.Temperature != nil {
		opts = append(opts, llms.WithTemperature(*req.Temperature))
	}
	var streamErr error
	liveStream := stream != nil && len(req.Tools) == 0
	if liveStream {
		opts = append(opts, llms.WithStreamingFunc(func(ctx context.Context, chunk []byte) error {
			if len(chunk) == 0 {
				return nil
			}
			streamErr = stream(ctx, string(chunk))
			return streamErr
		}))
	}

	out, err := m.lc.GenerateContent(ctx, msgs, opts...)
	switch {
	case streamErr != nil:
		return llm.Response{}, streamErr
	case ctx.Err() != nil:
		// Checked even without an error: langchaingo's openai provider
		// returns a partial answer and no error when ctx ends mid-stream.
		return llm.Response{}, fmt.Errorf("lcbridge: %s: %w", m.name, ctx.Err())
	case err != nil:
		return llm.Response{}, fmt.Errorf("lcbridge: %s: %w: %w", m.name, llm.ErrUnavailable, err)
	}
	resp, err := m.response(out)
	if err != nil {
		return llm.Response{}, err
	}
	if stream != nil && !liveStream && resp.Content != "" {
		if err := stream(ctx, resp.Content); err != nil {
			return llm.Response{}, err
		}
	}
	return resp, nil
}

func messages(in []llm.Message) ([]llms.MessageContent, error) {
	out := make([]llms.MessageContent, 0, len(in))
	for i, msg := range in {
		var mc llms.MessageContent
		switch msg.Role {
		case llm.RoleSystem:
			mc = llms.TextParts(llms.ChatMessageTypeSystem, msg.Content)
		case llm.RoleUser:
			mc = llms.TextParts(llms.ChatMessageTypeHuman, msg.Content)
		case llm.RoleAssistant:
			mc.Role = llms.ChatMessageTypeAI
			if msg.Content != "" || len(msg.ToolCalls) == 0 {
				mc.Parts = append(mc.Parts, llms.TextContent{Text: msg.Content})
			}
			for _, c := range msg.ToolCalls {
				mc.Parts = append(mc.Parts, llms.ToolCall{
					ID:           c.ID,
					Type:         "function",
					FunctionCall: &llms.FunctionCall{Name: c.Name, Arguments: arguments(c.Arguments)},
				})
			}
		case llm.RoleTool:
			mc = llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: msg.ToolCallID, Name: msg.Name, Content: msg.Content},
			}}
		default:
			return nil, fmt.Errorf("message %d: unsupported role %q", i, msg.Role)
		}
		out = append(out, mc)
	}
	return out, nil
}

// toolsOf converts tool specs. Schemas become map[string]any, the form
// langchaingo's providers expect (googleai type-asserts it).
func toolsOf(specs []llm.ToolSpec) ([]llms.Tool, error) {
	out := make([]llms.Tool, 0, len(specs))
	for _, s := range specs {
		params := map[string]any{"type": "object", "properties": map[string]any{}}
		if len(s.Parameters) > 0 {
			params = nil
			if err := json.Unmarshal(s.Parameters, &params); err != nil || params == nil {
				return nil, fmt.Errorf("tool %s: parameters are not a JSON object", s.Name)
			}
		}
		out = append(out, llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
			Name: s.Name, Description: s.Description, Parameters: params,
		}})
	}
	return out, nil
}

func (m *Model) response(out *llms.ContentResponse) (llm.Response, error) {
	if out == nil || len(out.Choices) == 0 || out.Choices[0] == nil {
		return llm.Response{}, fmt.Errorf("lcbridge: %s: %w: no choices", m.name, llm.ErrMalformedResponse)
	}
	ch := out.Choices[0]
	resp := llm.Response{
		Content:      ch.Content,
		FinishReason: ch.StopReason,
		Model:        m.name,
		Usage:        usage(ch.GenerationInfo),
	}
	calls := ch.ToolCalls
	if len(calls) == 0 && ch.FuncCall != nil {
		calls = []llms.ToolCall{{FunctionCall: ch.FuncCall}} // legacy function calling
	}
	for i, c := range calls {
		if c.FunctionCall == nil {
			return llm.Response{}, fmt.Errorf("lcbridge: %s: %w: tool call %d has no function", m.name, llm.ErrMalformedResponse, i)
		}
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i)
		}
		resp.ToolCalls = append(resp.ToolCalls, llm.ToolCall{ID: id, Name: c.FunctionCall.Name, Arguments: json.RawMessage(arguments([]byte(c.FunctionCall.Arguments)))})
	}
	if err := llm.CheckToolCalls(resp.ToolCalls); err != nil {
		return llm.Response{}, fmt.Errorf("lcbridge: %s: %w", m.name, err)
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
		if len(resp.ToolCalls) > 0 {
			resp.FinishReason = "tool_calls"
		}
	}
	return resp, nil
}

// usageKeys are the GenerationInfo keys providers use for token counts:
// openai's, then anthropic's and others'.
var usageKeys = struct{ prompt, completion, total []string }{
	prompt:     []string{"PromptTokens", "InputTokens", "input_tokens", "prompt_tokens"},
	completion: []string{"CompletionTokens", "OutputTokens", "output_tokens", "completion_tokens"},
	total:      []string{"TotalTokens", "total_tokens"},
}

func usage(info map[string]any) llm.Usage {
	u := llm.Usage{
		PromptTokens:     intInfo(info, usageKeys.prompt),
		CompletionTokens: intInfo(info, usageKeys.completion),
		TotalTokens:      intInfo(info, usageKeys.total),
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

func intInfo(info map[string]any, keys []string) int {
	for _, k := range keys {
		switch v := info[k].(type) {
		case int:
			return v
		case int32:
			return int(v)
		case int64:
			return int(v)
		case float64:
			return int(v)
		}
	}
	return 0
}

// arguments normalises empty tool arguments to an empty object.
func arguments(raw []byte) string {
	if strings.TrimSpace(string(raw)) == "" {
		return "{}"
	}
	return string(raw)
}
