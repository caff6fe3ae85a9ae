package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityagent/cityagent/internal/usererr"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// Retriever is the part of the knowledge base a turn uses.
type Retriever interface {
	Search(ctx context.Context, q knowledge.Query) ([]knowledge.Hit, error)
}

// SessionStore is the part of the state store a turn uses.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	AppendEvents(ctx context.Context, sessionID string, events []store.Event) ([]store.Event, error)
	Events(ctx context.Context, sessionID string) ([]store.Event, error)
}

// Proposer is the action service a turn proposes through: an agent whose
// spec lists an action is offered its proposal tool, and a call of that tool
// becomes a proposal that waits for a person's decision.
type Proposer interface {
	Tool(action string) (actions.ToolSpec, error)
	Propose(ctx context.Context, req actions.ProposeRequest) (actions.Proposal, error)
}

var _ Proposer = (*actions.Service)(nil)

// Models is the set of configured models and the order a turn falls back in:
// the agent's model (or Default), then Fallbacks, then Offline.
type Models struct {
	ByName    map[string]llm.Model
	Default   string
	Fallbacks []string
	Offline   llm.Model
}

// Chain returns the models a turn of an agent whose spec names model tries, in order.
func (m Models) Chain(model string) []llm.Model {
	var out []llm.Model
	seen := map[llm.Model]bool{}
	add := func(x llm.Model) {
		if x != nil && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if model == "" {
		model = m.Default
	}
	add(m.ByName[model])
	for _, f := range m.Fallbacks {
		add(m.ByName[f])
	}
	add(m.Offline)
	return out
}

// Runner runs turns. Build one at start-up and share it; it is safe for
// concurrent use.
type Runner struct {
	Catalog   *Catalog
	Models    Models
	Tools     *tools.Registry
	Knowledge Retriever // nil: no retrieval
	Sessions  SessionStore
	// Actions takes the proposals of agents whose specs list actions; nil:
	// no agent can propose.
	Actions Proposer
	// Audit receives a record of every turn and tool call; nil: none.
	Audit audit.Auditor
	Now   func() time.Time // nil: time.Now
	Log   *slog.Logger     // nil: slog.Default()
	// MaxHistoryTurns bounds how many earlier turns are replayed to the model.
	MaxHistoryTurns int
}

// Turn is one question to one agent.
type Turn struct {
	Agent     string
	SessionID string // empty: start a new session
	Message   string
	Principal access.Principal
	TraceID   string // empty: generated
	// NewSessionID names the session a turn without SessionID creates, so
	// that a caller can announce it before the turn runs (NewSessionID);
	// empty: generated.
	NewSessionID string
	// Instructions are the API client's system messages: appended to the
	// system prompt below the agent's own instructions, at most
	// MaxInstructionRunes.
	Instructions string
	// ClientTools are tools the client runs itself (clienttools.go).
	ClientTools []llm.ToolSpec
	// ToolResults continue the session's turn paused for client tools;
	// Message is then ignored.
	ToolResults []ToolResult
}

// NewSessionID returns a fresh session id for Turn.NewSessionID.
func NewSessionID() string { return "ses_" + uuid.NewString() }

func validSessionID(id string) bool {
	rest, ok := strings.CutPrefix(id, "ses_")
	return ok && uuid.Validate(rest) == nil
}

// MaxMessageRunes bounds a question's length.
const MaxMessageRunes = 8000

// Errors Run returns before anything is written.
var (
	ErrForbidden      = usererr.New("agents", "not allowed")
	ErrUnknownSession = errors.New("agents: unknown session")
)

// InputError reports a bad field of a Turn; its message is safe to show.
type InputError struct {
	Field, Message string
}

func (e *InputError) Error() string { return "agents: " + e.Field + ": " + e.Message }

// Run answers one turn. emit (may be nil) receives every event as it happens,
// from one goroutine at a time. Run returns an error only when nothing could
// be answered: bad input, a forbidden caller, or ctx cancelled; model and tool
// failures end in a degraded answer instead.
func (r *Runner) Run(ctx context.Context, t Turn, emit func(Event)) (ChatResult, error) {
	ctx, span := telemetry.Start(ctx, telemetry.OpInvokeAgent, "")
	res, err := r.run(ctx, t, emit)
	endTurnSpan(span, t, res, err) // trace.go
	return res, err
}

func (r *Runner) run(ctx context.Context, t Turn, emit func(Event)) (ChatResult, error) {
	start := r.now()
	msg := strings.TrimSpace(t.Message)
	resuming := len(t.ToolResults) > 0
	switch {
	case resuming && t.SessionID == "":
		return ChatResult{}, &InputError{"tool_results", "results of client tools continue a session; name it"}
	case resuming:
	case msg == "":
		return ChatResult{}, &InputError{"message", "must not be empty"}
	case utf8.RuneCountInString(msg) > MaxMessageRunes:
		return ChatResult{}, &InputError{"message", fmt.Sprintf("must be at most %d characters", MaxMessageRunes)}
	case !utf8.ValidString(msg):
		return ChatResult{}, &InputError{"message", "must be valid UTF-8"}
	}
	spec, err := r.Catalog.Get(t.Agent)
	if err != nil {
		return ChatResult{}, err
	}
	if !spec.AdmitsRole(t.Principal.Role) {
		return ChatResult{}, usererr.Wrapf(ErrForbidden, "role %s may not use agent %s", t.Principal.Role, spec.Name)
	}
	if err := r.checkClientInput(spec, t); err != nil {
		return ChatResult{}, err
	}
	var history []store.Event
	var newSession *store.Session // created below, with the question
	if t.SessionID != "" {
		sess, err := r.Sessions.GetSession(ctx, t.SessionID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sess.OwnerKeyID != t.Principal.KeyID && t.Principal.Role != access.RoleAdmin) {
			return ChatResult{}, fmt.Errorf("%w: %s", ErrUnknownSession, t.SessionID)
		}
		if err != nil {
			return ChatResult{}, fmt.Errorf("agents: load session: %w", err)
		}
		if sess.Agent != spec.Name {
			return ChatResult{}, &InputError{"session_id", fmt.Sprintf("session belongs to agent %q, not %q", sess.Agent, spec.Name)}
		}
		if history, err = r.Sessions.Events(ctx, t.SessionID); err != nil {
			return ChatResult{}, fmt.Errorf("agents: load session events: %w", err)
		}
	} else {
		t.SessionID = t.NewSessionID
		if !validSessionID(t.SessionID) {
			t.SessionID = NewSessionID()
		}
		title := []rune(msg)
		if len(title) > 80 {
			title = title[:80]
		}
		newSession = &store.Session{ID: t.SessionID, Agent: spec.Name, OwnerKeyID: t.Principal.KeyID, Title: string(title), CreatedAt: start, UpdatedAt: start}
	}
	if t.TraceID == "" {
		t.TraceID = telemetry.TraceID(ctx) // the span's, or a new W3C trace id
	}
	turnNo := 1
	for _, e := range history {
		if e.Turn >= turnNo {
			turnNo = e.Turn + 1
		}
	}
	var paused *suspendData
	if resuming {
		var err error
		if turnNo, paused, err = pausedTurn(history, t.ToolResults, t.Principal.Clearance); err != nil {
			return ChatResult{}, err
		}
		msg, history = paused.Question, eventsBefore(history, turnNo)
	}
	tr := &turnRun{r: r, spec: spec, t: t, turn: turnNo, start: start, emitFn: emit, refused: map[string]bool{},
		res: ChatResult{SessionID: t.SessionID, Agent: spec.Name, AgentVersion: spec.Version, TraceID: t.TraceID, Turn: turnNo,
			Citations: []Citation{}, ToolCalls: []ToolCallRecord{}, Proposals: []ProposalRef{}, Warnings: []string{}}}
	switch {
	case newSession != nil:
		if err := tr.openSession(ctx, *newSession, Event{EventUser, TextData{msg}}); err != nil {
			return ChatResult{}, err
		}
	case !resuming:
		if err := tr.record(ctx, Event{EventUser, TextData{msg}}); err != nil {
			return ChatResult{}, err
		}
	}
	tr.emit(Event{EventSession, SessionData{t.SessionID, spec.Name, spec.Version, turnNo, t.TraceID}})
	res, runErr := tr.run(ctx, msg, history, paused)
	return tr.finish(ctx, msg, res, runErr)
}

// ErrAuditUnavailable is returned when a turn's audit record could not be
// written: the turn had an answer, but it is withheld, because no answer
// leaves without its record (DESIGN §9, §14). Callers should answer 503 and
// ask the client to retry.
var ErrAuditUnavailable = errors.New("agents: the turn's audit record could not be written")

// ErrNoAnswer is returned when no model, the offline engine included, gave
// an answer within the turn's time: every model in the chain failed or was
// cut off. Nothing the client sent is wrong; callers should answer 503 and
// ask the client to retry.
var ErrNoAnswer = errors.New("agents: no model answered in time")

// closingWriteTimeout bounds each of a turn's two closing writes (session,
// then audit). Each gets its own: when they shared one deadline, a slow
// session write left the audit write too little time.
const closingWriteTimeout = 5 * time.Second

// withheldText is the session's error event for a turn whose answer was
// recorded in the session but whose audit record failed.
const withheldText = "answer withheld: the audit record of this turn could not be written; ask again"

// finish records a turn's outcome, even if the client has gone, and only
// then hands the answer out. The order is: the session's closing events
// (the answer and the done event), then the audit record, then the done
// event to emit. The store has no single transaction for both, so the audit
// append is the commit point: a turn is answered if and only if its
// chat.turn record with the answer's hash is durable. When the session write
// fails the turn fails and its record says so; when the audit write fails
// the session already holds the answer, so an error event after it marks the
// answer withheld (history skips it) and the turn fails with
// ErrAuditUnavailable.
func (tr *turnRun) finish(ctx context.Context, question string, res ChatResult, runErr error) (ChatResult, error) {
	bg := context.WithoutCancel(ctx)
	if runErr != nil {
		tr.pending = append(tr.pending, Event{EventError, TextData{runErr.Error()}})
	} else if tr.paused != nil {
		tr.pending = append(tr.pending, Event{EventSuspend, tr.paused}, Event{EventDone, res})
	} else {
		tr.pending = append(tr.pending, Event{EventAnswer, AnswerData{Text: res.Answer, Clearance: tr.clearance}}, Event{EventDone, res})
	}
	if tr.closeTogether(bg, question, res, runErr) {
		if runErr != nil {
			return ChatResult{}, runErr
		}
		tr.emit(Event{EventDone, res})
		return res, nil
	}
	sctx, cancel := context.WithTimeout(bg, closingWriteTimeout)
	flushErr := tr.flush(sctx)
	cancel()
	outcome := runErr
	if outcome == nil {
		outcome = flushErr
	}
	actx, cancel := context.WithTimeout(bg, closingWriteTimeout)
	auditErr := tr.commitAuditTraced(actx, question, res, outcome)
	cancel()
	if auditErr != nil {
		tr.r.log().Error("audit of a chat turn failed", "err", auditErr, "trace_id", tr.t.TraceID, "session_id", tr.t.SessionID, "answered", outcome == nil)
	}
	switch {
	case runErr != nil:
		return ChatResult{}, runErr
	case flushErr != nil:
		return ChatResult{}, flushErr
	case auditErr != nil:
		tr.pending = append(tr.pending[:0], Event{EventError, TextData{withheldText}})
		wctx, cancel := context.WithTimeout(bg, closingWriteTimeout)
		if err := tr.flush(wctx); err != nil {
			tr.r.log().Error("marking a withheld answer failed", "err", err, "trace_id", tr.t.TraceID, "session_id", tr.t.SessionID)
		}
		cancel()
		return ChatResult{}, fmt.Errorf("%w: %w", ErrAuditUnavailable, auditErr)
	}
	tr.emit(Event{EventDone, res})
	return res, nil
}

// ClosingWriter is an optional ability of a SessionStore that is also the
// runner's Auditor: to append a turn's closing events and its audit
// records in one write, all or none.
type ClosingWriter interface {
	AppendEventsWithAudit(ctx context.Context, sessionID string, events []store.Event, entries []audit.Entry) ([]store.Event, error)
}

var _ ClosingWriter = (*store.DB)(nil)

// closeTogether writes the turn's closing events and its audit records in
// one write when the session store is the auditor and can, and reports
// whether that write is durable. Then the turn is closed: the records say
// outcome runErr, as finish's would. When it cannot, or the write fails
// (nothing is stored then), finish writes them one after the other, which
// decides what a failure of either means.
func (tr *turnRun) closeTogether(bg context.Context, question string, res ChatResult, runErr error) bool {
	cw, ok := tr.r.Sessions.(ClosingWriter)
	if !ok || !sameStore(tr.r.Sessions, tr.r.Audit) {
		return false
	}
	evs, err := tr.storeEvents(tr.pending)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(bg, closingWriteTimeout)
	defer cancel()
	entries := tr.auditEntries(question, res, runErr)
	if err := tr.r.appendEventsWithAudit(ctx, cw, tr.t.SessionID, evs, entries); err != nil {
		tr.r.log().Warn("closing a chat turn in one write failed; writing the session, then the audit", "err", err, "trace_id", tr.t.TraceID, "session_id", tr.t.SessionID)
		return false
	}
	tr.pending = tr.pending[:0]
	return true
}

// sameStore reports whether a and b are the same pointer (the one state
// store serving both roles). Only pointers are compared: comparing other
// values of one type could panic.
func sameStore(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta.Kind() == reflect.Pointer && ta == reflect.TypeOf(b) && a == b
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// turnRun is the state of one running turn.
type turnRun struct {
	r       *Runner
	spec    Spec
	t       Turn
	turn    int
	start   time.Time
	res     ChatResult
	emitMu  sync.Mutex
	emitFn  func(Event)
	pending []Event // recorded at the end in one write

	// What the model has seen this turn: the retrieved passages and the
	// tool results, each with its clearance. Proposals cite them as
	// evidence; the answer's clearance is the highest of them.
	evidence   []actions.Evidence
	clearance  access.Clearance
	refused    map[string]bool // ids of tool calls refused before running
	proposals  int
	proposable map[string]proposable
	stepText   string          // what the model wrote beside its tool calls in the current step
	heldBang   bool            // the last delta ended in "!", not sent yet
	streamed   bool            // the current model call has sent deltas
	client     map[string]bool // names of the client's tools
	paused     *suspendData    // set when the turn pauses for client tools
}

// see raises the turn's clearance to c.
func (tr *turnRun) see(c access.Clearance) {
	if tr.clearance == "" || c.Rank() > tr.clearance.Rank() {
		tr.clearance = c
	}
}

func (tr *turnRun) emit(e Event) {
	if tr.emitFn == nil {
		return
	}
	tr.emitMu.Lock()
	defer tr.emitMu.Unlock()
	tr.emitFn(e)
}

func (tr *turnRun) record(ctx context.Context, e Event) error {
	tr.pending = append(tr.pending, e)
	return tr.flush(ctx)
}

// SessionOpener is an optional ability of a SessionStore: to create a
// session and append its first events in one write. A turn that opens a
// session records its question with it, one write instead of two.
type SessionOpener interface {
	CreateSessionWithEvents(ctx context.Context, s store.Session, events []store.Event) ([]store.Event, error)
}

var _ SessionOpener = (*store.DB)(nil)

// openSession creates the turn's new session s and records first in it:
// in one write when the store can, else as CreateSession then an append.
func (tr *turnRun) openSession(ctx context.Context, s store.Session, first Event) error {
	o, ok := tr.r.Sessions.(SessionOpener)
	if !ok {
		if err := tr.r.createSession(ctx, s); err != nil {
			return fmt.Errorf("agents: create session: %w", err)
		}
		return tr.record(ctx, first)
	}
	evs, err := tr.storeEvents([]Event{first})
	if err != nil {
		return err
	}
	if err := tr.r.createSessionWithEvents(ctx, o, s, evs); err != nil {
		return fmt.Errorf("agents: create session: %w", err)
	}
	return nil
}

// storeEvents encodes events as the turn's session events.
func (tr *turnRun) storeEvents(events []Event) ([]store.Event, error) {
	evs := make([]store.Event, 0, len(events))
	for _, e := range events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("agents: encode %s event: %w", e.Type, err)
		}
		evs = append(evs, store.Event{SessionID: tr.t.SessionID, Turn: tr.turn, Type: e.Type, Data: data, CreatedAt: tr.r.now()})
	}
	return evs, nil
}

func (tr *turnRun) flush(ctx context.Context) error {
	if len(tr.pending) == 0 {
		return nil
	}
	evs, err := tr.storeEvents(tr.pending)
	if err != nil {
		return err
	}
	if err := tr.appendEvents(ctx, evs); err != nil {
		return fmt.Errorf("agents: record session events: %w", err)
	}
	tr.pending = tr.pending[:0]
	return nil
}

func (tr *turnRun) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	tr.res.Warnings = append(tr.res.Warnings, w)
	tr.pending = append(tr.pending, Event{EventWarning, TextData{w}})
	tr.emit(Event{EventWarning, TextData{w}})
}

// reserve is the part of the turn's deadline kept back so that the offline
// engine can still answer after a slow model has been cut off.
func reserve(budget time.Duration) time.Duration {
	r := budget / 5
	if r < 50*time.Millisecond {
		r = 50 * time.Millisecond
	}
	if r > 2*time.Second {
		r = 2 * time.Second
	}
	return r
}

// turnDeadlines are a turn's two deadlines. Before soft, models and tools
// run in the time the turn has; the part between soft and hard is the
// reserve a fallback answer is written in.
type turnDeadlines struct {
	soft, hard time.Time
	margin     time.Duration // kept back at the end of the reserve for the answer itself
}

func newDeadlines(start time.Time, budget time.Duration) turnDeadlines {
	r := reserve(budget)
	return turnDeadlines{soft: start.Add(budget - r), hard: start.Add(budget), margin: r / 4}
}

// toolLimit is the latest a tool call started at now may run until. While
// the turn is in time that is the soft deadline; once it has passed, a
// fallback model is answering in the reserve, and its tool calls get the
// reserve less the margin, so that a degraded answer still carries live
// data instead of calls cut at once.
func (d turnDeadlines) toolLimit(now time.Time) time.Time {
	if now.Before(d.soft) {
		return d.soft
	}
	return d.hard.Add(-d.margin)
}

func (tr *turnRun) run(ctx context.Context, question string, history []store.Event, paused *suspendData) (ChatResult, error) {
	b := tr.spec.Budgets
	dl := newDeadlines(tr.start, b.Timeout)
	turnCtx, cancel := context.WithDeadline(ctx, dl.hard)
	defer cancel()

	tr.see(access.Public)
	hits := tr.retrieve(turnCtx, question, offline.FollowUpText(question, earlierQuestions(history)))
	for _, h := range hits {
		tr.see(h.Clearance)
		tr.evidence = append(tr.evidence, actions.Evidence{Kind: "document", Ref: h.ID, Title: h.Title, Source: h.Source, Clearance: h.Clearance, Text: h.Text})
	}
	msgs := tr.prompt(question, history, hits)
	promptLen := len(msgs)
	offered, specs := tr.offeredTools()
	var clientTools []llm.ToolSpec
	tr.client, clientTools = clientSpecs(tr.t.ClientTools)
	specs = append(specs, clientTools...)

	chain := tr.r.Models.Chain(tr.spec.Model)
	if len(chain) == 0 {
		return ChatResult{}, errors.New("agents: no model configured")
	}
	mi, step, toolCalls := 0, 0, 0
	var toolCites []Citation
	if paused != nil {
		step, toolCalls, toolCites = paused.Step+1, paused.ToolCalls, slices.Clone(paused.Citations)
		msgs = append(msgs, tr.resume(paused, tr.t.ToolResults)...)
	}
	answered := false
	for ; step < b.MaxSteps && !answered; step++ {
		req := llm.Request{Messages: msgs}
		lastStep := step >= b.MaxSteps-1
		switch {
		case lastStep:
			// The last step gets no tools, so the model has to answer.
		case toolCalls >= b.MaxToolCalls:
		case b.MaxTokens > 0 && tr.res.Usage.TotalTokens >= b.MaxTokens:
			tr.warn("token budget of %d reached; answering with what was gathered", b.MaxTokens)
		default:
			req.Tools = specs
		}
		resp, model, err := tr.generate(turnCtx, ctx, chain, &mi, req, dl.soft)
		if err != nil {
			return ChatResult{}, err
		}
		tr.res.Usage = tr.res.Usage.Add(resp.Usage)
		tr.res.Model = resp.Model
		if tr.res.Model == "" {
			tr.res.Model = model.Name()
		}
		if len(resp.ToolCalls) == 0 || req.Tools == nil {
			if len(resp.ToolCalls) > 0 {
				tr.warn("model asked for tools after the step or tool budget was spent; ignored")
			}
			tr.res.Answer = resp.Content
			answered = true
			break
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls})
		tr.stepText = resp.Content
		results, handed := tr.callTools(turnCtx, offered, resp.ToolCalls, &toolCalls, dl, question)
		for _, tm := range results {
			if tm.msg.Role == "" {
				continue // a client tool's call: the client answers it
			}
			msgs = append(msgs, tm.msg)
			if tm.cite != nil {
				toolCites = append(toolCites, *tm.cite)
			}
		}
		if len(handed) > 0 {
			tr.suspend(question, step, toolCalls, slices.Clone(msgs[promptLen:]), handed, toolCites)
			tr.res.Answer = resp.Content
			break
		}
	}
	if tr.paused == nil && tr.res.Answer == "" && ctx.Err() == nil {
		if err := tr.offlineAnswer(turnCtx, msgs); err != nil {
			return ChatResult{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return ChatResult{}, err
	}
	tr.conclude(hits, toolCites)
	return tr.res, nil
}

// offlineAnswer has the offline engine write from what was gathered when
// nothing usable came back from the models.
func (tr *turnRun) offlineAnswer(ctx context.Context, msgs []llm.Message) error {
	tr.res.Degraded = true
	if off := tr.r.Models.Offline; off != nil {
		resp, err := tr.callModel(ctx, off, llm.Request{Messages: msgs})
		if err == nil {
			tr.res.Answer, tr.res.Model = resp.Content, resp.Model
		}
	}
	if tr.res.Answer == "" {
		return fmt.Errorf("%w: the offline engine produced no answer either", ErrNoAnswer)
	}
	return nil
}

// conclude cleans the answer and sends its citations: the retrieved
// passages, then the tool results.
func (tr *turnRun) conclude(hits []knowledge.Hit, toolCites []Citation) {
	tr.flushStream()
	clean, n := sanitizeAnswer(tr.res.Answer)
	tr.res.Answer = clean
	if n > 0 {
		tr.warn("removed %d remote image link(s) from the answer: images load by themselves and can carry data away", n)
	}
	for _, h := range hits {
		c := Citation{Kind: "document", Ref: h.ID, Title: h.Title, Snippet: snippet(h.Text, 200), Source: h.Source}
		tr.res.Citations = append(tr.res.Citations, c)
	}
	tr.res.Citations = append(tr.res.Citations, toolCites...)
	for _, c := range tr.res.Citations {
		tr.pending = append(tr.pending, Event{EventCitation, c})
		tr.emit(Event{EventCitation, c})
	}
	tr.res.DurationMS = tr.r.now().Sub(tr.start).Milliseconds()
}

// generate calls the models of chain from *mi on, moving to the next one on
// any failure; every move makes the turn degraded. clientCtx tells a client
// that went away from a model that failed.
func (tr *turnRun) generate(turnCtx, clientCtx context.Context, chain []llm.Model, mi *int, req llm.Request, soft time.Time) (llm.Response, llm.Model, error) {
	for ; *mi < len(chain); *mi++ {
		m := chain[*mi]
		last := *mi == len(chain)-1
		callCtx, cancel := turnCtx, context.CancelFunc(func() {})
		if !last {
			callCtx, cancel = context.WithDeadline(turnCtx, soft)
		}
		tr.streamed = false
		resp, err := tr.callModel(callCtx, m, req)
		cancel()
		if err == nil {
			err = checkResponse(resp)
		}
		if err == nil {
			return resp, m, nil
		}
		if clientCtx.Err() != nil {
			return llm.Response{}, m, clientCtx.Err()
		}
		tr.resetStream(m.Name())
		tr.r.log().Warn("model failed", "model", m.Name(), "agent", tr.spec.Name, "trace_id", tr.t.TraceID, "err", err)
		tr.res.Degraded = true
		if !last {
			tr.warn("model %s failed (%s); falling back to %s", m.Name(), shortErr(err), chain[*mi+1].Name())
			tr.res.Fallbacks = append(tr.res.Fallbacks, Fallback{From: m.Name(), To: chain[*mi+1].Name()})
			continue
		}
		tr.warn("model %s failed (%s)", m.Name(), shortErr(err))
		return llm.Response{}, m, fmt.Errorf("%w: every model failed: %w", ErrNoAnswer, err)
	}
	return llm.Response{}, nil, fmt.Errorf("%w: no model left to try", ErrNoAnswer)
}

func checkResponse(resp llm.Response) error {
	if strings.TrimSpace(resp.Content) == "" && len(resp.ToolCalls) == 0 {
		return fmt.Errorf("%w: empty answer", llm.ErrMalformedResponse)
	}
	return llm.CheckToolCalls(resp.ToolCalls)
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, llm.ErrMalformedResponse):
		return "malformed response"
	case errors.Is(err, llm.ErrUnavailable):
		return "unavailable"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func (tr *turnRun) streamFunc() llm.StreamFunc {
	if tr.emitFn == nil {
		return nil
	}
	return func(ctx context.Context, text string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A "!" at the end of a delta waits for the next one, so that no
		// image syntax ("![") forms across two deltas.
		if tr.heldBang {
			text, tr.heldBang = "!"+text, false
		}
		if strings.HasSuffix(text, "!") {
			text, tr.heldBang = text[:len(text)-1], true
		}
		if text != "" {
			tr.streamed = true
			tr.emit(Event{EventDelta, DeltaData{defangImages(text)}})
		}
		return nil
	}
}

// resetStream tells the client to discard the text a failed model call
// streamed (EventReset); the fallback's answer replaces it.
func (tr *turnRun) resetStream(model string) {
	if !tr.streamed {
		return
	}
	tr.streamed, tr.heldBang = false, false
	d := ResetData{Reason: fmt.Sprintf("model %s failed part-way through its answer; discard the text streamed so far in this turn", model)}
	tr.pending = append(tr.pending, Event{EventReset, d})
	tr.emit(Event{EventReset, d})
}

// flushStream sends a "!" the last delta held back.
func (tr *turnRun) flushStream() {
	if tr.heldBang {
		tr.heldBang = false
		tr.emit(Event{EventDelta, DeltaData{"!"}})
	}
}
