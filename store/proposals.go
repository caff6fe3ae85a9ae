package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
)

// Proposal statuses. The lifecycle is proposed → approved → executed |
// failed, or proposed → rejected | expired. While an approved proposal is
// being executed it stays approved with a claim (ClaimedAt, Attempts).
const (
	ProposalProposed = "proposed"
	ProposalApproved = "approved"
	ProposalExecuted = "executed"
	ProposalFailed   = "failed"
	ProposalRejected = "rejected"
	ProposalExpired  = "expired"
)

// ErrStateChanged is wrapped by the proposal transitions when the proposal
// is not in the state the transition starts from (it was decided, expired or
// claimed by someone else first). The error also wraps ErrConflict.
var ErrStateChanged = fmt.Errorf("%w: proposal state changed", ErrConflict)

// Proposal is a governed action an agent proposed, with everything needed
// to decide it and to show later why it was made.
type Proposal struct {
	ID           string
	Action       string
	Arguments    json.RawMessage
	Risk         string
	ApproverRole access.Role
	Clearance    access.Clearance // the highest clearance of its evidence; readers need it
	Status       string

	Agent, AgentVersion, Model string
	SessionID                  string
	Turn                       int
	TraceID                    string
	Question, Rationale        string
	Evidence                   json.RawMessage // JSON array, owned by package actions
	Flags                      []string        // warnings for the approver (e.g. instruction-like text in evidence)
	ProposerKeyID              string

	CreatedAt, ExpiresAt time.Time

	DecidedBy   string
	DecidedRole access.Role
	DecidedAt   *time.Time
	Comment     string

	ClaimedAt  *time.Time // the current execution claim, if any
	Attempts   int        // execution claims taken so far
	FinishedAt *time.Time
	Result     json.RawMessage // the executor's result (nil until executed)
	Error      string          // why execution failed
	UpdatedAt  time.Time
}

const proposalColumns = "id, action, arguments, risk, approver_role, clearance, status, agent, agent_version, model, session_id, turn, trace_id, " +
	"question, rationale, evidence, flags, proposer_key_id, created_at, expires_at, decided_by, decided_role, decided_at, comment, " +
	"claimed_at, attempts, finished_at, result, error, updated_at"

// CreateProposal stores p as proposed and appends audits in the same
// transaction. An id already stored gives ErrConflict.
func (db *DB) CreateProposal(ctx context.Context, p Proposal, audits ...audit.Entry) error {
	if p.ID == "" || p.Action == "" {
		return fmt.Errorf("store: create proposal %q: empty id or action", p.ID)
	}
	if !json.Valid(p.Arguments) || (len(p.Evidence) > 0 && !json.Valid(p.Evidence)) {
		return fmt.Errorf("store: create proposal %s: arguments and evidence must be JSON", p.ID)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	if len(p.Evidence) == 0 {
		p.Evidence = json.RawMessage("[]")
	}
	flags, err := json.Marshal(nonNil(p.Flags))
	if err != nil {
		return err
	}
	p.Status = ProposalProposed
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO proposals ("+proposalColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			p.ID, p.Action, string(p.Arguments), p.Risk, string(p.ApproverRole), string(p.Clearance), p.Status,
			p.Agent, p.AgentVersion, p.Model, p.SessionID, p.Turn, p.TraceID,
			p.Question, p.Rationale, string(p.Evidence), string(flags), p.ProposerKeyID,
			nanos(p.CreatedAt), nanos(p.ExpiresAt), "", "", nil, "", nil, 0, nil, nil, "", nanos(p.CreatedAt))
		if err != nil {
			return db.classify(err)
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create proposal %s: %w", p.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetProposal finds a proposal by id.
func (db *DB) GetProposal(ctx context.Context, id string) (Proposal, error) {
	p, err := scanProposal(db.sql.QueryRowContext(ctx, db.q("SELECT "+proposalColumns+" FROM proposals WHERE id = ?"), id))
	if err != nil {
		return Proposal{}, fmt.Errorf("store: get proposal %s: %w", id, err)
	}
	return p, nil
}

// ProposalFilter selects proposals; empty fields match everything.
type ProposalFilter struct {
	Status, Action, Agent, SessionID string
	// Clearances lists the levels the reader may see; nil means every level.
	Clearances []access.Clearance
	Limit      int    // ≤ 0: 50; at most 500
	Before     string // cursor: the id of the last proposal of the previous page
}

// ListProposals pages through proposals newest first (ties by id, descending).
// A cursor that names no proposal gives ErrNotFound.
func (db *DB) ListProposals(ctx context.Context, f ProposalFilter) ([]Proposal, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"status", f.Status}, {"action", f.Action}, {"agent", f.Agent}, {"session_id", f.SessionID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Clearances != nil {
		if len(f.Clearances) == 0 {
			return []Proposal{}, nil
		}
		marks := make([]string, len(f.Clearances))
		for i, c := range f.Clearances {
			marks[i] = "?"
			args = append(args, string(c))
		}
		where = append(where, "clearance IN ("+strings.Join(marks, ", ")+")")
	}
	if f.Before != "" {
		var created int64
		err := db.sql.QueryRowContext(ctx, db.q("SELECT created_at FROM proposals WHERE id = ?"), f.Before).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("store: list proposals: cursor %s: %w", f.Before, err)
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, created, created, f.Before)
	}
	q := "SELECT " + proposalColumns + " FROM proposals"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	out, err := queryRows(ctx, db.sql, db.q(q), args, scanProposal)
	if err != nil {
		return nil, fmt.Errorf("store: list proposals: %w", err)
	}
	return out, nil
}

// Decision moves a proposal out of proposed.
type Decision struct {
	ID      string
	Status  string // ProposalApproved or ProposalRejected
	By      string // the deciding key's id
	Role    access.Role
	Comment string
	At      time.Time
}

// DecideProposal approves or rejects a proposal that is still proposed and
// not expired at d.At, with one conditional UPDATE, and appends audits in the
// same transaction. Of concurrent deciders exactly one succeeds; the others
// get ErrStateChanged. An unknown id gives ErrNotFound. It returns the
// proposal as stored afterwards.
func (db *DB) DecideProposal(ctx context.Context, d Decision, audits ...audit.Entry) (Proposal, error) {
	if d.Status != ProposalApproved && d.Status != ProposalRejected {
		return Proposal{}, fmt.Errorf("store: decide proposal %s: status %q is not a decision", d.ID, d.Status)
	}
	at := nanos(d.At)
	p, err := db.transition(ctx, d.ID, audits,
		"UPDATE proposals SET status = ?, decided_by = ?, decided_role = ?, decided_at = ?, comment = ?, updated_at = ? WHERE id = ? AND status = ? AND expires_at > ?",
		d.Status, d.By, string(d.Role), at, d.Comment, at, d.ID, ProposalProposed, at)
	if err != nil {
		return p, fmt.Errorf("store: decide proposal %s: %w", d.ID, err)
	}
	return p, nil
}

// ExpireProposal marks a proposal expired if it is still proposed and its
// expiry is at or before at; otherwise ErrStateChanged.
func (db *DB) ExpireProposal(ctx context.Context, id string, at time.Time, audits ...audit.Entry) (Proposal, error) {
	p, err := db.transition(ctx, id, audits,
		"UPDATE proposals SET status = ?, updated_at = ? WHERE id = ? AND status = ? AND expires_at <= ?",
		ProposalExpired, nanos(at), id, ProposalProposed, nanos(at))
	if err != nil {
		return p, fmt.Errorf("store: expire proposal %s: %w", id, err)
	}
	return p, nil
}

// ClaimExecution takes the right to execute an approved proposal: one that
// is not claimed, or whose claim was taken before staleBefore (its executor
// crashed or hung). It returns the proposal with ClaimedAt = at and Attempts
// counting this claim; Attempts is the token FinishExecution checks. A
// proposal that is not approved, or is claimed and not stale, gives
// ErrStateChanged.
func (db *DB) ClaimExecution(ctx context.Context, id string, at, staleBefore time.Time) (Proposal, error) {
	p, err := db.transition(ctx, id, nil,
		"UPDATE proposals SET claimed_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = ? AND (claimed_at IS NULL OR claimed_at < ?)",
		nanos(at), nanos(at), id, ProposalApproved, nanos(staleBefore))
	if err != nil {
		return p, fmt.Errorf("store: claim proposal %s: %w", id, err)
	}
	return p, nil
}

// Outcome is how an execution ended.
type Outcome struct {
	ID      string
	Attempt int    // the Attempts value ClaimExecution returned
	Status  string // ProposalExecuted or ProposalFailed
	Result  json.RawMessage
	Error   string
	At      time.Time
}

// FinishExecution records an execution's outcome if the claim identified by
// o.Attempt still holds, and appends audits with it. A claim taken over by
// another executor gives ErrStateChanged.
func (db *DB) FinishExecution(ctx context.Context, o Outcome, audits ...audit.Entry) (Proposal, error) {
	if o.Status != ProposalExecuted && o.Status != ProposalFailed {
		return Proposal{}, fmt.Errorf("store: finish proposal %s: status %q is not an outcome", o.ID, o.Status)
	}
	var result any
	if o.Result != nil {
		if !json.Valid(o.Result) {
			return Proposal{}, fmt.Errorf("store: finish proposal %s: result is not JSON", o.ID)
		}
		result = string(o.Result)
	}
	p, err := db.transition(ctx, o.ID, audits,
		"UPDATE proposals SET status = ?, result = ?, error = ?, finished_at = ?, updated_at = ? WHERE id = ? AND status = ? AND attempts = ? AND claimed_at IS NOT NULL",
		o.Status, result, o.Error, nanos(o.At), nanos(o.At), o.ID, ProposalApproved, o.Attempt)
	if err != nil {
		return p, fmt.Errorf("store: finish proposal %s: %w", o.ID, err)
	}
	return p, nil
}

// transition runs one conditional UPDATE on a proposal and, if it changed
// the row, appends audits; it returns the proposal as it is afterwards (also
// when the condition did not hold, with ErrStateChanged).
func (db *DB) transition(ctx context.Context, id string, audits []audit.Entry, update string, args ...any) (Proposal, error) {
	var p Proposal
	changed := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(update), args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		changed = n == 1
		if changed {
			if _, err := db.appendAudit(ctx, tx, audits); err != nil {
				return err
			}
		}
		p, err = scanProposal(tx.QueryRowContext(ctx, db.q("SELECT "+proposalColumns+" FROM proposals WHERE id = ?"), id))
		return err
	})
	switch {
	case err != nil:
		return Proposal{}, err
	case !changed:
		return p, ErrStateChanged
	}
	return p, nil
}

// DueProposals lists up to limit ids of proposals still proposed whose
// expiry is at or before at, oldest first.
func (db *DB) DueProposals(ctx context.Context, at time.Time, limit int) ([]string, error) {
	return db.proposalIDs(ctx, "SELECT id FROM proposals WHERE status = ? AND expires_at <= ? ORDER BY expires_at, id LIMIT ?", ProposalProposed, nanos(at), limit)
}

// PendingExecutions lists up to limit ids of approved proposals that no live
// executor holds: never claimed (the process stopped between approval and
// execution) or claimed before staleBefore. Oldest decision first.
func (db *DB) PendingExecutions(ctx context.Context, staleBefore time.Time, limit int) ([]string, error) {
	return db.proposalIDs(ctx, "SELECT id FROM proposals WHERE status = ? AND (claimed_at IS NULL OR claimed_at < ?) ORDER BY decided_at, id LIMIT ?", ProposalApproved, nanos(staleBefore), limit)
}

func (db *DB) proposalIDs(ctx context.Context, q string, args ...any) ([]string, error) {
	out, err := queryRows(ctx, db.sql, db.q(q), args, func(s scanner) (id string, err error) {
		err = s.Scan(&id)
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list proposal ids: %w", err)
	}
	return out, nil
}

func scanProposal(s scanner) (Proposal, error) {
	var (
		p                                Proposal
		args, evidence, flags            string
		approver, clearance, decidedRole string
		created, expires, updated        int64
		decidedAt, claimedAt, finishedAt sql.NullInt64
		result                           sql.NullString
	)
	err := s.Scan(&p.ID, &p.Action, &args, &p.Risk, &approver, &clearance, &p.Status, &p.Agent, &p.AgentVersion, &p.Model,
		&p.SessionID, &p.Turn, &p.TraceID, &p.Question, &p.Rationale, &evidence, &flags, &p.ProposerKeyID,
		&created, &expires, &p.DecidedBy, &decidedRole, &decidedAt, &p.Comment,
		&claimedAt, &p.Attempts, &finishedAt, &result, &p.Error, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Proposal{}, ErrNotFound
	}
	if err != nil {
		return Proposal{}, err
	}
	p.Arguments, p.Evidence = json.RawMessage(args), json.RawMessage(evidence)
	if err := json.Unmarshal([]byte(flags), &p.Flags); err != nil {
		return Proposal{}, fmt.Errorf("proposal %s: flags: %w", p.ID, err)
	}
	p.ApproverRole, p.Clearance, p.DecidedRole = access.Role(approver), access.Clearance(clearance), access.Role(decidedRole)
	p.CreatedAt, p.ExpiresAt, p.UpdatedAt = fromNanos(created), fromNanos(expires), fromNanos(updated)
	p.DecidedAt, p.ClaimedAt, p.FinishedAt = fromNullNanos(decidedAt), fromNullNanos(claimedAt), fromNullNanos(finishedAt)
	if result.Valid {
		p.Result = json.RawMessage(result.String)
	}
	return p, nil
}

// Dispatch is a dispatch record the hotline.dispatch_ticket action writes.
type Dispatch struct {
	ID, ProposalID                string
	Department, Category, Urgency string
	Summary, Location             string
	DueAt, CreatedAt              time.Time
}

const dispatchColumns = "id, proposal_id, department, category, urgency, summary, location, due_at, created_at"

// CreateDispatch stores d unless its proposal already has a dispatch, and
// returns the proposal's dispatch either way: executing a proposal twice
// dispatches once. created reports whether d was stored.
func (db *DB) CreateDispatch(ctx context.Context, d Dispatch) (stored Dispatch, created bool, err error) {
	if d.ID == "" || d.ProposalID == "" {
		return Dispatch{}, false, fmt.Errorf("store: create dispatch %q: empty id or proposal", d.ID)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("INSERT INTO dispatches ("+dispatchColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (proposal_id) DO NOTHING"),
			d.ID, d.ProposalID, d.Department, d.Category, d.Urgency, d.Summary, d.Location, nanos(d.DueAt), nanos(d.CreatedAt))
		if err != nil {
			return db.classify(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		stored, err = scanDispatch(tx.QueryRowContext(ctx, db.q("SELECT "+dispatchColumns+" FROM dispatches WHERE proposal_id = ?"), d.ProposalID))
		return err
	})
	if err != nil {
		return Dispatch{}, false, fmt.Errorf("store: create dispatch for %s: %w", d.ProposalID, err)
	}
	return stored, created, nil
}

// DispatchFor returns the dispatch of a proposal.
func (db *DB) DispatchFor(ctx context.Context, proposalID string) (Dispatch, error) {
	d, err := scanDispatch(db.sql.QueryRowContext(ctx, db.q("SELECT "+dispatchColumns+" FROM dispatches WHERE proposal_id = ?"), proposalID))
	if err != nil {
		return Dispatch{}, fmt.Errorf("store: dispatch for %s: %w", proposalID, err)
	}
	return d, nil
}

func scanDispatch(s scanner) (Dispatch, error) {
	var d Dispatch
	var due, created int64
	err := s.Scan(&d.ID, &d.ProposalID, &d.Department, &d.Category, &d.Urgency, &d.Summary, &d.Location, &due, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Dispatch{}, ErrNotFound
	}
	if err != nil {
		return Dispatch{}, err
	}
	d.DueAt, d.CreatedAt = fromNanos(due), fromNanos(created)
	return d, nil
}
