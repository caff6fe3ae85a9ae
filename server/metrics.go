package server

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cityagent/cityagent/agents"
)

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	turns     *prometheus.CounterVec
	turnTime  *prometheus.HistogramVec
	toolCalls *prometheus.CounterVec
	streams   prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_http_requests_total",
			Help: "HTTP requests by method, route pattern and status."}, []string{"method", "route", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cityagent_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern (streams: until the handler returns).", Buckets: prometheus.DefBuckets}, []string{"route"}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_chat_turns_total",
			Help: "Answered chat turns by agent, answering model and whether the turn was degraded."}, []string{"agent", "model", "degraded"}),
		turnTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cityagent_chat_turn_duration_seconds",
			Help: "Chat turn duration by agent.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"agent"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cityagent_tool_calls_total",
			Help: "Tool calls made by agents, by tool and outcome."}, []string{"tool", "ok"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cityagent_open_streams",
			Help: "Server-sent event streams currently open."}),
	}
	m.reg.MustRegister(m.requests, m.durations, m.turns, m.turnTime, m.toolCalls, m.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

func (m *metrics) observeRequest(c *fiber.Ctx, took time.Duration) {
	route := c.Route().Path // the pattern, never the raw path: bounded label values
	m.requests.WithLabelValues(c.Method(), route, strconv.Itoa(c.Response().StatusCode())).Inc()
	m.durations.WithLabelValues(route).Observe(took.Seconds())
}

func (m *metrics) observeTurn(res agents.ChatResult) {
	m.turns.WithLabelValues(res.Agent, res.Model, strconv.FormatBool(res.Degraded)).Inc()
	m.turnTime.WithLabelValues(res.Agent).Observe(float64(res.DurationMS) / 1000)
	for _, tc := range res.ToolCalls {
		m.toolCalls.WithLabelValues(tc.Name, strconv.FormatBool(tc.OK)).Inc()
	}
}
