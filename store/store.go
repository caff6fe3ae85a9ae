package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Conditions callers branch on with errors.Is.
var (
	// ErrNotFound: the key, session or cursor does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a row with the same identity (id, key hash) already exists.
	ErrConflict = errors.New("conflict")
)

// Backend names returned by DB.Backend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// SQLiteFile is the name of the embedded database inside the data directory.
const SQLiteFile = "state.db"

// Pool sizes. SQLite serialises writers anyway; its extra connections serve
// concurrent readers under WAL.
const (
	sqliteMaxConns   = 8
	postgresMaxConns = 16
)

// DB is the state store over one SQL database. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	d   dialect
	// group serialises write transactions inside this process on SQLite,
	// which allows one writer at a time, and commits concurrent ones together
	// (group commit: one fsync for many writes). Nil on PostgreSQL.
	group *groupCommit
	// pgcfg is the connection configuration on PostgreSQL, for the
	// dedicated LISTEN connection (store/registry.go); pool is the pool
	// as configured (store/pool.go). Both zero on SQLite.
	pgcfg *pgx.ConnConfig
	pool  poolSettings
	// keys caches KeyByHash (store/keycache.go).
	keys keyCache
}

// Open connects to the state database and brings its schema up to date.
// An empty databaseURL selects the embedded SQLite file
// <dataDir>/state.db (created if missing); a postgres:// or postgresql://
// URL selects PostgreSQL and ignores dataDir.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	var (
		db  *DB
		err error
	)
	scheme, _, isURL := strings.Cut(databaseURL, "://")
	switch {
	case databaseURL == "":
		db, err = openSQLite(ctx, dataDir)
	case isURL && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql")):
		db, err = openPostgres(ctx, databaseURL)
	case isURL:
		// Never echo the URL itself: it may carry a password.
		return nil, fmt.Errorf("store: open: unsupported database URL scheme %q (want empty for the embedded store, or postgres://)", scheme)
	default:
		return nil, errors.New("store: open: database URL is not a URL (want empty for the embedded store, or postgres://…)")
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, dataDir string) (*DB, error) {
	if dataDir == "" {
		return nil, errors.New("store: open sqlite: empty data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	path := filepath.Join(dataDir, SQLiteFile)
	if strings.ContainsRune(path, '?') {
		// The driver splits its DSN at the first '?'.
		return nil, fmt.Errorf("store: open sqlite: path %q contains '?'", path)
	}
	// Create the file ourselves so that it (and the -wal and -shm files,
	// which SQLite gives the same mode) is private: it holds key hashes.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	f.Close()

	// Per-connection settings. synchronous=FULL syncs the WAL on every
	// commit, so an acknowledged write survives kill -9 and power loss.
	// _txlock=immediate makes every transaction take the write lock at
	// BEGIN, so two writers never deadlock upgrading read locks. WAL mode
	// is a property of the file, set once below.
	dsn := path + "?_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(sqliteMaxConns)
	sdb.SetMaxIdleConns(sqliteMaxConns)
	db := &DB{sql: sdb, d: sqliteDialect{}, keys: keyCache{ttl: keyCacheTTL}}
	if err := db.enableWAL(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	if err := db.checkSQLite(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	db.group = newGroupCommit(sdb)
	return db, nil
}

// enableWAL switches the file to write-ahead logging. Changing the journal
// mode does not wait in the busy handler, so when several processes open a
// new file at once the losers retry here.
func (db *DB) enableWAL(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		_, err := db.sql.ExecContext(ctx, "PRAGMA journal_mode=WAL")
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("enable WAL: %w", err)
		}
	}
}

// checkSQLite confirms the durability settings took effect; WAL in
// particular silently stays off on file systems without shared memory.
func (db *DB) checkSQLite(ctx context.Context) error {
	var mode string
	var syncLevel, fk int
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncLevel); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") || syncLevel != 2 || fk != 1 {
		return fmt.Errorf("pragmas not applied: journal_mode=%s synchronous=%d foreign_keys=%d (want wal, 2, 1)", mode, syncLevel, fk)
	}
	return nil
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	// The pool_* parameters are the pool's (store/pool.go), as users of
	// pgxpool write them; the rest of the URL is the connection's.
	connURL, pool, err := splitPoolParams(url)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	sdb := stdlib.OpenDB(*cfg)
	pool.apply(sdb)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return &DB{sql: sdb, d: postgresDialect{}, pgcfg: cfg, pool: pool, keys: keyCache{ttl: keyCacheTTL}}, nil
}

// Backend names the database behind db: BackendSQLite or BackendPostgres.
func (db *DB) Backend() string { return db.d.name() }

// Ping reports whether the database answers; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.d.name(), err)
	}
	return nil
}

// Close releases the connections. Calls in flight may fail.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// write runs fn in a transaction and commits it if fn returns nil. Every
// write goes through here so that SQLite writers queue in process instead of
// in the busy handler.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.group != nil {
		return db.group.do(ctx, fn)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// q rewrites a query written with ? placeholders for db's backend.
func (db *DB) q(query string) string { return db.d.rebind(query) }

// classify turns a driver's constraint violation into ErrConflict.
func (db *DB) classify(err error) error {
	if err != nil && db.d.isUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// Timestamps are stored as Unix nanoseconds, UTC.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
