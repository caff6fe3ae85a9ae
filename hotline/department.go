package hotline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// ErrForbidden is wrapped when a key's role may not take a lifecycle
// action (a hotline key accepting a ticket, a department key re-dispatching).
var ErrForbidden = usererr.New("hotline", "forbidden")

// actionRoles says who takes each action. A department key acts only on
// its own department's tickets; supervisors (and admins) on every ticket.
// The return visit (回访) is the hotline centre's, never the department's
// own assessment of its work; re-dispatch is the supervisor's decision.
var actionRoles = map[Action][]access.Role{
	ActionDispatch: {access.RoleSupervisor},
	ActionAccept:   {access.RoleDepartment, access.RoleSupervisor},
	ActionReturn:   {access.RoleDepartment, access.RoleSupervisor},
	ActionProgress: {access.RoleDepartment, access.RoleSupervisor},
	ActionReply:    {access.RoleDepartment, access.RoleSupervisor},
	ActionVisit:    {access.RoleHotline, access.RoleSupervisor},
	ActionMerge:    {access.RoleDepartment, access.RoleSupervisor},
	ActionClose:    {access.RoleHotline, access.RoleSupervisor},
}

// mayAct refuses an action the principal's role does not take.
func mayAct(by access.Principal, a Action) error {
	role := by.Role
	if role == access.RoleAdmin {
		role = access.RoleSupervisor
	}
	roles := actionRoles[a]
	if slices.Contains(roles, role) {
		return nil
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return usererr.Wrapf(ErrForbidden, "%s is for %s keys; this key's role is %s", a, strings.Join(names, " and "), by.Role)
}

// sees reports whether by may see a ticket of department: a department key
// only its own department's, the hotline and supervisors every one.
func sees(by access.Principal, department string) bool {
	return by.Role != access.RoleDepartment || (by.Department != "" && by.Department == department)
}

// ticketFor reads a ticket for by, brought up to date with its dispatch
// proposal. A ticket a department key may not see is not found, so that
// its existence is not revealed.
func (s *Service) ticketFor(ctx context.Context, id string, by access.Principal) (store.Ticket, error) {
	st, err := s.store.GetTicket(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(by, st.Department)) {
		return store.Ticket{}, usererr.Errorf("%w: ticket %s", ErrNotFound, id)
	}
	if err != nil {
		return store.Ticket{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return s.sync(ctx, st), nil
}

// QueueFilter selects a queue.
type QueueFilter struct {
	// Department: a department's queue; empty: every department (a
	// department key's queue is always its own department's).
	Department string
	// Status: one status; empty: the open ones (for a department, those
	// it works on: dispatched, accepted, in_progress, replied, reopened).
	Status string
	// Overdue: only tickets found past due and escalated (督办).
	Overdue bool
	Limit   int    // 1–100; default 20
	After   string // cursor: next_after of the previous page
}

// departmentStatuses are the statuses of a department's work.
var departmentStatuses = []string{StatusDispatched, StatusAccepted, StatusInProgress, StatusReplied, StatusReopened}

// openStatuses lists every status but the finished ones.
func openStatuses() []string {
	return slices.DeleteFunc(slices.Clone(Statuses), Finished)
}

// Queue pages through a queue, the nearest deadline first; next is the
// cursor of the next page ("" on the last).
func (s *Service) Queue(ctx context.Context, by access.Principal, f QueueFilter) (list []Ticket, next string, err error) {
	ls, err := s.lifecycleStore()
	if err != nil {
		return nil, "", err
	}
	sf := store.QueueFilter{Department: f.Department, Escalated: f.Overdue, After: f.After, Statuses: openStatuses()}
	switch {
	case by.Role == access.RoleDepartment && f.Department != "" && f.Department != by.Department:
		return nil, "", usererr.Wrapf(ErrForbidden, "a department key sees only its own department's queue (%s)", by.Department)
	case by.Role == access.RoleDepartment:
		sf.Department, sf.Statuses = by.Department, departmentStatuses
	case f.Department != "":
		if _, ok := s.tax.Department(f.Department); !ok {
			return nil, "", &InputError{"department", "is not a department of the taxonomy"}
		}
	}
	if f.Status != "" {
		if !slices.Contains(Statuses, f.Status) {
			return nil, "", &InputError{"status", "must be one of " + strings.Join(Statuses, ", ")}
		}
		sf.Statuses = []string{f.Status}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		return nil, "", &InputError{"limit", "must be 1 to 100"}
	}
	sf.Limit = limit + 1
	// Tickets waiting for their dispatch decision are read too: a decision
	// since then moves them on (sync), and those now in a wanted status
	// are shown.
	want := sf.Statuses
	if !slices.Contains(want, StatusPendingApproval) {
		sf.Statuses = append(slices.Clone(want), StatusPendingApproval)
	}
	rows, err := ls.ListQueue(ctx, sf)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", &InputError{"after", "names no ticket"}
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(rows) > limit {
		rows, next = rows[:limit], rows[limit-1].ID
	}
	list = make([]Ticket, 0, len(rows))
	for _, st := range rows {
		if st = s.sync(ctx, st); !slices.Contains(want, st.Status) {
			continue
		}
		t, err := s.fromStore(st)
		if err != nil {
			return nil, "", err
		}
		list = append(list, t)
	}
	return list, next, nil
}
