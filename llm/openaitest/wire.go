package openaitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cityagent/cityagent/llm"
)

// The request side of the Chat Completions protocol, as far as this server
// understands it. Unknown fields are ignored, as OpenAI-compatible servers do.
type chatRequest struct {
	Model               string         `json:"model"`
	Messages            []wireMessage  `json:"messages"`
	Tools               []wireTool     `json:"tools"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	Temperature         *float64       `json:"temperature"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type wireMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"` // string, array of parts, or null
	Name       string          `json:"name"`
	ToolCalls  []wireToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// errBadRequest marks requests the server answers with 400.
var errBadRequest = errors.New("invalid request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// toLLM converts a decoded wire request into the model's request.
func (r *chatRequest) toLLM() (llm.Request, error) {
	if len(r.Messages) == 0 {
		return llm.Request{}, badRequest("messages must not be empty")
	}
	out := llm.Request{Temperature: r.Temperature}
	switch {
	case r.MaxCompletionTokens != nil:
		out.MaxTokens = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		out.MaxTokens = *r.MaxTokens
	}
	if out.MaxTokens < 0 {
		return llm.Request{}, badRequest("max_tokens must not be negative")
	}
	callNames := map[string]string{} // tool call id → tool name, to name tool messages
	for i, m := range r.Messages {
		text, err := contentText(m.Content)
		if err != nil {
			return llm.Request{}, badRequest("messages[%d].content: %v", i, err)
		}
		msg := llm.Message{Content: text, Name: m.Name}
		switch m.Role {
		case "system", "developer":
			msg.Role = llm.RoleSystem
		case "user":
			msg.Role = llm.RoleUser
		case "assistant":
			msg.Role = llm.RoleAssistant
			for j, c := range m.ToolCalls {
				if c.ID == "" || c.Function.Name == "" {
					return llm.Request{}, badRequest("messages[%d].tool_calls[%d]: id and function.name are required", i, j)
				}
				if c.Type != "" && c.Type != "function" {
					return llm.Request{}, badRequest("messages[%d].tool_calls[%d]: unsupported type %q", i, j, c.Type)
				}
				callNames[c.ID] = c.Function.Name
				msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: json.RawMessage(c.Function.Arguments)})
			}
		case "tool":
			if m.ToolCallID == "" {
				return llm.Request{}, badRequest("messages[%d]: tool messages need tool_call_id", i)
			}
			msg.Role = llm.RoleTool
			msg.ToolCallID = m.ToolCallID
			if msg.Name == "" {
				msg.Name = callNames[m.ToolCallID]
			}
		default:
			return llm.Request{}, badRequest("messages[%d]: unsupported role %q", i, m.Role)
		}
		out.Messages = append(out.Messages, msg)
	}
	for i, t := range r.Tools {
		if t.Type != "function" {
			return llm.Request{}, badRequest("tools[%d]: unsupported type %q", i, t.Type)
		}
		if t.Function.Name == "" {
			return llm.Request{}, badRequest("tools[%d]: function.name is required", i)
		}
		params := t.Function.Parameters
		if bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
			params = nil
		}
		if len(params) > 0 && !isObject(params) {
			return llm.Request{}, badRequest("tools[%d]: parameters must be a JSON object", i)
		}
		out.Tools = append(out.Tools, llm.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: params})
	}
	return out, nil
}

func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string, an array of parts, or null")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("unsupported content part type %q", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func isObject(raw json.RawMessage) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal(raw, &obj) == nil && obj != nil
}

// The response side, field for field as OpenAI sends it.

type completion struct {
	ID                string    `json:"id"`
	Object            string    `json:"object"`
	Created           int64     `json:"created"`
	Model             string    `json:"model"`
	SystemFingerprint string    `json:"system_fingerprint"`
	Choices           []choice  `json:"choices"`
	Usage             wireUsage `json:"usage"`
	ServiceTier       *string   `json:"service_tier"`
}

type choice struct {
	Index        int             `json:"index"`
	Message      respMessage     `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type respMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	Refusal   *string        `json:"refusal"`
	ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []chunkChoice   `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"` // null on every chunk but the last when usage is requested
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type delta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []toolCallDelta `json:"tool_calls,omitempty"`
}

type toolCallDelta struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function functionDelta `json:"function"`
}

type functionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

var jsonNull = json.RawMessage("null")

func wireCalls(calls []llm.ToolCall) []wireToolCall {
	var out []wireToolCall
	for _, c := range calls {
		out = append(out, wireToolCall{ID: c.ID, Type: "function", Function: wireFunction{Name: c.Name, Arguments: string(c.Arguments)}})
	}
	return out
}

func toWireUsage(u llm.Usage) wireUsage {
	return wireUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}
