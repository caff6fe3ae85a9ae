package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/server"
)

func serveCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the HTTP API (embedded default: no config, no network needed)",
		Example: "  cityagent serve\n" +
			"  cityagent serve --addr 0.0.0.0:8080 --data /var/lib/cityagent --config /etc/cityagent.yaml",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout(), nil)
		},
	}
	cmd.Flags().StringVar(&g.addr, "addr", "", "listen address HOST:PORT (env CITYAGENT_ADDR, default 127.0.0.1:8080)")
	return cmd
}

// serve runs the server until ctx ends. ready, if not nil, receives the
// listening address once requests are accepted (tests use it).
func serve(ctx context.Context, cfg config.Config, out io.Writer, ready chan<- string) error {
	limits, err := loadTurnLimits(os.Getenv)
	if err != nil {
		return err
	}
	applyGCPolicy(os.Getenv) // gcpolicy.go
	log := newLogger(cfg.Log, os.Stderr)
	start := time.Now()
	inst, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer inst.Close()
	monitorSvc, stopMonitors, err := startMonitors(ctx, inst, cfg, log) // cmd/cityagent/monitors.go; an invalid monitor file stops start-up here
	if err != nil {
		return err
	}
	defer stopMonitors()
	if err := bootstrapAdmin(ctx, inst, cfg.DataDir, out); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	evalSvc := newEvalService(ctx, inst, cfg)
	defer evalSvc.Close()
	eventSvc, stopEvents, err := startEvents(ctx, inst.db, cfg, log) // cmd/cityagent/events.go
	if err != nil {
		return err
	}
	defer stopEvents()
	reportSvc, err := newReportService(inst.db, cfg) // cmd/cityagent/report.go
	if err != nil {
		return err
	}
	tel, stopTelemetry, err := startTelemetry(log) // cmd/cityagent/telemetry.go
	if err != nil {
		return err
	}
	defer stopTelemetry() // after srv.Shutdown below: the last spans are flushed

	// Quotas per key and role, counted in Redis or the state store (cmd/cityagent/scaleout.go).
	rates, quotas, closeRates, err := rateLimits(ctx, cfg, inst)
	if err != nil {
		return err
	}
	defer closeRates()
	srv := server.New(server.Deps{
		Runner: inst.runner, Catalog: inst.catalog, Tools: inst.tools, Keys: inst.db, Sessions: inst.db,
		Checks: inst.checks, Log: log, ModelName: inst.modelName,
		Proposals: inst.actions, AuditLog: inst.db, Audit: inst.db,
		Evals: evalSvc,

		Hotline:  inst.hotline,  // cmd/cityagent/hotline.go
		DevTools: inst.devtools, // cmd/cityagent/tools.go

		Knowledge: inst.kb,  // cmd/cityagent/knowledge.go
		Events:    eventSvc, // cmd/cityagent/events.go
		Reports:   reportSvc,
		Monitors:  monitorSvc,
		Telemetry: tel, // cmd/cityagent/telemetry.go
		Rates:     rates,
	}, server.Options{RateLimits: quotas, BodyLimit: cfg.Server.BodyLimit, HeartbeatInterval: cfg.Server.HeartbeatInterval,
		ReadTimeout: cfg.Server.ReadTimeout, RequestTimeout: cfg.Server.RequestTimeout, MaxStreamsPerKey: cfg.Server.MaxStreamsPerKey, Version: version, MaxTurns: limits.maxTurns, TurnQueue: limits.queue,
		CityName: cfg.City.Name, CityTimeZone: cfg.City.TimeZone})
	stopRegistry := startRegistrySync(ctx, inst, cfg, log) // cmd/cityagent/scaleout.go: other replicas' tools
	defer stopRegistry()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("cityagent is serving", "addr", ln.Addr().String(), "data", cfg.DataDir, "state", inst.db.Backend(),
		"model", inst.modelName(""), "agents", len(inst.catalog.List()), "tools", len(inst.tools.List()), "startup_ms", time.Since(start).Milliseconds())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_delay", cfg.ScaleOut.DrainDelay, "timeout", cfg.Server.ShutdownTimeout)
	if err := drain(srv, cfg.ScaleOut.DrainDelay, cfg.Server.ShutdownTimeout, log); err != nil { // cmd/cityagent/scaleout.go
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// bootstrapAdmin creates the first admin key when the key store is empty,
// prints it once and writes it to <data>/admin.key with mode 0600.
func bootstrapAdmin(ctx context.Context, inst *installation, dataDir string, out io.Writer) error {
	n, err := inst.db.CountKeys(ctx)
	if err != nil {
		return fmt.Errorf("count keys: %w", err)
	}
	if n > 0 {
		return nil
	}
	k, secret, err := server.IssueKey(ctx, inst.db, server.KeyRequest{Name: "bootstrap-admin", Role: "admin", Clearance: "restricted"}, "bootstrap", time.Now())
	if err != nil {
		return fmt.Errorf("create the first admin key: %w", err)
	}
	if err := inst.db.Audit(ctx, server.KeyAudit(audit.KindKeyCreate, "bootstrap", k)); err != nil {
		return fmt.Errorf("audit the first admin key: %w", err)
	}
	path := filepath.Join(dataDir, "admin.key")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nFirst start: created admin key %s (shown once, also saved to %s, mode 0600):\n\n    %s\n\n", k.ID, path, secret)
	return nil
}

func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	// Personal data that reaches a log line anyway is masked (internal/pii).
	if c.Format == "json" {
		return slog.New(pii.NewLogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(pii.NewLogHandler(slog.NewTextHandler(w, opts)))
}
