package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the backends. Queries are written once,
// with ? placeholders, in the SQL both understand (ON CONFLICT, RETURNING
// and row values work on SQLite ≥ 3.35 and PostgreSQL alike).
type dialect interface {
	name() string
	// rebind rewrites ? placeholders into the backend's form.
	rebind(query string) string
	// lockSession is a query for a session's updated_at that also keeps
	// other appenders to the session waiting until the transaction ends.
	lockSession() string
	// lockMigrations serialises schema migration across processes for the
	// rest of tx.
	lockMigrations(ctx context.Context, tx *sql.Tx) error
	isUniqueViolation(err error) bool
}

var (
	_ dialect = sqliteDialect{}
	_ dialect = postgresDialect{}
)

type sqliteDialect struct{}

func (sqliteDialect) name() string                                  { return BackendSQLite }
func (sqliteDialect) rebind(q string) string                        { return q }
func (sqliteDialect) lockSession() string                           { return "SELECT updated_at FROM sessions WHERE id = ?" } // BEGIN IMMEDIATE already holds the write lock.
func (sqliteDialect) lockMigrations(context.Context, *sql.Tx) error { return nil }                                            // likewise.

func (sqliteDialect) isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

type postgresDialect struct{}

// migrationLockKey is the advisory lock id for schema migrations: an
// arbitrary constant ("cityagt" in ASCII) that other applications sharing
// the server are unlikely to pick.
const migrationLockKey = 0x63697479616774

func (postgresDialect) name() string { return BackendPostgres }

func (postgresDialect) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inString = !inString
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (postgresDialect) lockSession() string {
	return "SELECT updated_at FROM sessions WHERE id = ? FOR UPDATE"
}

func (postgresDialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey))
	return err
}

func (postgresDialect) isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation
}
