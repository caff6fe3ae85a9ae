package evals

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/llm"
)

// Options tune a run.
type Options struct {
	Parallel int           // cases run at once; default 4
	Agent    string        // run every case against this agent instead of its own
	Model    string        // run every case on this configured model
	Timeout  time.Duration // per case, when the case and suite set none; default 60s
	Gates    []Gate        // thresholds besides the suites' own
	// Judge grades answer rubrics (answer.judge). Nil (the offline engine)
	// skips them: a rubric is only judged by a real model.
	Judge    llm.Model
	Progress Progress // nil: silent
	// GitRevision and DataSnapshot are recorded in the report.
	GitRevision  string
	DataSnapshot string
	// SnapshotOf, when set, computes DataSnapshot as a run starts (a
	// server's documents change while it runs).
	SnapshotOf func(ctx context.Context) string
	Now        func() time.Time
	// Caller, when set, bounds the run (the HTTP API sets the key that
	// started it): a case whose suite asks for a role or clearance above
	// the caller's is refused with a *PrivilegeError before anything runs,
	// and a case that leaves them at the defaults runs with the defaults
	// lowered to the caller's. Nil: a trusted operator's run (the CLI).
	Caller *access.Principal
}

// Progress hears about a run as it goes; calls come from one goroutine at a time.
type Progress interface {
	Start(total int)
	Done(r *CaseResult)
	Finish()
}

// ErrPreflight is wrapped by a PreflightError.
var ErrPreflight = errors.New("evals: the run cannot start")

// PreflightError lists what is wrong with the suites for this target:
// unknown agents, tools, actions or models. Nothing has run.
type PreflightError struct {
	Problems []Problem
}

func (e *PreflightError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "evals: the run cannot start: " + strings.Join(lines, "; ")
}

// Unwrap makes errors.Is(err, ErrPreflight) hold.
func (e *PreflightError) Unwrap() error { return ErrPreflight }

// Plan is a checked run, ready to execute.
type Plan struct {
	ID       string
	target   Target
	suites   []*Suite
	opts     Options
	inv      Inventory
	cases    []planned
	gates    []Gate
	warnings []string
}

type planned struct {
	suite *Suite
	c     Case
	agent string
	model string
	na    string // why the case is not applicable; empty: it runs
}

// Prepare checks suites against target before anything runs: every agent,
// model, tool and action a case names must exist (or be listed in the
// case's requires, which makes the case not applicable when it is missing).
// All problems are reported together in a *PreflightError.
func Prepare(ctx context.Context, target Target, suites []*Suite, opts Options) (*Plan, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = min(4, runtime.GOMAXPROCS(0)*2)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultCaseTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	inv, err := target.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("evals: inventory of the target: %w", err)
	}
	if opts.SnapshotOf != nil {
		opts.DataSnapshot = opts.SnapshotOf(ctx)
	}
	pl := &Plan{ID: "evr_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], target: target, suites: suites, opts: opts, inv: inv}
	var problems, above []Problem
	allActions := map[string]bool{}
	for _, a := range inv.Agents {
		for _, x := range a.Actions {
			allActions[x] = true
		}
	}
	modelKnown := func(m string) bool { return inv.Models == nil || contains(inv.Models, m) }
	if opts.Model != "" && inv.Models != nil && !modelKnown(opts.Model) {
		problems = append(problems, Problem{File: "--model", Message: fmt.Sprintf("model %q is not configured (configured: %s)", opts.Model, strings.Join(inv.Models, ", "))})
	}
	remoteModelWarned := false
	for _, s := range suites {
		pl.gates = append(pl.gates, s.Gates...)
		for _, c := range s.Cases {
			where := func(field, format string, args ...any) {
				problems = append(problems, Problem{File: s.File, Line: c.Line, Field: "case " + c.ID + field, Message: fmt.Sprintf(format, args...)})
			}
			p := planned{suite: s, c: c, agent: c.Agent, model: c.Model}
			if opts.Caller != nil {
				in, fields, msgs := bound(c.Input, *opts.Caller)
				for i := range fields {
					above = append(above, Problem{File: s.File, Line: c.Line, Field: "case " + c.ID + " " + fields[i], Message: msgs[i]})
				}
				p.c.Input = in
			}
			if opts.Agent != "" {
				p.agent = opts.Agent
			}
			if opts.Model != "" {
				p.model = opts.Model
			}
			info, ok := inv.Agents[p.agent]
			if !ok {
				where("", "unknown agent %q (known: %s)", p.agent, inv.agentNames())
			}
			if p.model != "" && inv.Models == nil {
				if !remoteModelWarned {
					pl.warnings = append(pl.warnings, "the model of a remote cityagent is its own; model settings are ignored")
					remoteModelWarned = true
				}
				p.model = ""
			} else if p.model != "" && !modelKnown(p.model) && p.model != opts.Model {
				where(".model", "model %q is not configured (configured: %s)", p.model, strings.Join(inv.Models, ", "))
			}
			required := map[Requirement]bool{}
			var missing []string
			for _, r := range c.Requires {
				required[r] = true
				switch r.Kind {
				case "tool":
					if !inv.Tools[r.Name] {
						missing = append(missing, r.String()+" (not registered)")
					}
				case "action":
					if !contains(info.Actions, r.Name) {
						missing = append(missing, r.String()+" (agent "+p.agent+" does not list it)")
					}
				}
			}
			checkTool := func(field, name string) {
				if !inv.Tools[name] && !required[Requirement{"tool", name}] {
					where(field, "unknown tool %q: it is not registered (if it is coming, add requires: [tool:%s] to the case)", name, name)
				}
			}
			if t := c.Expect.Tools; t != nil {
				for i, m := range t.MustCall {
					checkTool(fmt.Sprintf(".expect.tools.must_call[%d]", i), m.Name)
				}
				for i, n := range t.MayCall {
					checkTool(fmt.Sprintf(".expect.tools.may_call[%d]", i), n)
				}
				for i, n := range t.MustNotCall {
					checkTool(fmt.Sprintf(".expect.tools.must_not_call[%d]", i), n)
				}
			}
			checkAction := func(field, name string) {
				if !allActions[name] && !required[Requirement{"action", name}] {
					where(field, "unknown action %q: no agent lists it (if it is coming, add requires: [action:%s] to the case)", name, name)
				}
			}
			if pe := c.Expect.Proposals; pe != nil {
				for i, m := range pe.MustPropose {
					checkAction(fmt.Sprintf(".expect.proposals.must_propose[%d]", i), m.Action)
				}
				for i, n := range pe.MustNotPropose {
					checkAction(fmt.Sprintf(".expect.proposals.must_not_propose[%d]", i), n)
				}
			}
			if len(missing) > 0 {
				p.na = "requires " + strings.Join(missing, ", ")
			}
			pl.cases = append(pl.cases, p)
		}
	}
	pl.gates = append(pl.gates, opts.Gates...)
	if len(above) > 0 {
		return nil, &PrivilegeError{Caller: *opts.Caller, Problems: above}
	}
	if len(problems) > 0 {
		return nil, &PreflightError{Problems: problems}
	}
	return pl, nil
}

// Total is how many cases the plan holds.
func (pl *Plan) Total() int { return len(pl.cases) }

// Run prepares and executes suites on target.
func Run(ctx context.Context, target Target, suites []*Suite, opts Options) (*Report, error) {
	pl, err := Prepare(ctx, target, suites, opts)
	if err != nil {
		return nil, err
	}
	return pl.Execute(ctx), nil
}

// Execute runs every applicable case, Parallel at a time. A case that errors
// or times out is recorded as such and the run goes on; if ctx ends, the
// cases not yet run are recorded as errors.
func (pl *Plan) Execute(ctx context.Context) *Report {
	opts := pl.opts
	started := opts.Now()
	results := make([]*CaseResult, len(pl.cases))
	if opts.Progress != nil {
		opts.Progress.Start(len(pl.cases))
	}
	var progressMu sync.Mutex
	done := func(r *CaseResult) {
		if opts.Progress != nil {
			progressMu.Lock()
			opts.Progress.Done(r)
			progressMu.Unlock()
		}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < opts.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = pl.runCase(ctx, pl.cases[i])
				done(results[i])
			}
		}()
	}
	for i, p := range pl.cases {
		if p.na != "" {
			results[i] = pl.newResult(p)
			results[i].Status, results[i].Reason = StatusNotApplicable, p.na
			done(results[i])
			continue
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if opts.Progress != nil {
		opts.Progress.Finish()
	}
	finished := opts.Now()
	rep := &Report{Format: ReportFormat, ID: pl.ID, StartedAt: started, FinishedAt: finished, DurationMS: finished.Sub(started).Milliseconds(),
		Target: pl.inv.Target, Model: opts.Model, GitRevision: orUnknown(opts.GitRevision), DataSnapshot: orUnknown(opts.DataSnapshot),
		Parallel: opts.Parallel, Warnings: append([]string{}, pl.warnings...)}
	if rep.Model == "" {
		rep.Model = pl.inv.DefaultModel
	}
	used := map[string]bool{}
	for _, r := range results {
		rep.Cases = append(rep.Cases, *r)
		used[r.Agent] = true
	}
	for name := range used {
		if a, ok := pl.inv.Agents[name]; ok {
			rep.Agents = append(rep.Agents, a)
		}
	}
	sort.Slice(rep.Agents, func(i, j int) bool { return rep.Agents[i].Name < rep.Agents[j].Name })
	for _, s := range pl.suites {
		rep.Suites = append(rep.Suites, SuiteRef{Name: s.Name, File: s.File, Hash: s.Hash, Cases: len(s.Cases)})
	}
	rep.Aggregate = aggregate(rep.Cases)
	rep.Breakdowns = breakdowns(rep.Cases)
	rep.Gates = checkGates(pl.gates, rep.Aggregate, rep.Breakdowns)
	rep.Passed = true
	for _, g := range rep.Gates {
		rep.Passed = rep.Passed && g.Passed
	}
	return rep
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (pl *Plan) newResult(p planned) *CaseResult {
	info := pl.inv.Agents[p.agent]
	r := &CaseResult{Suite: p.suite.Name, ID: p.c.ID, File: p.suite.File, Line: p.c.Line, Agent: p.agent, AgentVersion: info.Version,
		Model: info.Model, Lang: Language(p.c.Input.Message), Tags: p.c.Tags, Message: pii.Mask(p.c.Input.Message), Turns: len(p.c.Input.Turns) + 1,
		Role: string(p.c.Input.Role), Clearance: string(p.c.Input.Clearance)}
	if p.model != "" {
		r.Model = p.model
	}
	return r
}

func (pl *Plan) runCase(ctx context.Context, p planned) *CaseResult {
	r := pl.newResult(p)
	if err := ctx.Err(); err != nil {
		r.Status, r.Reason = StatusError, "the run was cancelled before this case"
		return r
	}
	timeout := p.c.Timeout
	if timeout <= 0 {
		timeout = pl.opts.Timeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := ChatRequest{Agent: p.agent, Model: p.model, Role: p.c.Input.Role, Clearance: p.c.Input.Clearance,
		roleField: p.c.Input.roleField, clearanceField: p.c.Input.clearanceField}
	for i, t := range p.c.Input.Turns {
		req.Message = t
		res, err := pl.target.Chat(cctx, req)
		if err != nil {
			pl.fail(r, cctx, ctx, timeout, fmt.Errorf("turn %d of %d: %w", i+1, r.Turns, err))
			return r
		}
		req.SessionID = res.SessionID
	}
	req.Message = p.c.Input.Message
	began := time.Now()
	res, err := pl.target.Chat(cctx, req)
	r.DurationMS = time.Since(began).Milliseconds()
	if errors.Is(err, ErrRefused) {
		r.Refused = true
		r.Reason = strings.TrimPrefix(err.Error(), "evals: refused: ")
		evaluate(cctx, p, agents.ChatResult{}, r, pl.opts.Judge)
		return r
	}
	if err != nil {
		pl.fail(r, cctx, ctx, timeout, err)
		return r
	}
	// Reports show personal data masked; the checks read res itself.
	r.SessionID, r.Answer, r.Degraded, r.Warnings = res.SessionID, pii.Mask(res.Answer), res.Degraded, res.Warnings
	if res.AgentVersion != "" {
		r.AgentVersion = res.AgentVersion
	}
	if res.Model != "" {
		r.Model = res.Model
	}
	evaluate(cctx, p, res, r, pl.opts.Judge)
	return r
}

func (pl *Plan) fail(r *CaseResult, cctx, ctx context.Context, timeout time.Duration, err error) {
	switch {
	case ctx.Err() != nil:
		r.Status, r.Reason = StatusError, "the run was cancelled: "+err.Error()
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		r.Status, r.Reason = StatusTimeout, fmt.Sprintf("no answer within %s", timeout)
	default:
		r.Status, r.Reason = StatusError, err.Error()
	}
}
