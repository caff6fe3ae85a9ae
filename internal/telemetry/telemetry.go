// Package telemetry provides cityagent's OpenTelemetry tracing: a provider
// configured from the standard OTEL_* environment variables that exports
// spans over OTLP/HTTP, W3C trace-context propagation in and out, and the
// span helpers the rest of the code starts spans with. It is the only
// package that imports the OpenTelemetry SDK.
//
// Tracing is off unless an OTLP endpoint is configured; then Start returns
// at once without allocating, and trace ids are still valid W3C ids (taken
// from an incoming traceparent or drawn at random), so logs, audit records
// and outbound traceparent headers correlate either way.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation is the scope name of every span cityagent starts.
const instrumentation = "github.com/cityagent/cityagent"

// Environment variables Setup reads (the OpenTelemetry SDK's standard names).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"        // base URL; /v1/traces is appended
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" // full URL, used as is; wins over EnvEndpoint
	EnvHeaders        = "OTEL_EXPORTER_OTLP_HEADERS"         // k=v,k2=v2 (values URL-encoded)
	EnvTracesHeaders  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"  // added to EnvHeaders, winning on a clash
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"        // only http/protobuf is supported
	EnvCompression    = "OTEL_EXPORTER_OTLP_COMPRESSION"     // gzip or none (default)
	EnvServiceName    = "OTEL_SERVICE_NAME"                  // default "cityagent"
	EnvResourceAttrs  = "OTEL_RESOURCE_ATTRIBUTES"           // k=v,k2=v2 added to the resource (deployment.environment=prod)
	EnvSampler        = "OTEL_TRACES_SAMPLER"                // default parentbased_always_on
	EnvSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"            // ratio for the *traceidratio samplers
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"                  // "true": off whatever else is set
)

// ErrConfig is returned by Setup for telemetry settings it cannot use.
var ErrConfig = errors.New("telemetry: invalid configuration")

// Config is the tracing set-up: what Setup reads from the environment.
type Config struct {
	// Endpoint is the full OTLP/HTTP traces URL (…/v1/traces); empty: off.
	Endpoint    string
	Headers     map[string]string
	Gzip        bool // compress exports
	ServiceName string
	Version     string
	Resource    map[string]string // more resource attributes
	Sampler     string
	SamplerArg  float64
}

// ConfigFromEnv reads Config from getenv (os.Getenv in production).
func ConfigFromEnv(getenv func(string) string, version string) (Config, error) {
	cfg := Config{ServiceName: getenv(EnvServiceName), Version: version, Sampler: strings.ToLower(strings.TrimSpace(getenv(EnvSampler))), SamplerArg: 1}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "cityagent"
	}
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return cfg, nil
	}
	if p := strings.TrimSpace(getenv(EnvProtocol)); p != "" && p != "http/protobuf" {
		return cfg, fmt.Errorf("%w: %s=%q: only http/protobuf is supported", ErrConfig, EnvProtocol, p)
	}
	cfg.Endpoint = strings.TrimSpace(getenv(EnvTracesEndpoint))
	if cfg.Endpoint == "" {
		if base := strings.TrimSpace(getenv(EnvEndpoint)); base != "" {
			cfg.Endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("%w: OTLP endpoint %q is not an http(s) URL", ErrConfig, cfg.Endpoint)
		}
	}
	switch c := strings.ToLower(strings.TrimSpace(getenv(EnvCompression))); c {
	case "gzip":
		cfg.Gzip = true
	case "", "none":
	default:
		return cfg, fmt.Errorf("%w: %s=%q: want gzip or none", ErrConfig, EnvCompression, c)
	}
	headers, err := parseHeaders(getenv(EnvHeaders))
	if err != nil {
		return cfg, err
	}
	more, err := parseHeaders(getenv(EnvTracesHeaders))
	if err != nil {
		return cfg, err
	}
	for k, v := range more {
		headers[k] = v
	}
	cfg.Headers = headers
	if cfg.Resource, err = parseHeaders(getenv(EnvResourceAttrs)); err != nil {
		return cfg, err
	}
	if a := strings.TrimSpace(getenv(EnvSamplerArg)); a != "" {
		if cfg.SamplerArg, err = strconv.ParseFloat(a, 64); err != nil || cfg.SamplerArg < 0 || cfg.SamplerArg > 1 {
			return cfg, fmt.Errorf("%w: %s=%q: want a ratio between 0 and 1", ErrConfig, EnvSamplerArg, a)
		}
	}
	if _, err := cfg.sampler(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// redactedMark replaces each credential RedactURL hides.
const redactedMark = "xxxxx"

// RedactURL is raw fit for a log line: the user name and password, every
// query-string value (a token in ?token=… or ?api_key=…) and the fragment
// replaced with "xxxxx"; the scheme, host, path and query keys stay. A
// value that does not parse as a URL is not shown at all.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(redactedMark, redactedMark)
		} else {
			u.User = url.User(redactedMark)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = redactedMark
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = redactedMark, ""
	}
	return u.String()
}

// parseHeaders reads the OTLP header list format: k=v pairs separated by
// commas, values URL-encoded.
func parseHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: OTLP header %q is not key=value", ErrConfig, pair)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%w: OTLP header %s: %v", ErrConfig, k, err)
		}
		out[k] = dv
	}
	return out, nil
}

func (c Config) sampler() (sdktrace.Sampler, error) {
	ratio := sdktrace.TraceIDRatioBased(c.SamplerArg)
	switch c.Sampler {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(ratio), nil
	}
	return nil, fmt.Errorf("%w: %s=%q is not a supported sampler", ErrConfig, EnvSampler, c.Sampler)
}

// Provider is the process's tracing: on (exporting) or off. The zero value
// and a nil *Provider are off. Build one at start-up and Shutdown at exit.
type Provider struct {
	sdk    *sdktrace.TracerProvider
	tracer trace.Tracer
}

// Setup builds the Provider cfg describes: off when cfg.Endpoint is empty,
// else exporting over OTLP/HTTP through a batch span processor.
func Setup(cfg Config) (*Provider, error) {
	if cfg.Endpoint == "" {
		return &Provider{}, nil
	}
	sampler, err := cfg.sampler()
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.Endpoint), otlptracehttp.WithHeaders(cfg.Headers),
		otlptracehttp.WithCompression(otlptracehttp.NoCompression)}
	if cfg.Gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	attrs := make([]attribute.KeyValue, 0, len(cfg.Resource)+2)
	for k, v := range cfg.Resource {
		attrs = append(attrs, attribute.String(k, v))
	}
	attrs = append(attrs, attribute.String("service.name", cfg.ServiceName), attribute.String("service.version", cfg.Version))
	res := resource.NewSchemaless(attrs...)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	return &Provider{sdk: tp, tracer: tp.Tracer(instrumentation)}, nil
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.tracer != nil }

// Context returns ctx carrying p's tracer, so that Start in the code it is
// passed to records spans; off, it returns ctx itself.
func (p *Provider) Context(ctx context.Context) context.Context {
	if !p.Enabled() {
		return ctx
	}
	return context.WithValue(ctx, tracerKey{}, p.tracer)
}

// ForceFlush exports the spans that have ended so far.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// Shutdown exports what is buffered and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}
