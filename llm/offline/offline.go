// Package offline provides the offline engine, cityagent's embedded default
// model: a deterministic planner that picks tool calls by matching the
// question against the tools' JSON Schemas, and an extractive writer that
// answers from tool results and retrieved passages with citations. It is
// not a large language model and every answer says so.
package offline

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cityagent/cityagent/llm"
)

// ModelID is the model name the engine reports in every response.
const ModelID = "cityagent-offline"

// Engine is the offline model. Its only state is a cache of indexed tool
// specs; one value serves any number of concurrent calls.
type Engine struct {
	mu    sync.RWMutex
	tools map[string]*toolDoc // by name, description and parameters
}

var _ llm.Model = (*Engine)(nil)

// maxCachedTools bounds the cache; it is emptied when full.
const maxCachedTools = 4096

// New returns the offline engine.
func New() *Engine { return &Engine{tools: map[string]*toolDoc{}} }

// index returns the planner's view of the tools, built once per distinct spec.
func (e *Engine) index(specs []llm.ToolSpec) []*toolDoc {
	seen := map[string]bool{}
	var docs []*toolDoc
	for _, s := range specs {
		if s.Name == "" || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		key := s.Name + "\x00" + s.Description + "\x00" + string(s.Parameters)
		e.mu.RLock()
		d, ok := e.tools[key]
		e.mu.RUnlock()
		if !ok {
			d = indexTool(s)
			e.mu.Lock()
			if e.tools == nil || len(e.tools) >= maxCachedTools {
				e.tools = map[string]*toolDoc{}
			}
			e.tools[key] = d
			e.mu.Unlock()
		}
		docs = append(docs, d)
	}
	return docs
}

// Name implements llm.Model.
func (e *Engine) Name() string { return "offline" }

// Generate implements llm.Model. In the first step of a turn it returns the
// tool calls the question asks for; once the turn has tool results, or when
// no tool fits, it returns the answer text, streamed in chunks when stream
// is non-nil. MaxTokens and Temperature are ignored: answers are short and
// the engine is deterministic.
func (e *Engine) Generate(ctx context.Context, req llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return llm.Response{}, fmt.Errorf("offline: %w", err)
	}
	t := readTurn(req.Messages)
	prompt := promptTokens(req)
	var blocked *need
	var calls []llm.ToolCall
	if !t.acted {
		tools := e.index(req.Tools)
		calls, blocked = namedPlan(t.question, t.earlier, t.answers, t.seen, nameable(t.question, req.Tools), tools)
		if len(calls) > 0 && len(namedCalls(t.question, nameable(t.question, req.Tools))) == 0 && documentsAnswer(t, tools) {
			calls = withoutLookups(calls, tools)
			if len(calls) == 0 {
				blocked = nil
			}
		}
	} else {
		calls = e.followOn(t, req.Tools)
	}
	if len(calls) > 0 {
		completion := 0
		for _, c := range calls {
			completion += estimateTokens(c.Name) + estimateTokens(string(c.Arguments))
		}
		return llm.Response{ToolCalls: calls, FinishReason: "tool_calls", Model: ModelID, Usage: usage(prompt, completion)}, nil
	}
	text := writeAnswer(t, req.Tools, blocked)
	if stream != nil {
		for _, chunk := range chunks(text) {
			if err := ctx.Err(); err != nil {
				return llm.Response{}, fmt.Errorf("offline: %w", err)
			}
			if err := stream(ctx, chunk); err != nil {
				return llm.Response{}, fmt.Errorf("offline: stream: %w", err)
			}
		}
	}
	return llm.Response{Content: text, FinishReason: "stop", Model: ModelID, Usage: usage(prompt, estimateTokens(text))}, nil
}

// turn is what the engine reads from a conversation.
type turn struct {
	question string          // the current user question
	earlier  []string        // earlier user questions, latest first, for follow-ups
	answers  []string        // earlier answers, latest first, without their sources: what "that segment" may name
	seen     []llm.DataBlock // earlier turns' tool results, latest first: the ids of what they name
	docs     []llm.DataBlock // retrieved passages of this turn
	results  []llm.DataBlock // tool results of this turn, in call order
	acted    bool            // the model already called tools in this turn
	steps    int             // planning steps of this turn that called tools
	// calledAction: a propose_ tool was called in this turn
	calledAction bool
}

// maxEarlier is how many earlier questions a follow-up may borrow from.
const maxEarlier = 3

// readTurn splits a conversation into the current question, the ones before
// it, this turn's passages and this turn's tool results. A user message
// holding fenced data is retrieval, never a question.
func readTurn(msgs []llm.Message) turn {
	var t turn
	var questions []int
	data := make(map[int][]llm.DataBlock)
	for i, m := range msgs {
		if m.Role != llm.RoleUser || strings.TrimSpace(m.Content) == "" {
			continue
		}
		if blocks := parseData(m.Content); len(blocks) > 0 {
			data[i] = blocks
			continue
		}
		questions = append(questions, i)
	}
	cur, prev := -1, -1
	if n := len(questions); n > 0 {
		cur = questions[n-1]
		t.question = strings.TrimSpace(msgs[cur].Content)
		for k := n - 2; k >= 0 && len(t.earlier) < maxEarlier; k-- {
			t.earlier = append(t.earlier, strings.TrimSpace(msgs[questions[k]].Content))
		}
		t.answers = earlierAnswers(msgs[:cur])
		t.seen = earlierResults(msgs[:cur])
		if n > 1 {
			prev = questions[n-2]
		}
	}
	for i := prev + 1; i < len(msgs); i++ {
		m := msgs[i]
		switch {
		case m.Role == llm.RoleUser:
			for _, b := range data[i] {
				if b.Kind == "document" {
					t.docs = append(t.docs, b)
				}
			}
		case i > cur && m.Role == llm.RoleAssistant:
			t.acted = true
			if len(m.ToolCalls) > 0 {
				t.steps++
			}
			for _, c := range m.ToolCalls {
				t.calledAction = t.calledAction || isAction(c.Name)
			}
		case i > cur && m.Role == llm.RoleTool:
			t.acted = true
			blocks := parseData(m.Content)
			if len(blocks) == 0 {
				// Not fenced: keep it as the tool's output all the same.
				blocks = []llm.DataBlock{{Kind: "tool", Ref: m.Name, Body: m.Content}}
			}
			for _, b := range blocks {
				if b.Kind == "document" {
					t.docs = append(t.docs, b)
					continue
				}
				if b.Ref == "" {
					b.Ref = m.Name
				}
				t.results = append(t.results, b)
			}
		}
	}
	return t
}

// parseData is llm.ParseData, skipped for text that holds no fence.
func parseData(s string) []llm.DataBlock {
	if !strings.Contains(s, "<<<DATA ") {
		return nil
	}
	return llm.ParseData(s)
}

func promptTokens(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += estimateTokens(m.Content) + 4
		for _, c := range m.ToolCalls {
			n += estimateTokens(c.Name) + estimateTokens(string(c.Arguments))
		}
	}
	for _, s := range req.Tools {
		n += estimateTokens(s.Name) + estimateTokens(s.Description) + estimateTokens(string(s.Parameters))
	}
	return n
}

func usage(prompt, completion int) llm.Usage {
	return llm.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// nameable are the tools a message may call by name: those named in the
// user's own words (not in what they quote), and no propose_ tool unless
// the message is a request.
func nameable(question string, specs []llm.ToolSpec) []llm.ToolSpec {
	var named []llm.ToolSpec
	for _, s := range specs {
		if s.Name != "" && strings.Contains(question, s.Name) {
			named = append(named, s)
		}
	}
	if len(named) == 0 {
		return nil
	}
	rd := readMessage(question)
	out := named[:0]
	for _, s := range named {
		if strings.Contains(rd.own, s.Name) && (rd.act == actRequest || !isAction(s.Name)) {
			out = append(out, s)
		}
	}
	return out
}
