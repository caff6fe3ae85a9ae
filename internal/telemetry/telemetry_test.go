package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		endpoint string
		headers  map[string]string
		err      string
	}{
		"nothing set: off":   {env: nil},
		"base endpoint":      {env: map[string]string{telemetry.EnvEndpoint: "http://collector:4318/"}, endpoint: "http://collector:4318/v1/traces"},
		"traces endpoint":    {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvTracesEndpoint: "https://b/otlp/traces"}, endpoint: "https://b/otlp/traces"},
		"sdk disabled":       {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvSDKDisabled: "true"}},
		"headers":            {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvHeaders: "Authorization=Basic%20eHl6, x-team = city ", telemetry.EnvTracesHeaders: "x-team=traffic"}, endpoint: "http://a:4318/v1/traces", headers: map[string]string{"Authorization": "Basic eHl6", "x-team": "traffic"}},
		"bad header":         {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvHeaders: "novalue"}, err: "key=value"},
		"grpc protocol":      {env: map[string]string{telemetry.EnvEndpoint: "http://a:4317", telemetry.EnvProtocol: "grpc"}, err: "http/protobuf"},
		"not a URL":          {env: map[string]string{telemetry.EnvEndpoint: "collector:4318"}, err: "not an http(s) URL"},
		"unknown sampler":    {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvSampler: "sometimes"}, err: "sampler"},
		"ratio out of range": {env: map[string]string{telemetry.EnvEndpoint: "http://a:4318", telemetry.EnvSampler: "traceidratio", telemetry.EnvSamplerArg: "2"}, err: "ratio"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := telemetry.ConfigFromEnv(env(tc.env), "test")
			if tc.err != "" {
				if !errors.Is(err, telemetry.ErrConfig) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want ErrConfig mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.Endpoint != tc.endpoint || cfg.ServiceName != "cityagent" {
				t.Fatalf("cfg %+v, err %v; want endpoint %q", cfg, err, tc.endpoint)
			}
			for k, v := range tc.headers {
				if cfg.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, cfg.Headers[k], v)
				}
			}
		})
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Off: spans cost nothing, yet a request still gets a W3C trace id (its
// caller's, or a random one) that outbound calls carry.
func TestOffStillPropagates(t *testing.T) {
	var off *telemetry.Provider
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, span := off.StartServer(context.Background(), parent, "", "GET /")
	if span.Recording() {
		t.Fatal("a span records with tracing off")
	}
	if got := telemetry.TraceID(ctx); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace id %q, want the caller's", got)
	}
	h := http.Header{}
	telemetry.Inject(ctx, h)
	if got := h.Get("traceparent"); got != parent {
		t.Fatalf("outbound traceparent %q, want %q", got, parent)
	}

	ctx, _ = off.StartServer(context.Background(), "garbage", "", "GET /")
	a, b := telemetry.TraceID(ctx), telemetry.TraceID(ctx)
	if !hex32.MatchString(a) || a != b || !telemetry.ValidTraceID(a) {
		t.Fatalf("trace ids %q, %q: want one stable random W3C id", a, b)
	}
	if x, y := telemetry.TraceID(context.Background()), telemetry.TraceID(context.Background()); x == y || !hex32.MatchString(x) {
		t.Fatalf("ids without a span context: %q, %q; want fresh random ones", x, y)
	}
}

func TestOffAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	fail := errors.New("x")
	allocs := testing.AllocsPerRun(1000, func() {
		c, s := telemetry.Start(ctx, telemetry.OpExecuteTool, "traffic_congestion")
		s.Str(telemetry.AttrToolName, "traffic_congestion")
		s.Int(telemetry.AttrInputTokens, 12)
		s.Fail(fail, "x")
		s.End()
		_, s = telemetry.StartClient(c, telemetry.OpChat, "offline")
		s.End()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per span with tracing off, want 0", allocs)
	}
}

// On: spans reach an OTLP/HTTP receiver with the configured headers, as a
// tree under the caller's trace.
func TestExportsToOTLPReceiver(t *testing.T) {
	rcv := otlptest.Start(t)
	cfg, err := telemetry.ConfigFromEnv(env(map[string]string{telemetry.EnvEndpoint: rcv.BaseURL(),
		telemetry.EnvHeaders: "Authorization=Bearer%20t0ken", telemetry.EnvServiceName: "cityagent-test", telemetry.EnvCompression: "gzip",
		telemetry.EnvResourceAttrs: "deployment.environment=test"}), "v9")
	if err != nil {
		t.Fatal(err)
	}
	p, err := telemetry.Setup(cfg)
	if err != nil || !p.Enabled() {
		t.Fatalf("setup: %v, enabled %v", err, p.Enabled())
	}
	var seen string
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("traceparent") }))
	defer tool.Close()

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, root := p.StartServer(context.Background(), parent, "vendor=1", "POST /v1/agents/:agent/chat")
	cctx, child := telemetry.Start(ctx, telemetry.OpExecuteTool, "air_quality")
	child.Str(telemetry.AttrToolName, "air_quality")
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, tool.URL, nil)
	resp, err := (&http.Client{Transport: telemetry.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	child.Fail(errors.New("boom"), "test")
	child.End()
	root.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := rcv.Trace("4bf92f3577b34da6a3ce929d0e0e4736")
	if len(spans) != 2 {
		t.Fatalf("got %d spans in the caller's trace:\n%s", len(spans), otlptest.Tree(rcv.Spans()))
	}
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	r, c := byName["POST /v1/agents/:agent/chat"], byName["execute_tool air_quality"]
	if r.ParentID != "00f067aa0ba902b7" || c.ParentID != r.SpanID || c.Str(telemetry.AttrToolName) != "air_quality" || !c.Error || c.Str("error.type") != "test" {
		t.Fatalf("span tree wrong:\n%s\n%+v", otlptest.Tree(spans), spans)
	}
	if r.Service != "cityagent-test" || r.Resource["deployment.environment"] != "test" || r.Resource["service.version"] != "v9" {
		t.Errorf("resource %v", r.Resource)
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + c.SpanID + "-01"; seen != want {
		t.Errorf("outbound traceparent %q, want %q (the tool span's)", seen, want)
	}
	if h := rcv.Headers(); len(h) == 0 || h[0].Get("Authorization") != "Bearer t0ken" || h[0].Get("Content-Encoding") != "gzip" {
		t.Errorf("export headers %v, want the configured Authorization", h)
	}
}
