package store

import (
	"context"
	"sync"
	"time"
)

// keyCacheTTL bounds how long a key looked up by hash is served from
// memory. Every request authenticates, and the lookup was one SQL read per
// request. Changes made through this DB (CreateKey, RevokeKey) clear the
// cache at once, so in one process a revocation holds from the next
// request on. A change made elsewhere — another replica, or `cityagent keys
// revoke` run beside a live server — reaches this process within the TTL.
const keyCacheTTL = 2 * time.Second

// maxCachedKeys bounds the cache; when full it starts over.
const maxCachedKeys = 1024

// keyCache holds keys found by hash. Only found keys are kept, so a key
// created anywhere is usable at once.
type keyCache struct {
	mu sync.Mutex
	// gen counts invalidations: a lookup that raced one does not store
	// what it read.
	gen  uint64
	keys map[string]cachedKey
	ttl  time.Duration // keyCacheTTL; tests shorten it, ≤ 0 disables
}

type cachedKey struct {
	key     Key
	expires time.Time
}

func (c *keyCache) get(hash string, now time.Time) (Key, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.keys[hash]
	if ok && now.Before(e.expires) {
		return e.key, c.gen, true
	}
	return Key{}, c.gen, false
}

// put keeps k unless the cache was invalidated since gen was read.
func (c *keyCache) put(hash string, k Key, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.ttl <= 0 {
		return
	}
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[hash] = cachedKey{key: k, expires: now.Add(c.ttl)}
}

// invalidate forgets every key; key changes are rare.
func (c *keyCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.keys = nil
}

// cachedKeyByHash is KeyByHash through the cache.
func (db *DB) cachedKeyByHash(ctx context.Context, hash string, lookup func() (Key, error)) (Key, error) {
	now := time.Now()
	k, gen, ok := db.keys.get(hash, now)
	if ok {
		return cloneKey(k), nil
	}
	k, err := lookup()
	if err != nil {
		return Key{}, err
	}
	db.keys.put(hash, cloneKey(k), gen, now)
	return k, nil
}

// cloneKey copies k's pointed-to times, so that no caller can change a
// cached key through them.
func cloneKey(k Key) Key {
	if k.ExpiresAt != nil {
		t := *k.ExpiresAt
		k.ExpiresAt = &t
	}
	if k.RevokedAt != nil {
		t := *k.RevokedAt
		k.RevokedAt = &t
	}
	return k
}
