package monitors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/sweep"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// Store is the part of the state store monitors use (store.DB).
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	EnsureMonitor(ctx context.Context, name string, firstRun time.Time) error
	MonitorState(ctx context.Context, name string) (store.MonitorState, error)
	MonitorStates(ctx context.Context) ([]store.MonitorState, error)
	ClaimMonitorTick(ctx context.Context, name string, due, next time.Time, holder string, now time.Time) (int64, bool, error)
	MonitorSubjects(ctx context.Context, name string) ([]store.MonitorSubject, error)
	CommitMonitorTick(ctx context.Context, c store.TickCommit) error
	MonitorSamples(ctx context.Context, name string, since time.Time) ([]store.MonitorSample, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	GetAlert(ctx context.Context, id string) (store.Alert, error)
	AcknowledgeAlert(ctx context.Context, id, by, comment string, at time.Time, audits ...audit.Entry) (store.Alert, error)
	SetAlertProposal(ctx context.Context, id, state, proposalID, errText string) error
	ResolveAlert(ctx context.Context, id string, at time.Time, audits ...audit.Entry) error
}

var _ Store = (*store.DB)(nil)

// ToolCaller calls a registered tool for a caller of a clearance, refusing
// tools above it (tools.Registry).
type ToolCaller interface {
	Call(ctx context.Context, c access.Clearance, name string, args json.RawMessage) (tools.Result, error)
}

var _ ToolCaller = (*tools.Registry)(nil)

// Scheduler runs every monitor's ticks. Several replicas may run one each
// on a shared store: a tick is claimed by a conditional update of the
// monitor's next run (so each scheduled run happens once) under a lease
// named for the monitor (so one monitor's ticks never overlap).
type Scheduler struct {
	Catalog *Catalog
	Store   Store
	Tools   ToolCaller
	// Runner runs the agent turns of monitors with propose; nil: those
	// alerts record that no proposal could be asked for.
	Runner *agents.Runner
	Holder string           // this replica's lease holder name; empty: generated
	Now    func() time.Time // nil: time.Now
	Log    *slog.Logger     // nil: slog.Default()
	// Poll is how often Run looks for due monitors; 0: one second.
	Poll time.Duration

	once    sync.Once
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// proposeTimeout bounds the agent turns that follow a tick.
const proposeTimeout = 60 * time.Second

// leaseSlack is added to a tick's budget for the lease's time to live.
const leaseSlack = 10 * time.Second

func (s *Scheduler) init() {
	s.once.Do(func() {
		if s.Holder == "" {
			host, _ := os.Hostname()
			s.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.Poll <= 0 {
			s.Poll = time.Second
		}
		s.running = map[string]bool{}
	})
}

// Start runs the scheduler in a goroutine until the returned loop is
// stopped (or ctx ends); Stop waits for ticks in flight to end.
func (s *Scheduler) Start(ctx context.Context) *sweep.Loop {
	s.init()
	return sweep.Go(ctx, func(ctx context.Context) {
		sweep.Every(ctx, s.Poll, func(ctx context.Context) { s.start(ctx) })
		s.wg.Wait()
	})
}

// RunDue ticks every monitor that is due now and that this replica wins,
// waits for those ticks and returns the names of the monitors it ticked.
func (s *Scheduler) RunDue(ctx context.Context) []string {
	s.init()
	var mu sync.Mutex
	var ticked []string
	var wg sync.WaitGroup
	for _, m := range s.Catalog.List() {
		if !s.begin(m.Name) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.end(m.Name)
			if s.tick(ctx, m) {
				mu.Lock()
				ticked = append(ticked, m.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ticked
}

// start begins the due ticks without waiting for them. One read of every
// monitor's next run per poll skips those not due.
func (s *Scheduler) start(ctx context.Context) {
	next := map[string]time.Time{}
	if states, err := s.Store.MonitorStates(ctx); err == nil {
		for _, st := range states {
			next[st.Monitor] = st.NextRun
		}
	}
	now := s.Now()
	for _, m := range s.Catalog.List() {
		if n, ok := next[m.Name]; ok && now.Before(n) {
			continue
		}
		if !s.begin(m.Name) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.end(m.Name)
			s.tick(ctx, m)
		}()
	}
}

// begin marks a monitor's tick as running in this process; false when one
// is running already.
func (s *Scheduler) begin(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[name] {
		return false
	}
	s.running[name] = true
	return true
}

func (s *Scheduler) end(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
}

// LeaseName is the lease a monitor's ticks run under.
func LeaseName(monitor string) string { return "monitor:" + monitor }

// tick runs m once if it is due and this replica claims it.
func (s *Scheduler) tick(ctx context.Context, m Monitor) bool {
	now := s.Now()
	st, err := s.Store.MonitorState(ctx, m.Name)
	if errors.Is(err, store.ErrNotFound) {
		if err = s.Store.EnsureMonitor(ctx, m.Name, now); err == nil {
			st, err = s.Store.MonitorState(ctx, m.Name)
		}
	}
	if err != nil {
		s.Log.Error("monitor state unreadable", "monitor", m.Name, "err", err)
		return false
	}
	if now.Before(st.NextRun) {
		return false
	}
	lease := LeaseName(m.Name)
	if _, ok, err := s.Store.AcquireLease(ctx, lease, s.Holder, now, leaseTTL(m)); err != nil || !ok {
		if err != nil {
			s.Log.Error("monitor lease", "monitor", m.Name, "err", err)
		}
		return false
	}
	defer func() {
		if err := s.Store.ReleaseLease(context.WithoutCancel(ctx), lease, s.Holder); err != nil {
			s.Log.Warn("monitor lease release", "monitor", m.Name, "err", err)
		}
	}()
	seq, ok, err := s.Store.ClaimMonitorTick(ctx, m.Name, st.NextRun, nextRun(st.NextRun, m.Every, now), s.Holder, now)
	if err != nil || !ok {
		if err != nil {
			s.Log.Error("monitor claim", "monitor", m.Name, "err", err)
		}
		return false
	}
	c := s.evaluate(ctx, m, now)
	c.Seq = seq
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Store.CommitMonitorTick(wctx, c); err != nil {
		s.Log.Error("monitor tick not recorded", "monitor", m.Name, "err", err)
		return true
	}
	for _, a := range c.Fire {
		s.Log.Info("alert fired", "monitor", m.Name, "subject", a.Subject, "alert", a.ID, "value", a.Value)
	}
	if m.Propose != nil {
		s.proposePending(ctx, m)
	}
	return true
}

// leaseTTL covers a whole tick: the tool call, the commit and the agent
// turns of the proposals that follow it, so that the lease cannot expire
// while the tick still runs.
func leaseTTL(m Monitor) time.Duration {
	ttl := m.Timeout + leaseSlack
	if m.Propose != nil {
		ttl += maxProposalsPerTick * proposeTimeout
	}
	return ttl
}

// nextRun is the first run on due's grid of every after now.
func nextRun(due time.Time, every time.Duration, now time.Time) time.Time {
	n := due.Add(every)
	if !n.After(now) {
		n = due.Add(every * (now.Sub(due)/every + 1))
	}
	return n
}

// evaluate calls the tool and applies the hysteresis; a failed call is
// recorded as the tick's error and changes no alert.
func (s *Scheduler) evaluate(ctx context.Context, m Monitor, now time.Time) store.TickCommit {
	fail := func(err error) store.TickCommit {
		s.Log.Warn("monitor tick failed", "monitor", m.Name, "err", err)
		return store.TickCommit{Monitor: m.Name, At: now, Status: "error", Error: publicError(err)}
	}
	tctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	res, err := s.callTool(tctx, m)
	if err != nil {
		return fail(err)
	}
	obs, _, err := m.Observe(res.Content)
	if err != nil {
		return fail(err)
	}
	subjects, err := s.Store.MonitorSubjects(ctx, m.Name)
	if err != nil {
		return fail(err)
	}
	open, err := s.Store.ListAlerts(ctx, store.AlertFilter{Monitor: m.Name, Statuses: []string{store.AlertFiring, store.AlertAcknowledged}, Limit: 1000})
	if err != nil {
		return fail(err)
	}
	kept := capSubjects(m, obs, subjects, open)
	c := evaluation{m: m, at: now, obs: kept, cite: res.Citation, subjects: subjects, open: open}.step()
	if len(kept) < len(obs) {
		c.Subjects = len(obs)
		c.Error = fmt.Sprintf("evaluated %d of %d subjects (max_subjects %d); the other %d were left out of this tick",
			len(kept), len(obs), m.MaxSubjects, len(obs)-len(kept))
		s.Log.Warn("monitor tick over max_subjects", "monitor", m.Name, "subjects", len(obs), "max_subjects", m.MaxSubjects)
	}
	return c
}

// capSubjects keeps at most m.MaxSubjects observations: first the subjects
// with an open alert or a running for/clear timer (so that a flood of new
// subjects neither resolves nor hides them), then the worst values.
func capSubjects(m Monitor, obs []Observation, subjects []store.MonitorSubject, open []store.Alert) []Observation {
	limit := m.MaxSubjects
	if limit <= 0 {
		limit = DefaultMaxSubjects
	}
	if len(obs) <= limit {
		return obs
	}
	known := map[string]bool{}
	for _, s := range subjects {
		known[s.Subject] = true
	}
	for _, a := range open {
		known[a.Subject] = true
	}
	ranked := slices.Clone(obs)
	sort.SliceStable(ranked, func(i, j int) bool {
		if ki, kj := known[ranked[i].Subject], known[ranked[j].Subject]; ki != kj {
			return ki
		}
		a, b := ranked[i].Value, ranked[j].Value
		if ha, hb := m.cond.Holds(a), m.cond.Holds(b); ha != hb {
			return ha
		}
		return a != b && m.cond.Op != "==" && m.cond.Op != "!=" && m.cond.worse(a, b)
	})
	kept := ranked[:limit]
	sort.Slice(kept, func(i, j int) bool { return kept[i].Subject < kept[j].Subject })
	return kept
}

// callTool calls the monitor's tool as the system principal, with the
// monitor's clearance, through the registry's clearance check.
func (s *Scheduler) callTool(ctx context.Context, m Monitor) (res tools.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool %s panicked: %v", m.Tool, p)
		}
	}()
	return s.Tools.Call(ctx, m.Clearance, m.Tool, m.Args())
}

// publicError is an error's text for the monitor's state, one line.
func publicError(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return msg
}
