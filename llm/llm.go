// Package llm is the model seam: messages and tool specs in, text and tool
// calls out, optionally streamed. Providers live in subpackages (openai,
// lcbridge, offline, scripted) and all satisfy Model.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Role is who wrote a message.
type Role string

// Message roles, as OpenAI-compatible servers name them.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one entry of a conversation. An assistant message may carry tool
// calls; a tool message answers the call named by ToolCallID.
type Message struct {
	Role       Role       `json:"role"`
	Content    string     `json:"content,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"` // tool name on tool messages
}

// ToolCall is the model asking for one tool. Arguments is the raw JSON text the
// model produced; providers check that it is a JSON object before returning it.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"` // a JSON Schema object
}

// Request is one model call.
type Request struct {
	Messages    []Message
	Tools       []ToolSpec
	MaxTokens   int      // 0 = provider default
	Temperature *float64 // nil = provider default
}

// Usage counts tokens as the provider reports them (offline and scripted
// models estimate).
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Add sums two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{u.PromptTokens + o.PromptTokens, u.CompletionTokens + o.CompletionTokens, u.TotalTokens + o.TotalTokens}
}

// Response is what a model call produced: text, tool calls, or both.
type Response struct {
	Content      string     `json:"content"`
	ToolCalls    []ToolCall `json:"tool_calls,omitempty"`
	FinishReason string     `json:"finish_reason,omitempty"`
	Model        string     `json:"model"` // the model that answered, as the provider names it
	Usage        Usage      `json:"usage"`
}

// StreamFunc receives text as the model produces it. Returning an error stops
// the call; the provider returns that error.
type StreamFunc func(ctx context.Context, text string) error

// Model is one configured model. Generate must honour ctx cancellation and
// deadlines. When stream is non-nil, text deltas are passed to it as they
// arrive; the returned Response still holds the whole text.
type Model interface {
	Name() string
	Generate(ctx context.Context, req Request, stream StreamFunc) (Response, error)
}

// Errors providers return so that callers can branch on them.
var (
	// ErrMalformedResponse means the model answered something that is not a
	// usable turn (e.g. tool-call arguments that are not a JSON object).
	ErrMalformedResponse = errors.New("llm: malformed model response")
	// ErrUnavailable means the provider could not be reached or kept failing
	// (after its retries).
	ErrUnavailable = errors.New("llm: model unavailable")
)

// CheckToolCalls verifies that every call has a name and JSON-object
// arguments; providers call it before returning a Response.
func CheckToolCalls(calls []ToolCall) error {
	for i, c := range calls {
		if c.Name == "" {
			return fmt.Errorf("%w: tool call %d has no name", ErrMalformedResponse, i)
		}
		var obj map[string]json.RawMessage
		if len(c.Arguments) == 0 {
			continue
		}
		if err := json.Unmarshal(c.Arguments, &obj); err != nil {
			return fmt.Errorf("%w: tool call %d (%s): arguments are not a JSON object: %v", ErrMalformedResponse, i, c.Name, err)
		}
	}
	return nil
}
