package store

import (
	"context"
	"errors"
	"testing"
)

func TestQueryRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	scanID := func(s scanner) (id string, err error) { return id, s.Scan(&id) }

	none, err := queryRows(ctx, db.sql, "SELECT id FROM api_keys", nil, scanID)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("no rows: %#v, %v; want an empty, non-nil slice", none, err)
	}
	q := "SELECT 'a' UNION ALL SELECT 'b' UNION ALL SELECT 'c'"
	got, err := queryRows(ctx, db.sql, q, nil, scanID)
	if err != nil || len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("rows: %v, %v", got, err)
	}
	boom := errors.New("boom")
	calls := 0
	_, err = queryRows(ctx, db.sql, q, nil, func(s scanner) (string, error) {
		calls++
		return "", boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("scan error: %v after %d calls; want boom after 1", err, calls)
	}
	if _, err := queryRows(ctx, db.sql, "SELECT nope FROM nowhere", nil, scanID); err == nil {
		t.Fatal("a bad query returned no error")
	}
}
