package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitIsolatesFailures runs many concurrent writes, some failing
// half-way, and checks that exactly the successful ones are visible.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.write(ctx, func(tx *sql.Tx) error {
				id := fmt.Sprintf("s%02d", i)
				if _, err := tx.Exec(db.q(`INSERT INTO sessions (id, agent, owner_key_id, title, created_at, updated_at) VALUES (?, 'a', 'k', '', ?, ?)`), id, time.Now().UnixNano(), time.Now().UnixNano()); err != nil {
					return err
				}
				if i%3 == 0 {
					return errors.New("fail after writing")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range n {
		_, err := db.GetSession(ctx, fmt.Sprintf("s%02d", i))
		failed := i%3 == 0
		if failed != (errs[i] != nil) {
			t.Fatalf("write %d: err = %v", i, errs[i])
		}
		if failed && !errors.Is(err, ErrNotFound) {
			t.Fatalf("failed write %d is visible (%v)", i, err)
		}
		if !failed && err != nil {
			t.Fatalf("acknowledged write %d is missing: %v", i, err)
		}
	}
}
