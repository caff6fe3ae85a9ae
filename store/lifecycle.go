package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// TicketLifecycle is where a ticket stands after triage (migration 0008):
// when it was dispatched, accepted, replied and visited, the return visit's
// result, its supervision flags and counters.
type TicketLifecycle struct {
	DispatchedAt, AcceptedAt, RepliedAt, VisitedAt *time.Time
	WarnedAt                                       *time.Time // the 80 % warning was recorded
	OverdueAt                                      *time.Time // the sweep found it past due (escalated)
	PausedAt                                       *time.Time // the clock is paused (waiting for the citizen) since
	Paused                                         time.Duration
	Satisfaction                                   string // satisfied | basically_satisfied | unsatisfied | ""
	Solved                                         *bool
	MergedInto                                     string
	DuplicateOf                                    string
	Reopened                                       int
	Returned                                       int
	// Transitions counts the ticket's rows in hotline_transitions: the
	// next transition's seq is Transitions+1.
	Transitions int64
}

const lifecycleColumns = "dispatched_at, accepted_at, replied_at, visited_at, warned_at, overdue_at, paused_at, paused_ns, " +
	"satisfaction, solved, merged_into, duplicate_of, reopened, returned, transitions"

// lifecycleScan receives the lifecycle columns of a row.
type lifecycleScan struct {
	dispatched, accepted, replied, visited, warned, overdue, paused sql.NullInt64
	pausedNS                                                        int64
	satisfaction, merged, duplicate                                 string
	solved                                                          sql.NullInt64
	reopened, returned, transitions                                 int64
}

func (l *lifecycleScan) dests() []any {
	return []any{&l.dispatched, &l.accepted, &l.replied, &l.visited, &l.warned, &l.overdue, &l.paused, &l.pausedNS,
		&l.satisfaction, &l.solved, &l.merged, &l.duplicate, &l.reopened, &l.returned, &l.transitions}
}

func (l *lifecycleScan) lifecycle() TicketLifecycle {
	out := TicketLifecycle{DispatchedAt: fromNullNanos(l.dispatched), AcceptedAt: fromNullNanos(l.accepted), RepliedAt: fromNullNanos(l.replied),
		VisitedAt: fromNullNanos(l.visited), WarnedAt: fromNullNanos(l.warned), OverdueAt: fromNullNanos(l.overdue),
		PausedAt: fromNullNanos(l.paused), Paused: time.Duration(l.pausedNS), Satisfaction: l.satisfaction, MergedInto: l.merged,
		DuplicateOf: l.duplicate, Reopened: int(l.reopened), Returned: int(l.returned), Transitions: l.transitions}
	if l.solved.Valid {
		v := l.solved.Int64 != 0
		out.Solved = &v
	}
	return out
}

// TicketTransition is one change of a ticket's status: who made it, when,
// with which note, and the department the ticket was with afterwards.
type TicketTransition struct {
	TicketID   string
	Seq        int64
	From, To   string
	Actor      string
	Department string
	Note       string
	At         time.Time
}

// TransitionUpdate moves a ticket from one status to another. The update
// applies only while the ticket is in From with Seq-1 transitions behind
// it, so of concurrent transitions exactly one wins. Zero fields leave a
// column as it is.
type TransitionUpdate struct {
	ID       string
	From, To string
	Seq      int64 // this transition's number: the stored Transitions + 1
	Actor    string
	Note     string
	At       time.Time

	Department   string // a new department (re-dispatch)
	Deadline     *time.Time
	Resolution   string
	Satisfaction string
	Solved       *bool
	MergedInto   string
	// Stamp names the time columns set to At: dispatched_at, accepted_at,
	// replied_at, visited_at, closed_at.
	Stamp       []string
	IncReturned bool
	IncReopened bool
	// Pause starts the clock's pause at At; Resume ends it, adding the
	// paused time to paused_ns (the caller moves Deadline by as much).
	Pause, Resume bool
	Resumed       time.Duration
	// ClearStamps names time columns set back to NULL.
	ClearStamps []string
	// Data replaces the stored view; ProposalID sets the dispatch
	// proposal; Idem stores an idempotency key's response and ends its
	// flight (the dispatch of a new ticket).
	Data       json.RawMessage
	ProposalID string
	Idem       *IdempotencyResponse
}

var stampColumns = map[string]bool{"dispatched_at": true, "accepted_at": true, "replied_at": true, "visited_at": true, "closed_at": true}

// TransitionTicket applies u with one conditional UPDATE, writes its
// hotline_transitions row and appends audits, in one transaction. An
// unknown id gives ErrNotFound; a ticket no longer in u.From (or with
// other transitions since) gives ErrTicketChanged with the ticket as it
// is now. It returns the ticket afterwards and the transition.
func (db *DB) TransitionTicket(ctx context.Context, u TransitionUpdate, audits ...audit.Entry) (Ticket, TicketTransition, error) {
	if u.ID == "" || u.From == "" || u.To == "" || u.Seq < 1 {
		return Ticket{}, TicketTransition{}, fmt.Errorf("store: transition ticket %q: id, from, to and seq are required", u.ID)
	}
	if u.At.IsZero() {
		u.At = time.Now()
	}
	if len(u.Data) > 0 && !json.Valid(u.Data) {
		return Ticket{}, TicketTransition{}, fmt.Errorf("store: transition ticket %s: data must be JSON", u.ID)
	}
	sets, args, err := transitionSets(u)
	if err != nil {
		return Ticket{}, TicketTransition{}, err
	}
	q := "UPDATE hotline_tickets SET " + strings.Join(sets, ", ") + " WHERE id = ? AND status = ? AND transitions = ?"
	args = append(args, u.ID, u.From, u.Seq-1)
	var (
		out Ticket
		tr  TicketTransition
	)
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(q), args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if out, err = scanTicket(tx.QueryRowContext(ctx, db.q("SELECT "+ticketSelect+" FROM hotline_tickets WHERE id = ?"), u.ID)); err != nil {
			return err
		}
		if n == 0 {
			return ErrTicketChanged
		}
		tr = TicketTransition{TicketID: u.ID, Seq: u.Seq, From: u.From, To: u.To, Actor: u.Actor, Department: out.Department, Note: u.Note, At: u.At.UTC()}
		var solved any
		if u.Solved != nil {
			solved = boolInt(*u.Solved)
		}
		if _, err := tx.ExecContext(ctx, db.q("INSERT INTO hotline_transitions (ticket_id, seq, from_status, to_status, actor, department, note, at, satisfaction, solved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			tr.TicketID, tr.Seq, tr.From, tr.To, tr.Actor, tr.Department, tr.Note, nanos(tr.At), u.Satisfaction, solved); err != nil {
			return db.classify(err)
		}
		if u.Idem != nil {
			if err := db.completeIdempotent(ctx, tx, *u.Idem); err != nil {
				return err
			}
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return out, TicketTransition{}, fmt.Errorf("store: transition ticket %s %s→%s: %w", u.ID, u.From, u.To, err)
	}
	return out, tr, nil
}

// transitionSets is the SET list of a transition's UPDATE.
func transitionSets(u TransitionUpdate) ([]string, []any, error) {
	at := nanos(u.At)
	sets := []string{"status = ?", "updated_at = ?", "transitions = transitions + 1"}
	args := []any{u.To, at}
	for _, c := range []struct{ col, v string }{{"department", u.Department}, {"resolution", u.Resolution},
		{"satisfaction", u.Satisfaction}, {"merged_into", u.MergedInto}, {"proposal_id", u.ProposalID}, {"data", string(u.Data)}} {
		if c.v != "" {
			sets = append(sets, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if u.Deadline != nil {
		sets, args = append(sets, "deadline = ?"), append(args, nanos(*u.Deadline))
	}
	if u.Solved != nil {
		sets, args = append(sets, "solved = ?"), append(args, boolInt(*u.Solved))
	}
	for _, col := range u.Stamp {
		if !stampColumns[col] {
			return nil, nil, fmt.Errorf("store: transition ticket %s: %q is not a time column", u.ID, col)
		}
		sets, args = append(sets, col+" = ?"), append(args, at)
	}
	for _, col := range u.ClearStamps {
		if !stampColumns[col] {
			return nil, nil, fmt.Errorf("store: transition ticket %s: %q is not a time column", u.ID, col)
		}
		sets = append(sets, col+" = NULL")
	}
	if u.IncReturned {
		sets = append(sets, "returned = returned + 1")
	}
	if u.IncReopened {
		sets = append(sets, "reopened = reopened + 1")
	}
	if u.Pause {
		sets, args = append(sets, "paused_at = ?"), append(args, at)
	}
	if u.Resume {
		sets, args = append(sets, "paused_at = NULL", "paused_ns = paused_ns + ?"), append(args, int64(u.Resumed))
	}
	return sets, args, nil
}

// TicketTransitions lists a ticket's transitions in order.
func (db *DB) TicketTransitions(ctx context.Context, ticketID string) ([]TicketTransition, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT ticket_id, seq, from_status, to_status, actor, department, note, at FROM hotline_transitions WHERE ticket_id = ? ORDER BY seq"),
		[]any{ticketID}, func(s scanner) (TicketTransition, error) {
			var t TicketTransition
			var at int64
			err := s.Scan(&t.TicketID, &t.Seq, &t.From, &t.To, &t.Actor, &t.Department, &t.Note, &at)
			t.At = fromNanos(at)
			return t, err
		})
	if err != nil {
		return nil, fmt.Errorf("store: transitions of %s: %w", ticketID, err)
	}
	return out, nil
}

// Supervision flags the deadline sweep sets once per ticket.
const (
	FlagWarned  = "warned_at"
	FlagOverdue = "overdue_at"
)

// FlagTicket sets a supervision flag (FlagWarned or FlagOverdue) of a
// ticket to at unless it is set already, with audits in the same
// transaction; set reports whether this call set it. A ticket whose
// status is no longer status is left alone.
func (db *DB) FlagTicket(ctx context.Context, id, flag, status string, at time.Time, audits ...audit.Entry) (set bool, err error) {
	if flag != FlagWarned && flag != FlagOverdue {
		return false, fmt.Errorf("store: flag ticket %s: unknown flag %q", id, flag)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE hotline_tickets SET "+flag+" = ? WHERE id = ? AND status = ? AND "+flag+" IS NULL"), nanos(at), id, status)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		set = true
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: flag ticket %s %s: %w", id, flag, err)
	}
	return set, nil
}

// QueueFilter selects a department's or the supervisor's queue.
type QueueFilter struct {
	Department string   // empty: every department
	Statuses   []string // any of these (required)
	Escalated  bool     // only tickets the sweep found overdue
	Limit      int      // ≤ 0: 50; at most 1000
	// After is a cursor: the last ticket id of the previous page. The
	// queue is ordered by deadline (most urgent first), ties by id.
	After string
}

// ListQueue pages through a queue, the nearest deadline first. A cursor
// that names no ticket gives ErrNotFound.
func (db *DB) ListQueue(ctx context.Context, f QueueFilter) ([]Ticket, error) {
	if len(f.Statuses) == 0 {
		return nil, errors.New("store: list queue: no statuses")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.Statuses)), ", ")
	where := []string{"status IN (" + marks + ")"}
	var args []any
	for _, s := range f.Statuses {
		args = append(args, s)
	}
	if f.Department != "" {
		where, args = append(where, "department = ?"), append(args, f.Department)
	}
	if f.Escalated {
		where = append(where, "overdue_at IS NOT NULL")
	}
	if f.After != "" {
		deadline, err := db.ticketDeadline(ctx, f.After)
		if err != nil {
			return nil, fmt.Errorf("store: list queue: cursor %s: %w", f.After, err)
		}
		where = append(where, "(deadline > ? OR (deadline = ? AND id > ?))")
		args = append(args, deadline, deadline, f.After)
	}
	q := "SELECT " + ticketSelect + " FROM hotline_tickets WHERE " + strings.Join(where, " AND ") + " ORDER BY deadline, id LIMIT ?"
	out, err := queryRows(ctx, db.sql, db.q(q), append(args, f.Limit), scanTicket)
	if err != nil {
		return nil, fmt.Errorf("store: list queue: %w", err)
	}
	return out, nil
}

// ticketDeadline is the deadline of ticket id (a queue cursor's sort key).
func (db *DB) ticketDeadline(ctx context.Context, id string) (int64, error) {
	var deadline int64
	err := db.sql.QueryRowContext(ctx, db.q("SELECT deadline FROM hotline_tickets WHERE id = ?"), id).Scan(&deadline)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return deadline, err
}

// TicketsToSupervise lists tickets in statuses whose clock is not paused
// and that lack the flag while at is past their warning time: for
// FlagOverdue the deadline, for FlagWarned received_at + share × (deadline
// − received_at). Oldest deadline first, at most limit.
func (db *DB) TicketsToSupervise(ctx context.Context, flag string, share float64, statuses []string, at time.Time, limit int) ([]Ticket, error) {
	if flag != FlagWarned && flag != FlagOverdue {
		return nil, fmt.Errorf("store: tickets to supervise: unknown flag %q", flag)
	}
	if len(statuses) == 0 {
		return nil, errors.New("store: tickets to supervise: no statuses")
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(statuses)), ", ")
	args := make([]any, 0, len(statuses)+3)
	for _, s := range statuses {
		args = append(args, s)
	}
	due := "deadline < ?"
	if flag == FlagWarned {
		// The share is a float on both backends (PostgreSQL would take the
		// parameter for a BIGINT), the product an integer.
		due = "received_at + CAST((deadline - received_at) * CAST(? AS DOUBLE PRECISION) AS BIGINT) <= ?"
		args = append(args, share)
	}
	args = append(args, nanos(at), max(limit, 1))
	q := "SELECT " + ticketSelect + " FROM hotline_tickets WHERE status IN (" + marks + ") AND paused_at IS NULL AND " + flag + " IS NULL AND " +
		due + " ORDER BY deadline, id LIMIT ?"
	out, err := queryRows(ctx, db.sql, db.q(q), args, scanTicket)
	if err != nil {
		return nil, fmt.Errorf("store: tickets to supervise: %w", err)
	}
	return out, nil
}
