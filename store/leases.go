package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is one named piece of singleton work and who holds it.
type Lease struct {
	Name   string
	Holder string
	// Token grows by one whenever the lease changes holder; work that
	// writes under a lease can compare it to fence off a holder that lost
	// the lease without noticing.
	Token     int64
	ExpiresAt time.Time
}

// AcquireLease takes the lease name for holder until now+ttl, or renews it
// when holder has it already. It reports ok=false, with the current
// holder's lease, when another holder has it and it has not expired. Of
// replicas racing for a free or expired lease exactly one gets it.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return Lease{}, false, fmt.Errorf("store: lease %q for %q: name, holder and a positive ttl are required", name, holder)
	}
	var got int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
ON CONFLICT (name) DO UPDATE SET
    token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
    holder = excluded.holder,
    expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`),
			name, holder, nanos(now.Add(ttl)), nanos(now))
		if err != nil {
			return err
		}
		got, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return Lease{}, false, fmt.Errorf("store: acquire lease %q: %w", name, err)
	}
	l, err := db.GetLease(ctx, name)
	if err != nil {
		return Lease{}, false, err
	}
	return l, got > 0 && l.Holder == holder, nil
}

// ReleaseLease gives the lease up if holder still has it, so that another
// replica need not wait for it to expire. Releasing a lease one does not
// hold is not an error.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?`), name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease %q: %w", name, err)
	}
	return nil
}

// GetLease reads a lease; ErrNotFound when nobody ever took it.
func (db *DB) GetLease(ctx context.Context, name string) (Lease, error) {
	var l Lease
	var exp int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT name, holder, token, expires_at FROM leases WHERE name = ?`), name).
		Scan(&l.Name, &l.Holder, &l.Token, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("store: lease %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("store: lease %q: %w", name, err)
	}
	l.ExpiresAt = fromNanos(exp)
	return l, nil
}
