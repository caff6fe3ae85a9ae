package server

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Draining: a replica told to stop (SIGTERM) first fails /readyz, so that
// the load balancer sends it no more traffic, and refuses new chat turns
// with 503 and Retry-After (another replica takes the retry), while the
// turns and streams already running finish. Only then does Shutdown
// cancel what is left.

// drainRetryAfter is the Retry-After of a turn refused while draining: the
// retry goes to another replica at once.
const drainRetryAfter = "1"

// drainState is the server's drain flag; its zero value is "serving".
type drainState struct{ on atomic.Bool }

func (s *Server) drainFlag() *atomic.Bool { return &s.drain.on }

// StartDrain makes /readyz answer 503 and refuses new chat turns; requests
// other than turns are still served. It returns at once.
func (s *Server) StartDrain() {
	if !s.drainFlag().Swap(true) {
		s.log.Info("draining: readiness fails and new turns are refused")
	}
}

// Draining reports whether StartDrain was called.
func (s *Server) Draining() bool { return s.drainFlag().Load() }

// RunningTurns is the number of chat turns (streams included) holding an
// admission slot now.
func (s *Server) RunningTurns() int {
	s.turns.mu.Lock()
	defer s.turns.mu.Unlock()
	return s.turns.running
}

// WaitTurns waits until no turn is running or ctx ends, and reports
// whether every turn finished.
func (s *Server) WaitTurns(ctx context.Context) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.RunningTurns() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// isTurnRoute reports whether a request starts a chat turn.
func isTurnRoute(method, path string) bool {
	if method != fiber.MethodPost {
		return false
	}
	return path == "/v1/chat/completions" || (strings.HasPrefix(path, "/v1/agents/") && strings.HasSuffix(path, "/chat"))
}

// refuseWhileDraining answers a new turn on a draining replica with 503
// problem+json and Retry-After.
func (s *Server) refuseWhileDraining(c *fiber.Ctx) error {
	if s.Draining() && isTurnRoute(c.Method(), c.Path()) {
		c.Set(fiber.HeaderRetryAfter, drainRetryAfter)
		return unavailable("this replica is shutting down; retry the question (another replica will answer it)")
	}
	return c.Next()
}
