package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// startTelemetry sets tracing up from the standard OTEL_* environment
// (docs/observability.md): off unless an OTLP endpoint is set. stop flushes
// the spans still buffered; call it after the server has shut down.
func startTelemetry(log *slog.Logger) (p *telemetry.Provider, stop func(), err error) {
	cfg, err := telemetry.ConfigFromEnv(os.Getenv, version)
	if err != nil {
		return nil, nil, err
	}
	if p, err = telemetry.Setup(cfg); err != nil {
		return nil, nil, err
	}
	if !p.Enabled() {
		return p, func() {}, nil
	}
	log.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", telemetry.RedactURL(cfg.Endpoint), "service", cfg.ServiceName)
	return p, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			log.Warn("tracing: flushing spans at shutdown failed", "err", err)
		}
	}, nil
}
