package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/sweep"
	"github.com/cityagent/cityagent/tools"
)

// hotlineSweepInterval is how often a running server purges expired
// idempotency keys and brings tickets up to date with their dispatch.
const hotlineSweepInterval = 30 * time.Second

// buildHotline builds the hotline: the taxonomy (built in, or the file
// config names), the hotline_triage tool (registered with the other tools),
// a triage runner on the hotline agent's spec, and dispatch through the
// action service (hotline.dispatch_ticket). It starts the periodic sweep,
// stopped by in.Close.
func buildHotline(ctx context.Context, in *installation, cfg config.Config, log *slog.Logger) error {
	tax, err := hotline.LoadTaxonomy(cfg.Hotline.Taxonomy)
	if err != nil {
		return err
	}
	tool, err := hotline.NewTool(tax)
	if err != nil {
		return err
	}
	if err := in.tools.Register(tool); err != nil && !errors.Is(err, tools.ErrDuplicateTool) {
		return err
	}
	triager := &hotline.Triager{Tax: tax, Rules: hotline.NewClassifier(tax), Agent: "hotline", Retriever: in.kb, Log: log}
	if base, err := in.catalog.Get("hotline"); err == nil {
		spec := hotline.TriageSpec(base, hotline.ModelBudget(cfg.Hotline.Deadline))
		if triager.Runner, err = hotline.NewTriageRunner(in.runner, spec); err != nil {
			return err
		}
	} else {
		log.Warn("no hotline agent: tickets are triaged by the rules alone (degraded)", "err", err)
	}
	var disp hotline.Dispatcher
	if in.actions != nil {
		if ts, err := in.actions.Tool(hotline.DispatchAction); err != nil {
			log.Warn("hotline dispatch is off: the action cannot be proposed", "action", hotline.DispatchAction, "err", err)
		} else {
			warnUnknownDepartments(tax, ts.Parameters, log)
			disp = hotline.GovernedDispatcher{Gov: in.actions}
		}
	}
	ring, err := personalKeyring(cfg, log) // cmd/cityagent/personal.go
	if err != nil {
		return err
	}
	in.hotline, err = hotline.NewService(hotline.Config{Taxonomy: tax, Store: in.db, Triager: triager, Dispatcher: disp, Keyring: ring,
		Deadline: cfg.Hotline.Deadline, IdempotencyTTL: cfg.Hotline.IdempotencyTTL, AutoApprove: cfg.Hotline.AutoApprove,
		Location: in.city.Location(), Log: log})
	if err != nil {
		return err
	}
	if err := maintainPersonal(ctx, in.hotline, log); err != nil {
		return err
	}
	loop := sweep.Go(context.WithoutCancel(ctx), func(ctx context.Context) { in.hotline.Run(ctx, hotlineSweepInterval) })
	// Deadline supervision (督办) runs on the replica holding its lease.
	holder := replicaName() // cmd/cityagent/events.go
	supervise := sweep.Go(context.WithoutCancel(ctx), func(ctx context.Context) { in.hotline.RunSupervision(ctx, hotlineSweepInterval, holder) })
	in.closers = append(in.closers, func() error { loop.Stop(); supervise.Stop(); return nil }, func() error {
		// Turns abandoned at their budget still write to the store: let them end first.
		wctx, cancel := context.WithTimeout(context.Background(), triageDrainTimeout)
		defer cancel()
		return triager.Wait(wctx)
	})
	return nil
}

// triageDrainTimeout bounds how long shutdown waits for abandoned triage turns.
const triageDrainTimeout = 5 * time.Second

// warnUnknownDepartments names the taxonomy's departments that the dispatch
// action's schema does not accept: their tickets cannot be dispatched until
// the action type is overridden (actions_dir).
func warnUnknownDepartments(tax *hotline.Taxonomy, params json.RawMessage, log *slog.Logger) {
	var schema struct {
		Properties struct {
			Department struct {
				Enum []string `json:"enum"`
			} `json:"department"`
		} `json:"properties"`
	}
	if json.Unmarshal(params, &schema) != nil || len(schema.Properties.Department.Enum) == 0 {
		return
	}
	ok := map[string]bool{}
	for _, d := range schema.Properties.Department.Enum {
		ok[d] = true
	}
	for _, d := range tax.Departments {
		if !ok[d.ID] {
			log.Warn(fmt.Sprintf("hotline department %q is not a department %s accepts; its tickets cannot be dispatched", d.ID, hotline.DispatchAction))
		}
	}
}
