package actions

import (
	"context"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// startSpan starts the span of a step in a proposal's life ("proposal
// create", "proposal decide", "proposal execute"): a child of the turn's
// tool call, or of the decision request's span.
func startSpan(ctx context.Context, step, action string) (context.Context, telemetry.Span) {
	ctx, span := telemetry.Start(ctx, "proposal", step)
	if action != "" {
		span.Str(telemetry.AttrProposalAction, action)
	}
	return ctx, span
}

// endSpan ends a proposal step's span with the proposal it left.
func endSpan(span telemetry.Span, id, risk, status string, err error) {
	if span.Recording() {
		span.Str(telemetry.AttrProposalID, id)
		span.Str(telemetry.AttrProposalRisk, risk)
		span.Str(telemetry.AttrProposalStatus, status)
		span.Fail(err, telemetry.ErrorType(err))
	}
	span.End()
}
