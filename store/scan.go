package store

import (
	"context"
	"database/sql"
)

// queryRows runs a query and scans every row with scan, in order. It
// returns an empty, non-nil slice when no row matches; the caller wraps the
// error with its operation. q is already in the backend's placeholder form.
func queryRows[T any](ctx context.Context, db *sql.DB, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
