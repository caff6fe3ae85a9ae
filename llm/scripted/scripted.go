// Package scripted provides a Model that plays a fixed script of answers,
// tool calls, failures and stalls, for tests and evals.
package scripted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cityagent/cityagent/llm"
)

// ErrExhausted is returned when a call arrives after the last step has been
// played and the model was not told to repeat it.
var ErrExhausted = errors.New("scripted: script exhausted")

type kind int

const (
	kindRespond kind = iota
	kindFail
	kindHang
	kindStall
	kindFunc
)

// Step is one scripted turn. Build steps with Reply, Call, Respond, Fail,
// Hang, Stall or Func; wrap any of them in Delay.
type Step struct {
	kind  kind
	resp  llm.Response
	err   error
	fn    func(llm.Request) (llm.Response, error)
	delay time.Duration
}

// Respond answers with resp as given (missing Model, FinishReason, Usage and
// tool-call IDs are filled in).
func Respond(resp llm.Response) Step { return Step{kind: kindRespond, resp: resp} }

// Reply answers with text.
func Reply(text string) Step { return Respond(llm.Response{Content: text}) }

// Call answers with one tool call. argsJSON is passed through verbatim, so a
// script can also play malformed arguments. Chain .Call to add parallel calls.
func Call(name, argsJSON string) Step { return Step{kind: kindRespond}.Call(name, argsJSON) }

// Call adds a tool call to a Reply, Call or Respond step, so that one turn can
// carry text and several calls. It panics on other kinds of step.
func (s Step) Call(name, argsJSON string) Step {
	if s.kind != kindRespond {
		panic("scripted: Call on a step that does not respond")
	}
	s.resp.ToolCalls = append(slices.Clone(s.resp.ToolCalls), llm.ToolCall{Name: name, Arguments: json.RawMessage(argsJSON)})
	return s
}

// Fail returns err.
func Fail(err error) Step { return Step{kind: kindFail, err: err} }

// Hang blocks until the call's context is done and returns its error.
func Hang() Step { return Step{kind: kindHang} }

// Stall streams text (when streaming) and then blocks until the call's
// context is done, like a model that stops producing mid-answer.
func Stall(text string) Step { return Step{kind: kindStall, resp: llm.Response{Content: text}} }

// Func answers with whatever f returns for the request.
func Func(f func(llm.Request) (llm.Response, error)) Step { return Step{kind: kindFunc, fn: f} }

// Delay waits d (or until the context is done) before playing s.
func Delay(d time.Duration, s Step) Step {
	s.delay += d
	return s
}

// Model plays its steps in order, one per Generate call. It is safe for
// concurrent use; concurrent calls take consecutive steps.
type Model struct {
	name string

	mu         sync.Mutex
	steps      []Step
	next       int
	repeatLast bool
	callSeq    int
	requests   []llm.Request
}

var _ llm.Model = (*Model)(nil)

// New returns a model named name that plays steps. After the last step it
// returns ErrExhausted unless RepeatLast is set.
func New(name string, steps ...Step) *Model {
	return &Model{name: name, steps: slices.Clone(steps)}
}

// RepeatLast makes the model replay its last step once the script runs out.
func (m *Model) RepeatLast() *Model {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.repeatLast = true
	return m
}

// Append adds steps to the end of the script.
func (m *Model) Append(steps ...Step) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, steps...)
}

// Name returns the name given to New.
func (m *Model) Name() string { return m.name }

// Requests returns copies of the requests received so far, in arrival order.
func (m *Model) Requests() []llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]llm.Request, len(m.requests))
	for i, r := range m.requests {
		out[i] = cloneRequest(r)
	}
	return out
}

// Remaining reports how many steps have not been played yet.
func (m *Model) Remaining() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.steps) - m.next
}

// Generate plays the next step.
func (m *Model) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	step, n, ok := m.take(req)
	if !ok {
		return llm.Response{}, fmt.Errorf("%w: %s has no step for call %d", ErrExhausted, m.name, n)
	}
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	if step.delay > 0 {
		t := time.NewTimer(step.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return llm.Response{}, ctx.Err()
		case <-t.C:
		}
	}

	var resp llm.Response
	switch step.kind {
	case kindFail:
		return llm.Response{}, step.err
	case kindHang:
		<-ctx.Done()
		return llm.Response{}, ctx.Err()
	case kindStall:
		if stream != nil {
			if err := streamText(ctx, stream, step.resp.Content); err != nil {
				return llm.Response{}, err
			}
		}
		<-ctx.Done()
		return llm.Response{}, ctx.Err()
	case kindFunc:
		var err error
		resp, err = step.fn(cloneRequest(req))
		if err != nil {
			return llm.Response{}, err
		}
	default:
		resp = step.resp
	}

	resp = m.complete(req, resp)
	if stream != nil {
		if err := streamText(ctx, stream, resp.Content); err != nil {
			return llm.Response{}, err
		}
	}
	return resp, nil
}

// take records req and picks the step to play; n is the call's number.
func (m *Model) take(req llm.Request) (step Step, n int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, cloneRequest(req))
	n = len(m.requests)
	switch {
	case m.next < len(m.steps):
		m.next++
		return m.steps[m.next-1], n, true
	case m.repeatLast && len(m.steps) > 0:
		return m.steps[len(m.steps)-1], n, true
	}
	return Step{}, n, false
}

// complete fills what a real provider would: IDs, model, finish reason, usage.
func (m *Model) complete(req llm.Request, resp llm.Response) llm.Response {
	resp.ToolCalls = slices.Clone(resp.ToolCalls)
	m.mu.Lock()
	for i := range resp.ToolCalls {
		if resp.ToolCalls[i].ID == "" {
			m.callSeq++
			resp.ToolCalls[i].ID = fmt.Sprintf("call_%d", m.callSeq)
		}
	}
	m.mu.Unlock()
	if resp.Model == "" {
		resp.Model = m.name
	}
	if resp.FinishReason == "" {
		resp.FinishReason = "stop"
		if len(resp.ToolCalls) > 0 {
			resp.FinishReason = "tool_calls"
		}
	}
	if resp.Usage == (llm.Usage{}) {
		resp.Usage = estimate(req, resp)
	}
	return resp
}

// estimate counts roughly four bytes per token, as scripted usage only needs
// to be plausible and non-zero.
func estimate(req llm.Request, resp llm.Response) llm.Usage {
	var in, out int
	for _, msg := range req.Messages {
		in += len(msg.Content) + 4
		for _, c := range msg.ToolCalls {
			in += len(c.Name) + len(c.Arguments)
		}
	}
	out = len(resp.Content)
	for _, c := range resp.ToolCalls {
		out += len(c.Name) + len(c.Arguments)
	}
	u := llm.Usage{PromptTokens: (in + 3) / 4, CompletionTokens: (out + 3) / 4}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// chunks is how many pieces streamed text is cut into, so that consumers see
// more than one delta.
const chunks = 3

func streamText(ctx context.Context, stream llm.StreamFunc, text string) error {
	for _, part := range split(text, chunks) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := stream(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// split cuts s into at most n non-empty pieces of similar length, never
// inside a UTF-8 sequence. It returns nil for an empty s.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	runes := utf8.RuneCountInString(s)
	n = max(1, min(n, runes))
	size := (runes + n - 1) / n
	out := make([]string, 0, n)
	start, count := 0, 0
	for i := range s {
		if count > 0 && count%size == 0 {
			out = append(out, s[start:i])
			start = i
		}
		count++
	}
	return append(out, s[start:])
}

func cloneRequest(r llm.Request) llm.Request {
	r.Messages = slices.Clone(r.Messages)
	for i := range r.Messages {
		r.Messages[i].ToolCalls = slices.Clone(r.Messages[i].ToolCalls)
	}
	r.Tools = slices.Clone(r.Tools)
	if r.Temperature != nil {
		t := *r.Temperature
		r.Temperature = &t
	}
	return r
}
