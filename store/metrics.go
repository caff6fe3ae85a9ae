package store

import (
	"context"
	"fmt"
	"time"
)

// ProposalStatusCounts counts the stored proposals by status, for /metrics.
func (db *DB) ProposalStatusCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	_, err := queryRows(ctx, db.sql, "SELECT status, COUNT(*) FROM proposals GROUP BY status", nil, func(s scanner) (struct{}, error) {
		var status string
		var n int64
		if err := s.Scan(&status, &n); err != nil {
			return struct{}{}, err
		}
		out[status] = n
		return struct{}{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: count proposals by status: %w", err)
	}
	return out, nil
}

// DeadlineMisses counts the hotline tickets that missed their deadline:
// open (neither closed nor merged) with the deadline before at, and closed
// after their deadline.
func (db *DB) DeadlineMisses(ctx context.Context, at time.Time) (open, closedLate int64, err error) {
	q := db.q("SELECT COUNT(*) FROM hotline_tickets WHERE status NOT IN (?, ?) AND deadline < ?")
	if err := db.sql.QueryRowContext(ctx, q, TicketStatusClosed, TicketStatusMerged, nanos(at)).Scan(&open); err != nil {
		return 0, 0, fmt.Errorf("store: count open tickets past deadline: %w", err)
	}
	q = "SELECT COUNT(*) FROM hotline_tickets WHERE closed_at IS NOT NULL AND closed_at > deadline"
	if err := db.sql.QueryRowContext(ctx, q).Scan(&closedLate); err != nil {
		return 0, 0, fmt.Errorf("store: count tickets closed late: %w", err)
	}
	return open, closedLate, nil
}
