package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/internal/sweep"
)

// sweepInterval is how often a running server expires overdue proposals
// and takes over executions whose executor died.
const sweepInterval = 30 * time.Second

// buildGovernance builds the action service over the state store and the
// demo city, hands it to the runner with the audit log, executes approvals
// that a stopped process never executed (start-up recovery) and starts the
// periodic sweep, stopped by in.Close.
func buildGovernance(ctx context.Context, in *installation, cfg config.Config, log *slog.Logger) error {
	cat, err := actions.LoadCatalog(cfg.ActionsDir)
	if err != nil {
		return err
	}
	execs := cityExecutors(in.city, in.db)
	for _, d := range disconnectDemoExecutors(execs, cfg.Sources) {
		log.Warn("no executor connected for this source: its actions are not offered and approvals are not executed",
			"domain", d.Domain, "source", d.Source, "executor", d.Executor)
	}
	// The demo city's changes are recorded and replayed on every replica
	// and restart (cmd/cityagent/effects.go, democity/effects.go).
	journal := democity.NewJournal(in.db, log)
	journalDemoExecutors(execs, journal)
	if n, err := journal.CatchUp(ctx); err != nil {
		return fmt.Errorf("replay city effects: %w", err)
	} else if n > 0 {
		log.Info("replayed the demo city's recorded effects", "effects", n)
	}
	stopEffects := followEffects(context.WithoutCancel(ctx), in.db, journal, cmp.Or(cfg.ScaleOut.RegistryPoll, config.DefaultRegistryPoll), log)
	in.closers = append(in.closers, func() error { stopEffects(); return nil })
	in.actions, err = actions.NewService(actions.Config{Catalog: cat, Store: in.db, Executors: execs, Log: log})
	if err != nil {
		return err
	}
	in.runner.Actions, in.runner.Audit = in.actions, in.db
	for _, t := range in.actions.Types() {
		if !t.Available {
			log.Warn("action type cannot be proposed: its executor is not available", "action", t.Name, "executor", t.Executor)
		}
	}
	for _, s := range in.catalog.List() {
		for _, a := range s.Actions {
			if _, err := cat.Get(a); err != nil {
				log.Warn("agent lists an unknown action", "agent", s.Name, "action", a)
			}
		}
	}
	r, err := in.actions.Sweep(ctx)
	if err != nil {
		return fmt.Errorf("recover proposals: %w", err)
	}
	if r != (actions.SweepResult{}) {
		log.Info("recovered proposals at start-up", "expired", r.Expired, "executed", r.Executed, "failed", r.Failed)
	}
	holder := replicaName()
	loop := sweep.Go(context.WithoutCancel(ctx), func(ctx context.Context) {
		in.actions.RunLeased(ctx, sweepInterval, func(ctx context.Context, now time.Time, ttl time.Duration) (bool, error) {
			_, ok, err := in.db.AcquireLease(ctx, actions.SweepLease, holder, now, ttl) // one replica sweeps (actions/lease.go)
			return ok, err
		})
	})
	in.closers = append(in.closers, func() error { loop.Stop(); return nil })
	return nil
}

// demoExecutorDomains names the domain each demo-city executor acts on.
func demoExecutorDomains() map[string]string {
	return map[string]string{
		"democity.signal_timing":       "traffic",
		"democity.dispatch_crew":       "traffic",
		"democity.schedule_inspection": "permits",
		"democity.flag_permit":         "permits",
		"democity.demand_response":     "energy",
	}
}

// disconnected is a demo-city executor left out because its domain's data
// comes from another source.
type disconnected struct{ Executor, Domain, Source string }

// disconnectDemoExecutors removes from execs the demo city's executors of
// every domain whose source is not the demo city: acting on the demo city
// while answering from a real city's data would report "executed" for a
// change nobody made. Their action types stay listed, marked unavailable;
// agents are not offered them, proposals are refused and an approval made
// earlier is not executed. It returns what it removed, sorted.
func disconnectDemoExecutors(execs map[string]actions.Executor, src config.SourcesConfig) []disconnected {
	kinds := map[string]string{"traffic": src.Traffic.KindOrDefault(), "permits": src.Permits.KindOrDefault(), "energy": src.Energy.KindOrDefault()}
	var out []disconnected
	for name, domain := range demoExecutorDomains() {
		if _, ok := execs[name]; ok && kinds[domain] != config.SourceDemoCity {
			delete(execs, name)
			out = append(out, disconnected{Executor: name, Domain: domain, Source: kinds[domain]})
		}
	}
	slices.SortFunc(out, func(a, b disconnected) int { return strings.Compare(a.Executor, b.Executor) })
	return out
}

// cityExecutors adapts the demo city to the action executors. The city's
// permit, energy and crew methods return their own result types; they are
// found by name and parameter types (reflection), so that an executor whose
// method the city does not have is simply left out: its action stays
// listed, marked unavailable, and no agent is offered it.
func cityExecutors(city any, ds actions.DispatchStore) map[string]actions.Executor {
	m := map[string]actions.Executor{"store.dispatch": actions.NewStoreDispatch(ds)}
	if sp, ok := city.(actions.SignalPlans); ok {
		m["democity.signal_timing"] = actions.Once(actions.NewSignalTiming(sp))
	}
	var (
		str  = reflect.TypeFor[string]()
		tm   = reflect.TypeFor[time.Time]()
		dur  = reflect.TypeFor[time.Duration]()
		f64  = reflect.TypeFor[float64]()
		loc  = time.Local
		now  = time.Now
		dist = map[string]string{}
	)
	if c, ok := city.(interface {
		Location() *time.Location
		Now() time.Time
	}); ok {
		loc, now = c.Location(), c.Now
	}
	if sp, ok := city.(actions.SignalPlans); ok {
		for _, d := range sp.Network().Districts {
			dist[d.ID] = d.NameZh + " " + d.NameEn
		}
	}
	if f := method(city, "DispatchCrew", str, str, str); f != nil {
		m["democity.dispatch_crew"] = actions.Once(actions.NewCrewDispatch(crewFunc(f)))
	}
	if f := method(city, "ScheduleInspection", str, tm, str); f != nil {
		m["democity.schedule_inspection"] = actions.Once(actions.NewInspectionScheduling(inspectionFunc(f), now, loc))
	}
	if f := method(city, "FlagPermitForReview", str, str); f != nil {
		m["democity.flag_permit"] = actions.Once(actions.NewPermitFlagging(flagFunc(f)))
	}
	if f := method(city, "DemandResponseEvent", str, tm, dur, f64); f != nil {
		m["democity.demand_response"] = actions.Once(actions.NewDemandResponse(demandFunc(f), dist, now, loc))
	}
	return m
}

// method returns v's method name as a function of its arguments returning
// (any, error), or nil when v has no such method taking exactly params and
// returning a value and an error.
func method(v any, name string, params ...reflect.Type) func(args ...any) (any, error) {
	m := reflect.ValueOf(v).MethodByName(name)
	if !m.IsValid() {
		return nil
	}
	t := m.Type()
	if t.NumIn() != len(params) || t.NumOut() != 2 || !t.Out(1).Implements(reflect.TypeFor[error]()) {
		return nil
	}
	for i, p := range params {
		if t.In(i) != p {
			return nil
		}
	}
	return func(args ...any) (any, error) {
		in := make([]reflect.Value, len(args))
		for i, a := range args {
			in[i] = reflect.ValueOf(a)
		}
		out := m.Call(in)
		err, _ := out[1].Interface().(error)
		return out[0].Interface(), err
	}
}

type (
	crewFunc       func(args ...any) (any, error)
	inspectionFunc func(args ...any) (any, error)
	flagFunc       func(args ...any) (any, error)
	demandFunc     func(args ...any) (any, error)
)

var (
	_ actions.CrewDispatcher      = crewFunc(nil)
	_ actions.InspectionScheduler = inspectionFunc(nil)
	_ actions.PermitFlagger       = flagFunc(nil)
	_ actions.DemandResponder     = demandFunc(nil)
)

func (f crewFunc) DispatchCrew(segmentID, crew, note string) (any, error) {
	return f(segmentID, crew, note)
}

func (f inspectionFunc) ScheduleInspection(permitID string, at time.Time, kind string) (any, error) {
	return f(permitID, at, kind)
}

func (f flagFunc) FlagPermitForReview(permitID, reason string) (any, error) {
	return f(permitID, reason)
}

func (f demandFunc) DemandResponseEvent(district string, start time.Time, d time.Duration, kw float64) (any, error) {
	return f(district, start, d, kw)
}
