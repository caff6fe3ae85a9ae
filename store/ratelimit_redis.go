package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	fiberredis "github.com/gofiber/storage/redis/v3"
	"github.com/redis/go-redis/v9"
)

// RedisRates keeps the rate-limit counters and concurrent-turn slots in
// Redis (CITYAGENT_REDIS_URL) instead of the state store: the same
// operations as DB.AddRate, AcquireSlot and ReleaseSlot, each one atomic
// Lua script, so replicas never lose a count. The connection is Fiber's
// limiter storage (gofiber/storage/redis/v3) over go-redis; Fiber's limiter
// middleware itself is not used because it reads, changes and writes an
// entry under an in-process lock only, so counts from several replicas
// overwrite each other (middleware/limiter/limiter_fixed.go, v2.52.15).
type RedisRates struct {
	fs     *fiberredis.Storage
	client redis.UniversalClient
	prefix string
}

// OpenRedisRates connects to the Redis server at url
// (redis://[user:password@]host:port[/db]) and checks that it answers.
func OpenRedisRates(ctx context.Context, url string) (*RedisRates, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store: redis: the URL does not parse (want redis://host:port/db)")
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: redis %s: %w", opts.Addr, err)
	}
	return &RedisRates{fs: fiberredis.NewFromConnection(c), client: c, prefix: "cityagent:"}, nil
}

// Storage is the connection as Fiber storage, for Fiber middleware that
// wants one.
func (r *RedisRates) Storage() *fiberredis.Storage { return r.fs }

// Ping reports whether Redis answers (/readyz).
func (r *RedisRates) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Close closes the connection.
func (r *RedisRates) Close() error { return r.fs.Close() }

// addRate: KEYS[1] the window's counter; ARGV n, window ms. Returns the
// total and the milliseconds left in the window.
var addRate = redis.NewScript(`
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {v, ttl}`)

// AddRate is DB.AddRate in Redis: the counter of each window is its own
// key, which expires with the window.
func (r *RedisRates) AddRate(ctx context.Context, key string, n int64, window time.Duration, now time.Time) (int64, time.Time, error) {
	if key == "" || window <= 0 || n < 0 {
		return 0, time.Time{}, fmt.Errorf("store: redis add rate %q: key, a positive window and n ≥ 0 are required", key)
	}
	start := now.Truncate(window)
	end := start.Add(window)
	k := r.prefix + "rate:" + key + ":" + strconv.FormatInt(start.UnixMilli(), 10)
	res, err := addRate.Run(ctx, r.client, []string{k}, n, (end.Sub(now) + time.Second).Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("store: redis add rate %s: %w", key, err)
	}
	return res[0], end, nil
}

// acquireSlot: KEYS[1] the scope's sorted set (member id, score expiry
// ms); ARGV now ms, limit, expiry ms, id, ttl ms.
var acquireSlot = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`)

// AcquireSlot is DB.AcquireSlot in Redis.
func (r *RedisRates) AcquireSlot(ctx context.Context, scope, id string, limit int, ttl time.Duration, now time.Time) (bool, error) {
	if scope == "" || id == "" || limit <= 0 || ttl <= 0 {
		return false, fmt.Errorf("store: redis acquire slot %q: scope, id, a positive limit and ttl are required", scope)
	}
	n, err := acquireSlot.Run(ctx, r.client, []string{r.prefix + "slots:" + scope},
		now.UnixMilli(), limit, now.Add(ttl).UnixMilli(), id, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: redis acquire slot %s: %w", scope, err)
	}
	return n == 1, nil
}

// ReleaseSlot is DB.ReleaseSlot in Redis.
func (r *RedisRates) ReleaseSlot(ctx context.Context, scope, id string) error {
	if err := r.client.ZRem(ctx, r.prefix+"slots:"+scope, id).Err(); err != nil {
		return fmt.Errorf("store: redis release slot %s: %w", scope, err)
	}
	return nil
}
