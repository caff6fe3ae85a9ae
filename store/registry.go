package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Registry names of registry_versions rows.
const RegistryTools = "tools"

// registryChannel is the PostgreSQL NOTIFY channel a bump announces on; the
// payload is the registry's name.
const registryChannel = "cityagent_registry"

// BumpRegistry records that what is registered under name (RegistryTools:
// developer tools and tool sources) changed, and wakes the other replicas'
// watchers: on PostgreSQL a NOTIFY in the same transaction, delivered when
// it commits. It returns the new version.
func (db *DB) BumpRegistry(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO registry_versions (name, version) VALUES (?, 1)
ON CONFLICT (name) DO UPDATE SET version = registry_versions.version + 1
RETURNING version`), name).Scan(&v)
		if err != nil {
			return err
		}
		if db.d.name() == BackendPostgres {
			_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", registryChannel, name)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: bump registry %s: %w", name, err)
	}
	return v, nil
}

// RegistryVersion reads the version of a registry; 0 when never bumped.
func (db *DB) RegistryVersion(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.sql.QueryRowContext(ctx, db.q("SELECT version FROM registry_versions WHERE name = ?"), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: registry version %s: %w", name, err)
	}
	return v, nil
}

// WatchRegistry calls changed(version) whenever the version of registry
// name differs from the one last seen (starting from the version when it is
// called), until ctx ends. On PostgreSQL it listens for the bump's NOTIFY
// on a dedicated connection (not one held from the pool) and polls every
// poll as the fallback for a lost connection; on SQLite it polls every
// poll. changed runs on the watcher's goroutine, one call at a time.
// WatchRegistry returns when ctx ends.
func (db *DB) WatchRegistry(ctx context.Context, name string, poll time.Duration, log *slog.Logger, changed func(version int64)) {
	if log == nil {
		log = slog.Default()
	}
	if poll <= 0 {
		poll = time.Second
	}
	seen, err := db.RegistryVersion(ctx, name)
	if err != nil {
		log.Warn("registry watch: first read failed; polling", "registry", name, "err", err)
	}
	check := func() {
		v, err := db.RegistryVersion(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("registry watch: read failed", "registry", name, "err", err)
			}
			return
		}
		if v != seen {
			seen = v
			changed(v)
		}
	}
	var notes <-chan struct{}
	if db.pgcfg != nil {
		notes = db.listen(ctx, name, log)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-notes:
		}
		check()
	}
}

// listen delivers a value for every NOTIFY on the registry channel whose
// payload is name, reconnecting with backoff until ctx ends.
func (db *DB) listen(ctx context.Context, name string, log *slog.Logger) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := db.listenOnce(ctx, name, out)
			if ctx.Err() != nil {
				return
			}
			log.Warn("registry watch: LISTEN connection lost; polling until it is back", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}()
	return out
}

func (db *DB) listenOnce(ctx context.Context, name string, out chan<- struct{}) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, db.pgcfg.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+registryChannel); err != nil {
		return err
	}
	// Changes made while the connection was down were missed: look again.
	select {
	case out <- struct{}{}:
	default:
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != name {
			continue
		}
		select {
		case out <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}
