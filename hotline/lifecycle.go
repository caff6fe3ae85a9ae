package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// Lifecycle statuses after dispatch (issue 18, 接诉即办): the department
// accepts (签收) or returns (退回) a dispatched ticket, handles it, replies
// (答复); the return visit (回访) closes it or reopens it. A ticket merged
// into another is finished. Overdue is a flag (overdue_at), not a status.
const (
	StatusAccepted   = "accepted"
	StatusInProgress = "in_progress"
	StatusReplied    = "replied"
	StatusReturned   = "returned"
	StatusReopened   = "reopened"
	StatusMerged     = "merged"
)

// Action is what moves a ticket from one status to the next.
type Action string

// The lifecycle actions. ActionProposal is the governed dispatch proposal
// deciding (system only); the others are API routes.
const (
	ActionProposal Action = "proposal"
	ActionDispatch Action = "dispatch"
	ActionAccept   Action = "accept"
	ActionReturn   Action = "return"
	ActionProgress Action = "progress"
	ActionReply    Action = "reply"
	ActionVisit    Action = "visit"
	ActionMerge    Action = "merge"
	// ActionClose is the hotline centre closing a ticket itself (the older
	// POST …/close): one it answered without a department (直接办结), or
	// one replied to that closes without a return visit (the citizen could
	// not be reached). A department's open work is never closed this way.
	ActionClose Action = "close"
)

// edge is one legal transition.
type edge struct {
	from   string
	action Action
	to     string
}

// lifecycle is the transition table: every legal change of a ticket's
// status, and nothing else. A visit goes to closed or reopened by the
// citizen's satisfaction; progress may repeat (a note in in_progress).
var lifecycle = []edge{
	{StatusTriaged, ActionProposal, StatusPendingApproval},
	{StatusTriaged, ActionProposal, StatusDispatched},
	{StatusTriaged, ActionProposal, StatusDispatchFailed},
	{StatusTriaged, ActionDispatch, StatusDispatched},
	{StatusPendingApproval, ActionProposal, StatusDispatched},
	{StatusPendingApproval, ActionProposal, StatusDispatchRejected},
	{StatusPendingApproval, ActionProposal, StatusDispatchExpired},
	{StatusPendingApproval, ActionProposal, StatusDispatchFailed},
	{StatusDispatchRejected, ActionDispatch, StatusDispatched},
	{StatusDispatchExpired, ActionDispatch, StatusDispatched},
	{StatusDispatchFailed, ActionDispatch, StatusDispatched},
	{StatusReturned, ActionDispatch, StatusDispatched},
	{StatusDispatched, ActionAccept, StatusAccepted},
	{StatusDispatched, ActionReturn, StatusReturned},
	{StatusAccepted, ActionReturn, StatusReturned},
	{StatusAccepted, ActionProgress, StatusInProgress},
	{StatusAccepted, ActionReply, StatusReplied},
	{StatusInProgress, ActionProgress, StatusInProgress},
	{StatusInProgress, ActionReply, StatusReplied},
	{StatusReplied, ActionVisit, StatusClosed},
	{StatusReplied, ActionVisit, StatusReopened},
	{StatusReopened, ActionAccept, StatusAccepted},
	{StatusReopened, ActionProgress, StatusInProgress},
	{StatusReopened, ActionReply, StatusReplied},
	{StatusTriaged, ActionClose, StatusClosed},
	{StatusDispatchRejected, ActionClose, StatusClosed},
	{StatusDispatchExpired, ActionClose, StatusClosed},
	{StatusDispatchFailed, ActionClose, StatusClosed},
	{StatusReturned, ActionClose, StatusClosed},
	{StatusReplied, ActionClose, StatusClosed},
}

// mergeable: every status but the finished ones (and replied, which waits
// for its return visit) may be merged into another open ticket.
func mergeable(status string) bool {
	return !slices.Contains([]string{StatusClosed, StatusMerged, StatusReplied}, status)
}

// NextStatuses lists the statuses a ticket in status may move to.
func NextStatuses(status string) []string {
	var out []string
	for _, e := range lifecycle {
		if e.from == status && !slices.Contains(out, e.to) {
			out = append(out, e.to)
		}
	}
	if mergeable(status) {
		out = append(out, StatusMerged)
	}
	slices.Sort(out)
	return out
}

// NextActions lists the API actions that apply to a ticket in status.
func NextActions(status string) []Action {
	var out []Action
	for _, e := range lifecycle {
		if e.from == status && e.action != ActionProposal && !slices.Contains(out, e.action) {
			out = append(out, e.action)
		}
	}
	if mergeable(status) {
		out = append(out, ActionMerge)
	}
	slices.Sort(out)
	return out
}

// legal reports whether action takes a ticket from from to to.
func legal(from string, action Action, to string) bool {
	if action == ActionMerge {
		return to == StatusMerged && mergeable(from)
	}
	return slices.Contains(lifecycle, edge{from, action, to})
}

// ErrIllegalTransition is wrapped by a TransitionError.
var ErrIllegalTransition = errors.New("hotline: illegal ticket transition")

// TransitionError is an action that does not apply to the ticket's
// status; it names the statuses and actions that do.
type TransitionError struct {
	TicketID string
	Status   string
	Action   Action
	Allowed  []string // the statuses the ticket may move to
	Actions  []Action // the actions that apply now
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("hotline: ticket %s is %s: %s does not apply (next: %s)", e.TicketID, e.Status, e.Action, strings.Join(e.Allowed, ", "))
}

// Unwrap makes errors.Is(err, ErrIllegalTransition) hold, and
// errors.Is(err, ErrClosed) for a ticket that is finished.
func (e *TransitionError) Unwrap() []error {
	if Finished(e.Status) {
		return []error{ErrIllegalTransition, ErrClosed}
	}
	return []error{ErrIllegalTransition}
}

func illegal(st store.Ticket, a Action) error {
	return &TransitionError{TicketID: st.ID, Status: st.Status, Action: a, Allowed: NextStatuses(st.Status), Actions: NextActions(st.Status)}
}

// Transition is one recorded change of a ticket's status (the
// hotline_transitions row): who, when, with which note, and the department
// the ticket was with afterwards.
type Transition struct {
	TicketID   string    `json:"ticket_id"`
	Seq        int64     `json:"seq"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Actor      string    `json:"actor"`
	Department string    `json:"department"`
	Note       string    `json:"note"`
	At         time.Time `json:"at"`
}

func transitionOf(t store.TicketTransition) Transition {
	return Transition{TicketID: t.TicketID, Seq: t.Seq, From: t.From, To: t.To, Actor: t.Actor, Department: t.Department, Note: t.Note, At: t.At}
}

// Audit kinds of the lifecycle. A transition is an event (ticket.updated);
// so is overdue (ticket.overdue). The warning is kept in the audit log.
const (
	KindTicketTransition = "hotline.ticket_transition"
	KindTicketOverdue    = "hotline.ticket_overdue"
	KindTicketWarning    = "hotline.ticket_warning"
)

// Open311Status maps a ticket status to GeoReport v2's status: closed for
// a finished ticket (closed or merged), open for every other.
func Open311Status(status string) string {
	if status == StatusClosed || status == StatusMerged {
		return "closed"
	}
	return "open"
}

// Finished reports whether a ticket in status takes no more transitions.
func Finished(status string) bool { return status == StatusClosed || status == StatusMerged }

// LifecycleView is where a ticket stands after triage, as the API shows it.
type LifecycleView struct {
	DispatchedAt *time.Time `json:"dispatched_at,omitempty"`
	AcceptedAt   *time.Time `json:"accepted_at,omitempty"`
	RepliedAt    *time.Time `json:"replied_at,omitempty"`
	VisitedAt    *time.Time `json:"visited_at,omitempty"`
	Satisfaction string     `json:"satisfaction,omitempty"`
	Solved       *bool      `json:"solved,omitempty"`
	// Warned: 80 % of the time was used (督办 warning); Overdue: past due
	// and escalated to the supervisor's queue.
	Warned     bool       `json:"warned"`
	WarnedAt   *time.Time `json:"warned_at,omitempty"`
	Overdue    bool       `json:"overdue"`
	OverdueAt  *time.Time `json:"overdue_at,omitempty"`
	ClockPause *time.Time `json:"clock_paused_since,omitempty"`
	// PausedSeconds is the time the clock stood still waiting for the
	// citizen; the deadline has moved by as much.
	PausedSeconds int64    `json:"paused_seconds"`
	MergedInto    string   `json:"merged_into,omitempty"`
	Returned      int      `json:"returned"`
	Reopened      int      `json:"reopened"`
	Open311Status string   `json:"open311_status"`
	NextActions   []Action `json:"next_actions"`
}

// applyLifecycle brings a ticket's view up to date with its stored row's
// lifecycle: the department it is with now, its deadline (moved by
// pauses) and where it stands.
func (s *Service) applyLifecycle(t *Ticket, st store.Ticket) {
	lc := st.Lifecycle
	if st.Department != "" && st.Department != t.Department {
		t.Department = st.Department
		if d, ok := s.tax.Department(st.Department); ok {
			t.DepartmentName = Text{Zh: d.NameZh, En: d.Name}
		}
	}
	if !st.Deadline.IsZero() {
		t.Deadline = st.Deadline
	}
	next := NextActions(st.Status)
	if next == nil {
		next = []Action{}
	}
	t.Lifecycle = &LifecycleView{DispatchedAt: lc.DispatchedAt, AcceptedAt: lc.AcceptedAt, RepliedAt: lc.RepliedAt, VisitedAt: lc.VisitedAt,
		Satisfaction: lc.Satisfaction, Solved: lc.Solved, Warned: lc.WarnedAt != nil, WarnedAt: lc.WarnedAt,
		Overdue: lc.OverdueAt != nil, OverdueAt: lc.OverdueAt, ClockPause: lc.PausedAt, PausedSeconds: int64(lc.Paused / time.Second),
		MergedInto: lc.MergedInto, Returned: lc.Returned, Reopened: lc.Reopened,
		Open311Status: Open311Status(st.Status), NextActions: next}
}

// LifecycleStore is the part of the state store the lifecycle writes;
// *store.DB implements it.
type LifecycleStore interface {
	TransitionTicket(ctx context.Context, u store.TransitionUpdate, audits ...audit.Entry) (store.Ticket, store.TicketTransition, error)
	TicketTransitions(ctx context.Context, ticketID string) ([]store.TicketTransition, error)
	FlagTicket(ctx context.Context, id, flag, status string, at time.Time, audits ...audit.Entry) (bool, error)
	ListQueue(ctx context.Context, f store.QueueFilter) ([]store.Ticket, error)
	TicketsToSupervise(ctx context.Context, flag string, share float64, statuses []string, at time.Time, limit int) ([]store.Ticket, error)
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

var _ LifecycleStore = (*store.DB)(nil)

// errNoLifecycle: the service's store cannot record transitions.
var errNoLifecycle = fmt.Errorf("%w: the state store does not support the ticket lifecycle", ErrUnavailable)

func (s *Service) lifecycleStore() (LifecycleStore, error) {
	ls, ok := s.store.(LifecycleStore)
	if !ok {
		return nil, errNoLifecycle
	}
	return ls, nil
}

// transitionAudit is the audit entry of a transition (event
// ticket.updated): ids, statuses, the department and the note.
func transitionAudit(actor string, u store.TransitionUpdate, department string, extra map[string]any) audit.Entry {
	p := map[string]any{"ticket_id": u.ID, "from": u.From, "to": u.To, "department": department, "note": clip(u.Note, 500)}
	for k, v := range extra {
		p[k] = v
	}
	return audit.Entry{Actor: actor, Kind: KindTicketTransition, Subject: u.ID, At: u.At, Payload: p}
}

// SystemDispatch is the actor of the transitions a dispatch proposal's
// decision makes (the decision itself is audited by the action service).
const SystemDispatch = "system:hotline-dispatch"

// followProposal records a change of a ticket's status that its dispatch
// proposal's decision made (pending_approval → dispatched, …).
func (s *Service) followProposal(ctx context.Context, st store.Ticket, next string) (store.Ticket, error) {
	ls, err := s.lifecycleStore()
	if err != nil {
		return st, err
	}
	u := store.TransitionUpdate{ID: st.ID, From: st.Status, To: next, Seq: st.Lifecycle.Transitions + 1, Actor: SystemDispatch,
		Note: "dispatch proposal " + st.ProposalID + ": " + next, At: s.now().UTC()}
	if next == StatusDispatched {
		u.Stamp = []string{"dispatched_at"}
	}
	up, _, err := ls.TransitionTicket(ctx, u, transitionAudit(SystemDispatch, u, st.Department, map[string]any{"action": ActionProposal, "proposal_id": st.ProposalID}))
	return up, err
}

// History returns a ticket and its transitions, oldest first, if by may
// see the ticket.
func (s *Service) History(ctx context.Context, id string, by access.Principal) (Ticket, []Transition, error) {
	ls, err := s.lifecycleStore()
	if err != nil {
		return Ticket{}, nil, err
	}
	st, err := s.ticketFor(ctx, id, by)
	if err != nil {
		return Ticket{}, nil, err
	}
	rows, err := ls.TicketTransitions(ctx, id)
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := make([]Transition, len(rows))
	for i, r := range rows {
		out[i] = transitionOf(r)
	}
	t, err := s.fromStore(st)
	return t, out, err
}

// storeDispatch stores a triaged ticket's dispatch outcome (and, with
// resp, its idempotency key's response): a recorded transition when the
// proposal moved the ticket on, else a plain update.
func (s *Service) storeDispatch(ctx context.Context, u store.TicketUpdate, resp *store.IdempotencyResponse) error {
	ls, ok := s.store.(LifecycleStore)
	if !ok || u.Status == StatusTriaged || u.Status == "" {
		_, err := s.store.UpdateTicket(ctx, u, resp)
		return err
	}
	// A triaged ticket has no transitions yet: nothing leads back to triaged.
	tu := store.TransitionUpdate{ID: u.ID, From: StatusTriaged, To: u.Status, Seq: 1, Actor: SystemDispatch, At: u.At,
		Note: "dispatch proposal " + u.ProposalID + ": " + u.Status, Data: u.Data, ProposalID: u.ProposalID, Idem: resp}
	if u.Status == StatusDispatched {
		tu.Stamp = []string{"dispatched_at"}
	}
	var dept struct {
		Department string `json:"department"`
	}
	_ = json.Unmarshal(u.Data, &dept)
	_, _, err := ls.TransitionTicket(ctx, tu, transitionAudit(SystemDispatch, tu, dept.Department, map[string]any{"action": ActionProposal, "proposal_id": u.ProposalID}))
	return err
}
