package agents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/tools"
)

// offeredTools are the agent's tools that exist and that the caller's
// clearance covers, and the proposal tools of the actions its spec lists;
// nothing else can be called in this turn.
func (tr *turnRun) offeredTools() (map[string]tools.Tool, []llm.ToolSpec) {
	offered := map[string]tools.Tool{}
	var specs []llm.ToolSpec
	proposable := tr.proposalTools()
	var registered []tools.Tool
	if tr.r.Tools != nil { // a runner may have no tools at all
		registered = tr.r.Tools.List()
	}
	for _, name := range tr.spec.ToolNames(registered...) {
		if _, shadowed := proposable[name]; shadowed {
			continue
		}
		t, err := tr.r.Tools.Get(name)
		if err != nil {
			if slices.Contains(tr.spec.Tools, name) { // a missing optional tool was noted at start-up
				tr.warn("agent lists tool %s, which is not registered", name)
			}
			continue
		}
		s := t.Spec()
		if !tr.t.Principal.Clearance.Covers(s.Clearance) {
			continue
		}
		offered[name] = t
		specs = append(specs, llm.ToolSpec{Name: s.Name, Description: s.Description, Parameters: s.Parameters})
	}
	for _, a := range tr.spec.Actions {
		for name, p := range proposable {
			if p.action == a {
				specs = append(specs, llm.ToolSpec{Name: name, Description: p.spec.Description, Parameters: p.spec.Parameters})
			}
		}
	}
	tr.proposable = proposable
	return offered, specs
}

// proposable is an action the turn may propose, by its tool's name.
type proposable struct {
	action string
	spec   actions.ToolSpec
}

// proposalTools are the proposal tools of the spec's actions that this
// installation can execute and the caller's clearance covers.
func (tr *turnRun) proposalTools() map[string]proposable {
	out := map[string]proposable{}
	if tr.r.Actions == nil {
		return out
	}
	for _, a := range tr.spec.Actions {
		spec, err := tr.r.Actions.Tool(a)
		if err != nil {
			tr.r.log().Debug("agent lists an action that cannot be proposed here", "agent", tr.spec.Name, "action", a, "err", err)
			continue
		}
		if !tr.t.Principal.Clearance.Covers(spec.Clearance) {
			continue
		}
		out[spec.Name] = proposable{action: a, spec: spec}
	}
	return out
}

type toolOutcome struct {
	msg  llm.Message
	cite *Citation
}

// maxProposalsPerTurn bounds the proposals one turn can make.
const maxProposalsPerTurn = 3

// callTools runs the calls in parallel, each with its own deadline, and
// returns their tool messages in the order of calls. Proposal calls run
// after the others of the same step, so that what those return is part of
// the proposal's evidence. Calls of client tools are not run: they are
// returned as handed (their outcome has no message) for the client to run.
func (tr *turnRun) callTools(ctx context.Context, offered map[string]tools.Tool, calls []llm.ToolCall, used *int, dl turnDeadlines, question string) (out []toolOutcome, handed []llm.ToolCall) {
	out = make([]toolOutcome, len(calls))
	records := make([]ToolCallRecord, len(calls))
	runnable := make([]tools.Tool, len(calls))
	proposing := make([]bool, len(calls))
	for i, c := range calls {
		if c.ID == "" {
			c.ID = fmt.Sprintf("call_%d_%d", tr.turn, *used+i+1)
			calls[i] = c
		}
		args := decodeArgs(c.Arguments)
		tr.pending = append(tr.pending, Event{EventToolCall, ToolCallData{c.ID, c.Name, args}})
		tr.emit(Event{EventToolCall, ToolCallData{c.ID, c.Name, args}})
		tool, ok := offered[c.Name]
		_, isProposal := tr.proposable[c.Name]
		isClient := tr.client[c.Name]
		var refuse string
		switch {
		case !ok && !isProposal && !isClient:
			refuse = fmt.Sprintf("tool %q is not available to this agent", c.Name)
			tr.refused[c.ID] = true
		case *used >= tr.spec.Budgets.MaxToolCalls:
			refuse = "tool call budget for this turn is spent"
		}
		if refuse != "" {
			records[i] = ToolCallRecord{ID: c.ID, Name: c.Name, Arguments: args, Error: refuse}
			out[i] = toolOutcome{msg: toolMessage(c, "", "", errors.New(refuse), nil)}
			continue
		}
		*used++
		if isClient {
			records[i] = ToolCallRecord{ID: c.ID, Name: c.Name, Arguments: args, OK: true, Client: true}
			handed = append(handed, c)
			continue
		}
		if isProposal {
			proposing[i] = true
			continue
		}
		runnable[i] = tool
	}
	found := make([]*actions.Evidence, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		tool := runnable[i]
		if tool == nil {
			continue
		}
		args := decodeArgs(c.Arguments)
		wg.Add(1)
		go func(i int, c llm.ToolCall, tool tools.Tool) {
			defer wg.Done()
			timeout := tool.Spec().Timeout
			if timeout <= 0 || timeout > tr.spec.Budgets.ToolTimeout {
				timeout = tr.spec.Budgets.ToolTimeout
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			if limit := dl.toolLimit(tr.r.now()); deadlineAfter(cctx, limit) {
				cancel()
				cctx, cancel = context.WithDeadline(ctx, limit)
			}
			defer cancel()
			began := time.Now()
			sctx, span := startToolSpan(cctx, c) // trace.go
			res, err := callSafely(sctx, tool, c.Arguments)
			if err == nil {
				err = cctx.Err()
			}
			endToolSpan(span, err)
			dur := time.Since(began).Milliseconds()
			rec := ToolCallRecord{ID: c.ID, Name: c.Name, Arguments: args, OK: err == nil, DurationMS: dur}
			data := ToolResultData{ID: c.ID, Name: c.Name, OK: err == nil, DurationMS: dur}
			var cite *Citation
			if err != nil {
				rec.Error = toolErrText(err)
				data.Error = rec.Error
			} else {
				asOf := res.Citation.AsOf
				data.Content, data.Source, data.AsOf = json.RawMessage(res.Content), res.Citation.Source, &asOf
				title := res.Citation.Title
				if title == "" {
					title = c.Name
				}
				summary := summaryOf(res.Content)
				cite = &Citation{Kind: "tool", Ref: c.ID, Title: title, Snippet: snippet(summary, 200), Source: res.Citation.Source, AsOf: &asOf}
				found[i] = &actions.Evidence{Kind: "tool", Ref: c.ID, Title: title, Source: res.Citation.Source, Tool: c.Name,
					Arguments: compactArgs(c.Arguments), AsOf: &asOf, Clearance: tool.Spec().Clearance, Text: string(res.Content),
					Snippet: summary}
			}
			records[i] = rec
			out[i] = toolOutcome{msg: toolMessage(c, res.Citation.Source, formatAsOf(res.Citation.AsOf), err, res.Content), cite: cite}
			tr.emit(Event{EventToolResult, data})
			tr.emitMu.Lock()
			tr.pending = append(tr.pending, Event{EventToolResult, data})
			tr.emitMu.Unlock()
		}(i, c, tool)
	}
	wg.Wait()
	for _, e := range found {
		if e != nil {
			tr.see(e.Clearance)
			tr.evidence = append(tr.evidence, *e)
		}
	}
	for i, c := range calls {
		if proposing[i] {
			records[i], out[i] = tr.proposeTraced(ctx, c, question)
		}
	}
	tr.res.ToolCalls = append(tr.res.ToolCalls, records...)
	return out, handed
}

func deadlineAfter(ctx context.Context, t time.Time) bool {
	d, ok := ctx.Deadline()
	return ok && d.After(t)
}

// compactArgs is a call's arguments as compact JSON (or as a JSON string
// when they are not JSON).
func compactArgs(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	if err := json.Compact(&buf, raw); err != nil {
		b, _ := json.Marshal(string(raw))
		return b
	}
	return buf.Bytes()
}

// callSafely turns a panicking tool into an error.
func callSafely(ctx context.Context, t tools.Tool, args json.RawMessage) (res tools.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool panicked: %v", p)
		}
	}()
	return t.Call(ctx, args)
}

func toolErrText(err error) string {
	var ae *tools.ArgsError
	switch {
	case errors.As(err, &ae):
		return "invalid arguments: " + ae.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	if m, ok := usererr.Message(err); ok {
		return m
	}
	return shortErr(err)
}

func toolMessage(c llm.ToolCall, source, asOf string, err error, content json.RawMessage) llm.Message {
	body := string(content)
	if err != nil {
		eb, _ := json.Marshal(map[string]string{"error": toolErrText(err)})
		body = string(eb)
	}
	return llm.Message{Role: llm.RoleTool, ToolCallID: c.ID, Name: c.Name,
		Content: llm.FormatData([]llm.DataBlock{{Kind: "tool", Ref: c.Name, Source: source, AsOf: asOf, Body: body}})}
}

func formatAsOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339) // in the zone the tool answered in, with its offset
}

func decodeArgs(raw json.RawMessage) any {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	return v
}

// summaryOf picks a tool result's human summary if it has one.
func summaryOf(content json.RawMessage) string {
	var s struct {
		Summary string `json:"summary"`
	}
	if json.Unmarshal(content, &s) == nil && s.Summary != "" {
		return s.Summary
	}
	return string(content)
}

func snippet(s string, n int) string {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		r := []rune(s) // each invalid byte becomes one U+FFFD
		if len(r) <= n {
			return string(r)
		}
		return string(r[:n]) + "…"
	}
	runes := 0
	for i := range s {
		if runes == n {
			return s[:i] + "…"
		}
		runes++
	}
	return s
}
