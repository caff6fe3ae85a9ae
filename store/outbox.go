package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
)

var _ events.Source = (*DB)(nil)

const eventColumns = "seq, id, type, subject, audience, clearance, department, body, created_at"

// writeOutbox inserts, inside the audit transaction tx, the outbox row of
// every record that is an event (events.Project decides which), so that an
// event commits exactly when its audit record does.
func (db *DB) writeOutbox(ctx context.Context, tx *sql.Tx, recs []audit.Record) error {
	ins := db.q("INSERT INTO events (" + eventColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	for _, r := range recs {
		aud, ok := events.Audience(r.Kind)
		if !ok {
			continue
		}
		subj, err := db.eventSubject(ctx, tx, aud, r.Subject)
		if err != nil {
			return fmt.Errorf("event subject of record %d: %w", r.Seq, err)
		}
		e, ok := events.Project(r, subj, events.NewEventID)
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, ins, e.Seq, e.ID, e.Type, e.Subject, e.Audience, string(e.Clearance), e.Department,
			string(e.Body), nanos(e.At)); err != nil {
			return fmt.Errorf("insert event of record %d: %w", r.Seq, err)
		}
	}
	return nil
}

// eventSubject reads the facts an event carries about its proposal or
// ticket (its clearance and department decide who sees it). A subject
// that is not there yields empty facts.
func (db *DB) eventSubject(ctx context.Context, tx *sql.Tx, audience, id string) (events.Subject, error) {
	var s events.Subject
	var err error
	switch audience {
	case "proposals":
		err = tx.QueryRowContext(ctx, db.q("SELECT action, risk, agent, clearance FROM proposals WHERE id = ?"), id).
			Scan(&s.Action, &s.Risk, &s.Agent, &s.Clearance)
	case "tickets":
		err = tx.QueryRowContext(ctx, db.q("SELECT status, department, type, category, urgency FROM hotline_tickets WHERE id = ?"), id).
			Scan(&s.Status, &s.Department, &s.Type, &s.Category, &s.Urgency)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return events.Subject{}, nil
	}
	return s, err
}

// EventsAfter returns up to limit outbox events with seq > after, oldest
// first. Seqs are assigned under the audit head's lock, which is held to
// commit, so a reader that saw seq n never later finds a new event below n.
func (db *DB) EventsAfter(ctx context.Context, after int64, limit int) ([]events.Event, error) {
	if limit <= 0 || limit > maxAuditPage {
		limit = maxAuditPage
	}
	out, err := queryRows(ctx, db.sql, db.q("SELECT "+eventColumns+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
		[]any{after, limit}, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: events after %d: %w", after, err)
	}
	return out, nil
}

// EventsHead is the seq of the newest event, 0 when there is none.
func (db *DB) EventsHead(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.sql.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: events head: %w", err)
	}
	return seq, nil
}

func scanEvent(s scanner) (events.Event, error) {
	var e events.Event
	var clr, body string
	var at int64
	err := s.Scan(&e.Seq, &e.ID, &e.Type, &e.Subject, &e.Audience, &clr, &e.Department, &body, &at)
	e.Clearance, e.Body, e.At = access.Clearance(clr), []byte(body), fromNanos(at)
	return e, err
}
