package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/usererr"
)

// DispatchAction is the governed action a triaged ticket is dispatched by.
const DispatchAction = "hotline.dispatch_ticket"

// Dispatch asks governance to send a triaged ticket to its department.
type Dispatch struct {
	TicketID   string
	Department string
	Urgency    string
	Category   string
	Text       string
	Location   string
	// AutoApprove: the taxonomy marks the category low-risk and the
	// installation allows automatic approval of such dispatches.
	AutoApprove bool
	Principal   access.Principal // the hotline key the ticket came in with
	Rationale   string
	Citations   []agents.Citation
	Agent       string
	Version     string
	Model       string
	SessionID   string
	TraceID     string
}

// DispatchOutcome is where a dispatch proposal stands.
type DispatchOutcome struct {
	ProposalID   string `json:"proposal_id,omitempty"`
	Status       string `json:"status,omitempty"` // the proposal's status: proposed, executed, failed, …
	AutoApproved bool   `json:"auto_approved"`
}

// Dispatcher proposes dispatches: a ticket goes to its department only
// through a governed proposal that a person (or, for low-risk categories,
// the configured policy) approves.
type Dispatcher interface {
	ProposeDispatch(ctx context.Context, d Dispatch) (DispatchOutcome, error)
}

// DispatchStatuser is an optional ability of a Dispatcher: the current
// status of a dispatch proposal, so that tickets follow their proposals.
type DispatchStatuser interface {
	DispatchStatus(ctx context.Context, proposalID string) (string, error)
}

// Governance is the part of the action service the governed dispatcher
// uses; *actions.Service implements it.
type Governance interface {
	Tool(action string) (actions.ToolSpec, error)
	Propose(ctx context.Context, req actions.ProposeRequest) (actions.Proposal, error)
	Approve(ctx context.Context, id string, by access.Principal, comment string) (actions.Proposal, error)
	Get(ctx context.Context, id string, viewer access.Principal) (actions.Proposal, error)
}

var _ Governance = (*actions.Service)(nil)

// AutoApprover is the principal that approves the dispatch of low-risk
// categories when the installation allows it. It is not a key: no request
// can authenticate as it, and audit records name it.
var AutoApprover = access.Principal{KeyID: "system:hotline-auto-approval", Name: "hotline low-risk auto-approval",
	Role: access.RoleSupervisor, Clearance: access.Restricted}

// GovernedDispatcher proposes hotline.dispatch_ticket through the action
// service on behalf of the hotline key, and approves it as AutoApprover
// when the dispatch says so. The proposal, approval and execution are
// audited by the action service.
type GovernedDispatcher struct {
	Gov Governance
}

var (
	_ Dispatcher       = GovernedDispatcher{}
	_ DispatchStatuser = GovernedDispatcher{}
)

// ProposeDispatch implements Dispatcher.
func (g GovernedDispatcher) ProposeDispatch(ctx context.Context, d Dispatch) (DispatchOutcome, error) {
	spec, err := g.Gov.Tool(DispatchAction)
	if err != nil {
		return DispatchOutcome{}, fmt.Errorf("hotline: dispatch of %s: %w", d.TicketID, err)
	}
	handling := "direct_dispatch"
	if d.Urgency == UrgencyEmergency {
		handling = "supervised" // 督办: the hotline centre follows it up
	}
	all := map[string]string{"department": d.Department, "urgency": d.Urgency, "request_text": clip(d.Text, 3900),
		"handling": handling, "location": clip(d.Location, 190), "category": d.Category, "ticket_id": d.TicketID}
	// Send what the action type's schema declares, so that a city's own
	// version of the action (actions_dir) with fewer fields still takes it.
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(spec.Parameters, &schema)
	args := map[string]string{}
	for k, v := range all {
		if _, declared := schema.Properties[k]; declared && v != "" {
			args[k] = v
		}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return DispatchOutcome{}, err
	}
	evidence := make([]actions.Evidence, 0, len(d.Citations))
	for _, c := range d.Citations {
		// Citations carry no clearance; the caller's is an upper bound
		// (they retrieved nothing above it), so the proposal is never
		// shown to anyone below it.
		evidence = append(evidence, actions.Evidence{Kind: c.Kind, Ref: c.Ref, Title: c.Title, Source: c.Source, AsOf: c.AsOf,
			Clearance: d.Principal.Clearance, Text: c.Snippet})
	}
	p, err := g.Gov.Propose(ctx, actions.ProposeRequest{Action: DispatchAction, Arguments: raw, Rationale: d.Rationale,
		Principal: d.Principal, Agent: d.Agent, Version: d.Version, Model: d.Model, SessionID: d.SessionID, TraceID: d.TraceID,
		Question: "Hotline ticket " + d.TicketID + ": " + d.Text, Evidence: evidence})
	if err != nil {
		return DispatchOutcome{}, fmt.Errorf("hotline: propose dispatch of %s: %w", d.TicketID, err)
	}
	out := DispatchOutcome{ProposalID: p.ID, Status: p.Status}
	if !d.AutoApprove {
		return out, nil
	}
	ap, err := g.Gov.Approve(ctx, p.ID, AutoApprover, "auto-approved: category "+d.Category+" is marked low-risk in the hotline taxonomy")
	if err != nil {
		// The proposal stands and waits for a person.
		return out, fmt.Errorf("hotline: auto-approve dispatch of %s: %w", d.TicketID, err)
	}
	out.Status, out.AutoApproved = ap.Status, true
	return out, nil
}

// DispatchStatus implements DispatchStatuser.
func (g GovernedDispatcher) DispatchStatus(ctx context.Context, proposalID string) (string, error) {
	p, err := g.Gov.Get(ctx, proposalID, access.Principal{KeyID: AutoApprover.KeyID, Role: access.RoleSupervisor, Clearance: access.Restricted})
	if errors.Is(err, actions.ErrNotFound) {
		return "", usererr.Errorf("%w: proposal %s", ErrNotFound, proposalID)
	}
	if err != nil {
		return "", err
	}
	return p.Status, nil
}

// Ticket statuses. Every status but closed is open.
const (
	StatusTriaged          = "triaged"          // stored; not dispatched (no dispatcher, or proposing failed)
	StatusPendingApproval  = "pending_approval" // the dispatch proposal waits for a decision
	StatusDispatched       = "dispatched"       // the dispatch was approved and executed
	StatusDispatchRejected = "dispatch_rejected"
	StatusDispatchExpired  = "dispatch_expired"
	StatusDispatchFailed   = "dispatch_failed"
	StatusClosed           = "closed"
)

// Statuses lists every ticket status.
var Statuses = []string{StatusTriaged, StatusPendingApproval, StatusDispatched, StatusDispatchRejected, StatusDispatchExpired, StatusDispatchFailed,
	StatusAccepted, StatusInProgress, StatusReplied, StatusReturned, StatusReopened, StatusMerged, StatusClosed}

// statusOfProposal maps a dispatch proposal's status to the ticket's.
func statusOfProposal(s string) string {
	switch s {
	case actions.StatusExecuted:
		return StatusDispatched
	case actions.StatusFailed:
		return StatusDispatchFailed
	case actions.StatusRejected:
		return StatusDispatchRejected
	case actions.StatusExpired:
		return StatusDispatchExpired
	}
	return StatusPendingApproval
}
