package server

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
)

// Admission control for chat turns. A turn holds a slot from before it
// starts until its answer (or error) is written; at most MaxTurns run at
// once. Excess turns wait in a FIFO queue of at most TurnQueue; a turn that
// finds the queue full, or waits longer than maxTurnWait, is refused with
// 503 and Retry-After instead of piling more work on the write queue (the
// overload under which audit writes used to time out).

// Defaults per GOMAXPROCS: a turn on the embedded default is mostly CPU
// (≈0.6 ms) plus one group-committed write, so a few per core keep the
// cores busy; the queue absorbs a burst of 64 clients per core for at most
// maxTurnWait.
const (
	turnsPerProc     = 4
	turnQueuePerProc = 64
	maxTurnWait      = 5 * time.Second
	turnRetryAfter   = "1" // seconds
)

// Errors a turn is refused with before it runs.
var (
	errTurnQueueFull = errors.New("server: too many turns waiting")
	errTurnWait      = errors.New("server: waited too long for a turn slot")
)

// admission is a counting semaphore with a bounded FIFO queue. Slots are
// handed from a finishing turn straight to the oldest waiter, so a newcomer
// cannot overtake the queue.
type admission struct {
	mu       sync.Mutex
	running  int
	max      int
	maxQueue int
	queue    []*turnWaiter
	maxWait  time.Duration
}

type turnWaiter struct {
	ready   chan struct{} // closed when the slot is handed over
	granted bool          // under mu
}

// newAdmission returns a limiter for maxTurns concurrent turns and a queue of
// queue waiters; maxTurns ≤ 0 and queue == 0 pick the defaults, queue < 0
// means no queue (refuse as soon as every slot is taken).
func newAdmission(maxTurns, queue int) *admission {
	procs := runtime.GOMAXPROCS(0)
	if maxTurns <= 0 {
		maxTurns = turnsPerProc * procs
	}
	switch {
	case queue == 0:
		queue = turnQueuePerProc * procs
	case queue < 0:
		queue = 0
	}
	return &admission{max: maxTurns, maxQueue: queue, maxWait: maxTurnWait}
}

// acquire takes a slot, waiting in the queue if needed. release must be
// called exactly once when the turn is over.
func (a *admission) acquire(ctx context.Context) (release func(), err error) {
	a.mu.Lock()
	if a.running < a.max && len(a.queue) == 0 {
		a.running++
		a.mu.Unlock()
		return a.releaseOnce(), nil
	}
	if len(a.queue) >= a.maxQueue {
		a.mu.Unlock()
		return nil, errTurnQueueFull
	}
	w := &turnWaiter{ready: make(chan struct{})}
	a.queue = append(a.queue, w)
	a.mu.Unlock()

	timer := time.NewTimer(a.maxWait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return a.releaseOnce(), nil
	case <-timer.C:
		err = errTurnWait
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.granted {
		// Handed a slot just as we gave up: take it, so it is not lost.
		return a.releaseOnce(), nil
	}
	for i, q := range a.queue {
		if q == w {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			break
		}
	}
	return nil, err
}

func (a *admission) releaseOnce() func() {
	var once sync.Once
	return func() { once.Do(a.release) }
}

func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.queue) > 0 {
		w := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		w.granted = true
		close(w.ready) // the slot passes on; running stays the same
		return
	}
	a.running--
}

// admitTurn takes a turn slot for a chat request, or returns the problem to
// answer with (and sets Retry-After).
func (s *Server) admitTurn(c *fiber.Ctx) (release func(), err error) {
	release, err = s.turns.acquire(s.base)
	if err == nil {
		quota, qerr := s.admitQuota(c) // server/ratelimit.go: per-key and per-role concurrent turns
		if qerr != nil {
			release()
			return nil, qerr
		}
		slot := release
		return func() { quota(); slot() }, nil
	}
	s.log.Warn("turn refused by admission control", "reason", err, "request_id", requestID(c))
	c.Set(fiber.HeaderRetryAfter, turnRetryAfter)
	detail := "too many questions are being answered right now; retry shortly"
	if errors.Is(err, context.Canceled) {
		detail = "the server is shutting down; retry the question"
	}
	return nil, unavailable(detail)
}

// turnFailure maps the errors a turn can end with that mean "try again"
// (its audit record could not be written, or no model answered in time) to
// 503 with Retry-After; other errors pass through to the error handler
// unchanged.
func turnFailure(c *fiber.Ctx, err error) error {
	if p := turnProblem(err); p != nil {
		c.Set(fiber.HeaderRetryAfter, turnRetryAfter)
		return p
	}
	return err
}

// turnProblem is the problem for a turn withheld for want of its audit
// record or ended without any model's answer, nil for any other error.
func turnProblem(err error) *Problem {
	switch {
	case errors.Is(err, agents.ErrAuditUnavailable):
		return unavailable("the answer could not be recorded, so it was withheld; retry the question")
	case errors.Is(err, agents.ErrNoAnswer):
		return unavailable("no model could answer in the time this agent allows; retry the question")
	}
	return nil
}

func unavailable(detail string) *Problem {
	return &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: detail}
}
