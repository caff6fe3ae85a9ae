package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/sweep"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// Store is the part of the state store the service uses; *store.DB
// implements it.
type Store interface {
	audit.Auditor
	CreateProposal(ctx context.Context, p store.Proposal, audits ...audit.Entry) error
	GetProposal(ctx context.Context, id string) (store.Proposal, error)
	ListProposals(ctx context.Context, f store.ProposalFilter) ([]store.Proposal, error)
	DecideProposal(ctx context.Context, d store.Decision, audits ...audit.Entry) (store.Proposal, error)
	ExpireProposal(ctx context.Context, id string, at time.Time, audits ...audit.Entry) (store.Proposal, error)
	ClaimExecution(ctx context.Context, id string, at, staleBefore time.Time) (store.Proposal, error)
	FinishExecution(ctx context.Context, o store.Outcome, audits ...audit.Entry) (store.Proposal, error)
	DueProposals(ctx context.Context, at time.Time, limit int) ([]string, error)
	PendingExecutions(ctx context.Context, staleBefore time.Time, limit int) ([]string, error)
}

var _ Store = (*store.DB)(nil)

// Errors the service returns; the server maps them to statuses.
var (
	ErrNotFound     = usererr.New("actions", "not found")            // unknown, or above the caller's clearance
	ErrForbidden    = usererr.New("actions", "not allowed")          // the caller's role or clearance does not allow it
	ErrSelfDecision = usererr.New("actions", "separation of duties") // the proposer's own key tried to decide
	ErrDecided      = usererr.New("actions", "already decided")
	ErrExpired      = usererr.New("actions", "expired")
	ErrUnavailable  = usererr.New("actions", "action unavailable") // its executor is missing in this installation
	ErrInvalidArgs  = errors.New("actions: invalid arguments")
)

// ArgsError reports proposal arguments that fail the action's schema. Its
// message is safe to show a model or a client.
type ArgsError struct {
	Action string
	Reason string
}

func (e *ArgsError) Error() string {
	return "actions: " + e.Action + ": invalid arguments: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidArgs) hold.
func (e *ArgsError) Unwrap() error { return ErrInvalidArgs }

// Actor names the service itself in audit records (expiry, execution).
const Actor = "system"

// Defaults of Config.
const (
	DefaultLease       = 2 * time.Minute
	DefaultExecTimeout = 30 * time.Second
	snippetRunes       = 400
	maxQuestionRunes   = 2000
	maxRationaleRunes  = 2000
	maxCommentRunes    = 1000
	sweepBatch         = 100
)

// Config builds a Service.
type Config struct {
	Catalog   *Catalog
	Store     Store
	Executors map[string]Executor // by the name action types give in executor:
	Now       func() time.Time    // nil: time.Now
	Log       *slog.Logger        // nil: slog.Default()
	// Lease is how long an execution claim holds before recovery may take
	// it over (the executor is assumed dead). Longer than ExecTimeout.
	Lease       time.Duration
	ExecTimeout time.Duration
}

// ToolSpec is an action's proposal tool as models see it.
type ToolSpec struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Parameters  json.RawMessage  `json:"parameters"`
	Clearance   access.Clearance `json:"clearance"`
}

// compiled is an action type ready to take proposals.
type compiled struct {
	typ      Type
	tool     ToolSpec
	resolved *jsonschema.Resolved
	formats  map[string]string // property → date | date-time
	executor Executor          // nil: unavailable
}

// Service takes proposals, decides and executes them. It is safe for
// concurrent use; build one at start-up.
type Service struct {
	store       Store
	types       map[string]*compiled
	byTool      map[string]string
	deciders    []access.Role // approver roles of the catalog's types
	now         func() time.Time
	log         *slog.Logger
	lease       time.Duration
	execTimeout time.Duration

	// crashAfterExecute, set by tests, stops execution after the executor
	// returned and before the outcome is stored, as a crash would.
	crashAfterExecute func(id string) bool
}

// NewService compiles the catalog's types against their executors. A type
// whose executor is missing stays listed but cannot be proposed.
func NewService(cfg Config) (*Service, error) {
	if cfg.Catalog == nil || cfg.Store == nil {
		return nil, errors.New("actions: service needs a catalog and a store")
	}
	s := &Service{store: cfg.Store, types: map[string]*compiled{}, byTool: map[string]string{},
		now: cfg.Now, log: cfg.Log, lease: cfg.Lease, execTimeout: cfg.ExecTimeout}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.execTimeout <= 0 {
		s.execTimeout = DefaultExecTimeout
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if s.lease <= s.execTimeout {
		s.lease = 2 * s.execTimeout
	}
	seen := map[access.Role]bool{}
	for _, t := range cfg.Catalog.List() {
		c, err := compile(t, cfg.Executors[t.Executor])
		if err != nil {
			return nil, err
		}
		s.types[t.Name] = c
		s.byTool[c.tool.Name] = t.Name
		if !seen[t.Approver] {
			seen[t.Approver] = true
			s.deciders = append(s.deciders, t.Approver)
		}
	}
	return s, nil
}

func compile(t Type, ex Executor) (*compiled, error) {
	params := deepCopy(t.Parameters)
	if r, ok := ex.(ArgumentRefiner); ok {
		r.RefineArguments(t.Name, params)
	}
	resolved, err := compileSchema(params)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: refined parameters: %v", ErrInvalidType, t.Name, err)
	}
	formats := map[string]string{}
	props, _ := params["properties"].(map[string]any)
	for name, p := range props {
		if m, ok := p.(map[string]any); ok {
			if f, _ := m["format"].(string); f == "date" || f == "date-time" {
				formats[name] = f
			}
		}
	}
	// The model may add a rationale; it is not one of the action's arguments.
	toolParams := deepCopy(params)
	tp, _ := toolParams["properties"].(map[string]any)
	if tp == nil {
		tp = map[string]any{}
		toolParams["properties"] = tp
	}
	tp["rationale"] = map[string]any{"type": "string", "maxLength": maxRationaleRunes,
		"description": "Why this action is needed, citing the data and documents (by ref) that show it. 提议理由，引用数据与文件。"}
	raw, err := json.Marshal(toolParams)
	if err != nil {
		return nil, err
	}
	desc := strings.TrimSpace(t.Description) + fmt.Sprintf(" [Risk %s; approved by a %s or higher; expires after %s. 风险%s；须%s或以上角色批准。]",
		t.Risk, t.Approver, t.Expiry, riskZh(t.Risk), t.Approver)
	return &compiled{typ: t, resolved: resolved, formats: formats, executor: ex,
		tool: ToolSpec{Name: t.ToolName(), Description: desc, Parameters: raw, Clearance: t.Clearance}}, nil
}

func riskZh(r Risk) string {
	switch r {
	case RiskHigh:
		return "高"
	case RiskMedium:
		return "中"
	}
	return "低"
}

func deepCopy(m map[string]any) map[string]any {
	var out map[string]any
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &out)
	return out
}

// Tool returns the proposal tool of an action, for an agent that lists it.
// An action whose executor is not available gives ErrUnavailable.
func (s *Service) Tool(action string) (ToolSpec, error) {
	c, ok := s.types[action]
	if !ok {
		return ToolSpec{}, usererr.Errorf("%w: %s", ErrUnknownAction, action)
	}
	if c.executor == nil {
		return ToolSpec{}, usererr.Errorf("%w: %s (executor %q is not available in this installation)", ErrUnavailable, action, c.typ.Executor)
	}
	return c.tool, nil
}

// ActionForTool maps a proposal tool's name back to its action.
func (s *Service) ActionForTool(tool string) (string, bool) {
	a, ok := s.byTool[tool]
	return a, ok
}

// Types lists the action types with whether each can be proposed here.
func (s *Service) Types() []TypeInfo {
	out := make([]TypeInfo, 0, len(s.types))
	for _, name := range sortedKeys(s.types) {
		c := s.types[name]
		out = append(out, TypeInfo{Type: c.typ, Tool: c.tool.Name, Available: c.executor != nil})
	}
	return out
}

// TypeInfo is an action type as the API lists it.
type TypeInfo struct {
	Type
	Tool      string `json:"tool"`
	Available bool   `json:"available"`
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// ProposeRequest is an agent's proposal, made on behalf of Principal.
type ProposeRequest struct {
	Action    string
	Arguments json.RawMessage // may carry "rationale", which is taken out
	Rationale string
	Principal access.Principal
	Agent     string
	Version   string // the agent's version
	Model     string
	SessionID string
	Turn      int
	TraceID   string
	Question  string
	Evidence  []Evidence
}

// Propose validates a proposal against its action type and stores it as
// proposed, with an audit record in the same transaction. Its clearance is
// the highest of the action's and its evidence's; a caller never proposes
// from evidence above their own clearance.
func (s *Service) Propose(ctx context.Context, req ProposeRequest) (out Proposal, err error) {
	ctx, span := startSpan(ctx, "create", req.Action) // trace.go
	defer func() { endSpan(span, out.ID, string(out.Risk), out.Status, err) }()
	p, entry, c, err := s.draft(req)
	if err != nil {
		return Proposal{}, err
	}
	if err := s.store.CreateProposal(ctx, p, entry); err != nil {
		return Proposal{}, fmt.Errorf("actions: propose %s: %w", req.Action, err)
	}
	p.Status = StatusProposed
	return view(p, c.typ), nil
}

// Simulate checks a proposal exactly as Propose does and returns it with
// status StatusEval, storing and auditing nothing: an eval's proposals are
// reported, never queued for a decision.
func (s *Service) Simulate(_ context.Context, req ProposeRequest) (Proposal, error) {
	p, _, c, err := s.draft(req)
	if err != nil {
		return Proposal{}, err
	}
	p.ID = "prop_eval_" + strings.TrimPrefix(p.ID, "prop_")[:16]
	p.Status = StatusEval
	return view(p, c.typ), nil
}

// draft validates req and builds the proposal Propose stores, with its
// audit record.
func (s *Service) draft(req ProposeRequest) (store.Proposal, audit.Entry, *compiled, error) {
	c, ok := s.types[req.Action]
	if !ok {
		return store.Proposal{}, audit.Entry{}, nil, usererr.Errorf("%w: %s", ErrUnknownAction, req.Action)
	}
	if c.executor == nil {
		return store.Proposal{}, audit.Entry{}, nil, usererr.Errorf("%w: %s: no executor connected for this source (executor %q is not available in this installation)", ErrUnavailable, req.Action, c.typ.Executor)
	}
	if !req.Principal.Clearance.Covers(c.typ.Clearance) {
		return store.Proposal{}, audit.Entry{}, nil, usererr.Errorf("%w: %s needs clearance %s", ErrForbidden, req.Action, c.typ.Clearance)
	}
	args, rationale, err := c.validate(req.Arguments)
	if err != nil {
		return store.Proposal{}, audit.Entry{}, nil, err
	}
	if req.Rationale == "" {
		req.Rationale = rationale
	}
	clearance := c.typ.Clearance
	evidence := make([]Evidence, len(req.Evidence))
	for i, e := range req.Evidence {
		if !req.Principal.Clearance.Covers(e.Clearance) {
			return store.Proposal{}, audit.Entry{}, nil, usererr.Errorf("%w: evidence %s is above the caller's clearance", ErrForbidden, e.Ref)
		}
		if e.Clearance.Rank() > clearance.Rank() {
			clearance = e.Clearance
		}
		text := e.Text
		if text == "" {
			text = e.Snippet
		}
		sum := sha256.Sum256([]byte(text))
		e.SHA256 = hex.EncodeToString(sum[:])
		if strings.TrimSpace(e.Snippet) == "" {
			e.Snippet = text
		}
		e.Snippet = clip(e.Snippet, snippetRunes)
		evidence[i] = e
	}
	flags := flagsFor(req.Evidence, req.Rationale)
	evJSON, err := json.Marshal(evidence)
	if err != nil {
		return store.Proposal{}, audit.Entry{}, nil, fmt.Errorf("actions: encode evidence: %w", err)
	}
	now := s.now().UTC()
	p := store.Proposal{ID: "prop_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20], Action: req.Action, Arguments: args,
		Risk: string(c.typ.Risk), ApproverRole: c.typ.Approver, Clearance: clearance, Agent: req.Agent, AgentVersion: req.Version,
		Model: req.Model, SessionID: req.SessionID, Turn: req.Turn, TraceID: req.TraceID, Question: clip(req.Question, maxQuestionRunes),
		Rationale: clip(req.Rationale, maxRationaleRunes), Evidence: evJSON, Flags: flags, ProposerKeyID: req.Principal.KeyID,
		CreatedAt: now, ExpiresAt: now.Add(c.typ.Expiry)}
	refs := make([]string, len(evidence))
	for i, e := range evidence {
		refs[i] = e.Kind + ":" + e.Ref
	}
	entry := audit.Entry{Actor: req.Principal.KeyID, Kind: audit.KindProposalCreate, Subject: p.ID, At: now, Payload: map[string]any{
		"action": p.Action, "arguments": p.Arguments, "risk": p.Risk, "approver_role": p.ApproverRole, "clearance": p.Clearance,
		"agent": p.Agent, "agent_version": p.AgentVersion, "model": p.Model, "session_id": p.SessionID, "turn": p.Turn,
		"trace_id": p.TraceID, "evidence": refs, "flags": p.Flags, "expires_at": p.ExpiresAt}}
	return p, entry, c, nil
}

// validate checks raw arguments against the action's schema, with defaults
// applied, and returns them as stored (rationale taken out).
func (c *compiled) validate(raw json.RawMessage) (json.RawMessage, string, error) {
	bad := func(reason string) (json.RawMessage, string, error) {
		return nil, "", &ArgsError{Action: c.typ.Name, Reason: reason}
	}
	if len(strings.TrimSpace(string(raw))) == 0 || strings.TrimSpace(string(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil {
		return bad("arguments must be a JSON object")
	}
	rationale := ""
	if r, ok := args["rationale"]; ok {
		rs, isString := r.(string)
		if !isString {
			return bad("rationale must be a string")
		}
		rationale = rs
		delete(args, "rationale")
	}
	if err := c.resolved.ApplyDefaults(&args); err != nil {
		return bad(err.Error())
	}
	if err := c.resolved.Validate(args); err != nil {
		msg := strings.TrimPrefix(err.Error(), "validating root: ")
		return bad(clip(msg, 300))
	}
	for name, f := range c.formats {
		v, ok := args[name].(string)
		if !ok {
			continue
		}
		layout := time.RFC3339
		if f == "date" {
			layout = time.DateOnly
		}
		if _, err := time.Parse(layout, v); err != nil {
			return bad(fmt.Sprintf("%s must be a %s (%s)", name, f, layout))
		}
	}
	out, err := json.Marshal(args)
	if err != nil {
		return bad(err.Error())
	}
	return out, rationale, nil
}

// Get returns a proposal the viewer's clearance covers; any other is
// ErrNotFound. A proposal past its expiry is marked expired first.
func (s *Service) Get(ctx context.Context, id string, viewer access.Principal) (Proposal, error) {
	p, err := s.load(ctx, id, viewer)
	if err != nil {
		return Proposal{}, err
	}
	return s.view(p), nil
}

func (s *Service) load(ctx context.Context, id string, viewer access.Principal) (store.Proposal, error) {
	p, err := s.store.GetProposal(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !viewer.Clearance.Covers(p.Clearance)) {
		return store.Proposal{}, usererr.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return store.Proposal{}, fmt.Errorf("actions: %w", err)
	}
	if p.Status == StatusProposed && !s.now().Before(p.ExpiresAt) {
		if exp, err := s.expire(ctx, p.ID); err == nil {
			p = exp
		}
	}
	return p, nil
}

func (s *Service) view(p store.Proposal) Proposal {
	var t Type
	if c, ok := s.types[p.Action]; ok {
		t = c.typ
	}
	return view(p, t)
}

// ListFilter selects proposals.
type ListFilter struct {
	Status, Action, Agent, SessionID string
	Limit                            int
	Before                           string // the id of the last proposal of the previous page
}

// List pages through the proposals the viewer's clearance covers, newest
// first. Expired proposals are marked expired first.
func (s *Service) List(ctx context.Context, f ListFilter, viewer access.Principal) ([]Proposal, error) {
	if _, err := s.ExpireDue(ctx); err != nil {
		s.log.Warn("expiring proposals", "err", err)
	}
	var levels []access.Clearance
	for _, c := range access.Clearances {
		if viewer.Clearance.Covers(c) {
			levels = append(levels, c)
		}
	}
	if levels == nil {
		levels = []access.Clearance{}
	}
	ps, err := s.store.ListProposals(ctx, store.ProposalFilter{Status: f.Status, Action: f.Action, Agent: f.Agent, SessionID: f.SessionID,
		Clearances: levels, Limit: f.Limit, Before: f.Before})
	if errors.Is(err, store.ErrNotFound) {
		return nil, usererr.Errorf("%w: cursor %s", ErrNotFound, f.Before)
	}
	if err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	out := make([]Proposal, len(ps))
	for i, p := range ps {
		out[i] = s.view(p)
	}
	return out, nil
}

// Approve approves a proposal and executes it at once. The decider must
// hold the action's approver role or higher and a clearance that covers
// the proposal, and must not be the key the proposal was made for; an
// expired or decided proposal cannot be approved. Every refusal is audited.
// The returned proposal is executed or failed unless another executor holds
// it (then approved).
func (s *Service) Approve(ctx context.Context, id string, by access.Principal, comment string) (Proposal, error) {
	p, err := s.decide(ctx, id, by, comment, StatusApproved)
	if err != nil {
		return Proposal{}, err
	}
	// The approval is committed: finish the execution even if the client
	// goes away; a crash from here on is recovered at start-up.
	return s.execute(context.WithoutCancel(ctx), p.ID)
}

// Reject rejects a proposal under the same rules as Approve.
func (s *Service) Reject(ctx context.Context, id string, by access.Principal, comment string) (Proposal, error) {
	p, err := s.decide(ctx, id, by, comment, StatusRejected)
	if err != nil {
		return Proposal{}, err
	}
	return s.view(p), nil
}

func (s *Service) decide(ctx context.Context, id string, by access.Principal, comment, status string) (out store.Proposal, err error) {
	ctx, span := startSpan(ctx, "decide", "")
	defer func() { endSpan(span, id, string(out.Risk), out.Status, err) }()
	verb := "approve"
	kind := audit.KindApprove
	if status == StatusRejected {
		verb, kind = "reject", audit.KindReject
	}
	comment = clip(comment, maxCommentRunes)
	refuse := func(reason string, cause error, p *store.Proposal) (store.Proposal, error) {
		payload := map[string]any{"decision": verb, "reason": reason, "role": by.Role}
		if p != nil {
			payload["status"], payload["action"] = p.Status, p.Action
		}
		if err := s.store.Audit(ctx, audit.Entry{Actor: by.KeyID, Kind: audit.KindDecisionRefused, Subject: id, At: s.now(), Payload: payload}); err != nil {
			return store.Proposal{}, fmt.Errorf("actions: audit refusal: %w", err)
		}
		if errors.Is(cause, ErrDecided) || errors.Is(cause, ErrExpired) {
			return store.Proposal{}, cause
		}
		return store.Proposal{}, usererr.Errorf("%w: %s", cause, reason)
	}
	if !s.mayDecideAny(by.Role) {
		return refuse(fmt.Sprintf("role %s may not decide proposals", by.Role), ErrForbidden, nil)
	}
	p, err := s.load(ctx, id, by)
	if errors.Is(err, ErrNotFound) {
		return refuse("no proposal "+id, ErrNotFound, nil)
	}
	if err != nil {
		return store.Proposal{}, err
	}
	if !by.Role.Allows(p.ApproverRole) {
		return refuse(fmt.Sprintf("%s needs the %s role to decide; the key has %s", p.Action, p.ApproverRole, by.Role), ErrForbidden, &p)
	}
	if by.KeyID == p.ProposerKeyID {
		return refuse("the proposal was made on behalf of this key; another person must decide it", ErrSelfDecision, &p)
	}
	if err := stateError(p); err != nil {
		return refuse(err.Error(), err, &p)
	}
	now := s.now()
	entry := audit.Entry{Actor: by.KeyID, Kind: kind, Subject: p.ID, At: now,
		Payload: map[string]any{"action": p.Action, "arguments": p.Arguments, "role": by.Role, "comment": comment, "proposed_by": p.ProposerKeyID,
			"clearance": p.Clearance}}
	got, err := s.store.DecideProposal(ctx, store.Decision{ID: p.ID, Status: status, By: by.KeyID, Role: by.Role, Comment: comment, At: now}, entry)
	if errors.Is(err, store.ErrStateChanged) {
		// Someone decided first, or it expired in between.
		if got.Status == StatusProposed && !now.Before(got.ExpiresAt) {
			if exp, err := s.expire(ctx, got.ID); err == nil {
				got = exp
			} else {
				got.Status = StatusExpired
			}
		}
		err := stateError(got)
		if err == nil {
			err = ErrDecided
		}
		return refuse(err.Error(), err, &got)
	}
	if err != nil {
		return store.Proposal{}, fmt.Errorf("actions: %s %s: %w", verb, id, err)
	}
	return got, nil
}

// stateError says why a proposal in p's state cannot be decided (nil: it can).
func stateError(p store.Proposal) error {
	switch p.Status {
	case StatusProposed:
		return nil
	case StatusExpired:
		return usererr.Errorf("%w at %s", ErrExpired, p.ExpiresAt.Format(time.RFC3339))
	}
	return usererr.Errorf("%w: the proposal is %s", ErrDecided, p.Status)
}

func (s *Service) mayDecideAny(r access.Role) bool {
	for _, need := range s.deciders {
		if r.Allows(need) {
			return true
		}
	}
	return false
}

func (s *Service) expire(ctx context.Context, id string) (store.Proposal, error) {
	now := s.now()
	return s.store.ExpireProposal(ctx, id, now, audit.Entry{Actor: Actor, Kind: audit.KindExpire, Subject: id, At: now})
}

// ExpireDue marks every proposal past its expiry expired and returns how many.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	n := 0
	for {
		ids, err := s.store.DueProposals(ctx, s.now(), sweepBatch)
		if err != nil {
			return n, fmt.Errorf("actions: due proposals: %w", err)
		}
		for _, id := range ids {
			if _, err := s.expire(ctx, id); err == nil {
				n++
			} else if !errors.Is(err, store.ErrStateChanged) {
				return n, fmt.Errorf("actions: expire %s: %w", id, err)
			}
		}
		if len(ids) < sweepBatch {
			return n, nil
		}
	}
}

// execute claims an approved proposal and runs its executor once. Losing
// the claim (another executor holds it, or it is finished) is not an
// error: the proposal is returned as it stands.
func (s *Service) execute(ctx context.Context, id string) (out Proposal, err error) {
	ctx, span := startSpan(ctx, "execute", "")
	defer func() { endSpan(span, id, string(out.Risk), out.Status, err) }()
	now := s.now()
	p, err := s.store.ClaimExecution(ctx, id, now, now.Add(-s.lease))
	if errors.Is(err, store.ErrStateChanged) {
		return s.view(p), nil
	}
	if err != nil {
		return Proposal{}, fmt.Errorf("actions: claim %s: %w", id, err)
	}
	c := s.types[p.Action]
	var result json.RawMessage
	var execErr error
	switch {
	case c == nil:
		execErr = usererr.Errorf("%w: action %s is not in this installation's catalog", ErrUnavailable, p.Action)
	case c.executor == nil:
		execErr = usererr.Errorf("%w: no executor connected for this source (executor %q is not available)", ErrUnavailable, c.typ.Executor)
	default:
		ectx, cancel := context.WithTimeout(ctx, s.execTimeout)
		result, execErr = runExecutor(ectx, c.executor, Execution{ProposalID: p.ID, Action: p.Action, Arguments: p.Arguments,
			Attempt: p.Attempts, ApprovedBy: p.DecidedBy, At: now})
		cancel()
	}
	if s.crashAfterExecute != nil && s.crashAfterExecute(p.ID) {
		return s.view(p), nil
	}
	done := s.now()
	o := store.Outcome{ID: p.ID, Attempt: p.Attempts, Status: StatusExecuted, Result: result, At: done}
	entry := audit.Entry{Actor: Actor, Kind: audit.KindExecute, Subject: p.ID, At: done,
		Payload: map[string]any{"action": p.Action, "attempt": p.Attempts, "approved_by": p.DecidedBy, "result_sha256": audit.PayloadHash(result)}}
	if execErr != nil {
		o.Status, o.Result, o.Error = StatusFailed, nil, clip(execErr.Error(), 500)
		entry.Kind = audit.KindExecuteFailed
		entry.Payload = map[string]any{"action": p.Action, "attempt": p.Attempts, "approved_by": p.DecidedBy, "error": o.Error}
		s.log.Warn("proposal execution failed", "proposal", p.ID, "action", p.Action, "err", execErr)
	}
	if result != nil && !json.Valid(result) {
		o.Status, o.Result, o.Error = StatusFailed, nil, "the executor returned a result that is not JSON"
	}
	fin, err := s.store.FinishExecution(ctx, o, entry)
	if errors.Is(err, store.ErrStateChanged) {
		s.log.Warn("execution outcome not recorded: the claim was taken over", "proposal", p.ID, "attempt", p.Attempts)
		return s.view(fin), nil
	}
	if err != nil {
		return Proposal{}, fmt.Errorf("actions: record execution of %s: %w", id, err)
	}
	return s.view(fin), nil
}

// runExecutor turns a panicking executor into an error.
func runExecutor(ctx context.Context, ex Executor, x Execution) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("executor panicked: %v", p)
		}
	}()
	return ex.Execute(ctx, x)
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Expired  int `json:"expired"`
	Executed int `json:"executed"`
	Failed   int `json:"failed"`
}

// Sweep expires proposals past their expiry and executes approved proposals
// that no live executor holds: approvals whose process stopped before
// executing them, and claims older than the lease. Run it at start-up
// (recovery) and then periodically.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	n, err := s.ExpireDue(ctx)
	r.Expired = n
	if err != nil {
		return r, err
	}
	seen := map[string]bool{}
	for {
		now := s.now()
		ids, err := s.store.PendingExecutions(ctx, now.Add(-s.lease), sweepBatch)
		if err != nil {
			return r, fmt.Errorf("actions: pending executions: %w", err)
		}
		progress := false
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id], progress = true, true
			p, err := s.execute(ctx, id)
			if err != nil {
				return r, err
			}
			switch p.Status {
			case StatusExecuted:
				r.Executed++
			case StatusFailed:
				r.Failed++
			}
		}
		if len(ids) < sweepBatch || !progress {
			return r, nil
		}
	}
}

// Run sweeps every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	sweep.Every(ctx, interval, s.sweepAndLog)
}

func (s *Service) sweepAndLog(ctx context.Context) {
	r, err := s.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("proposal sweep failed", "err", err)
	}
	if r != (SweepResult{}) {
		s.log.Info("proposal sweep", "expired", r.Expired, "executed", r.Executed, "failed", r.Failed)
	}
}
