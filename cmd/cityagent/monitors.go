package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/tools"
)

// startMonitors loads the monitors (shipped, plus cfg.Monitors.Dir; an
// invalid file, or a propose naming an unknown agent, fails start-up with
// file:line: field), registers the
// read-only tools the shipped ones need, and starts the scheduler. stop
// ends it and waits for ticks in flight.
func startMonitors(ctx context.Context, in *installation, cfg config.Config, log *slog.Logger) (svc *monitors.Service, stop func(), err error) {
	cat, err := monitors.LoadCatalog(cfg.Monitors.Dir)
	if err != nil {
		return nil, nil, err
	}
	overdue, err := hotline.NewOverdueTool(in.db, time.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("monitors: %w", err)
	}
	if err := in.tools.Register(overdue); err != nil && !errors.Is(err, tools.ErrDuplicateTool) {
		return nil, nil, fmt.Errorf("monitors: %w", err)
	}
	if err := checkMonitorRefs(in, cat, log); err != nil {
		return nil, nil, err
	}
	sched := &monitors.Scheduler{Catalog: cat, Store: in.db, Tools: in.tools, Runner: in.runner, Log: log}
	if n, err := sched.ResolveOrphans(ctx); err != nil {
		return nil, nil, fmt.Errorf("monitors: %w", err)
	} else if n > 0 {
		log.Info("resolved the open alerts of monitors that no longer exist", "alerts", n)
	}
	loop := sched.Start(context.WithoutCancel(ctx))
	log.Info("monitors running", "monitors", len(cat.List()), "dir", cfg.Monitors.Dir)
	return &monitors.Service{Catalog: cat, Store: in.db}, loop.Stop, nil
}

// checkMonitorRefs fails start-up with file:line: field when a monitor's
// propose.agent names no agent, or its tool is not registered. Every tool
// source a server has is registered before the monitors start: configured
// sources, and the sources registered through the API (stored, restored at
// start-up), so a tool missing now is a mistake in the file. A shipped
// monitor whose tool the configured sources do not provide (a city without
// the demo city's tools) only warns: its ticks record the error.
func checkMonitorRefs(in *installation, cat *monitors.Catalog, log *slog.Logger) error {
	for _, m := range cat.List() {
		if m.Propose != nil {
			if _, err := in.catalog.Get(m.Propose.Agent); err != nil {
				return m.FieldError("propose.agent", "no agent is named %q", m.Propose.Agent)
			}
		}
		if _, err := in.tools.Get(m.Tool); err != nil {
			if !m.Shipped() {
				return m.FieldError("tool", "no registered tool is named %q (register its source first)", m.Tool)
			}
			log.Warn("shipped monitor reads a tool that is not registered: its ticks fail until it is", "monitor", m.Name, "tool", m.Tool)
		}
	}
	return nil
}
