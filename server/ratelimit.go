package server

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
)

// RateStore counts requests and tokens in fixed windows and holds
// concurrent-turn slots, shared by every replica: the state store
// (store.DB) or Redis (store.RedisRates).
type RateStore interface {
	AddRate(ctx context.Context, key string, n int64, window time.Duration, now time.Time) (total int64, windowEnd time.Time, err error)
	AcquireSlot(ctx context.Context, scope, id string, limit int, ttl time.Duration, now time.Time) (bool, error)
	ReleaseSlot(ctx context.Context, scope, id string) error
}

// RateLimit is one quota; a zero field is no limit.
type RateLimit struct {
	RequestsPerMinute int
	TokensPerMinute   int // model tokens of chat turns, charged when a turn ends
	ConcurrentTurns   int
}

// RateLimits are the quotas the server enforces. PerKey applies to every
// key on its own; PerRole[r] to all keys of role r together. A request
// counts against both.
type RateLimits struct {
	PerKey  RateLimit
	PerRole map[access.Role]RateLimit
}

func (l RateLimits) on() bool {
	if l.PerKey != (RateLimit{}) {
		return true
	}
	for _, r := range l.PerRole {
		if r != (RateLimit{}) {
			return true
		}
	}
	return false
}

// rateWindow is the window of the per-minute quotas.
const rateWindow = time.Minute

// rateStoreTimeout bounds one call to the rate store; a store that does
// not answer lets the request through (logged) rather than refusing
// everyone.
const rateStoreTimeout = 2 * time.Second

// quotaScope is one quota a request counts against.
type quotaScope struct {
	name  string // "key:<id>" or "role:<role>"
	limit RateLimit
}

func (s *Server) quotaScopes(p access.Principal) []quotaScope {
	l := s.opts.RateLimits
	var out []quotaScope
	if l.PerKey != (RateLimit{}) {
		out = append(out, quotaScope{"key:" + p.KeyID, l.PerKey})
	}
	if r, ok := l.PerRole[p.Role]; ok && r != (RateLimit{}) {
		out = append(out, quotaScope{"role:" + string(p.Role), r})
	}
	return out
}

// tooMany is the 429 problem; the headers are set by the caller.
func tooMany(detail string) *Problem {
	return &Problem{Status: fiber.StatusTooManyRequests, Title: "Too Many Requests", Detail: detail}
}

// setRateHeaders writes the IETF RateLimit fields and the common
// X-RateLimit ones for the quota closest to its limit.
func setRateHeaders(c *fiber.Ctx, limit int, used int64, reset time.Duration) {
	remaining := max(int64(limit)-used, 0)
	secs := strconv.FormatInt(int64((reset+time.Second-1)/time.Second), 10)
	lim, rem := strconv.Itoa(limit), strconv.FormatInt(remaining, 10)
	c.Set("RateLimit-Limit", lim)
	c.Set("RateLimit-Remaining", rem)
	c.Set("RateLimit-Reset", secs)
	c.Set("RateLimit-Policy", lim+";w=60")
	c.Set("X-RateLimit-Limit", lim)
	c.Set("X-RateLimit-Remaining", rem)
	c.Set("X-RateLimit-Reset", secs)
}

// rateLimit enforces requests per minute on every authenticated request,
// and refuses a turn whose key or role has used its tokens this minute.
func (s *Server) rateLimit(c *fiber.Ctx) error {
	if s.deps.Rates == nil || !s.opts.RateLimits.on() {
		return c.Next()
	}
	p, ok := principalOf(c)
	if !ok {
		return c.Next()
	}
	scopes := s.quotaScopes(p)
	if len(scopes) == 0 {
		return c.Next()
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), rateStoreTimeout)
	defer cancel()
	now := s.deps.Now()
	turn := isTurnRoute(c.Method(), c.Path())
	best := -1.0 // the smallest fraction of a quota left, for the headers
	for _, sc := range scopes {
		for _, q := range []struct {
			kind  string
			limit int
			n     int64
		}{{"req", sc.limit.RequestsPerMinute, 1}, {"tok", sc.limit.TokensPerMinute, 0}} {
			if q.limit <= 0 || (q.kind == "tok" && !turn) {
				continue
			}
			used, end, err := s.deps.Rates.AddRate(ctx, q.kind+":"+sc.name, q.n, rateWindow, now)
			if err != nil {
				s.log.Warn("rate limit not checked: the rate store failed; request let through", "scope", sc.name, "err", err)
				continue
			}
			reset := end.Sub(now)
			if left := 1 - float64(used)/float64(q.limit); best < 0 || left < best {
				best = max(left, 0)
				setRateHeaders(c, q.limit, used, reset)
			}
			if used > int64(q.limit) || (q.kind == "tok" && used >= int64(q.limit)) {
				c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((reset+time.Second-1)/time.Second), 10))
				what := "requests"
				if q.kind == "tok" {
					what = "model tokens"
				}
				return tooMany(fmt.Sprintf("the %s quota of this %s is used up (%d %s per minute); retry after the window resets",
					what, scopeNoun(sc.name), q.limit, what))
			}
		}
	}
	return c.Next()
}

func scopeNoun(scope string) string {
	if len(scope) > 5 && scope[:5] == "role:" {
		return "role (" + scope[5:] + ")"
	}
	return "key"
}

// turnQuotas remembers, per running turn (by trace id), which quotas its
// tokens are charged to when it ends.
type turnQuotas struct {
	mu      sync.Mutex
	running map[string][]quotaScope
}

// admitQuota takes a concurrent-turn slot of every quota the request's key
// and role have, or returns the 429 to answer with. The release it returns
// gives the slots back; it must be called once, when the turn ends.
func (s *Server) admitQuota(c *fiber.Ctx) (release func(), err error) {
	noop := func() {}
	if s.deps.Rates == nil || !s.opts.RateLimits.on() {
		return noop, nil
	}
	p, ok := principalOf(c)
	if !ok {
		return noop, nil
	}
	scopes := s.quotaScopes(p)
	if len(scopes) == 0 {
		return noop, nil
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), rateStoreTimeout)
	defer cancel()
	id := uuid.NewString()
	// A slot outlives its turn only when its replica dies; then it expires.
	ttl := s.opts.RequestTimeout + time.Minute
	var held []string
	releaseAll := func() {
		rctx, cancel := context.WithTimeout(context.Background(), rateStoreTimeout)
		defer cancel()
		for _, sc := range held {
			if err := s.deps.Rates.ReleaseSlot(rctx, sc, id); err != nil {
				s.log.Warn("turn slot not released; it expires", "scope", sc, "err", err)
			}
		}
	}
	for _, sc := range scopes {
		if sc.limit.ConcurrentTurns <= 0 {
			continue
		}
		name := "turns:" + sc.name
		ok, err := s.deps.Rates.AcquireSlot(ctx, name, id, sc.limit.ConcurrentTurns, ttl, s.deps.Now())
		if err != nil {
			s.log.Warn("concurrent-turn quota not checked: the rate store failed; turn let through", "scope", sc.name, "err", err)
			continue
		}
		if !ok {
			releaseAll()
			c.Set(fiber.HeaderRetryAfter, "1")
			return nil, tooMany(fmt.Sprintf("this %s has %d questions being answered already, its limit; retry when one has finished",
				scopeNoun(sc.name), sc.limit.ConcurrentTurns))
		}
		held = append(held, name)
	}
	tid := traceID(c)
	charge := false
	for _, sc := range scopes {
		charge = charge || sc.limit.TokensPerMinute > 0
	}
	if charge && tid != "" {
		s.quotas.mu.Lock()
		if s.quotas.running == nil {
			s.quotas.running = map[string][]quotaScope{}
		}
		s.quotas.running[tid] = scopes
		s.quotas.mu.Unlock()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			releaseAll()
			if charge && tid != "" {
				s.quotas.mu.Lock()
				delete(s.quotas.running, tid)
				s.quotas.mu.Unlock()
			}
		})
	}, nil
}

// chargeTokens adds a finished turn's tokens to the quotas of the key and
// role that asked (metrics.observeTurn calls it for every turn).
func (s *Server) chargeTokens(res agents.ChatResult) {
	if res.Usage.TotalTokens <= 0 || res.TraceID == "" {
		return
	}
	s.quotas.mu.Lock()
	scopes := s.quotas.running[res.TraceID]
	s.quotas.mu.Unlock()
	if len(scopes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rateStoreTimeout)
	defer cancel()
	for _, sc := range scopes {
		if sc.limit.TokensPerMinute <= 0 {
			continue
		}
		if _, _, err := s.deps.Rates.AddRate(ctx, "tok:"+sc.name, int64(res.Usage.TotalTokens), rateWindow, s.deps.Now()); err != nil {
			s.log.Warn("turn tokens not charged to the quota", "scope", sc.name, "err", err)
		}
	}
}
