package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

var (
	_ audit.Auditor = (*DB)(nil)
	_ audit.Source  = (*DB)(nil)
)

const auditColumns = "seq, at, actor, kind, subject, payload, payload_hash, prev_hash, hash"

// Page sizes for ListAudit.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// Audit appends entries to the audit chain in one transaction: all of them
// or none. It implements audit.Auditor.
func (db *DB) Audit(ctx context.Context, entries ...audit.Entry) error {
	_, err := db.AppendAudit(ctx, entries...)
	return err
}

// AppendAudit appends entries and returns the records as stored. Appenders
// queue on the chain's head row (SQLite's write lock; FOR UPDATE on
// PostgreSQL), so seqs run 1, 2, 3… without gaps and each record links to
// the one before it.
func (db *DB) AppendAudit(ctx context.Context, entries ...audit.Entry) ([]audit.Record, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	var out []audit.Record
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = db.appendAudit(ctx, tx, entries)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: append audit: %w", err)
	}
	return out, nil
}

// appendAudit extends the chain inside tx; other writes (proposal changes)
// call it so that a change and its record commit together.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, entries []audit.Entry) ([]audit.Record, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	recs := make([]audit.Record, len(entries))
	for i, e := range entries {
		if e.Kind == "" {
			return nil, errors.New("audit entry without a kind")
		}
		payload, err := audit.EncodePayload(e.Payload)
		if err != nil {
			return nil, err
		}
		at := e.At
		if at.IsZero() {
			at = time.Now()
		}
		recs[i] = audit.Record{At: at.UTC(), Actor: e.Actor, Kind: e.Kind, Subject: e.Subject, Payload: payload}
	}
	lock := "SELECT seq, hash FROM audit_head WHERE id = 1"
	if db.d.name() == BackendPostgres {
		lock += " FOR UPDATE"
	}
	var seq int64
	var prev string
	if err := db.txQueryRow(ctx, tx, lock).Scan(&seq, &prev); err != nil {
		return nil, fmt.Errorf("lock audit head: %w", err)
	}
	ins := "INSERT INTO audit_log (" + auditColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for i := range recs {
		r := &recs[i]
		seq++
		r.Seq = seq
		r.At = fromNanos(nanos(r.At)) // what the store gives back
		audit.Seal(r, prev)
		if _, err := db.txExec(ctx, tx, ins, r.Seq, nanos(r.At), r.Actor, r.Kind, r.Subject, string(r.Payload), r.PayloadHash, r.PrevHash, r.Hash); err != nil {
			return nil, fmt.Errorf("insert audit record %d: %w", r.Seq, err)
		}
		prev = r.Hash
	}
	if _, err := db.txExec(ctx, tx, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", seq, prev); err != nil {
		return nil, fmt.Errorf("move audit head: %w", err)
	}
	if err := db.writeOutbox(ctx, tx, recs); err != nil { // store/outbox.go: events commit with their records
		return nil, err
	}
	return recs, nil
}

// AuditHead returns the seq and hash of the last appended record (0 and
// audit.Genesis for an empty chain). It implements audit.Source.
func (db *DB) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := db.sql.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("store: audit head: %w", ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("store: audit head: %w", err)
	}
	return seq, hash, nil
}

// AuditChain returns up to limit records with seq > after in seq order. It
// implements audit.Source.
func (db *DB) AuditChain(ctx context.Context, after int64, limit int) ([]audit.Record, error) {
	return db.ListAudit(ctx, AuditFilter{After: after, Ascending: true, Limit: limit})
}

// AuditFilter selects audit records. Empty fields match everything.
type AuditFilter struct {
	Kind    string // exact kind, or a prefix ending in "." ("proposal.")
	Actor   string
	Subject string
	// After (or Ascending) lists records with seq > After oldest first;
	// otherwise records are listed newest first, below Before when it is set.
	After     int64
	Ascending bool
	Before    int64
	Limit     int // ≤ 0: 100; at most 1000
}

// ListAudit pages through the audit log.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]audit.Record, error) {
	if f.Limit <= 0 {
		f.Limit = defaultAuditPage
	}
	f.Limit = min(f.Limit, maxAuditPage)
	var where []string
	var args []any
	switch {
	case strings.HasSuffix(f.Kind, "."):
		// kind >= 'proposal.' AND kind < 'proposal/' ('/' follows '.'): a
		// prefix match that uses the index and needs no LIKE escaping.
		where = append(where, "kind >= ? AND kind < ?")
		args = append(args, f.Kind, strings.TrimSuffix(f.Kind, ".")+"/")
	case f.Kind != "":
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, f.Subject)
	}
	order := "DESC"
	switch {
	case f.After > 0 || f.Ascending:
		where = append(where, "seq > ?")
		args = append(args, f.After)
		order = "ASC"
	case f.Before > 0:
		where = append(where, "seq < ?")
		args = append(args, f.Before)
	}
	q := "SELECT " + auditColumns + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq " + order + " LIMIT ?"
	args = append(args, f.Limit)
	out, err := queryRows(ctx, db.sql, db.q(q), args, func(s scanner) (audit.Record, error) {
		var r audit.Record
		var at int64
		var payload string
		err := s.Scan(&r.Seq, &at, &r.Actor, &r.Kind, &r.Subject, &payload, &r.PayloadHash, &r.PrevHash, &r.Hash)
		r.At, r.Payload = fromNanos(at), []byte(payload)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return out, nil
}
