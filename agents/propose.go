package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/llm"
)

// propose turns a proposal tool call into a proposal, with everything the
// model has seen so far as its evidence. It never decides or executes: a
// person does that through the API.
func (tr *turnRun) propose(ctx context.Context, c llm.ToolCall, question string) (ToolCallRecord, toolOutcome) {
	began := time.Now()
	args := decodeArgs(c.Arguments)
	p := tr.proposable[c.Name]
	fail := func(err error, reason string) (ToolCallRecord, toolOutcome) {
		rec := ToolCallRecord{ID: c.ID, Name: c.Name, Arguments: args, Error: reason, DurationMS: time.Since(began).Milliseconds()}
		data := ToolResultData{ID: c.ID, Name: c.Name, Error: reason, DurationMS: rec.DurationMS}
		tr.emit(Event{EventToolResult, data})
		tr.pending = append(tr.pending, Event{EventToolResult, data})
		if tr.r.Audit != nil {
			entry := audit.Entry{Actor: tr.t.Principal.KeyID, Kind: audit.KindProposalRefused, Subject: p.action, At: tr.r.now(),
				Payload: map[string]any{"session_id": tr.t.SessionID, "turn": tr.turn, "trace_id": tr.t.TraceID, "call_id": c.ID,
					"arguments": compactArgs(c.Arguments), "reason": reason}}
			if aerr := tr.r.Audit.Audit(context.WithoutCancel(ctx), entry); aerr != nil {
				tr.r.log().Error("audit of a refused proposal failed", "err", aerr, "trace_id", tr.t.TraceID)
			}
		}
		return rec, toolOutcome{msg: toolMessage(c, "", "", err, nil)}
	}
	if tr.proposals >= maxProposalsPerTurn {
		err := fmt.Errorf("at most %d proposals per turn", maxProposalsPerTurn)
		return fail(err, err.Error())
	}
	req := actions.ProposeRequest{Action: p.action, Arguments: c.Arguments, Principal: tr.t.Principal, Agent: tr.spec.Name,
		Version: tr.spec.Version, Model: tr.res.Model, SessionID: tr.t.SessionID, Turn: tr.turn, TraceID: tr.t.TraceID,
		Question: question, Evidence: slices.Clone(tr.evidence), Rationale: tr.rationale(c.Arguments)}
	prop, err := tr.r.Actions.Propose(context.WithoutCancel(ctx), req)
	if err != nil {
		var ae *actions.ArgsError
		reason := "the proposal was refused"
		switch {
		case errors.As(err, &ae):
			reason = "invalid arguments: " + ae.Reason
		case errors.Is(err, actions.ErrForbidden), errors.Is(err, actions.ErrUnavailable), errors.Is(err, actions.ErrUnknownAction):
			reason = shortErr(err)
		default:
			tr.r.log().Error("proposal failed", "err", err, "action", p.action, "trace_id", tr.t.TraceID)
		}
		return fail(errors.New(reason), reason)
	}
	tr.proposals++
	ref := ProposalRef{ID: prop.ID, Action: prop.Action, Arguments: prop.Arguments, Status: prop.Status, Risk: string(prop.Risk)}
	tr.res.Proposals = append(tr.res.Proposals, ref)
	tr.pending = append(tr.pending, Event{EventProposal, ref})
	tr.emit(Event{EventProposal, ref})
	content, _ := json.Marshal(proposalResult(prop))
	asOf := prop.CreatedAt
	dur := time.Since(began).Milliseconds()
	data := ToolResultData{ID: c.ID, Name: c.Name, OK: true, Content: json.RawMessage(content), Source: ProposalSource, AsOf: &asOf, DurationMS: dur}
	tr.emit(Event{EventToolResult, data})
	tr.pending = append(tr.pending, Event{EventToolResult, data})
	cite := &Citation{Kind: "tool", Ref: c.ID, Title: "Proposal " + prop.ID + " 提议", Snippet: snippet(summaryOf(content), 200), Source: ProposalSource, AsOf: &asOf}
	rec := ToolCallRecord{ID: c.ID, Name: c.Name, Arguments: args, OK: true, DurationMS: dur}
	return rec, toolOutcome{msg: toolMessage(c, ProposalSource, formatAsOf(asOf), nil, content), cite: cite}
}

// rationale is the model's own rationale argument if it gave one (empty:
// the action service takes it from the arguments), else the text it wrote
// beside the call, else one composed from the evidence and marked so.
func (tr *turnRun) rationale(args json.RawMessage) string {
	var a struct {
		Rationale string `json:"rationale"`
	}
	if json.Unmarshal(args, &a) == nil && strings.TrimSpace(a.Rationale) != "" {
		return ""
	}
	if t := strings.TrimSpace(tr.stepText); t != "" {
		return t
	}
	var b strings.Builder
	b.WriteString("(Composed by cityagent: the model gave no rationale.) Evidence in context:")
	n := 0
	for _, e := range tr.evidence {
		if e.Kind != "tool" || n == 3 {
			continue
		}
		n++
		fmt.Fprintf(&b, " [%s %s] %s", e.Tool, e.Ref, snippet(summaryOf(json.RawMessage(e.Text)), 300))
	}
	if n == 0 {
		b.WriteString(" documents only.")
	}
	return b.String()
}

// ProposalSource is the source proposal tool results cite.
const ProposalSource = "cityagent:actions"

// proposalResult is what the model is told about a proposal it made.
func proposalResult(p actions.Proposal) map[string]any {
	return map[string]any{
		"proposal_id": p.ID, "action": p.Action, "status": p.Status, "arguments": p.Arguments, "risk": p.Risk,
		"approver_role": p.ApproverRole, "expires_at": p.ExpiresAt, "flags": p.Flags,
		"summary": fmt.Sprintf("Proposal %s (%s) is waiting for a %s to approve it; nothing changes before that. It expires at %s.",
			p.ID, p.Title, p.ApproverRole, p.ExpiresAt.Format(time.RFC3339)),
		"summary_zh": fmt.Sprintf("已提交提议%s（%s），等待%s批准，批准前不会执行；%s前有效。",
			p.ID, p.TitleZh, roleZh(p.ApproverRole), p.ExpiresAt.Format(time.RFC3339)),
	}
}

func roleZh(r access.Role) string {
	switch r {
	case access.RoleAdmin:
		return "管理员"
	case access.RoleSupervisor:
		return "主管"
	}
	return string(r)
}
