package evals

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/usererr"
)

// Service runs evals in the background for the HTTP API: a run is checked
// synchronously (bad suites and unknown agents or tools are refused at
// once), then executes while its status can be polled. Runs are kept in
// memory, the newest MaxRuns of them.
type Service struct {
	target Target
	base   Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{}

	mu    sync.Mutex
	runs  map[string]*serviceRun
	order []string
}

// MaxRuns is how many runs a Service remembers.
const MaxRuns = 100

// MaxConcurrentRuns is how many runs a Service executes at once; more wait.
const MaxConcurrentRuns = 2

type serviceRun struct {
	status RunStatus
	// clearance is the highest clearance a case of the run acts with: the
	// report may hold text up to it, so only keys cleared for it read it.
	clearance access.Clearance
}

// RunRequest is the body of POST /v1/evals/runs: shipped suites by name,
// or a suite's YAML, with the same options as the CLI.
type RunRequest struct {
	Suites     []string           `json:"suites,omitempty"`     // shipped suite names; ["all"] for every one
	SuiteYAML  string             `json:"suite_yaml,omitempty"` // one suite file's text
	Agent      string             `json:"agent,omitempty"`
	Model      string             `json:"model,omitempty"`
	Parallel   int                `json:"parallel,omitempty"`
	FailUnder  map[string]float64 `json:"fail_under,omitempty"`
	FailOver   map[string]float64 `json:"fail_over,omitempty"`
	Thresholds bool               `json:"thresholds,omitempty"` // also apply the shipped thresholds file
}

// RunStatus is what GET /v1/evals/runs/{id} returns.
type RunStatus struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"` // queued, running, done, cancelled
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Suites     []string   `json:"suites"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Passed     *bool      `json:"passed,omitempty"` // every threshold held; set when done
	Report     *Report    `json:"report,omitempty"`
	// Summary is the report's counts and metrics, in lists that leave the
	// report out.
	Summary *Aggregate `json:"summary,omitempty"`
}

// MaxPendingRuns bounds the runs queued or running at once; more are refused.
const MaxPendingRuns = 16

// Errors the API turns into 4xx and 503.
var (
	ErrBadRunRequest = usererr.New("evals", "bad run request")
	ErrUnknownRun    = errors.New("evals: unknown run")
	ErrBusy          = usererr.New("evals", "too many runs in progress")
	// ErrRunAboveClearance: the run's report may hold text above the
	// reader's clearance.
	ErrRunAboveClearance = usererr.New("evals", "the run acts above the reader's clearance")
)

// NewService returns a service running on target; base supplies the
// judge, revision and snapshot recorded in every report.
func NewService(target Target, base Options) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{target: target, base: base, ctx: ctx, cancel: cancel, slots: make(chan struct{}, MaxConcurrentRuns), runs: map[string]*serviceRun{}}
}

// Start checks req and starts the run as caller, returning its status at
// once. No case acts above caller: one whose suite asks for a role or
// clearance caller does not hold fails the start with a *PrivilegeError,
// and unset ones are lowered to caller's (Options.Caller).
func (s *Service) Start(ctx context.Context, req RunRequest, caller access.Principal) (RunStatus, error) {
	var suites []*Suite
	switch {
	case len(req.Suites) > 0 && req.SuiteYAML != "":
		return RunStatus{}, usererr.Wrapf(ErrBadRunRequest, "give suites or suite_yaml, not both")
	case req.SuiteYAML != "":
		su, err := ParseSuite([]byte(req.SuiteYAML), "suite_yaml")
		if err != nil {
			return RunStatus{}, err
		}
		suites = []*Suite{su}
	case len(req.Suites) > 0:
		var err error
		if suites, err = ShippedByName(req.Suites...); err != nil {
			return RunStatus{}, err
		}
	default:
		return RunStatus{}, usererr.Wrapf(ErrBadRunRequest, "give suites (shipped suite names, or [\"all\"]) or suite_yaml")
	}
	if req.Parallel < 0 || req.Parallel > 32 {
		return RunStatus{}, usererr.Wrapf(ErrBadRunRequest, "parallel must be between 1 and 32")
	}
	opts := s.base
	opts.Agent, opts.Model, opts.Progress = req.Agent, req.Model, nil
	if req.Parallel > 0 {
		opts.Parallel = req.Parallel
	}
	opts.Caller = &caller
	opts.Gates = append([]Gate{}, s.base.Gates...)
	if req.Thresholds {
		gs, err := ShippedThresholds()
		if err != nil {
			return RunStatus{}, err
		}
		opts.Gates = append(opts.Gates, gs...)
	}
	for _, sec := range []struct {
		m     map[string]float64
		isMax bool
		name  string
	}{{req.FailUnder, false, "fail_under"}, {req.FailOver, true, "fail_over"}} {
		keys := make([]string, 0, len(sec.m))
		for k := range sec.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			metric, scope, _ := strings.Cut(k, "@")
			g, err := newGate(scope, metric, sec.isMax, sec.m[k], sec.name)
			if err != nil {
				return RunStatus{}, err
			}
			opts.Gates = append(opts.Gates, g)
		}
	}
	pl, err := Prepare(ctx, s.target, suites, opts)
	if err != nil {
		return RunStatus{}, err
	}
	names := make([]string, len(suites))
	for i, su := range suites {
		names[i] = su.Name
	}
	run := &serviceRun{status: RunStatus{ID: pl.ID, Status: "queued", CreatedAt: time.Now().UTC(), CreatedBy: caller.KeyID, Suites: names, Total: pl.Total()},
		clearance: access.Public}
	for _, p := range pl.cases {
		if p.c.Input.Clearance.Rank() > run.clearance.Rank() {
			run.clearance = p.c.Input.Clearance
		}
	}
	pl.opts.Progress = &serviceProgress{s: s, run: run}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return RunStatus{}, usererr.Wrapf(ErrBadRunRequest, "the service is shutting down")
	}
	pending := 0
	for _, r := range s.runs {
		if r.status.FinishedAt == nil {
			pending++
		}
	}
	if pending >= MaxPendingRuns {
		s.mu.Unlock()
		return RunStatus{}, usererr.Errorf("%w: %d runs are queued or running; retry when one finishes", ErrBusy, pending)
	}
	s.runs[pl.ID] = run
	s.order = append(s.order, pl.ID)
	s.evict()
	st := run.status
	s.wg.Add(1)
	s.mu.Unlock()
	go s.execute(pl, run)
	return st, nil
}

func (s *Service) execute(pl *Plan, run *serviceRun) {
	defer s.wg.Done()
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		s.finish(run, nil, "cancelled")
		return
	}
	defer func() { <-s.slots }()
	s.mu.Lock()
	run.status.Status = "running"
	s.mu.Unlock()
	rep := pl.Execute(s.ctx)
	status := "done"
	if s.ctx.Err() != nil {
		status = "cancelled"
	}
	s.finish(run, rep, status)
}

func (s *Service) finish(run *serviceRun, rep *Report, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	run.status.Status, run.status.FinishedAt, run.status.Report = status, &now, rep
	if rep != nil {
		passed := rep.Passed
		run.status.Passed = &passed
	}
}

// evict drops the oldest finished runs beyond MaxRuns. Caller holds mu.
func (s *Service) evict() {
	for len(s.order) > MaxRuns {
		dropped := false
		for i, id := range s.order {
			if r := s.runs[id]; r.status.FinishedAt != nil {
				delete(s.runs, id)
				s.order = append(s.order[:i], s.order[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}

// Get returns a run's status, with its report once it is done, to a viewer
// cleared for every case of the run; others get ErrRunAboveClearance.
func (s *Service) Get(id string, viewer access.Principal) (RunStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return RunStatus{}, fmt.Errorf("%w: %s", ErrUnknownRun, id)
	}
	if !viewer.Clearance.Covers(r.clearance) {
		return RunStatus{}, usererr.Wrapf(ErrRunAboveClearance, "run %s acts with clearance %s; the key has %s", id, r.clearance, viewer.Clearance)
	}
	return r.status, nil
}

// List returns the runs the viewer is cleared to read, newest first,
// without their reports (GET /v1/evals/runs/{id} has those). The summary
// counts and metrics of a finished run stay in Summary.
func (s *Service) List(viewer access.Principal) []RunStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []RunStatus{}
	for i := len(s.order) - 1; i >= 0; i-- {
		r, ok := s.runs[s.order[i]]
		if !ok || !viewer.Clearance.Covers(r.clearance) {
			continue
		}
		st := r.status
		if st.Report != nil {
			agg := st.Report.Aggregate
			st.Summary = &agg
		}
		st.Report = nil
		out = append(out, st)
	}
	return out
}

// Close cancels running evals and waits for them to stop.
func (s *Service) Close() error {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

var _ Progress = (*serviceProgress)(nil)

type serviceProgress struct {
	s   *Service
	run *serviceRun
}

func (p *serviceProgress) Start(int) {}
func (p *serviceProgress) Finish()   {}
func (p *serviceProgress) Done(*CaseResult) {
	p.s.mu.Lock()
	p.run.status.Done++
	p.s.mu.Unlock()
}

// TurnRequest is the body of POST /v1/evals/turns: one eval turn that a
// remote eval (Remote) asks the server to run. An empty Role or Clearance
// means the defaults, lowered to the caller's.
type TurnRequest struct {
	Agent     string `json:"agent"`
	SessionID string `json:"session_id,omitempty"`
	Message   string `json:"message"`
	Role      string `json:"role,omitempty"`
	Clearance string `json:"clearance,omitempty"`
}

// TurnResult is the answer of POST /v1/evals/turns: the turn's result, or
// why the agent refused the caller.
type TurnResult struct {
	Result  *agents.ChatResult `json:"result,omitempty"`
	Refused string             `json:"refused,omitempty"`
}

// Turn runs one eval turn as caller, bounded like a run (a role or
// clearance above caller's is a *PrivilegeError) and, like every eval
// turn, with its proposals reported but never queued.
func (s *Service) Turn(ctx context.Context, req TurnRequest, caller access.Principal) (TurnResult, error) {
	in := Input{Role: DefaultRole, Clearance: DefaultClearance}
	var problems []Problem
	if req.Role != "" {
		r, err := access.ParseRole(req.Role)
		if err != nil {
			problems = append(problems, Problem{File: "request", Field: "role", Message: err.Error()})
		}
		in.Role, in.roleField = r, "role"
	}
	if req.Clearance != "" {
		c, err := access.ParseClearance(req.Clearance)
		if err != nil {
			problems = append(problems, Problem{File: "request", Field: "clearance", Message: err.Error()})
		}
		in.Clearance, in.clearanceField = c, "clearance"
	}
	if strings.TrimSpace(req.Agent) == "" {
		problems = append(problems, Problem{File: "request", Field: "agent", Message: "is required"})
	}
	if len(problems) > 0 {
		return TurnResult{}, &SuiteError{Problems: problems}
	}
	in, fields, msgs := bound(in, caller)
	if len(fields) > 0 {
		pe := &PrivilegeError{Caller: caller}
		for i := range fields {
			pe.Problems = append(pe.Problems, Problem{File: "request", Field: fields[i], Message: msgs[i]})
		}
		return TurnResult{}, pe
	}
	res, err := s.target.Chat(ctx, ChatRequest{Agent: req.Agent, SessionID: req.SessionID, Message: req.Message, Role: in.Role, Clearance: in.Clearance})
	if errors.Is(err, ErrRefused) {
		return TurnResult{Refused: strings.TrimPrefix(err.Error(), "evals: refused: ")}, nil
	}
	if err != nil {
		return TurnResult{}, err
	}
	return TurnResult{Result: &res}, nil
}
