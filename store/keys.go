package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/access"
)

// Key is a stored API key. The secret itself is never stored, only its
// access.HashKey.
type Key struct {
	ID        string
	Name      string
	Role      access.Role
	Clearance access.Clearance
	Hash      string
	CreatedAt time.Time
	ExpiresAt *time.Time // nil: never expires
	RevokedAt *time.Time // nil: not revoked
	CreatedBy string     // id of the key that created it; empty for the bootstrap admin key
	// Department binds a key of role department to one department of the
	// hotline taxonomy; empty for every other role.
	Department string
}

// Active reports whether k may authenticate at now: neither revoked nor
// expired by then.
func (k Key) Active(now time.Time) bool {
	if k.RevokedAt != nil && !now.Before(*k.RevokedAt) {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

const keyColumns = "id, name, role, clearance, hash, created_at, expires_at, revoked_at, created_by, department"

// CreateKey stores k. A zero CreatedAt means now. An id or hash that is
// already stored gives ErrConflict.
func (db *DB) CreateKey(ctx context.Context, k Key) error {
	if k.ID == "" || k.Hash == "" {
		return fmt.Errorf("store: create key %q: empty id or hash", k.ID)
	}
	if r, err := access.ParseRole(string(k.Role)); err != nil || r != k.Role {
		return fmt.Errorf("store: create key %s: role %q: %w", k.ID, k.Role, access.ErrUnknownRole)
	}
	if c, err := access.ParseClearance(string(k.Clearance)); err != nil || c != k.Clearance {
		return fmt.Errorf("store: create key %s: clearance %q: %w", k.ID, k.Clearance, access.ErrUnknownClearance)
	}
	if (k.Role == access.RoleDepartment) != (k.Department != "") {
		return fmt.Errorf("store: create key %s: a department key names its department, and only a department key does", k.ID)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO api_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			k.ID, k.Name, string(k.Role), string(k.Clearance), k.Hash,
			nanos(k.CreatedAt), nullNanos(k.ExpiresAt), nullNanos(k.RevokedAt), k.CreatedBy, k.Department)
		return err
	})
	db.keys.invalidate()
	if err != nil {
		return fmt.Errorf("store: create key %s: %w", k.ID, db.classify(err))
	}
	return nil
}

// KeyByHash finds the key whose secret hashes to hash, active or not; the
// caller decides with Key.Active.
// Keys found are served from memory for up to keyCacheTTL
// (store/keycache.go); a change through this DB is seen at once, one made
// by another process within that bound.
func (db *DB) KeyByHash(ctx context.Context, hash string) (Key, error) {
	return db.cachedKeyByHash(ctx, hash, func() (Key, error) {
		k, err := scanKey(db.sql.QueryRowContext(ctx, db.q("SELECT "+keyColumns+" FROM api_keys WHERE hash = ?"), hash))
		if err != nil {
			return Key{}, fmt.Errorf("store: key by hash: %w", err)
		}
		return k, nil
	})
}

// GetKey finds a key by id.
func (db *DB) GetKey(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(db.sql.QueryRowContext(ctx, db.q("SELECT "+keyColumns+" FROM api_keys WHERE id = ?"), id))
	if err != nil {
		return Key{}, fmt.Errorf("store: get key %s: %w", id, err)
	}
	return k, nil
}

// ListKeys returns every key, revoked and expired ones included, oldest
// first (ties by id).
func (db *DB) ListKeys(ctx context.Context) ([]Key, error) {
	keys, err := queryRows(ctx, db.sql, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_at, id", nil, scanKey)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey marks a key revoked from at on. Revoking a revoked key keeps
// the first time. An unknown id gives ErrNotFound.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?"), nanos(at), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	// Also after a failed write: it may have committed all the same.
	db.keys.invalidate()
	if err != nil {
		return fmt.Errorf("store: revoke key %s: %w", id, err)
	}
	return nil
}

// CountKeys counts stored keys, revoked ones included; zero means a fresh
// store that needs its bootstrap admin key.
func (db *DB) CountKeys(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_keys").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count keys: %w", err)
	}
	return n, nil
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

func scanKey(s scanner) (Key, error) {
	var (
		k                Key
		role, clearance  string
		created          int64
		expires, revoked sql.NullInt64
	)
	err := s.Scan(&k.ID, &k.Name, &role, &clearance, &k.Hash, &created, &expires, &revoked, &k.CreatedBy, &k.Department)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, err
	}
	k.Role, k.Clearance = access.Role(role), access.Clearance(clearance)
	k.CreatedAt = fromNanos(created)
	k.ExpiresAt, k.RevokedAt = fromNullNanos(expires), fromNullNanos(revoked)
	return k, nil
}
