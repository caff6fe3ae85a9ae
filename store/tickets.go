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

// Ticket is a hotline ticket as stored. Data holds the hotline's own view of
// the triage (JSON owned by package hotline); the columns are what lists,
// filters and statistics need.
type Ticket struct {
	ID, Token  string
	OwnerKeyID string
	Channel    string
	Text       string
	Caller     json.RawMessage // JSON object; {} when none
	Address    string
	Lat, Lon   *float64

	Type, Category, Department, Urgency string
	Status                              string
	Degraded                            bool
	ProposalID                          string
	SessionID, TraceID                  string
	Data                                json.RawMessage
	Resolution                          string

	ReceivedAt, CreatedAt, Deadline, UpdatedAt time.Time
	ClosedAt                                   *time.Time

	// Lifecycle holds the lifecycle columns (store/lifecycle.go); writes
	// go through TransitionTicket, not CreateTicket or UpdateTicket.
	Lifecycle TicketLifecycle

	// Personal is the ticket's encrypted personal data (store/personal.go),
	// written by CreateTicket in the ticket's transaction; reads leave it empty.
	Personal []PersonalDatum
}

const ticketColumns = "id, token, owner_key_id, channel, text, caller, address, lat, lon, type, category, department, urgency, status, " +
	"degraded, proposal_id, session_id, trace_id, data, resolution, received_at, created_at, deadline, updated_at, closed_at"

// ticketSelect is what every read of a ticket selects: its columns and the
// lifecycle columns.
const ticketSelect = ticketColumns + ", " + lifecycleColumns

// ErrTicketChanged is wrapped when a ticket or an idempotency key is not in
// the state a conditional write starts from (another request changed it
// first). It also wraps ErrConflict.
var ErrTicketChanged = fmt.Errorf("%w: ticket or idempotency key changed", ErrConflict)

// IdempotencyRef names the idempotency key a write belongs to.
type IdempotencyRef struct {
	Scope, Key string
}

// CreateTicket stores t and, when idem is not nil, records t as the ticket
// of that in-flight idempotency key, with audits, in one transaction. An id
// or token already stored gives ErrConflict.
func (db *DB) CreateTicket(ctx context.Context, t Ticket, idem *IdempotencyRef, audits ...audit.Entry) error {
	if t.ID == "" || t.Token == "" || t.Status == "" {
		return fmt.Errorf("store: create ticket %q: empty id, token or status", t.ID)
	}
	if len(t.Caller) == 0 {
		t.Caller = json.RawMessage("{}")
	}
	if len(t.Data) == 0 {
		t.Data = json.RawMessage("{}")
	}
	if !json.Valid(t.Caller) || !json.Valid(t.Data) {
		return fmt.Errorf("store: create ticket %s: caller and data must be JSON", t.ID)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	if t.ReceivedAt.IsZero() {
		t.ReceivedAt = t.CreatedAt
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO hotline_tickets ("+ticketColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			t.ID, t.Token, t.OwnerKeyID, t.Channel, t.Text, string(t.Caller), t.Address, t.Lat, t.Lon, t.Type, t.Category, t.Department,
			t.Urgency, t.Status, boolInt(t.Degraded), t.ProposalID, t.SessionID, t.TraceID, string(t.Data), t.Resolution,
			nanos(t.ReceivedAt), nanos(t.CreatedAt), nanos(t.Deadline), nanos(t.UpdatedAt), nullNanos(t.ClosedAt))
		if err != nil {
			return db.classify(err)
		}
		if err := db.insertPersonal(ctx, tx, t.Personal); err != nil {
			return err
		}
		if idem != nil {
			res, err := tx.ExecContext(ctx, db.q("UPDATE idempotency_keys SET ticket_id = ? WHERE scope = ? AND idem_key = ? AND status = 0"), t.ID, idem.Scope, idem.Key)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("%w: idempotency key %s is no longer in flight", ErrTicketChanged, idem.Key)
			}
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create ticket %s: %w", t.ID, err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// GetTicket finds a ticket by id.
func (db *DB) GetTicket(ctx context.Context, id string) (Ticket, error) {
	t, err := scanTicket(db.sql.QueryRowContext(ctx, db.q("SELECT "+ticketSelect+" FROM hotline_tickets WHERE id = ?"), id))
	if err != nil {
		return Ticket{}, fmt.Errorf("store: get ticket %s: %w", id, err)
	}
	return t, nil
}

// TicketByToken finds a ticket by its Open311 token.
func (db *DB) TicketByToken(ctx context.Context, token string) (Ticket, error) {
	t, err := scanTicket(db.sql.QueryRowContext(ctx, db.q("SELECT "+ticketSelect+" FROM hotline_tickets WHERE token = ?"), token))
	if err != nil {
		return Ticket{}, fmt.Errorf("store: ticket by token: %w", err)
	}
	return t, nil
}

// TicketUpdate changes a ticket's state. Empty strings and nil leave a
// column as it is; Data, when set, replaces the stored view.
type TicketUpdate struct {
	ID         string
	FromStatus string // when set, the update applies only in this status (else ErrTicketChanged)
	Status     string
	ProposalID string
	Data       json.RawMessage
	Resolution string
	ClosedAt   *time.Time
	At         time.Time
}

// UpdateTicket applies u with one conditional UPDATE and appends audits in
// the same transaction; when idem is not nil it also stores the key's
// response (the status and body a replay returns) and ends its flight.
// An unknown id gives ErrNotFound; a ticket not in u.FromStatus gives
// ErrTicketChanged. It returns the ticket as stored afterwards.
func (db *DB) UpdateTicket(ctx context.Context, u TicketUpdate, idem *IdempotencyResponse, audits ...audit.Entry) (Ticket, error) {
	if u.At.IsZero() {
		u.At = time.Now()
	}
	if len(u.Data) > 0 && !json.Valid(u.Data) {
		return Ticket{}, fmt.Errorf("store: update ticket %s: data must be JSON", u.ID)
	}
	sets := []string{"updated_at = ?"}
	args := []any{nanos(u.At)}
	for _, c := range []struct{ col, v string }{{"status", u.Status}, {"proposal_id", u.ProposalID}, {"resolution", u.Resolution}} {
		if c.v != "" {
			sets = append(sets, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(u.Data) > 0 {
		sets = append(sets, "data = ?")
		args = append(args, string(u.Data))
	}
	if u.ClosedAt != nil {
		sets = append(sets, "closed_at = ?")
		args = append(args, nanos(*u.ClosedAt))
	}
	q := "UPDATE hotline_tickets SET " + strings.Join(sets, ", ") + " WHERE id = ?"
	args = append(args, u.ID)
	if u.FromStatus != "" {
		q += " AND status = ?"
		args = append(args, u.FromStatus)
	}
	var out Ticket
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(q), args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		out, err = scanTicket(tx.QueryRowContext(ctx, db.q("SELECT "+ticketSelect+" FROM hotline_tickets WHERE id = ?"), u.ID))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrTicketChanged
		}
		if idem != nil {
			if err := db.completeIdempotent(ctx, tx, *idem); err != nil {
				return err
			}
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("store: update ticket %s: %w", u.ID, err)
	}
	return out, nil
}

// TicketFilter selects tickets; empty fields match everything.
type TicketFilter struct {
	Status, Type, Department, Urgency, Channel string
	Statuses                                   []string // any of these
	Category                                   string   // a code or a code prefix ("03" = every utility)
	Degraded                                   *bool
	IDs                                        []string
	Categories                                 []string  // any of these codes
	From, To                                   time.Time // received between (zero: unbounded); To exclusive
	OverdueAt                                  time.Time // when set: open tickets whose deadline is before it
	Limit                                      int       // ≤ 0: 50; at most 1000
	Offset                                     int       // rows to skip (Open311 pages); prefer Before
	Before                                     string    // cursor: the last ticket id of the previous page
	Oldest                                     bool      // oldest first instead of newest first
}

// ListTickets pages through tickets newest first (ties by id). A cursor
// that names no ticket gives ErrNotFound.
func (db *DB) ListTickets(ctx context.Context, f TicketFilter) ([]Ticket, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 1000)
	where, args := ticketWhere(f)
	if f.Before != "" {
		var created int64
		err := db.sql.QueryRowContext(ctx, db.q("SELECT created_at FROM hotline_tickets WHERE id = ?"), f.Before).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("store: list tickets: cursor %s: %w", f.Before, err)
		}
		if f.Oldest {
			where = append(where, "(created_at > ? OR (created_at = ? AND id > ?))")
		} else {
			where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		}
		args = append(args, created, created, f.Before)
	}
	q := "SELECT " + ticketSelect + " FROM hotline_tickets"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Oldest {
		q += " ORDER BY created_at ASC, id ASC LIMIT ? OFFSET ?"
	} else {
		q += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
	}
	args = append(args, f.Limit, max(f.Offset, 0))
	out, err := queryRows(ctx, db.sql, db.q(q), args, scanTicket)
	if err != nil {
		return nil, fmt.Errorf("store: list tickets: %w", err)
	}
	return out, nil
}

// TicketStatusClosed is the status of a finished ticket; every other status
// but TicketStatusMerged is open.
const TicketStatusClosed = "closed"

// TicketStatusMerged is the status of a ticket merged into another: it is
// finished too.
const TicketStatusMerged = "merged"

func ticketWhere(f TicketFilter) ([]string, []any) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"status", f.Status}, {"type", f.Type}, {"department", f.Department}, {"urgency", f.Urgency}, {"channel", f.Channel}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	in := func(col string, vs []string) {
		if len(vs) == 0 {
			return
		}
		marks := make([]string, len(vs))
		for i, v := range vs {
			marks[i] = "?"
			args = append(args, v)
		}
		where = append(where, col+" IN ("+strings.Join(marks, ", ")+")")
	}
	in("status", f.Statuses)
	in("id", f.IDs)
	in("category", f.Categories)
	if f.Category != "" {
		// Codes are digits, so a LIKE prefix needs no escaping; check anyway.
		where = append(where, "category LIKE ?")
		args = append(args, strings.NewReplacer("%", "", "_", "").Replace(f.Category)+"%")
	}
	if f.Degraded != nil {
		where = append(where, "degraded = ?")
		args = append(args, boolInt(*f.Degraded))
	}
	if !f.From.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, nanos(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, nanos(f.To))
	}
	if !f.OverdueAt.IsZero() {
		where = append(where, "status NOT IN (?, ?) AND deadline < ?")
		args = append(args, TicketStatusClosed, TicketStatusMerged, nanos(f.OverdueAt))
	}
	return where, args
}

// TicketStats are counts over the tickets a filter selects.
type TicketStats struct {
	Total          int
	ByType         map[string]int
	ByCategory     map[string]int
	ByDepartment   map[string]int
	ByStatus       map[string]int
	Closed         int
	ClosedOnTime   int // closed at or before the deadline
	OpenPastDue    int // open, deadline before the stats' time
	Degraded       int
	DispatchedOnce int // tickets with a dispatch proposal
}

// TicketStats counts the tickets f selects (its paging fields are ignored),
// with "past due" judged at at.
func (db *DB) TicketStats(ctx context.Context, f TicketFilter, at time.Time) (TicketStats, error) {
	f.Limit, f.Offset, f.Before, f.OverdueAt = 0, 0, "", time.Time{}
	where, args := ticketWhere(f)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	st := TicketStats{ByType: map[string]int{}, ByCategory: map[string]int{}, ByDepartment: map[string]int{}, ByStatus: map[string]int{}}
	for _, g := range []struct {
		col string
		m   map[string]int
	}{{"type", st.ByType}, {"category", st.ByCategory}, {"department", st.ByDepartment}, {"status", st.ByStatus}} {
		_, err := queryRows(ctx, db.sql, db.q("SELECT "+g.col+", COUNT(*) FROM hotline_tickets"+cond+" GROUP BY "+g.col), args, func(s scanner) (struct{}, error) {
			var k string
			var n int
			if err := s.Scan(&k, &n); err != nil {
				return struct{}{}, err
			}
			g.m[k] = n
			return struct{}{}, nil
		})
		if err != nil {
			return st, fmt.Errorf("store: ticket stats by %s: %w", g.col, err)
		}
	}
	// CAST: PostgreSQL sums BIGINT columns as NUMERIC.
	q := "SELECT COUNT(*)," +
		" CAST(COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS BIGINT)," +
		" CAST(COALESCE(SUM(CASE WHEN status = ? AND closed_at <= deadline THEN 1 ELSE 0 END), 0) AS BIGINT)," +
		" CAST(COALESCE(SUM(CASE WHEN status <> ? AND deadline < ? THEN 1 ELSE 0 END), 0) AS BIGINT)," +
		" CAST(COALESCE(SUM(degraded), 0) AS BIGINT)," +
		" CAST(COALESCE(SUM(CASE WHEN proposal_id <> '' THEN 1 ELSE 0 END), 0) AS BIGINT)" +
		" FROM hotline_tickets" + cond
	all := append([]any{TicketStatusClosed, TicketStatusClosed, TicketStatusClosed, nanos(at)}, args...)
	if err := db.sql.QueryRowContext(ctx, db.q(q), all...).Scan(&st.Total, &st.Closed, &st.ClosedOnTime, &st.OpenPastDue, &st.Degraded, &st.DispatchedOnce); err != nil {
		return st, fmt.Errorf("store: ticket stats: %w", err)
	}
	return st, nil
}

func scanTicket(s scanner) (Ticket, error) {
	var (
		t                                  Ticket
		caller, data                       string
		lat, lon                           sql.NullFloat64
		degraded                           int64
		received, created, deadline, updat int64
		closed                             sql.NullInt64
	)
	var lc lifecycleScan
	err := s.Scan(append([]any{&t.ID, &t.Token, &t.OwnerKeyID, &t.Channel, &t.Text, &caller, &t.Address, &lat, &lon, &t.Type, &t.Category,
		&t.Department, &t.Urgency, &t.Status, &degraded, &t.ProposalID, &t.SessionID, &t.TraceID, &data, &t.Resolution,
		&received, &created, &deadline, &updat, &closed}, lc.dests()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, ErrNotFound
	}
	if err != nil {
		return Ticket{}, err
	}
	t.Caller, t.Data = json.RawMessage(caller), json.RawMessage(data)
	if lat.Valid {
		t.Lat = &lat.Float64
	}
	if lon.Valid {
		t.Lon = &lon.Float64
	}
	t.Degraded = degraded != 0
	t.ReceivedAt, t.CreatedAt, t.Deadline, t.UpdatedAt = fromNanos(received), fromNanos(created), fromNanos(deadline), fromNanos(updat)
	t.ClosedAt = fromNullNanos(closed)
	t.Lifecycle = lc.lifecycle()
	return t, nil
}

// ---- idempotency keys --------------------------------------------------------

// Idempotency is a stored idempotency key.
type Idempotency struct {
	Scope, Key  string
	RequestHash string
	Status      int             // 0 while in flight; else the response's HTTP status
	Response    json.RawMessage // the response body a replay returns
	TicketID    string          // the ticket the request created, once it has
	CreatedAt   time.Time
	LockedAt    time.Time // when the current flight claimed it
	ExpiresAt   time.Time
}

// InFlight reports whether the key's first request has not finished.
func (i Idempotency) InFlight() bool { return i.Status == 0 }

// IdempotencyResponse is what a finished request stores under its key.
type IdempotencyResponse struct {
	Scope, Key string
	Status     int
	Response   json.RawMessage
}

// ClaimIdempotency takes the key for a request: it stores rec as in flight
// when the key is new or its stored record has expired (at ≥ ExpiresAt), or
// takes over a flight of the same request whose claim is older than
// staleBefore (its process died). claimed reports whether the caller now
// owns the key; either way the record as stored is returned. Of concurrent
// claimants of one key exactly one owns it.
func (db *DB) ClaimIdempotency(ctx context.Context, rec Idempotency, staleBefore time.Time) (stored Idempotency, claimed bool, err error) {
	if rec.Scope == "" || rec.Key == "" || rec.RequestHash == "" {
		return Idempotency{}, false, errors.New("store: claim idempotency key: empty scope, key or hash")
	}
	now := rec.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, response, ticket_id, created_at, locked_at, expires_at) "+
			"VALUES (?, ?, ?, 0, '', '', ?, ?, ?) ON CONFLICT (scope, idem_key) DO NOTHING"),
			rec.Scope, rec.Key, rec.RequestHash, nanos(now), nanos(now), nanos(rec.ExpiresAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			claimed = true
			stored, err = db.idempotency(ctx, tx, rec.Scope, rec.Key)
			return err
		}
		if stored, err = db.idempotency(ctx, tx, rec.Scope, rec.Key); err != nil {
			return err
		}
		var upd sql.Result
		switch {
		case !now.Before(stored.ExpiresAt):
			upd, err = tx.ExecContext(ctx, db.q("UPDATE idempotency_keys SET request_hash = ?, status = 0, response = '', ticket_id = '', created_at = ?, locked_at = ?, expires_at = ? "+
				"WHERE scope = ? AND idem_key = ? AND created_at = ?"),
				rec.RequestHash, nanos(now), nanos(now), nanos(rec.ExpiresAt), rec.Scope, rec.Key, nanos(stored.CreatedAt))
		case stored.InFlight() && stored.RequestHash == rec.RequestHash && stored.LockedAt.Before(staleBefore):
			upd, err = tx.ExecContext(ctx, db.q("UPDATE idempotency_keys SET locked_at = ? WHERE scope = ? AND idem_key = ? AND status = 0 AND locked_at = ?"),
				nanos(now), rec.Scope, rec.Key, nanos(stored.LockedAt))
		default:
			return nil
		}
		if err != nil {
			return err
		}
		if n, err := upd.RowsAffected(); err != nil || n != 1 {
			return err
		}
		claimed = true
		stored, err = db.idempotency(ctx, tx, rec.Scope, rec.Key)
		return err
	})
	if err != nil {
		return Idempotency{}, false, fmt.Errorf("store: claim idempotency key: %w", err)
	}
	return stored, claimed, nil
}

// GetIdempotency returns a stored key.
func (db *DB) GetIdempotency(ctx context.Context, scope, key string) (Idempotency, error) {
	rec, err := db.idempotency(ctx, db.sql, scope, key)
	if err != nil {
		return Idempotency{}, fmt.Errorf("store: get idempotency key: %w", err)
	}
	return rec, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) idempotency(ctx context.Context, q querier, scope, key string) (Idempotency, error) {
	var (
		rec                        Idempotency
		resp                       string
		created, locked, expiresAt int64
	)
	err := q.QueryRowContext(ctx, db.q("SELECT scope, idem_key, request_hash, status, response, ticket_id, created_at, locked_at, expires_at FROM idempotency_keys WHERE scope = ? AND idem_key = ?"), scope, key).
		Scan(&rec.Scope, &rec.Key, &rec.RequestHash, &rec.Status, &resp, &rec.TicketID, &created, &locked, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Idempotency{}, ErrNotFound
	}
	if err != nil {
		return Idempotency{}, err
	}
	if resp != "" {
		rec.Response = json.RawMessage(resp)
	}
	rec.CreatedAt, rec.LockedAt, rec.ExpiresAt = fromNanos(created), fromNanos(locked), fromNanos(expiresAt)
	return rec, nil
}

// CompleteIdempotency stores the response of a key's flight and ends it.
// A key that is not in flight gives ErrTicketChanged.
func (db *DB) CompleteIdempotency(ctx context.Context, r IdempotencyResponse) error {
	err := db.write(ctx, func(tx *sql.Tx) error { return db.completeIdempotent(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("store: complete idempotency key: %w", err)
	}
	return nil
}

func (db *DB) completeIdempotent(ctx context.Context, tx *sql.Tx, r IdempotencyResponse) error {
	if r.Status <= 0 {
		return fmt.Errorf("idempotency key %s: status %d is not an HTTP status", r.Key, r.Status)
	}
	res, err := tx.ExecContext(ctx, db.q("UPDATE idempotency_keys SET status = ?, response = ? WHERE scope = ? AND idem_key = ? AND status = 0"),
		r.Status, string(r.Response), r.Scope, r.Key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("%w: idempotency key %s is not in flight", ErrTicketChanged, r.Key)
	}
	return nil
}

// ReleaseIdempotency gives up an in-flight key whose request failed before
// creating anything, so that a retry can claim it at once. A key that holds
// a ticket, or that another flight has taken over since lockedAt, stays.
func (db *DB) ReleaseIdempotency(ctx context.Context, scope, key string, lockedAt time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND status = 0 AND ticket_id = '' AND locked_at = ?"),
			scope, key, nanos(lockedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotency deletes finished keys that expired before at and
// returns how many.
func (db *DB) PurgeIdempotency(ctx context.Context, at time.Time) (int, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("DELETE FROM idempotency_keys WHERE expires_at < ? AND status <> 0"), nanos(at))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge idempotency keys: %w", err)
	}
	return int(n), nil
}
