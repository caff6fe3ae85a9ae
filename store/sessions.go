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

// Session is one conversation between a key's holder and an agent.
type Session struct {
	ID         string
	Agent      string
	OwnerKeyID string
	Title      string
	CreatedAt  time.Time
	UpdatedAt  time.Time // the newest event's time
}

// Event is one entry of a session's transcript. Seq numbers a session's
// events 1, 2, 3… in the order they were appended; Turn groups the events
// of one chat turn; Data is the event's JSON payload, owned by its Type.
type Event struct {
	SessionID string
	Seq       int64
	Turn      int
	Type      string
	Data      json.RawMessage
	CreatedAt time.Time
}

// Page sizes for ListSessions.
const (
	defaultSessionPage = 50
	maxSessionPage     = 500
)

const sessionColumns = "id, agent, owner_key_id, title, created_at, updated_at"

// CreateSession stores s. A zero CreatedAt means now; a zero UpdatedAt means
// CreatedAt. An id already stored gives ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	if s.ID == "" || s.Agent == "" {
		return fmt.Errorf("store: create session %q: empty id or agent", s.ID)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			s.ID, s.Agent, s.OwnerKeyID, s.Title, nanos(s.CreatedAt), nanos(s.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create session %s: %w", s.ID, db.classify(err))
	}
	return nil
}

// GetSession finds a session by id.
func (db *DB) GetSession(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(db.sql.QueryRowContext(ctx, db.q("SELECT "+sessionColumns+" FROM sessions WHERE id = ?"), id))
	if err != nil {
		return Session{}, fmt.Errorf("store: get session %s: %w", id, err)
	}
	return s, nil
}

// ListSessions pages through sessions newest first (by creation; ties by id,
// descending). ownerKeyID restricts the list to one owner; empty lists every
// owner's. limit ≤ 0 means 50, and at most 500 are returned. before is the
// cursor: empty for the first page, else the ID of the last session of the
// previous page. A cursor that names no session (of that owner) gives
// ErrNotFound.
func (db *DB) ListSessions(ctx context.Context, ownerKeyID string, limit int, before string) ([]Session, error) {
	if limit <= 0 {
		limit = defaultSessionPage
	}
	limit = min(limit, maxSessionPage)

	var (
		where []string
		args  []any
	)
	if ownerKeyID != "" {
		where = append(where, "owner_key_id = ?")
		args = append(args, ownerKeyID)
	}
	if before != "" {
		cur, err := scanSession(db.sql.QueryRowContext(ctx, db.q("SELECT "+sessionColumns+" FROM sessions WHERE id = ?"), before))
		if err == nil && ownerKeyID != "" && cur.OwnerKeyID != ownerKeyID {
			err = ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: cursor %s: %w", before, err)
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, nanos(cur.CreatedAt), nanos(cur.CreatedAt), cur.ID)
	}
	query := "SELECT " + sessionColumns + " FROM sessions"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit)

	out, err := queryRows(ctx, db.sql, db.q(query), args, scanSession)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return out, nil
}

// AppendEvents appends events to a session's transcript in one transaction
// and returns them with SessionID and Seq filled (and CreatedAt, when zero,
// set to now). Seq continues the session's numbering without gaps; concurrent
// appenders to one session queue behind a lock on its row, so none collide
// or are lost. The session's UpdatedAt moves to the newest event's time.
// Nil Data is stored as JSON null; Data that is not JSON is refused.
// An unknown session gives ErrNotFound.
func (db *DB) AppendEvents(ctx context.Context, sessionID string, events []Event) ([]Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out, err := checkEvents(sessionID, events)
	if err != nil {
		return nil, fmt.Errorf("store: append events to %s: %w", sessionID, err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error { return db.appendEvents(ctx, tx, sessionID, out) })
	if err != nil {
		return nil, fmt.Errorf("store: append events to %s: %w", sessionID, err)
	}
	return out, nil
}

// AppendEventsWithAudit appends events to a session's transcript (as
// AppendEvents) and entries to the audit chain (as AppendAudit) in one
// write: all of it or none. A chat turn closes this way, so that its
// answer and the answer's audit record commit together, at the cost of
// one write instead of two.
func (db *DB) AppendEventsWithAudit(ctx context.Context, sessionID string, events []Event, entries []audit.Entry) ([]Event, error) {
	out, err := checkEvents(sessionID, events)
	if err != nil {
		return nil, fmt.Errorf("store: append events to %s: %w", sessionID, err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if len(out) > 0 {
			if err := db.appendEvents(ctx, tx, sessionID, out); err != nil {
				return fmt.Errorf("append events to %s: %w", sessionID, err)
			}
		}
		if _, err := db.appendAudit(ctx, tx, entries); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// appendEvents appends checked events to a session inside tx.
func (db *DB) appendEvents(ctx context.Context, tx *sql.Tx, sessionID string, out []Event) error {
	var updated int64
	err := db.txQueryRow(ctx, tx, db.d.lockSession(), sessionID).Scan(&updated)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	var last int64
	if err := db.txQueryRow(ctx, tx, "SELECT COALESCE(MAX(seq), 0) FROM session_events WHERE session_id = ?", sessionID).Scan(&last); err != nil {
		return err
	}
	if updated, err = db.insertEventRows(ctx, tx, sessionID, out, last, updated); err != nil {
		return err
	}
	_, err = db.txExec(ctx, tx, "UPDATE sessions SET updated_at = ? WHERE id = ?", updated, sessionID)
	return err
}

// CreateSessionWithEvents stores s and appends its first events in one
// write: CreateSession followed by AppendEvents, at the cost of one. A
// chat turn that opens a session records its question this way. The rules
// of both apply (an id already stored gives ErrConflict, Data that is not
// JSON is refused); nothing is stored when either fails. It returns the
// events with SessionID and Seq filled, as AppendEvents does.
func (db *DB) CreateSessionWithEvents(ctx context.Context, s Session, events []Event) ([]Event, error) {
	if s.ID == "" || s.Agent == "" {
		return nil, fmt.Errorf("store: create session %q: empty id or agent", s.ID)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	out, err := checkEvents(s.ID, events)
	if err != nil {
		return nil, fmt.Errorf("store: create session %s: %w", s.ID, err)
	}
	updated := nanos(s.UpdatedAt)
	for _, e := range out {
		updated = max(updated, nanos(e.CreatedAt))
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			s.ID, s.Agent, s.OwnerKeyID, s.Title, nanos(s.CreatedAt), updated); err != nil {
			return db.classify(err)
		}
		_, err := db.insertEventRows(ctx, tx, s.ID, out, 0, updated)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: create session %s: %w", s.ID, err)
	}
	return out, nil
}

// checkEvents validates events for sessionID and returns copies ready to
// insert: nil Data as JSON null, a zero CreatedAt as now, times in UTC.
func checkEvents(sessionID string, events []Event) ([]Event, error) {
	now := time.Now()
	out := make([]Event, len(events))
	for i, e := range events {
		if e.Type == "" {
			return nil, fmt.Errorf("event %d has no type", i)
		}
		if e.Data == nil {
			e.Data = json.RawMessage("null")
		}
		if !json.Valid(e.Data) {
			return nil, fmt.Errorf("event %d (%s): data is not JSON", i, e.Type)
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		e.SessionID = sessionID
		e.CreatedAt = e.CreatedAt.UTC()
		out[i] = e
	}
	return out, nil
}

// insertEventRows inserts events as the session's seq last+1, last+2, …
// (filling their Seq) and returns updated moved to the newest event's time.
func (db *DB) insertEventRows(ctx context.Context, tx *sql.Tx, sessionID string, events []Event, last, updated int64) (int64, error) {
	// A turn appends its closing events together: one statement of
	// several rows (at most eventsPerInsert) costs the writer much less
	// than one statement each.
	for start := 0; start < len(events); start += eventsPerInsert {
		rows := events[start:min(start+eventsPerInsert, len(events))]
		args := make([]any, 0, 6*len(rows))
		for i := range rows {
			rows[i].Seq = last + int64(start+i) + 1
			e := rows[i]
			args = append(args, sessionID, e.Seq, e.Turn, e.Type, string(e.Data), nanos(e.CreatedAt))
			updated = max(updated, nanos(e.CreatedAt))
		}
		if _, err := db.txExec(ctx, tx, insertEvents(len(rows)), args...); err != nil {
			return 0, db.classify(err)
		}
	}
	return updated, nil
}

// eventsPerInsert bounds the rows of one INSERT of events, and so the
// prepared statements (one per row count) and their parameters.
const eventsPerInsert = 16

// insertEventsSQL are the INSERTs of 1 … eventsPerInsert events, built once
// so that the writer's prepared statements are found by the same text.
var insertEventsSQL = func() []string {
	out := make([]string, eventsPerInsert+1)
	q := "INSERT INTO session_events (session_id, seq, turn, type, data, created_at) VALUES (?, ?, ?, ?, ?, ?)"
	for n := 1; n <= eventsPerInsert; n++ {
		out[n] = q
		q += ", (?, ?, ?, ?, ?, ?)"
	}
	return out
}()

func insertEvents(n int) string { return insertEventsSQL[n] }

// Events returns a session's whole transcript in seq order. An unknown
// session gives ErrNotFound; a session without events, an empty slice.
func (db *DB) Events(ctx context.Context, sessionID string) ([]Event, error) {
	q := db.q("SELECT seq, turn, type, data, created_at FROM session_events WHERE session_id = ? ORDER BY seq")
	out, err := queryRows(ctx, db.sql, q, []any{sessionID}, func(s scanner) (Event, error) {
		var (
			e       = Event{SessionID: sessionID}
			data    string
			created int64
		)
		err := s.Scan(&e.Seq, &e.Turn, &e.Type, &data, &created)
		e.Data, e.CreatedAt = json.RawMessage(data), fromNanos(created)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", sessionID, err)
	}
	if len(out) == 0 {
		if err := db.sessionExists(ctx, sessionID); err != nil {
			return nil, fmt.Errorf("store: events of %s: %w", sessionID, err)
		}
	}
	return out, nil
}

// LastTurn is the highest turn number among a session's events; 0 when it
// has none. An unknown session gives ErrNotFound.
func (db *DB) LastTurn(ctx context.Context, sessionID string) (int, error) {
	var turn sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, db.q("SELECT MAX(turn) FROM session_events WHERE session_id = ?"), sessionID).Scan(&turn); err != nil {
		return 0, fmt.Errorf("store: last turn of %s: %w", sessionID, err)
	}
	if !turn.Valid {
		if err := db.sessionExists(ctx, sessionID); err != nil {
			return 0, fmt.Errorf("store: last turn of %s: %w", sessionID, err)
		}
	}
	return int(turn.Int64), nil
}

func (db *DB) sessionExists(ctx context.Context, id string) error {
	var one int
	err := db.sql.QueryRowContext(ctx, db.q("SELECT 1 FROM sessions WHERE id = ?"), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func scanSession(s scanner) (Session, error) {
	var (
		x                Session
		created, updated int64
	)
	err := s.Scan(&x.ID, &x.Agent, &x.OwnerKeyID, &x.Title, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	x.CreatedAt, x.UpdatedAt = fromNanos(created), fromNanos(updated)
	return x, nil
}
