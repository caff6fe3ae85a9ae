package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Hotline results (stats), duplicate links and hot-spot rows. They read the
// ticket lifecycle columns and hotline_transitions of migration 0008.

// effectiveDeadline is a ticket's deadline: the lifecycle moves it by the
// time the clock was paused (waiting for the citizen, where the rules
// allow), so it already holds the pauses.
const effectiveDeadline = "deadline"

// handledAt is when a ticket's handling ended: the department's reply, or
// the close when it was closed without one.
const handledAt = "COALESCE(replied_at, closed_at)"

// notMerged excludes tickets merged into another: their handling is the
// other ticket's.
const notMerged = "status <> 'merged' AND merged_into = ''"

// DepartmentResults are one department's counts over a period; the rates
// are computed from them by the caller. Each group of counts has its own
// population, documented field by field.
type DepartmentResults struct {
	Department string
	// Received: tickets received in the period (merged ones included).
	Received, Merged int
	// Due: tickets (not merged) whose deadline (moved by pauses) falls in
	// the period, handled or past it at now (a ticket still inside its time
	// and not handled is neither late nor on time yet); OnTime: those
	// handled (replied, else closed) by it.
	Due, OnTime int
	// Dispatched: tickets dispatched to the department in the period;
	// Accepted: those the department accepted after that dispatch.
	Dispatched, Accepted int
	// Visited: return visits recorded in the period (every visit, from the
	// transitions; a ticket reopened and visited again counts twice);
	// Solved, Satisfied, BasicallySatisfied, Unsatisfied split them.
	Visited, Solved, Satisfied, BasicallySatisfied, Unsatisfied int
	// Returned, Reopened: transitions to those states in the period.
	Returned, Reopened int
	// OverdueNow: tickets being handled (not replied, closed or merged)
	// whose deadline has passed at the stats' time.
	OverdueNow int
	// Handled: tickets (not merged) handled in the period; HandlingSeconds
	// sums their time from received to handled, pauses taken off.
	Handled         int
	HandlingSeconds int64
}

// HotlineResults counts, per department, what the results report needs
// over [from, to), with "overdue now" judged at now; department "" is
// every department. Departments are in id order.
func (db *DB) HotlineResults(ctx context.Context, from, to, now time.Time, department string) ([]DepartmentResults, error) {
	by := map[string]*DepartmentResults{}
	row := func(d string) *DepartmentResults {
		if by[d] == nil {
			by[d] = &DepartmentResults{Department: d}
		}
		return by[d]
	}
	f, t := nanos(from), nanos(to)
	dept, dargs := "", []any{}
	if department != "" {
		dept, dargs = " AND department = ?", []any{department}
	}
	queries := []struct {
		sql  string
		args []any
		dst  func(r *DepartmentResults) []any
	}{
		{"SELECT department, COUNT(*), " + sum(isMerged) + " FROM hotline_tickets WHERE received_at >= ? AND received_at < ?" + dept + " GROUP BY department",
			append([]any{f, t}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.Received, &r.Merged} }},
		// Every return visit recorded in the period, from the transitions: a
		// ticket visited twice (unsatisfied, reopened, then satisfied) counts twice.
		{"SELECT department, COUNT(*), " + sum("solved = 1") + ", " + sum("satisfaction = 'satisfied'") + ", " + sum("satisfaction = 'basically_satisfied'") +
			", " + sum("satisfaction = 'unsatisfied'") + " FROM hotline_transitions WHERE at >= ? AND at < ? AND satisfaction <> ''" + dept +
			" GROUP BY department",
			append([]any{f, t}, dargs...),
			func(r *DepartmentResults) []any {
				return []any{&r.Visited, &r.Solved, &r.Satisfied, &r.BasicallySatisfied, &r.Unsatisfied}
			}},
		{"SELECT department, COUNT(*), " + sum(handledAt+" IS NOT NULL AND "+handledAt+" <= "+effectiveDeadline) +
			" FROM hotline_tickets WHERE " + effectiveDeadline + " >= ? AND " + effectiveDeadline + " < ? AND " + notMerged +
			// still inside its time and not handled yet: not due (neither late nor on time)
			" AND (" + handledAt + " IS NOT NULL OR " + effectiveDeadline + " < ?)" + dept + " GROUP BY department",
			append([]any{f, t, nanos(now)}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.Due, &r.OnTime} }},
		{"SELECT department, COUNT(*), CAST(COALESCE(SUM((" + handledAt + " - received_at - paused_ns) / 1000000000), 0) AS BIGINT)" +
			" FROM hotline_tickets WHERE " + handledAt + " >= ? AND " + handledAt + " < ? AND " + notMerged + dept + " GROUP BY department",
			append([]any{f, t}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.Handled, &r.HandlingSeconds} }},
		{"SELECT d.department, COUNT(DISTINCT d.ticket_id), COUNT(DISTINCT a.ticket_id) FROM hotline_transitions d" +
			" LEFT JOIN hotline_transitions a ON a.ticket_id = d.ticket_id AND a.department = d.department AND a.to_status = 'accepted' AND a.seq > d.seq" +
			" WHERE d.to_status = 'dispatched' AND d.at >= ? AND d.at < ?" + prefixed(dept, "d.") + " GROUP BY d.department",
			append([]any{f, t}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.Dispatched, &r.Accepted} }},
		{"SELECT department, " + sum("to_status = 'returned'") + ", " + sum("to_status = 'reopened'") +
			" FROM hotline_transitions WHERE to_status IN ('returned', 'reopened') AND at >= ? AND at < ?" + dept + " GROUP BY department",
			append([]any{f, t}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.Returned, &r.Reopened} }},
		{"SELECT department, COUNT(*) FROM hotline_tickets WHERE status NOT IN ('closed', 'merged', 'replied') AND merged_into = '' AND " +
			effectiveDeadline + " < ?" + dept + " GROUP BY department",
			append([]any{nanos(now)}, dargs...),
			func(r *DepartmentResults) []any { return []any{&r.OverdueNow} }},
	}
	for _, q := range queries {
		_, err := queryRows(ctx, db.sql, db.q(q.sql), q.args, func(s scanner) (struct{}, error) {
			var got DepartmentResults
			if err := s.Scan(append([]any{&got.Department}, q.dst(&got)...)...); err != nil {
				return struct{}{}, err
			}
			row(got.Department).Add(got)
			return struct{}{}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: hotline results: %w", err)
		}
	}
	out := make([]DepartmentResults, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Department < out[j].Department })
	return out, nil
}

// isMerged holds for tickets merged into another.
const isMerged = "status = 'merged' OR merged_into <> ''"

// sum counts the rows where cond holds (CAST: PostgreSQL sums as NUMERIC
// otherwise).
func sum(cond string) string {
	return "CAST(COALESCE(SUM(CASE WHEN " + cond + " THEN 1 ELSE 0 END), 0) AS BIGINT)"
}

// prefixed qualifies the department condition with a table alias.
func prefixed(cond, alias string) string {
	if cond == "" {
		return ""
	}
	return " AND " + alias + "department = ?"
}

// Add adds o's counts to r's.
func (r *DepartmentResults) Add(o DepartmentResults) {
	r.Received += o.Received
	r.Merged += o.Merged
	r.Due += o.Due
	r.OnTime += o.OnTime
	r.Dispatched += o.Dispatched
	r.Accepted += o.Accepted
	r.Visited += o.Visited
	r.Solved += o.Solved
	r.Satisfied += o.Satisfied
	r.BasicallySatisfied += o.BasicallySatisfied
	r.Unsatisfied += o.Unsatisfied
	r.Returned += o.Returned
	r.Reopened += o.Reopened
	r.OverdueNow += o.OverdueNow
	r.Handled += o.Handled
	r.HandlingSeconds += o.HandlingSeconds
}

// DuplicateCandidate is an open ticket a new one may repeat.
type DuplicateCandidate struct {
	ID, Text, Address string
	Lat, Lon          *float64
	CreatedAt         time.Time
}

// DuplicateCandidates returns at most limit open tickets of category
// created at or after since that are not themselves duplicates or merged,
// newest first (the (category, created_at) index bounds the scan).
func (db *DB) DuplicateCandidates(ctx context.Context, category string, since time.Time, limit int) ([]DuplicateCandidate, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT id, text, address, lat, lon, created_at FROM hotline_tickets"+
		" WHERE category = ? AND created_at >= ? AND status NOT IN ('closed', 'merged') AND duplicate_of = '' AND merged_into = ''"+
		" ORDER BY created_at DESC, id DESC LIMIT ?"), []any{category, nanos(since), limit},
		func(s scanner) (DuplicateCandidate, error) {
			var c DuplicateCandidate
			var lat, lon sql.NullFloat64
			var created int64
			if err := s.Scan(&c.ID, &c.Text, &c.Address, &lat, &lon, &created); err != nil {
				return c, err
			}
			c.Lat, c.Lon = nullFloat(lat), nullFloat(lon)
			c.CreatedAt = fromNanos(created)
			return c, nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: duplicate candidates: %w", err)
	}
	return out, nil
}

func nullFloat(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	return &v.Float64
}

// LinkDuplicate records that ticket id repeats ticket of.
func (db *DB) LinkDuplicate(ctx context.Context, id, of string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE hotline_tickets SET duplicate_of = ? WHERE id = ?"), of, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: link duplicate %s of %s: %w", id, of, err)
	}
	return nil
}

// CountDuplicates is how many tickets are linked as duplicates of id.
func (db *DB) CountDuplicates(ctx context.Context, id string) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, db.q("SELECT COUNT(*) FROM hotline_tickets WHERE duplicate_of = ?"), id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count duplicates of %s: %w", id, err)
	}
	return n, nil
}

// HotspotRow is the part of a ticket hot spots group by.
type HotspotRow struct {
	ID, Category, Address, DuplicateOf, Status string
	Lat, Lon                                   *float64
	ReceivedAt                                 time.Time
}

// MaxHotspotRows bounds the tickets one hot-spot query reads.
const MaxHotspotRows = 50000

// HotspotRows returns the tickets received in [from, to), of category (a
// code or a code prefix; "" any), oldest first, at most limit (≤
// MaxHotspotRows) of them.
func (db *DB) HotspotRows(ctx context.Context, from, to time.Time, category string, limit int) ([]HotspotRow, error) {
	limit = min(max(limit, 1), MaxHotspotRows)
	// received_at is at most 5 minutes after created_at (clock skew), so
	// the created_at bound lets the index narrow the scan.
	q := "SELECT id, category, address, duplicate_of, status, lat, lon, received_at FROM hotline_tickets" +
		" WHERE received_at >= ? AND received_at < ? AND created_at >= ?"
	args := []any{nanos(from), nanos(to), nanos(from.Add(-10 * time.Minute))}
	if category != "" {
		q += " AND category LIKE ?"
		args = append(args, category+"%")
	}
	q += " ORDER BY received_at, id LIMIT ?"
	args = append(args, limit)
	out, err := queryRows(ctx, db.sql, db.q(q), args, func(s scanner) (HotspotRow, error) {
		var r HotspotRow
		var lat, lon sql.NullFloat64
		var received int64
		if err := s.Scan(&r.ID, &r.Category, &r.Address, &r.DuplicateOf, &r.Status, &lat, &lon, &received); err != nil {
			return r, err
		}
		r.Lat, r.Lon, r.ReceivedAt = nullFloat(lat), nullFloat(lon), fromNanos(received)
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: hotspot rows: %w", err)
	}
	return out, nil
}
