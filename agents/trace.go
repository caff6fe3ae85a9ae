package agents

import (
	"context"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
)

// A turn's spans (internal/telemetry), with the OpenTelemetry GenAI
// semantic conventions: the turn is "invoke_agent <agent>", each model call
// "chat <model>", each tool call (proposals included) "execute_tool <tool>",
// each collection searched "retrieval <collection>", and the writes to the
// session store and the audit chain "store <operation>". With tracing off
// every helper here costs a context lookup.

// endTurnSpan finishes the turn's span with what the turn came to.
func endTurnSpan(span telemetry.Span, t Turn, res ChatResult, err error) {
	if !span.Recording() {
		span.End()
		return
	}
	span.Str(telemetry.AttrOperation, telemetry.OpInvokeAgent)
	if res.Agent != "" {
		span.Rename(telemetry.OpInvokeAgent + " " + res.Agent)
		span.Str(telemetry.AttrAgentName, res.Agent)
		span.Str(telemetry.AttrAgentVersion, res.AgentVersion)
		span.Str(telemetry.AttrConversationID, res.SessionID)
		span.Str(telemetry.AttrResponseModel, res.Model)
		span.Int(telemetry.AttrInputTokens, res.Usage.PromptTokens)
		span.Int(telemetry.AttrOutputTokens, res.Usage.CompletionTokens)
		span.Bool(telemetry.AttrDegraded, res.Degraded)
	}
	if t.SessionID != "" && res.SessionID == "" {
		span.Str(telemetry.AttrConversationID, t.SessionID)
	}
	span.Fail(err, telemetry.ErrorType(err))
	span.End()
}

// callModel is one model call, in its span.
func (tr *turnRun) callModel(ctx context.Context, m llm.Model, req llm.Request) (llm.Response, error) {
	ctx, span := telemetry.StartClient(ctx, telemetry.OpChat, m.Name())
	resp, err := m.Generate(ctx, req, tr.streamFunc())
	if span.Recording() {
		span.Str(telemetry.AttrOperation, telemetry.OpChat)
		span.Str(telemetry.AttrRequestModel, m.Name())
		span.Str(telemetry.AttrAgentName, tr.spec.Name)
		span.Int("cityagent.tools_offered", len(req.Tools))
		if err == nil {
			span.Str(telemetry.AttrResponseModel, resp.Model)
			span.Int(telemetry.AttrInputTokens, resp.Usage.PromptTokens)
			span.Int(telemetry.AttrOutputTokens, resp.Usage.CompletionTokens)
			span.Int("cityagent.tool_calls", len(resp.ToolCalls))
			if resp.FinishReason != "" {
				span.Strs(telemetry.AttrFinishReasons, []string{resp.FinishReason})
			}
		}
		span.Fail(err, telemetry.ErrorType(err))
	}
	span.End()
	return resp, err
}

// startToolSpan starts the span of the tool call c.
func startToolSpan(ctx context.Context, c llm.ToolCall) (context.Context, telemetry.Span) {
	ctx, span := telemetry.Start(ctx, telemetry.OpExecuteTool, c.Name)
	if span.Recording() {
		span.Str(telemetry.AttrOperation, telemetry.OpExecuteTool)
		span.Str(telemetry.AttrToolName, c.Name)
		span.Str(telemetry.AttrToolCallID, c.ID)
		span.Str(telemetry.AttrToolType, "function")
	}
	return ctx, span
}

// endToolSpan ends a tool call's span.
func endToolSpan(span telemetry.Span, err error) {
	span.Fail(err, telemetry.ErrorType(err))
	span.End()
}

// proposeTraced is propose in an execute_tool span; the action service
// adds its own span for the proposal it stores.
func (tr *turnRun) proposeTraced(ctx context.Context, c llm.ToolCall, question string) (ToolCallRecord, toolOutcome) {
	ctx, span := startToolSpan(ctx, c)
	n := len(tr.res.Proposals)
	rec, out := tr.propose(ctx, c, question)
	if len(tr.res.Proposals) > n {
		p := tr.res.Proposals[n]
		span.Str(telemetry.AttrProposalID, p.ID)
		span.Str(telemetry.AttrProposalAction, p.Action)
		span.Str(telemetry.AttrProposalStatus, p.Status)
	}
	if !rec.OK {
		span.FailStatus("refused")
		span.Text("cityagent.refusal", rec.Error) // masked and bounded
	}
	span.End()
	return rec, out
}

// searchTraced is one collection's retrieval, in its span.
func (tr *turnRun) searchTraced(ctx context.Context, collection, question string, k int) ([]knowledge.Hit, error) {
	ctx, span := telemetry.Start(ctx, telemetry.OpRetrieval, collection)
	hits, err := tr.search(ctx, collection, question, k)
	if span.Recording() {
		span.Str(telemetry.AttrOperation, telemetry.OpRetrieval)
		span.Str(telemetry.AttrDataSource, collection)
		span.Int("cityagent.retrieval.k", k)
		span.Int(telemetry.AttrHits, len(hits))
		span.Fail(err, telemetry.ErrorType(err))
	}
	span.End()
	return hits, err
}

// storeSpan starts the span of a write to the state store.
func storeSpan(ctx context.Context, op string, records int) (context.Context, telemetry.Span) {
	ctx, span := telemetry.Start(ctx, "store", op)
	span.Str(telemetry.AttrStoreOp, op)
	span.Int(telemetry.AttrStoreRecords, records)
	return ctx, span
}

func endStoreSpan(span telemetry.Span, err error) error {
	span.Fail(err, telemetry.ErrorType(err))
	span.End()
	return err
}

// appendEvents writes events to the turn's session, in a span.
func (tr *turnRun) appendEvents(ctx context.Context, evs []store.Event) error {
	ctx, span := storeSpan(ctx, "append_events", len(evs))
	_, err := tr.r.Sessions.AppendEvents(ctx, tr.t.SessionID, evs)
	return endStoreSpan(span, err)
}

// createSession stores a new session, in a span.
func (r *Runner) createSession(ctx context.Context, s store.Session) error {
	ctx, span := storeSpan(ctx, "create_session", 1)
	return endStoreSpan(span, r.Sessions.CreateSession(ctx, s))
}

// createSessionWithEvents stores a new session with its first events in
// one write, in the spans of both operations.
func (r *Runner) createSessionWithEvents(ctx context.Context, o SessionOpener, s store.Session, evs []store.Event) error {
	_, events := storeSpan(ctx, "append_events", len(evs)) // a sibling: the same write
	ctx, span := storeSpan(ctx, "create_session", 1)
	_, err := o.CreateSessionWithEvents(ctx, s, evs)
	endStoreSpan(events, err)
	return endStoreSpan(span, err)
}

// appendEventsWithAudit closes a turn in one write, in the spans of its
// session write and its audit write.
func (r *Runner) appendEventsWithAudit(ctx context.Context, cw ClosingWriter, sessionID string, evs []store.Event, entries []audit.Entry) error {
	_, aspan := storeSpan(ctx, "append_audit", len(entries)) // a sibling: the same write
	aspan.Str("cityagent.audit.kind", string(audit.KindChatTurn))
	ctx, span := storeSpan(ctx, "append_events", len(evs))
	_, err := cw.AppendEventsWithAudit(ctx, sessionID, evs, entries)
	endStoreSpan(aspan, err)
	return endStoreSpan(span, err)
}

// commitAuditTraced is commitAudit in a span.
func (tr *turnRun) commitAuditTraced(ctx context.Context, question string, res ChatResult, outcome error) error {
	if tr.r.Audit == nil {
		return nil
	}
	ctx, span := storeSpan(ctx, "append_audit", len(tr.res.ToolCalls)+1)
	span.Str("cityagent.audit.kind", string(audit.KindChatTurn))
	return endStoreSpan(span, tr.commitAudit(ctx, question, res, outcome))
}
