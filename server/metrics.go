package server

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cityagent/cityagent/agents"
)

// metrics are the server's Prometheus collectors, on a registry of its own.
// Every label value is bounded: routes are patterns, tools are the
// registry's (anything else is "unknown", client tools "client"), models
// and agents are capped (labelCap).
type metrics struct {
	onTurn     func(agents.ChatResult) // called first by observeTurn (server/ratelimit.go)
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	durations  *prometheus.HistogramVec
	turns      *prometheus.CounterVec
	turnTime   *prometheus.HistogramVec
	toolCalls  *prometheus.CounterVec
	toolTime   *prometheus.HistogramVec
	toolErrors *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
	streams    prometheus.Gauge

	isTool func(name string) bool // a registered tool (or an action's propose_ tool)
	models labelCap
	agents labelCap
	tools  labelCap
}

// latencyBuckets are seconds, from a cached tool call to a slow model.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(deps Deps) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_http_requests_total",
			Help: "HTTP requests by method, route pattern and status."}, []string{"method", "route", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cityagent_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern (streams: until the handler returns).", Buckets: prometheus.DefBuckets}, []string{"route"}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_chat_turns_total",
			Help: "Answered chat turns by agent, answering model and whether the turn was degraded."}, []string{"agent", "model", "degraded"}),
		turnTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cityagent_chat_turn_duration_seconds",
			Help: "Chat turn duration by agent and answering model.", Buckets: latencyBuckets}, []string{"agent", "model"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_tool_calls_total",
			Help: "Tool calls made by agents, by tool and outcome."}, []string{"tool", "ok"}),
		toolTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cityagent_tool_call_duration_seconds",
			Help: "Tool call latency by tool (calls that ran; refused and client calls are not timed).", Buckets: latencyBuckets}, []string{"tool"}),
		toolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_tool_call_errors_total",
			Help: "Tool calls that failed or were refused, by tool."}, []string{"tool"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_model_fallbacks_total",
			Help: "Moves from a failed model to the next in a turn's chain, by model failed and model tried next."}, []string{"from", "to"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cityagent_open_streams",
			Help: "Server-sent event streams currently open."}),
		models: labelCap{max: 32},
		agents: labelCap{max: 64},
		tools:  labelCap{max: 256},
		isTool: func(name string) bool {
			if deps.Tools == nil {
				return false
			}
			_, err := deps.Tools.Get(name)
			return err == nil
		},
	}
	m.reg.MustRegister(m.requests, m.durations, m.turns, m.turnTime, m.toolCalls, m.toolTime, m.toolErrors, m.fallbacks, m.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sc, ok := deps.Sessions.(stateCounts); ok { // the state store (store.DB) counts; fakes need not
		m.reg.MustRegister(&stateCollector{src: sc, now: deps.Now, log: deps.Log})
	}
	return m
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

func (m *metrics) observeRequest(c *fiber.Ctx, took time.Duration) {
	// The pattern, never the raw path: bounded label values.
	m.observe(c.Method(), c.Route().Path, c.Response().StatusCode(), took)
}

// observe counts one HTTP request; method and route must be bounded
// (Fiber's own methods, httpMethodLabel; a route pattern).
func (m *metrics) observe(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.durations.WithLabelValues(route).Observe(took.Seconds())
}

func (m *metrics) observeTurn(res agents.ChatResult) {
	if m.onTurn != nil {
		m.onTurn(res) // server/ratelimit.go: tokens per minute
	}
	agent, model := m.agents.label(res.Agent), m.models.label(res.Model)
	m.turns.WithLabelValues(agent, model, strconv.FormatBool(res.Degraded)).Inc()
	m.turnTime.WithLabelValues(agent, model).Observe(float64(res.DurationMS) / 1000)
	for _, tc := range res.ToolCalls {
		tool := m.toolLabel(tc)
		m.toolCalls.WithLabelValues(tool, strconv.FormatBool(tc.OK)).Inc()
		if !tc.OK {
			m.toolErrors.WithLabelValues(tool).Inc()
		}
		if !tc.Client && (tc.OK || tc.DurationMS > 0) {
			m.toolTime.WithLabelValues(tool).Observe(float64(tc.DurationMS) / 1000)
		}
	}
	for _, f := range res.Fallbacks {
		m.fallbacks.WithLabelValues(m.models.label(f.From), m.models.label(f.To)).Inc()
	}
}

// toolLabel is a call's tool label: a registered tool's name, an action's
// propose_ tool (capped), "client" for the client's own tools, "unknown"
// for names the model made up (they come from model output).
func (m *metrics) toolLabel(tc agents.ToolCallRecord) string {
	switch {
	case tc.Client:
		return "client"
	case m.isTool(tc.Name), strings.HasPrefix(tc.Name, "propose_") && len(tc.Name) <= 64:
		return m.tools.label(tc.Name)
	}
	return "unknown"
}

// labelCap passes the first max distinct values of a label through and
// maps any later one to "other", so that values a peer controls (the
// model name a model server reports) cannot grow the series without bound.
type labelCap struct {
	max  int
	mu   sync.Mutex
	seen map[string]bool
}

func (l *labelCap) label(v string) string {
	if v == "" {
		return "none"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max {
		return "other"
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[v] = true
	return v
}

// stateCounts are the figures /metrics reads from the state store at
// scrape time, so that they are right across replicas and restarts.
type stateCounts interface {
	ProposalStatusCounts(ctx context.Context) (map[string]int64, error)
	DeadlineMisses(ctx context.Context, at time.Time) (open, closedLate int64, err error)
}

var (
	proposalsDesc = prometheus.NewDesc("cityagent_proposals", "Stored governance proposals by status.", []string{"status"}, nil)
	missesDesc    = prometheus.NewDesc("cityagent_hotline_deadline_misses",
		"Hotline tickets that missed their deadline: state=open (still open past it) or closed_late.", []string{"state"}, nil)
)

// stateCollector reads stateCounts on each scrape.
type stateCollector struct {
	src stateCounts
	now func() time.Time
	log interface {
		Warn(msg string, args ...any)
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- proposalsDesc
	ch <- missesDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.src.ProposalStatusCounts(ctx); err != nil {
		c.log.Warn("metrics: counting proposals failed", "err", err)
	} else {
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(proposalsDesc, prometheus.GaugeValue, float64(n), status)
		}
	}
	open, late, err := c.src.DeadlineMisses(ctx, c.now())
	if err != nil {
		c.log.Warn("metrics: counting missed hotline deadlines failed", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(missesDesc, prometheus.GaugeValue, float64(open), "open")
	ch <- prometheus.MustNewConstMetric(missesDesc, prometheus.GaugeValue, float64(late), "closed_late")
}
