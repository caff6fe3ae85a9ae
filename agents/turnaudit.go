package agents

import (
	"context"

	"github.com/cityagent/cityagent/actions/audit"
)

// commitAudit appends the turn's chat.turn record and one record per tool
// call, in one append (all or none), and reports whether it is durable. A
// call the agent was not offered (an injected or invented tool) is recorded
// as refused. outcome is the error the turn ends with, nil for an answer:
// only an answered turn's record carries answer_sha256.
//
// It replaces turnRun.audit in governance.go, which only logged a failure.
func (tr *turnRun) commitAudit(ctx context.Context, question string, res ChatResult, outcome error) error {
	a := tr.r.Audit
	if a == nil {
		return nil
	}
	return a.Audit(ctx, tr.auditEntries(question, res, outcome)...)
}

// auditEntries are the records commitAudit appends.
func (tr *turnRun) auditEntries(question string, res ChatResult, outcome error) []audit.Entry {
	p := tr.t.Principal
	now := tr.r.now()
	entries := make([]audit.Entry, 0, len(tr.res.ToolCalls)+1)
	for _, c := range tr.res.ToolCalls {
		kind := audit.KindToolCall
		if tr.refused[c.ID] {
			kind = audit.KindToolRefused
		}
		entries = append(entries, audit.Entry{Actor: p.KeyID, Kind: kind, Subject: c.Name, At: now, Payload: map[string]any{
			"session_id": tr.t.SessionID, "turn": tr.turn, "trace_id": tr.t.TraceID, "call_id": c.ID, "agent": tr.spec.Name,
			"arguments": c.Arguments, "ok": c.OK, "error": c.Error, "duration_ms": c.DurationMS, "client": c.Client,
			// The caller's clearance bounds what the arguments can carry;
			// GET /v1/audit shows the payload only to keys that cover it.
			"clearance": p.Clearance}})
	}
	proposals := make([]string, 0, len(tr.res.Proposals))
	for _, pr := range tr.res.Proposals {
		proposals = append(proposals, pr.ID)
	}
	turn := map[string]any{"agent": tr.spec.Name, "agent_version": tr.spec.Version, "model": tr.res.Model, "turn": tr.turn,
		"trace_id": tr.t.TraceID, "role": p.Role, "clearance": p.Clearance, "question_sha256": sha(question),
		"question_chars": len([]rune(question)), "tool_calls": len(tr.res.ToolCalls), "proposals": proposals,
		"degraded": tr.res.Degraded, "warnings": len(tr.res.Warnings), "evidence_clearance": tr.clearance,
		// For the operations report (reports/): latency from the turn's
		// start to this record, citations given, tool calls that failed.
		"duration_ms": now.Sub(tr.start).Milliseconds(), "citations": len(res.Citations), "tool_errors": toolErrors(tr.res.ToolCalls, tr.refused)}
	if outcome != nil {
		turn["error"] = shortErr(outcome)
	} else {
		turn["answer_sha256"] = sha(res.Answer)
	}
	if len(res.ClientToolCalls) > 0 {
		turn["paused_for_client_tools"] = len(res.ClientToolCalls)
	}
	return append(entries, audit.Entry{Actor: p.KeyID, Kind: audit.KindChatTurn, Subject: tr.t.SessionID, At: now, Payload: turn})
}

// toolErrors counts the calls that failed or were refused.
func toolErrors(calls []ToolCallRecord, refused map[string]bool) int {
	n := 0
	for _, c := range calls {
		if !c.OK || refused[c.ID] {
			n++
		}
	}
	return n
}
