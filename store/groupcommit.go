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

	// stmts are the writes' statements, prepared once (stmt). Only the
	// loop's goroutine touches them: writes run there.
	stmts  map[string]*sql.Stmt
	wanted []string // seen, to prepare before the next batch
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
	defer g.closeStmts()
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
		g.prepareWanted()
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
	if len(batch) == 1 {
		// Alone in its transaction, a write needs no savepoint: rolling
		// the transaction back undoes it alone.
		r := batch[0]
		err := r.ctx.Err()
		if err == nil {
			err = r.fn(tx)
		}
		if err != nil {
			tx.Rollback()
			r.result <- err
			return
		}
		r.result <- tx.Commit()
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := g.exec(context.Background(), tx, "SAVEPOINT w"); err != nil {
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
		if _, err := g.exec(context.Background(), tx, "RELEASE w"); err != nil {
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

// The writer's prepared statements. SQLite spends much of a small write
// parsing and planning its statements; the driver keeps a prepared
// statement's plan, so each of the writes' statements is prepared once, on
// the pool, and then bound to each write transaction's connection
// (database/sql prepares it once per connection and reuses it there). A
// statement is prepared between batches, never while the writer holds a
// transaction (that would wait for a connection the writer may need), so
// its first use runs unprepared.

// stmt returns query's prepared statement, or nil when it has not been
// prepared yet (it will be before the next batch).
func (g *groupCommit) stmt(query string) *sql.Stmt {
	st, ok := g.stmts[query]
	if !ok {
		if g.stmts == nil {
			g.stmts = map[string]*sql.Stmt{}
		}
		g.stmts[query] = nil
		g.wanted = append(g.wanted, query)
	}
	return st
}

// prepareWanted prepares the statements first used in earlier batches. A
// statement that does not prepare (its table is not there yet) is tried
// again when it is next used.
func (g *groupCommit) prepareWanted() {
	for _, q := range g.wanted {
		st, err := g.db.PrepareContext(context.Background(), q)
		if err != nil {
			delete(g.stmts, q)
			continue
		}
		g.stmts[q] = st
	}
	g.wanted = g.wanted[:0]
}

func (g *groupCommit) closeStmts() {
	for _, st := range g.stmts {
		if st != nil {
			st.Close()
		}
	}
}

// exec runs query in tx with its prepared statement when there is one.
func (g *groupCommit) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := g.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryRow is exec for a query of one row.
func (g *groupCommit) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := g.stmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// txExec runs query (with ? placeholders) inside a write transaction of db:
// through the writer's prepared statements on SQLite, directly otherwise.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if db.group != nil {
		return db.group.exec(ctx, tx, query, args...)
	}
	return tx.ExecContext(ctx, db.q(query), args...)
}

// txQueryRow is txExec for a query of one row.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if db.group != nil {
		return db.group.queryRow(ctx, tx, query, args...)
	}
	return tx.QueryRowContext(ctx, db.q(query), args...)
}
