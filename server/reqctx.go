package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// DefaultRequestTimeout is Options.RequestTimeout's default: above every
// shipped turn budget (30 s) plus its admission wait, the longest tool call
// (2 min) and a knowledge upload (2 min).
const DefaultRequestTimeout = 5 * time.Minute

const requestCancelKey = "cityagent.request_cancel"

// requestCancel is the cancel of a request's context and who owns it.
type requestCancel struct {
	cancel context.CancelFunc
	taken  bool // by a stream writer (takeRequestContext)
}

// requestContext gives each request its own context, set once here: derived
// from the server's base context, so Shutdown cancels it, with a deadline
// of Options.RequestTimeout. Fiber v2's c.UserContext() is otherwise
// context.Background(), which nothing cancels. The context ends when the
// handler returns, unless a stream took it over (takeRequestContext).
func (s *Server) requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.base, s.opts.RequestTimeout)
	rc := &requestCancel{cancel: cancel}
	c.Locals(requestCancelKey, rc)
	c.SetUserContext(ctx)
	defer func() {
		if !rc.taken {
			cancel()
		}
	}()
	return c.Next()
}

// takeRequestContext hands the request's context and its cancel to work
// that outlives the handler: a body stream writer runs after the handler
// has returned, so the middleware must not end the context then. The taker
// calls cancel when it is done; Shutdown and the deadline still end the
// context before that. Call it in the handler, never in the stream writer
// (the *fiber.Ctx is reused once the handler returns).
func takeRequestContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	rc, ok := c.Locals(requestCancelKey).(*requestCancel)
	if !ok { // a handler mounted without the middleware
		return context.WithCancel(c.UserContext())
	}
	rc.taken = true
	return c.UserContext(), rc.cancel
}
