// Package server is cityagent's HTTP API on Fiber v2: routes, API-key auth and
// roles, RFC 9457 problem+json errors, request ids, structured logs, body
// limits, server-sent event streams and graceful shutdown. Handlers translate
// HTTP to domain calls and nothing else.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/google/uuid"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/events"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// KeyStore is the part of the state store auth and key management use.
type KeyStore interface {
	CreateKey(ctx context.Context, k store.Key) error
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
	GetKey(ctx context.Context, id string) (store.Key, error)
	ListKeys(ctx context.Context) ([]store.Key, error)
	RevokeKey(ctx context.Context, id string, at time.Time) error
}

// SessionReader is the part of the state store the session routes read.
type SessionReader interface {
	GetSession(ctx context.Context, id string) (store.Session, error)
	Events(ctx context.Context, sessionID string) ([]store.Event, error)
	ListSessions(ctx context.Context, ownerKeyID string, limit int, before string) ([]store.Session, error)
}

// Check is one readiness probe: a named dependency and how to ping it.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are what the server serves.
type Deps struct {
	Runner   *agents.Runner
	Catalog  *agents.Catalog
	Tools    *tools.Registry
	Keys     KeyStore
	Sessions SessionReader
	Checks   []Check
	Log      *slog.Logger
	Now      func() time.Time
	// ModelName is what /v1/agents reports for agents that do not name a model.
	ModelName func(specModel string) string
	// DevTools registers and lists developer tools (server/tools.go); nil:
	// GET /v1/tools lists the registry and registration answers 503.
	DevTools ToolManager
	// Evals runs eval suites for POST /v1/evals/runs; nil answers 503.
	Evals EvalService
	// Proposals decides governed actions (actions.Service); nil answers 503.
	Proposals ProposalService
	// AuditLog is the audit chain GET /v1/audit reads and verifies; nil answers 503.
	AuditLog AuditLog
	// Audit receives key changes and tool registrations; nil keeps nothing.
	Audit audit.Auditor
	// Hotline serves /v1/hotline and the Open311 facade (hotline.Service); nil answers 503.
	Hotline HotlineService
	// Knowledge serves /v1/collections (server/collections.go); nil answers 503.
	Knowledge *knowledge.Base
	// Monitors serves /v1/monitors, /v1/vital-signs and /v1/alerts (server/monitors.go); nil answers 503.
	Monitors MonitorService
	// Events serves /v1/events and /v1/webhooks (server/events.go); nil answers 503.
	Events *events.Service
	// Telemetry traces requests (server/tracing.go); nil: off.
	Telemetry *telemetry.Provider
	// Reports serves GET /v1/reports/operations (server/reports.go); nil answers 503.
	Reports ReportService
	// Rates counts Options.RateLimits across replicas (server/ratelimit.go); nil: no limits.
	Rates RateStore
}

// Options tune the server.
type Options struct {
	BodyLimit         int           // bytes; default 1 MiB
	HeartbeatInterval time.Duration // SSE ": ping" interval; default 15s
	ReadTimeout       time.Duration
	// RequestTimeout is the deadline of every request's context (streams
	// included); default DefaultRequestTimeout. Keep it above the longest
	// turn budget of the agents served.
	RequestTimeout time.Duration
	Version        string
	// MaxTurns bounds the chat turns running at once (POST …/chat and
	// /v1/chat/completions); ≤ 0: 4 × GOMAXPROCS. TurnQueue bounds the
	// turns waiting for one, FIFO, each at most 5 s; 0: 64 × GOMAXPROCS,
	// < 0: no queue. A turn refused gets 503 with Retry-After.
	MaxTurns  int
	TurnQueue int
	// MaxStreamsPerKey bounds the event streams (GET /v1/events) one key
	// holds open at once; 0: DefaultMaxStreamsPerKey, < 0: no limit. One
	// more is 429 with Retry-After (server/streamcap.go).
	MaxStreamsPerKey int
	// CityName and CityTimeZone (IANA) are what GET /v1/me tells the
	// console, which shows times in the city's zone.
	CityName, CityTimeZone string
	// RateLimits are per-key and per-role quotas (server/ratelimit.go),
	// counted in Deps.Rates; zero: none.
	RateLimits RateLimits
}

// Server is the HTTP API.
type Server struct {
	deps     Deps
	opts     Options
	app      *fiber.App
	log      *slog.Logger
	base     context.Context // cancelled when shutdown begins
	stop     context.CancelFunc
	streams  sync.WaitGroup
	convs    conversations
	turns    *admission // server/admission.go
	feeds    *streamCap // server/streamcap.go
	metrics  *metrics
	shutdown sync.Once
	drain    drainState // server/drain.go
	quotas   turnQuotas // server/ratelimit.go
}

// New builds the server and its routes.
func New(deps Deps, opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 15 * time.Second
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Audit == nil {
		deps.Audit = audit.Discard
	}
	if deps.ModelName == nil {
		deps.ModelName = func(m string) string { return m }
	}
	s := &Server{deps: deps, opts: opts, log: deps.Log, metrics: newMetrics(deps)}
	s.metrics.onTurn = s.chargeTokens // server/ratelimit.go
	s.base, s.stop = context.WithCancel(context.Background())
	s.turns = newAdmission(opts.MaxTurns, opts.TurnQueue)
	if opts.MaxStreamsPerKey == 0 {
		opts.MaxStreamsPerKey = DefaultMaxStreamsPerKey
	}
	s.feeds = newStreamCap(opts.MaxStreamsPerKey)
	s.app = fiber.New(fiber.Config{
		AppName: "cityagent",
		// Fiber's strings (Params, Method, Path, Get, Query) and Body point
		// into buffers fasthttp reuses for the next request. Handlers and the
		// stores they call keep names, ids and labels well past the handler,
		// so the server decides once: every value a handler sees is its own
		// copy (DESIGN §14; cost measured in BenchmarkChatTurn, README).
		Immutable:             true,
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           opts.ReadTimeout,
		IdleTimeout:           2 * time.Minute,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
	})
	s.routes()
	s.app.Server().Handler = s.guardMethods(s.app.Server().Handler) // server/tracing_methods.go: unknown methods
	return s
}

// App exposes the Fiber app (for tests with app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown ends open streams with a final error event, stops accepting
// connections and waits for in-flight requests, up to ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(s.stop)
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	timeout := time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), 10*time.Millisecond)
	}
	return s.app.ShutdownWithTimeout(timeout)
}

func (s *Server) routes() {
	app := s.app
	s.mcpRoutes(app) // first: /mcp hands its connection to net/http (server/mcp.go), which logs and authenticates
	app.Use(s.recoverer)
	app.Use(s.requestContext) // server/reqctx.go
	app.Use(s.traceRequests)  // server/tracing.go: before requestid, which takes the trace id as the default request id
	app.Use(requestid.New(requestid.Config{Generator: func() string { return uuid.NewString() }}))
	app.Use(s.logRequests)
	app.Use(s.refuseWhileDraining) // server/drain.go

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metrics.handler())

	v1 := app.Group("/v1", s.authenticate, s.rateLimit) // server/ratelimit.go
	v1.Get("/agents", s.listAgents)
	v1.Get("/agents/:agent", s.getAgent)
	v1.Post("/agents/:agent/chat", s.chat) // role checked against the agent's spec
	v1.Post("/chat/completions", s.chatCompletions)
	v1.Get("/models", s.models)
	v1.Get("/models/:model", s.model)
	v1.Get("/sessions", s.listSessions)
	v1.Get("/sessions/:id", s.getSession)
	v1.Get("/keys", s.require(roleAdmin), s.listKeys)
	v1.Post("/keys", s.require(roleAdmin), s.createKey)
	v1.Delete("/keys/:id", s.require(roleAdmin), s.revokeKey)
	s.evalRoutes(v1)
	s.governanceRoutes(v1)
	s.toolRoutes(v1)
	s.lifecycleRoutes(v1)     // first: department keys reach these /v1/hotline routes (server/hotline_lifecycle.go)
	s.hotlineResultRoutes(v1) // before the hotline group too: /stats for department keys (server/hotline_stats.go)
	s.hotlineRoutes(v1)
	s.collectionRoutes(v1)
	s.monitorRoutes(v1)
	s.eventRoutes(v1)  // server/events.go
	s.reportRoutes(v1) // server/reports.go
	s.open311Routes(app)
	s.consoleRoutes(app, v1) // server/console.go: /console and GET /v1/me

	app.Use(func(c *fiber.Ctx) error {
		return &Problem{Status: fiber.StatusNotFound, Title: "Not Found", Detail: fmt.Sprintf("no route %s %s", c.Method(), c.Path())}
	})
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.opts.Version})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.base, 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	for _, ch := range s.deps.Checks {
		if err := ch.Ping(ctx); err != nil {
			checks[ch.Name] = "unavailable"
			ready = false
			s.log.Warn("readiness check failed", "check", ch.Name, "err", err)
			continue
		}
		checks[ch.Name] = "ok"
	}
	if s.Draining() { // server/drain.go
		checks["drain"], ready = "draining", false
	}
	if !ready {
		c.Status(fiber.StatusServiceUnavailable)
	}
	status := "ready"
	if !ready {
		status = "not ready"
	}
	return c.JSON(fiber.Map{"status": status, "checks": checks})
}

func (s *Server) recoverer(c *fiber.Ctx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "panic", p, "path", c.Path(), "request_id", requestID(c))
			err = errors.New("internal panic")
		}
	}()
	return c.Next()
}

func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Let the error handler write the response so the status is logged right.
		if herr := s.handleError(c, err); herr != nil {
			s.log.Error("writing error response", "err", herr)
		}
		err = nil
	}
	s.metrics.observeRequest(c, time.Since(start))
	attrs := []any{"method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(),
		"duration_ms", time.Since(start).Milliseconds(), "request_id", requestID(c)}
	if p, ok := principalOf(c); ok {
		attrs = append(attrs, "key_id", p.KeyID)
	}
	s.log.Info("request", attrs...)
	return err
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals("requestid").(string); ok {
		return v
	}
	return string(c.Response().Header.Peek(fiber.HeaderXRequestID))
}
