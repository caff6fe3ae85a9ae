package store

import (
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// TestKeyCache checks the key cache on both backends: a revocation through
// the same DB shows on the very next lookup, also while lookups race it; a
// revocation through another handle on the same database (another replica,
// the keys CLI) shows within the TTL.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	for name, tg := range map[string]func(t *testing.T) target{
		BackendSQLite:   func(t *testing.T) target { return target{backend: BackendSQLite, dir: t.TempDir()} },
		BackendPostgres: func(t *testing.T) target { return target{backend: BackendPostgres, url: pgtest.NewDatabase(t, pgURL)} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Run("revoke here", func(t *testing.T) { keyCacheRevokeHere(t, tg(t)) })
			t.Run("revoke elsewhere", func(t *testing.T) { keyCacheRevokeElsewhere(t, tg(t)) })
		})
	}
}

func newCachedKey(t *testing.T, db *DB, secret string) Key {
	t.Helper()
	k := Key{ID: "key_" + secret, Name: secret, Role: access.RoleOperator, Clearance: access.Internal, Hash: access.HashKey(secret), CreatedAt: time.Now()}
	if err := db.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyCacheRevokeHere(t *testing.T, tg target) {
	db := tg.open(t)
	ctx := t.Context()
	k := newCachedKey(t, db, "here")
	got, err := db.KeyByHash(ctx, k.Hash)
	if err != nil || got.RevokedAt != nil {
		t.Fatalf("before revoking: %+v, %v", got, err)
	}
	// A caller writing through the key's pointers must not reach the cache.
	exp := time.Now().Add(time.Hour)
	got.ExpiresAt = &exp
	if again, _ := db.KeyByHash(ctx, k.Hash); again.ExpiresAt != nil {
		t.Fatal("a caller changed the cached key")
	}

	// Lookups racing the revocation: once RevokeKey has returned, every
	// lookup sees it, whatever the racing ones stored.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.KeyByHash(ctx, k.Hash); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	at := time.Now()
	if err := db.RevokeKey(ctx, k.ID, at); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		got, err := db.KeyByHash(ctx, k.Hash)
		if err != nil || got.RevokedAt == nil || got.Active(at) {
			close(stop)
			t.Fatalf("after revoking through the same DB: %+v, %v", got, err)
		}
	}
	close(stop)
	wg.Wait()

	// A key created after a lookup of its hash failed is found at once.
	if _, err := db.KeyByHash(ctx, access.HashKey("later")); err == nil {
		t.Fatal("unknown key found")
	}
	newCachedKey(t, db, "later")
	if _, err := db.KeyByHash(ctx, access.HashKey("later")); err != nil {
		t.Fatalf("a key just created: %v", err)
	}
}

func keyCacheRevokeElsewhere(t *testing.T, tg target) {
	db, other := tg.open(t), tg.open(t)
	db.keys.ttl = 200 * time.Millisecond
	ctx := t.Context()
	k := newCachedKey(t, db, "elsewhere")
	if _, err := db.KeyByHash(ctx, k.Hash); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := other.RevokeKey(ctx, k.ID, at); err != nil {
		t.Fatal(err)
	}
	deadline := at.Add(db.keys.ttl)
	for {
		got, err := db.KeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt != nil {
			return
		}
		if time.Now().After(deadline.Add(50 * time.Millisecond)) {
			t.Fatalf("revoked elsewhere at %s, still served unrevoked after the %s TTL", at.Format(time.StampMilli), db.keys.ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
