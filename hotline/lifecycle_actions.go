package hotline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/store"
)

// Return-visit results (回访满意度).
const (
	Satisfied          = "satisfied"           // 满意
	BasicallySatisfied = "basically_satisfied" // 基本满意
	Unsatisfied        = "unsatisfied"         // 不满意
)

// MaxNoteRunes bounds a note, a reason or a reply.
const MaxNoteRunes = 2000

// ActRequest is one lifecycle action on a ticket.
type ActRequest struct {
	Action Action
	// Note: the progress note, the return reason, the reply text, the
	// visit's note (the reason, when unsatisfied) or the dispatch's.
	Note string
	// WaitingForCitizen (progress): the department waits for the citizen
	// and the clock pauses, where the ticket's deadline rule allows it.
	// The next progress, reply or return resumes it.
	WaitingForCitizen bool
	Satisfaction      string // visit
	Solved            *bool  // visit
	Into              string // merge: the open ticket this one repeats
	Department        string // dispatch: the department to send it to
}

// maxTransitionTries bounds the retries of an action that lost a race to
// another transition of the same ticket.
const maxTransitionTries = 3

// Act takes a lifecycle action on a ticket for by. An action that does not
// apply to the ticket's status is a *TransitionError; a role that does not
// take the action ErrForbidden; a ticket a department key may not see
// ErrNotFound. Of concurrent actions on one ticket exactly one applies to
// a status; the others are retried against the new status.
func (s *Service) Act(ctx context.Context, id string, by access.Principal, req ActRequest) (Ticket, Transition, error) {
	if err := mayAct(by, req.Action); err != nil {
		return Ticket{}, Transition{}, err
	}
	req, err := s.checkAct(req)
	if err != nil {
		return Ticket{}, Transition{}, err
	}
	ls, err := s.lifecycleStore()
	if err != nil {
		return Ticket{}, Transition{}, err
	}
	for range maxTransitionTries {
		st, err := s.ticketFor(ctx, id, by)
		if err != nil {
			return Ticket{}, Transition{}, err
		}
		u, extra, err := s.plan(ctx, st, by, req)
		if err != nil {
			return Ticket{}, Transition{}, err
		}
		audits := append([]audit.Entry{transitionAudit(by.KeyID, u, departmentAfter(st, u), extra)}, closeAudits(u, st)...)
		up, tr, err := ls.TransitionTicket(ctx, u, audits...)
		if errors.Is(err, store.ErrTicketChanged) {
			continue
		}
		if err != nil {
			return Ticket{}, Transition{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		t, err := s.fromStore(up)
		return t, transitionOf(tr), err
	}
	return Ticket{}, Transition{}, fmt.Errorf("%w: the ticket kept changing meanwhile; retry", ErrUnavailable)
}

func departmentAfter(st store.Ticket, u store.TransitionUpdate) string {
	if u.Department != "" {
		return u.Department
	}
	return st.Department
}

// closeAudits are the audit entries beside the transition's: a closing
// visit is also the hotline.ticket_close record.
func closeAudits(u store.TransitionUpdate, st store.Ticket) []audit.Entry {
	if u.To != StatusClosed {
		return nil
	}
	resolution, answered := st.Resolution, st.Lifecycle.RepliedAt
	if u.Resolution != "" {
		// Closed with its own resolution (ActionClose): answered now.
		resolution, answered = u.Resolution, &u.At
	}
	return []audit.Entry{{Actor: u.Actor, Kind: KindTicketClose, Subject: u.ID, At: u.At, Payload: map[string]any{
		"from_status": u.From, "on_time": answered != nil && !answered.After(st.Deadline),
		"satisfaction": u.Satisfaction, "resolution_sha256": sha(resolution)}}}
}

// checkAct checks and trims the request's fields for its action.
func (s *Service) checkAct(req ActRequest) (ActRequest, error) {
	req.Note = strings.TrimSpace(req.Note)
	if msg := textProblem(req.Note); msg != "" {
		return req, &InputError{noteField(req.Action), msg}
	}
	if utf8.RuneCountInString(req.Note) > MaxNoteRunes {
		return req, &InputError{noteField(req.Action), fmt.Sprintf("must be at most %d characters", MaxNoteRunes)}
	}
	// Notes, reasons and replies are stored and shown masked: personal data
	// (a caller's phone, an id number) written into them stays out of the
	// transitions, the audit log and every answer.
	req.Note = pii.Mask(req.Note)
	switch req.Action {
	case ActionReturn, ActionProgress:
		if req.Note == "" {
			return req, &InputError{noteField(req.Action), "is required"}
		}
	case ActionVisit:
		switch req.Satisfaction {
		case Satisfied, BasicallySatisfied:
		case Unsatisfied:
			if req.Note == "" {
				return req, &InputError{"note", "is required when the citizen is unsatisfied: the reason the ticket is reopened"}
			}
		default:
			return req, &InputError{"satisfaction", "must be satisfied, basically_satisfied or unsatisfied"}
		}
		if req.Solved == nil {
			return req, &InputError{"solved", "is required: whether the problem was solved (true or false)"}
		}
	case ActionMerge:
		req.Into = strings.TrimSpace(req.Into)
		if req.Into == "" {
			return req, &InputError{"into", "is required: the id of the open ticket this one repeats"}
		}
	case ActionDispatch:
		req.Department = strings.TrimSpace(req.Department)
		if _, ok := s.tax.Department(req.Department); !ok {
			return req, &InputError{"department", "must be a department of the taxonomy"}
		}
	case ActionClose:
		if req.Note == "" {
			return req, &InputError{"resolution", "is required: how the request was resolved"}
		}
	case ActionAccept, ActionReply:
	default:
		return req, &InputError{"action", fmt.Sprintf("unknown action %q", req.Action)}
	}
	return req, nil
}

func noteField(a Action) string {
	switch a {
	case ActionReturn:
		return "reason"
	case ActionReply:
		return "text"
	case ActionClose:
		return "resolution"
	}
	return "note"
}

// plan is the transition an action makes of a ticket as it is now.
func (s *Service) plan(ctx context.Context, st store.Ticket, by access.Principal, req ActRequest) (store.TransitionUpdate, map[string]any, error) {
	now := s.now().UTC()
	u := store.TransitionUpdate{ID: st.ID, From: st.Status, Seq: st.Lifecycle.Transitions + 1, Actor: by.KeyID, Note: req.Note, At: now}
	extra := map[string]any{"action": req.Action}
	switch req.Action {
	case ActionDispatch:
		u.To, u.Department, u.Stamp = StatusDispatched, req.Department, []string{"dispatched_at"}
		if u.Note == "" {
			u.Note = "dispatched to " + req.Department
		}
		extra["previous_department"] = st.Department
	case ActionAccept:
		u.To = StatusAccepted
		if st.Lifecycle.AcceptedAt == nil {
			u.Stamp = []string{"accepted_at"}
		}
	case ActionReturn:
		u.To, u.IncReturned = StatusReturned, true
	case ActionProgress:
		u.To = StatusInProgress
	case ActionReply:
		u.To, u.Resolution, u.Stamp = StatusReplied, req.Note, []string{"replied_at"}
		if err := CheckReply(st.Type, req.Note); err != nil {
			return u, nil, err
		}
		extra["reply_sha256"] = sha(req.Note)
	case ActionVisit:
		u.To, u.Satisfaction, u.Solved, u.Stamp = StatusClosed, req.Satisfaction, req.Solved, []string{"visited_at", "closed_at"}
		if req.Satisfaction == Unsatisfied {
			u.To, u.IncReopened, u.Stamp = StatusReopened, true, []string{"visited_at"}
		}
		extra["satisfaction"], extra["solved"] = req.Satisfaction, *req.Solved
	case ActionClose:
		u.To, u.Stamp = StatusClosed, []string{"closed_at"}
		if st.Status != StatusReplied {
			// Answered by the hotline centre itself: the resolution is the
			// answer; a replied ticket keeps the department's reply.
			u.Resolution = req.Note
		}
		extra["resolution_sha256"] = sha(req.Note)
	case ActionMerge:
		u.To, u.MergedInto = StatusMerged, req.Into
		if err := s.checkMergeTarget(ctx, st, by, req.Into); err != nil {
			return u, nil, err
		}
		extra["merged_into"] = req.Into
	}
	if !legal(st.Status, req.Action, u.To) {
		return u, nil, illegal(st, req.Action)
	}
	if err := s.planClock(st, req, &u); err != nil {
		return u, nil, err
	}
	return u, extra, nil
}

// planClock pauses the ticket's clock while the department waits for the
// citizen, where its deadline rule allows it, and resumes it at the next
// action, moving the deadline by the pause.
func (s *Service) planClock(st store.Ticket, req ActRequest, u *store.TransitionUpdate) error {
	paused := st.Lifecycle.PausedAt
	switch {
	case req.WaitingForCitizen && req.Action != ActionProgress:
		return &InputError{"waiting_for_citizen", "pauses the clock only with a progress note"}
	case req.WaitingForCitizen && paused != nil:
		return &InputError{"waiting_for_citizen", "the clock is paused already"}
	case req.WaitingForCitizen:
		rule, ok := s.ruleOf(st)
		if !ok || !rule.PauseForCitizen {
			return &InputError{"waiting_for_citizen", fmt.Sprintf("the deadline rule %q of this ticket does not let the clock pause", rule.Name)}
		}
		u.Pause = true
		u.Note += " [clock paused: waiting for the citizen]"
	case paused != nil:
		d := max(u.At.Sub(*paused), 0)
		deadline := st.Deadline.Add(d)
		u.Resume, u.Resumed, u.Deadline = true, d, &deadline
		u.Note += fmt.Sprintf(" [clock resumed after %s; deadline moved to %s]", d.Round(time.Second), deadline.Format(time.RFC3339))
	}
	return nil
}

// ruleOf is the deadline rule a ticket was given (named in its view).
func (s *Service) ruleOf(st store.Ticket) (DeadlineRule, bool) {
	t, err := s.fromStore(st)
	if err != nil {
		return DeadlineRule{}, false
	}
	for _, r := range s.tax.Deadlines {
		if r.Name == t.DeadlineRule {
			return r, true
		}
	}
	return DeadlineRule{Name: t.DeadlineRule}, false
}

// checkMergeTarget: a ticket merges into another open ticket that by may
// see (for a department key, one of its own department's).
func (s *Service) checkMergeTarget(ctx context.Context, st store.Ticket, by access.Principal, into string) error {
	if into == st.ID {
		return &InputError{"into", "a ticket cannot be merged into itself"}
	}
	target, err := s.ticketFor(ctx, into, by)
	if errors.Is(err, ErrNotFound) {
		return &InputError{"into", "names no ticket this key may see"}
	}
	if err != nil {
		return err
	}
	if Finished(target.Status) {
		return &InputError{"into", fmt.Sprintf("ticket %s is %s: merge into an open ticket", into, target.Status)}
	}
	return nil
}
