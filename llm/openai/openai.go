// Package openai provides the production llm.Model for OpenAI-compatible
// chat completion servers: vLLM, Ollama's /v1, DeepSeek, Qwen/DashScope and
// OpenAI itself. It is built on openai-go, whose stream accumulator
// assembles streamed tool calls by delta index, and adds its own retry loop
// with jittered backoff that never retries once text has reached the caller.
package openai

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/llm"
)

// Defaults for zero Config fields.
const (
	DefaultBaseURL        = "https://api.openai.com/v1"
	DefaultTimeout        = 3 * time.Minute
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultMaxRetryDelay  = 20 * time.Second
	// DefaultMaxRetries is what configuration layers should default
	// MaxRetries to; a zero MaxRetries here means no retries.
	DefaultMaxRetries = 2
)

// Config says which server and model to use.
type Config struct {
	BaseURL string // up to and including /v1; DefaultBaseURL if empty
	Model   string // required
	APIKey  string // sent as a bearer token; local servers may need none
	// Timeout bounds one attempt, streaming included; DefaultTimeout if zero.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried (on 408, 429,
	// 5xx, connection errors and attempt timeouts). Zero or negative: none.
	MaxRetries int
	// RetryBaseDelay is the backoff before the first retry; it doubles per
	// retry, with jitter. DefaultRetryBaseDelay if zero.
	RetryBaseDelay time.Duration
	// MaxRetryDelay caps every wait between attempts, including one a
	// server asks for with Retry-After. DefaultMaxRetryDelay if zero.
	MaxRetryDelay time.Duration
	HTTPClient    *http.Client // http.DefaultClient if nil
}

// Model talks to one model on one server. It is safe for concurrent use.
type Model struct {
	cfg  Config
	chat oai.ChatCompletionService
	// jitter returns a random duration in [0, n); replaced in tests.
	jitter func(n int64) int64
	// tools caches the offered tools' parameters in wire form (toolparams.go).
	tools toolParams
}

var _ llm.Model = (*Model)(nil)

// New checks cfg, fills defaults and returns the model. It reads no
// environment variables: everything comes from cfg.
func New(cfg Config) (*Model, error) {
	if cfg.Model == "" {
		return nil, errors.New("openai: Config.Model is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.MaxRetries = max(0, cfg.MaxRetries)
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	// A service built directly, unlike oai.NewClient, does not pick up
	// OPENAI_* environment variables.
	chat := oai.NewChatCompletionService(
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0), // we retry ourselves, see Generate
		option.WithMiddleware(traceparent),
	)
	return &Model{cfg: cfg, chat: chat, jitter: rand.Int64N}, nil
}

// Name returns "openai:<model>".
func (m *Model) Name() string { return "openai:" + m.cfg.Model }

// Generate sends req, retrying transient failures while nothing has been
// streamed to the caller.
//
// Errors: when the caller's ctx ends, the error wraps ctx.Err() (and not
// llm.ErrUnavailable). When the server cannot be reached, answers with an
// HTTP error (only 408, 409, 429 and 5xx are retried), or exceeds
// Config.Timeout on every attempt, the error is an *UnavailableError, which
// wraps llm.ErrUnavailable (and, for timeouts, context.DeadlineExceeded). Tool calls whose arguments are not a JSON
// object give llm.ErrMalformedResponse. An error returned by stream is
// returned as it is.
func (m *Model) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	params, err := m.params(req, stream != nil)
	if err != nil {
		return llm.Response{}, err
	}
	for attempt := 1; ; attempt++ {
		var (
			resp     llm.Response
			streamed bool
		)
		if stream != nil {
			resp, streamed, err = m.streamOnce(ctx, params, stream)
		} else {
			resp, err = m.once(ctx, params)
		}
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return llm.Response{}, fmt.Errorf("openai: %s: %w", m.cfg.Model, ctx.Err())
		}
		var sf streamFuncError
		if errors.As(err, &sf) {
			return llm.Response{}, sf.err
		}
		if errors.Is(err, llm.ErrMalformedResponse) {
			return llm.Response{}, err
		}
		f := classify(err, m.cfg.Timeout)
		ue := &UnavailableError{Model: m.cfg.Model, StatusCode: f.status, Message: f.message, Attempts: attempt, Err: err}
		if streamed || !f.retry || attempt > m.cfg.MaxRetries {
			return llm.Response{}, ue
		}
		delay := backoff(attempt, m.cfg.RetryBaseDelay, m.cfg.MaxRetryDelay, m.jitter)
		if f.hasRetryAfter {
			delay = min(f.retryAfter, m.cfg.MaxRetryDelay)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return llm.Response{}, ue // waiting would outlive the caller
		}
		if err := sleep(ctx, delay); err != nil {
			return llm.Response{}, fmt.Errorf("openai: %s: %w", m.cfg.Model, err)
		}
	}
}

// streamFuncError carries an error from the caller's StreamFunc, which is
// returned unchanged and never retried.
type streamFuncError struct{ err error }

func (e streamFuncError) Error() string { return e.err.Error() }

func (m *Model) once(ctx context.Context, params oai.ChatCompletionNewParams) (llm.Response, error) {
	actx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	c, err := m.chat.New(actx, params)
	if err != nil {
		return llm.Response{}, err
	}
	return m.response(c)
}

func (m *Model) streamOnce(ctx context.Context, params oai.ChatCompletionNewParams, stream llm.StreamFunc) (resp llm.Response, streamed bool, err error) {
	actx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	s := m.chat.NewStreaming(actx, params)
	defer s.Close()
	var acc oai.ChatCompletionAccumulator
	for s.Next() {
		chunk := s.Current()
		if !acc.AddChunk(chunk) {
			return llm.Response{}, streamed, fmt.Errorf("openai: %s: %w: inconsistent stream chunk", m.cfg.Model, llm.ErrMalformedResponse)
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 || ch.Delta.Content == "" {
				continue
			}
			streamed = true
			if err := stream(ctx, ch.Delta.Content); err != nil {
				return llm.Response{}, streamed, streamFuncError{err}
			}
		}
	}
	if err := s.Err(); err != nil {
		return llm.Response{}, streamed, err
	}
	if len(acc.Choices) == 0 {
		return llm.Response{}, streamed, errStreamEnded
	}
	resp, err = m.response(&acc.ChatCompletion)
	return resp, streamed, err
}

// errStreamEnded means the server closed a stream before sending a choice.
var errStreamEnded = errors.New("stream ended before any answer")

// params maps the request to the wire format.
func (m *Model) params(req llm.Request, streaming bool) (oai.ChatCompletionNewParams, error) {
	p := oai.ChatCompletionNewParams{Model: m.cfg.Model}
	for i, msg := range req.Messages {
		switch msg.Role {
		case llm.RoleSystem:
			p.Messages = append(p.Messages, oai.SystemMessage(msg.Content))
		case llm.RoleUser:
			p.Messages = append(p.Messages, oai.UserMessage(msg.Content))
		case llm.RoleAssistant:
			var a oai.ChatCompletionAssistantMessageParam
			if msg.Content != "" || len(msg.ToolCalls) == 0 {
				a.Content.OfString = oai.String(msg.Content)
			}
			for _, c := range msg.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, oai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &oai.ChatCompletionMessageFunctionToolCallParam{
						ID:       c.ID,
						Function: oai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.Name, Arguments: arguments(c.Arguments)},
					},
				})
			}
			p.Messages = append(p.Messages, oai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case llm.RoleTool:
			p.Messages = append(p.Messages, oai.ToolMessage(msg.Content, msg.ToolCallID))
		default:
			return p, fmt.Errorf("openai: message %d: unsupported role %q", i, msg.Role)
		}
	}
	for _, t := range req.Tools {
		params, err := m.tools.get(t)
		if err != nil {
			return p, err
		}
		def := oai.FunctionDefinitionParam{Name: t.Name, Parameters: params}
		if t.Description != "" {
			def.Description = oai.String(t.Description)
		}
		p.Tools = append(p.Tools, oai.ChatCompletionFunctionTool(def))
	}
	if req.MaxTokens > 0 {
		// max_tokens rather than max_completion_tokens: every compatible
		// server understands it.
		p.MaxTokens = oai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		p.Temperature = oai.Float(*req.Temperature)
	}
	if streaming {
		p.StreamOptions.IncludeUsage = oai.Bool(true)
	}
	return p, nil
}

// response maps the server's answer back, checking tool calls.
func (m *Model) response(c *oai.ChatCompletion) (llm.Response, error) {
	if len(c.Choices) == 0 {
		return llm.Response{}, fmt.Errorf("openai: %s: %w: no choices", m.cfg.Model, llm.ErrMalformedResponse)
	}
	ch := c.Choices[0]
	resp := llm.Response{
		Content:      ch.Message.Content,
		FinishReason: ch.FinishReason,
		Model:        c.Model,
		Usage: llm.Usage{
			PromptTokens:     int(c.Usage.PromptTokens),
			CompletionTokens: int(c.Usage.CompletionTokens),
			TotalTokens:      int(c.Usage.TotalTokens),
		},
	}
	if resp.Model == "" {
		resp.Model = m.cfg.Model
	}
	for i, tc := range ch.Message.ToolCalls {
		if tc.Type == "custom" {
			return llm.Response{}, fmt.Errorf("openai: %s: %w: tool call %d is a custom tool call", m.cfg.Model, llm.ErrMalformedResponse, i)
		}
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i) // some servers omit IDs; tool results need one
		}
		resp.ToolCalls = append(resp.ToolCalls, llm.ToolCall{ID: id, Name: tc.Function.Name, Arguments: []byte(arguments([]byte(tc.Function.Arguments)))})
	}
	if err := llm.CheckToolCalls(resp.ToolCalls); err != nil {
		return llm.Response{}, fmt.Errorf("openai: %s: %w", m.cfg.Model, err)
	}
	return resp, nil
}

// arguments normalises empty arguments, which some servers send for tools
// without parameters, to an empty object.
func arguments(raw []byte) string {
	if strings.TrimSpace(string(raw)) == "" {
		return "{}"
	}
	return string(raw)
}

// traceparent sends the calling turn's W3C trace context to the model
// server.
func traceparent(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	telemetry.Inject(r.Context(), r.Header)
	return next(r)
}
