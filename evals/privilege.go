package evals

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
)

// ErrAboveCaller is wrapped by a PrivilegeError.
var ErrAboveCaller = errors.New("evals: a case asks for more than the caller holds")

// PrivilegeError lists the cases whose suite asks for a role or clearance
// the caller of a bounded run (Options.Caller) does not hold. Nothing has
// run.
type PrivilegeError struct {
	Caller   access.Principal
	Problems []Problem
}

func (e *PrivilegeError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "evals: a case asks for more than the caller holds: " + strings.Join(lines, "; ")
}

// Unwrap makes errors.Is(err, ErrAboveCaller) hold.
func (e *PrivilegeError) Unwrap() error { return ErrAboveCaller }

// bound returns in as a run by caller may send it: a role or clearance the
// suite set above the caller is a problem (the case never runs), and one
// left at the default is lowered to the caller's.
func bound(in Input, caller access.Principal) (Input, []string, []string) {
	var fields, msgs []string
	if !caller.Role.Allows(in.Role) {
		if in.roleField != "" {
			fields = append(fields, in.roleField)
			msgs = append(msgs, fmt.Sprintf("asks for role %s; the key has role %s", in.Role, caller.Role))
		} else {
			in.Role = caller.Role
		}
	}
	if !caller.Clearance.Covers(in.Clearance) {
		if in.clearanceField != "" {
			fields = append(fields, in.clearanceField)
			msgs = append(msgs, fmt.Sprintf("asks for clearance %s; the key has clearance %s", in.Clearance, caller.Clearance))
		} else {
			in.Clearance = caller.Clearance
		}
	}
	return in, fields, msgs
}

// ProposalSimulator checks a proposal without queuing it
// (actions.Service.Simulate).
type ProposalSimulator interface {
	Simulate(ctx context.Context, req actions.ProposeRequest) (actions.Proposal, error)
}

var _ ProposalSimulator = (*actions.Service)(nil)

// ErrNoEvalProposals is what an eval turn's proposal gets when the action
// service cannot simulate proposals: refused, never queued.
var ErrNoEvalProposals = fmt.Errorf("%w: proposals cannot be simulated in this eval", actions.ErrUnavailable)

// evalProposer is the action service as eval turns see it: proposals are
// checked and returned with status "eval" (the report lists them) but never
// enter the approval queue.
type evalProposer struct {
	inner agents.Proposer
}

var _ agents.Proposer = evalProposer{}

func (p evalProposer) Tool(action string) (actions.ToolSpec, error) { return p.inner.Tool(action) }

func (p evalProposer) Propose(ctx context.Context, req actions.ProposeRequest) (actions.Proposal, error) {
	sim, ok := p.inner.(ProposalSimulator)
	if !ok {
		return actions.Proposal{}, ErrNoEvalProposals
	}
	return sim.Simulate(ctx, req)
}
