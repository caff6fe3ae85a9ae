package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// groupCommit batches concurrent SQLite write transactions into one commit.
// With synchronous=FULL every commit is an fsync, so under load one fsync
// now acknowledges many writes. Each write runs inside its own SAVEPOINT, so
// a failing write is rolled back alone and the others still commit; a write
// is acknowledged only after the shared COMMIT has returned.
type groupCommit struct {
	db       *sql.DB
	requests chan *writeRequest
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

type writeRequest struct {
	ctx    context.Context
	fn     func(tx *sql.Tx) error
	result chan error
}

// maxBatch bounds how many writes share one transaction.
const maxBatch = 64

var errStoreClosed = errors.New("store: closed")

func newGroupCommit(db *sql.DB) *groupCommit {
	g := &groupCommit{db: db, requests: make(chan *writeRequest), stop: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommit) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	r := &writeRequest{ctx: ctx, fn: fn, result: make(chan error, 1)}
	select {
	case g.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return errStoreClosed
	}
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed, and the caller must not be told otherwise.
	return <-r.result
}

func (g *groupCommit) close() {
	g.once.Do(func() { close(g.stop) })
	<-g.done
}

func (g *groupCommit) loop() {
	defer close(g.done)
	for {
		var first *writeRequest
		select {
		case first = <-g.requests:
		case <-g.stop:
			return
		}
		batch := []*writeRequest{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-g.requests:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		g.commit(batch)
	}
}

func (g *groupCommit) commit(batch []*writeRequest) {
	fail := func(err error) {
		for _, r := range batch {
			r.result <- err
		}
	}
	tx, err := g.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(err)
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: savepoint: %w", err))
			return
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: release savepoint: %w", err))
			return
		}
	}
	commitErr := tx.Commit()
	for i, r := range batch {
		if errs[i] == nil {
			errs[i] = commitErr
		}
		r.result <- errs[i]
	}
}
