package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// The reads behind the operations report (package reports). Each one looks
// at a range [from, to) of absolute time and either aggregates in SQL or
// streams rows to a callback page by page, so that no read holds more than
// one page in memory whatever the range.

// reportPage is how many rows a streaming report read fetches at a time.
const reportPage = 500

// AuditRange selects audit records by kind and time for ScanAudit.
type AuditRange struct {
	Kind     string    // exact kind, or a prefix ending in "." ("alert.")
	From, To time.Time // at in [From, To)
}

// ScanAudit calls fn with every record r selects, in seq order, fetching
// them a page at a time by seq. An error from fn stops the scan and is
// returned as it is.
func (db *DB) ScanAudit(ctx context.Context, r AuditRange, fn func(audit.Record) error) error {
	if r.Kind == "" {
		return fmt.Errorf("store: scan audit: empty kind")
	}
	where, args := kindWhere("kind", r.Kind)
	q := db.q("SELECT " + auditColumns + " FROM audit_log WHERE " + where + " AND at >= ? AND at < ? AND seq > ? ORDER BY seq LIMIT ?")
	var after int64
	for {
		page, err := queryRows(ctx, db.sql, q, append(args, nanos(r.From), nanos(r.To), after, reportPage), scanAuditRecord)
		if err != nil {
			return fmt.Errorf("store: scan audit %s: %w", r.Kind, err)
		}
		for _, rec := range page {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(page) < reportPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}

// kindWhere matches col against an exact kind or a prefix ending in ".",
// the way ListAudit does ('/' sorts right after '.').
func kindWhere(col, kind string) (string, []any) {
	if strings.HasSuffix(kind, ".") {
		return col + " >= ? AND " + col + " < ?", []any{kind, strings.TrimSuffix(kind, ".") + "/"}
	}
	return col + " = ?", []any{kind}
}

func scanAuditRecord(s scanner) (audit.Record, error) {
	var r audit.Record
	var at int64
	var payload string
	err := s.Scan(&r.Seq, &at, &r.Actor, &r.Kind, &r.Subject, &payload, &r.PayloadHash, &r.PrevHash, &r.Hash)
	r.At, r.Payload = fromNanos(at), []byte(payload)
	return r, err
}

// ProposalOutcome counts the proposals of one action in one status.
type ProposalOutcome struct {
	Action, Status string
	Count          int
}

// ProposalSummary is what the report says about proposals created in a
// range, each in the status it has now.
type ProposalSummary struct {
	Outcomes []ProposalOutcome // sorted by action, then status
	Decided  int               // approved or rejected by a person (decided_at set)
	// MedianDecision is the nearest-rank median of decided_at − created_at
	// over the decided proposals; nil when none was decided.
	MedianDecision *time.Duration
}

// ProposalReport summarises the proposals created in [from, to) whose
// clearance is one of clearances (nil: every proposal; empty: none).
func (db *DB) ProposalReport(ctx context.Context, from, to time.Time, clearances []string) (ProposalSummary, error) {
	var sum ProposalSummary
	rng := []any{nanos(from), nanos(to)}
	where := "created_at >= ? AND created_at < ?"
	switch {
	case clearances == nil:
	case len(clearances) == 0:
		where += " AND 1 = 0"
	default:
		where += " AND clearance IN (?" + strings.Repeat(", ?", len(clearances)-1) + ")"
		for _, c := range clearances {
			rng = append(rng, c)
		}
	}
	var err error
	sum.Outcomes, err = queryRows(ctx, db.sql, db.q("SELECT action, status, COUNT(*) FROM proposals WHERE "+where+" GROUP BY action, status ORDER BY action, status"), rng,
		func(s scanner) (o ProposalOutcome, err error) {
			err = s.Scan(&o.Action, &o.Status, &o.Count)
			return o, err
		})
	if err != nil {
		return sum, fmt.Errorf("store: proposal report: %w", err)
	}
	n, median, err := db.nearestRank(ctx, "decided_at - created_at", "proposals WHERE "+where+" AND decided_at IS NOT NULL", rng, 0.5)
	if err != nil {
		return sum, fmt.Errorf("store: proposal report: decision times: %w", err)
	}
	sum.Decided = n
	if n > 0 {
		d := time.Duration(median)
		sum.MedianDecision = &d
	}
	return sum, nil
}

// nearestRank returns how many rows of "FROM from" there are and the
// nearest-rank p-quantile of expr over them: the value at position
// ⌈p·n⌉ (1-based) in ascending order. The database sorts; nothing is
// loaded but the answer.
func (db *DB) nearestRank(ctx context.Context, expr, from string, args []any, p float64) (int, int64, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, db.q("SELECT COUNT(*) FROM "+from), args...).Scan(&n); err != nil || n == 0 {
		return 0, 0, err
	}
	k := max(int(math.Ceil(p*float64(n))), 1)
	var v int64
	q := db.q("SELECT " + expr + " FROM " + from + " ORDER BY " + expr + " LIMIT 1 OFFSET ?")
	if err := db.sql.QueryRowContext(ctx, q, append(args, k-1)...).Scan(&v); err != nil {
		return 0, 0, err
	}
	return n, v, nil
}

// TicketGroup counts the tickets of one type and department. A ticket is
// answered when it was replied to or closed; it is on time when the first of
// those came at or before its deadline (which the lifecycle moves on when the
// clock pauses), late when it came after, or when it has not come and the
// deadline passed before asOf, and pending otherwise. A ticket
// merged into another is counted as Merged and in none of those three.
type TicketGroup struct {
	Type, Department            string
	Tickets, OnTime, Late       int
	Pending, Degraded           int
	Replied, Closed, Unanswered int
	Merged                      int
}

// ticketAnswered is the first of replied_at and closed_at (NULL if neither).
const ticketAnswered = "CASE WHEN replied_at IS NOT NULL AND (closed_at IS NULL OR replied_at < closed_at) THEN replied_at ELSE closed_at END"

// TicketReport counts the tickets received in [from, to) by type and
// department, judging deadlines not yet answered at asOf.
func (db *DB) TicketReport(ctx context.Context, from, to, asOf time.Time) ([]TicketGroup, error) {
	sum := func(cond string) string {
		return "CAST(COALESCE(SUM(CASE WHEN " + cond + " THEN 1 ELSE 0 END), 0) AS BIGINT)"
	}
	a, due, open := ticketAnswered, "deadline", "merged_into = '' AND "
	q := "SELECT type, department, COUNT(*), " +
		sum(open+a+" <= "+due) + ", " +
		sum(open+"("+a+" > "+due+" OR ("+a+" IS NULL AND "+due+" < ?))") + ", " +
		sum(open+a+" IS NULL AND "+due+" >= ?") + ", " +
		"CAST(COALESCE(SUM(degraded), 0) AS BIGINT), " +
		sum("replied_at IS NOT NULL") + ", " + sum("closed_at IS NOT NULL") + ", " + sum(a+" IS NULL") + ", " + sum("merged_into <> ''") +
		" FROM hotline_tickets WHERE received_at >= ? AND received_at < ? GROUP BY type, department ORDER BY type, department"
	out, err := queryRows(ctx, db.sql, db.q(q), []any{nanos(asOf), nanos(asOf), nanos(from), nanos(to)}, func(s scanner) (g TicketGroup, err error) {
		err = s.Scan(&g.Type, &g.Department, &g.Tickets, &g.OnTime, &g.Late, &g.Pending, &g.Degraded, &g.Replied, &g.Closed, &g.Unanswered, &g.Merged)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: ticket report: %w", err)
	}
	return out, nil
}

// AlertSpan is one alert raised in a range: its alert.fire record and the
// times of its first alert.acknowledge and alert.resolve records (the
// records' subject is the alert id), nil when there is none up to asOf.
type AlertSpan struct {
	Fire                       audit.Record
	AcknowledgedAt, ResolvedAt *time.Time
}

// ScanAlertSpans calls fn with every alert whose alert.fire record is in
// [from, to), in seq order, a page at a time.
func (db *DB) ScanAlertSpans(ctx context.Context, from, to, asOf time.Time, fn func(AlertSpan) error) error {
	first := func(kind string) string {
		return "(SELECT MIN(x.at) FROM audit_log x WHERE x.subject = f.subject AND x.kind = '" + kind + "' AND x.at <= ?)"
	}
	cols := "f.seq, f.at, f.actor, f.kind, f.subject, f.payload, f.payload_hash, f.prev_hash, f.hash"
	q := db.q("SELECT " + cols + ", " + first("alert.acknowledge") + ", " + first("alert.resolve") +
		" FROM audit_log f WHERE f.kind = 'alert.fire' AND f.at >= ? AND f.at < ? AND f.seq > ? ORDER BY f.seq LIMIT ?")
	var after int64
	for {
		page, err := queryRows(ctx, db.sql, q, []any{nanos(asOf), nanos(asOf), nanos(from), nanos(to), after, reportPage}, scanAlertSpan)
		if err != nil {
			return fmt.Errorf("store: scan alerts: %w", err)
		}
		for _, sp := range page {
			if err := fn(sp); err != nil {
				return err
			}
		}
		if len(page) < reportPage {
			return nil
		}
		after = page[len(page)-1].Fire.Seq
	}
}

func scanAlertSpan(s scanner) (AlertSpan, error) {
	var sp AlertSpan
	r := &sp.Fire
	var at int64
	var payload string
	var ack, res sql.NullInt64
	err := s.Scan(&r.Seq, &at, &r.Actor, &r.Kind, &r.Subject, &payload, &r.PayloadHash, &r.PrevHash, &r.Hash, &ack, &res)
	r.At, r.Payload = fromNanos(at), []byte(payload)
	sp.AcknowledgedAt, sp.ResolvedAt = fromNullNanos(ack), fromNullNanos(res)
	return sp, err
}
