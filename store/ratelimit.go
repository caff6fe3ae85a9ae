package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Rate-limit counters and concurrent-turn slots in the state store, shared
// by every replica on it (server/ratelimit.go uses them; RedisRates is the
// same in Redis). Counters are fixed windows: one row per counted key
// holds the current window's count and end.

// AddRate adds n to the counter key in the window of length window that
// holds now and returns the window's total and its end. n = 0 reads the
// total. Replicas adding at once are serialised by the row, so none is
// lost. A replica whose clock is behind adds to the later window.
func (db *DB) AddRate(ctx context.Context, key string, n int64, window time.Duration, now time.Time) (int64, time.Time, error) {
	if key == "" || window <= 0 || n < 0 {
		return 0, time.Time{}, fmt.Errorf("store: add rate %q: key, a positive window and n ≥ 0 are required", key)
	}
	end := now.Truncate(window).Add(window)
	var total, gotEnd int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, db.q(`INSERT INTO rate_counters (key, count, window_end) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN rate_counters.window_end >= excluded.window_end THEN rate_counters.count + excluded.count ELSE excluded.count END,
    window_end = CASE WHEN rate_counters.window_end >= excluded.window_end THEN rate_counters.window_end ELSE excluded.window_end END
RETURNING count, window_end`), key, n, nanos(end)).Scan(&total, &gotEnd)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: add rate %s: %w", key, err)
	}
	return total, fromNanos(gotEnd), nil
}

// AcquireSlot takes one of limit slots of scope for id until now+ttl, and
// reports false when every slot is taken by a slot that has not expired.
// Taking a slot id already holds renews it.
func (db *DB) AcquireSlot(ctx context.Context, scope, id string, limit int, ttl time.Duration, now time.Time) (bool, error) {
	if scope == "" || id == "" || limit <= 0 || ttl <= 0 {
		return false, fmt.Errorf("store: acquire slot %q: scope, id, a positive limit and ttl are required", scope)
	}
	var ok bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		ok = false
		if db.d.name() == BackendPostgres {
			// Counting then inserting must not interleave with another
			// replica doing the same for this scope.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "cityagent.slots."+scope); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, db.q("DELETE FROM turn_slots WHERE scope = ? AND expires_at <= ?"), scope, nanos(now)); err != nil {
			return err
		}
		var held, mine int
		if err := tx.QueryRowContext(ctx, db.q("SELECT COUNT(*), COALESCE(SUM(CASE WHEN id = ? THEN 1 ELSE 0 END), 0) FROM turn_slots WHERE scope = ?"), id, scope).
			Scan(&held, &mine); err != nil {
			return err
		}
		if mine == 0 && held >= limit {
			return nil
		}
		ok = true
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO turn_slots (scope, id, expires_at) VALUES (?, ?, ?)
ON CONFLICT (scope, id) DO UPDATE SET expires_at = excluded.expires_at`), scope, id, nanos(now.Add(ttl)))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: acquire slot %s: %w", scope, err)
	}
	return ok, nil
}

// ReleaseSlot gives a slot back; releasing one not held is not an error.
func (db *DB) ReleaseSlot(ctx context.Context, scope, id string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("DELETE FROM turn_slots WHERE scope = ? AND id = ?"), scope, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release slot %s: %w", scope, err)
	}
	return nil
}
