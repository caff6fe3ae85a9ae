package server

import (
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// DefaultMaxStreamsPerKey is the event streams one key may hold open when
// Options.MaxStreamsPerKey is 0: more than a console in several tabs and a
// department system's feeds need.
const DefaultMaxStreamsPerKey = 32

// streamCap bounds the event streams (GET /v1/events) one key holds open at
// once. Each open stream costs the server a connection, a goroutine and
// about 30 KB; without a bound one key (or one leaked key) could hold
// thousands and crowd out everyone else. Chat streams need no bound of
// their own: admission control (server/admission.go) bounds the turns.
type streamCap struct {
	limit int // ≤ 0: no limit
	mu    sync.Mutex
	open  map[string]int // by key id
}

func newStreamCap(limit int) *streamCap {
	return &streamCap{limit: limit, open: map[string]int{}}
}

// take counts a new stream of key; it returns a 429 problem (with
// Retry-After set on c) when key already holds the limit. The caller
// calls release exactly once for every take that returned nil.
func (sc *streamCap) take(c *fiber.Ctx, key string) error {
	if sc.limit <= 0 {
		return nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if n := sc.open[key]; n >= sc.limit {
		c.Set(fiber.HeaderRetryAfter, "5")
		return tooMany(fmt.Sprintf("this key already holds %d open event streams, the most one key may (server.max_streams_per_key): close one first; a reconnect with Last-Event-ID resumes where a stream stopped", n))
	}
	sc.open[key]++
	return nil
}

func (sc *streamCap) release(key string) {
	if sc.limit <= 0 {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[key]--; sc.open[key] <= 0 {
		delete(sc.open, key)
	}
}
