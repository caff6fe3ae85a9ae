package hotline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/internal/sweep"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// Store is the part of the state store the hotline uses; *store.DB
// implements it.
type Store interface {
	audit.Auditor
	CreateTicket(ctx context.Context, t store.Ticket, idem *store.IdempotencyRef, audits ...audit.Entry) error
	GetTicket(ctx context.Context, id string) (store.Ticket, error)
	TicketByToken(ctx context.Context, token string) (store.Ticket, error)
	UpdateTicket(ctx context.Context, u store.TicketUpdate, idem *store.IdempotencyResponse, audits ...audit.Entry) (store.Ticket, error)
	ListTickets(ctx context.Context, f store.TicketFilter) ([]store.Ticket, error)
	TicketStats(ctx context.Context, f store.TicketFilter, at time.Time) (store.TicketStats, error)
	ClaimIdempotency(ctx context.Context, rec store.Idempotency, staleBefore time.Time) (store.Idempotency, bool, error)
	GetIdempotency(ctx context.Context, scope, key string) (store.Idempotency, error)
	CompleteIdempotency(ctx context.Context, r store.IdempotencyResponse) error
	ReleaseIdempotency(ctx context.Context, scope, key string, lockedAt time.Time) error
	PurgeIdempotency(ctx context.Context, at time.Time) (int, error)
}

var _ Store = (*store.DB)(nil)

// Defaults of Config.
const (
	DefaultDeadline       = 10 * time.Second
	DefaultIdempotencyTTL = 24 * time.Hour
	// MinIdempotencyTTL: keys are kept at least a day, as payment APIs do.
	MinIdempotencyTTL = 24 * time.Hour
	// storeTimeout bounds each state-store write of a call: the writes are
	// not cut by the deadline (an answer is stored before it is given).
	storeTimeout = 10 * time.Second
	// redispatchAfter: a sweep re-proposes the dispatch of tickets left
	// triaged this long (proposing failed when they were created).
	redispatchAfter = time.Minute
)

// Audit kinds the hotline appends.
const (
	KindTicketCreate = "hotline.ticket_create"
	KindTicketClose  = "hotline.ticket_close"
)

// Config builds a Service.
type Config struct {
	Taxonomy *Taxonomy
	Store    Store
	// Triager triages; nil: rules only (every ticket degraded).
	Triager *Triager
	// Dispatcher proposes dispatches; nil: tickets stay triaged.
	Dispatcher Dispatcher
	// Deadline bounds each create call; the model gets it less a reserve
	// for the rules, retrieval and the writes. Default 10s.
	Deadline time.Duration
	// IdempotencyTTL is how long keys are kept; at least 24h.
	IdempotencyTTL time.Duration
	// AutoApprove lets the dispatch of categories the taxonomy marks
	// low_risk be approved without a person.
	AutoApprove bool
	// Location is the city's time zone, for deadlines in replies.
	Location *time.Location
	Now      func() time.Time
	Log      *slog.Logger
	// Keyring seals callers' personal data (personal.go); nil: a random
	// key held in memory, so what is sealed cannot be revealed after a restart.
	Keyring *pii.Keyring
}

// Service is the hotline: triage, tickets, idempotency, dispatch and KPIs.
// It is safe for concurrent use; build one at start-up.
type Service struct {
	tax        *Taxonomy
	store      Store
	triager    *Triager
	dispatcher Dispatcher
	deadline   time.Duration
	ttl        time.Duration
	auto       bool
	loc        *time.Location
	now        func() time.Time
	log        *slog.Logger
	keys       *pii.Keyring

	mu      sync.Mutex
	flights map[string]chan struct{} // in-process flights by scope and key, closed when done
}

// NewService checks cfg and builds the service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Taxonomy == nil || cfg.Store == nil {
		return nil, errors.New("hotline: service needs a taxonomy and a store")
	}
	s := &Service{tax: cfg.Taxonomy, store: cfg.Store, triager: cfg.Triager, dispatcher: cfg.Dispatcher, deadline: cfg.Deadline,
		ttl: cfg.IdempotencyTTL, auto: cfg.AutoApprove, loc: cfg.Location, now: cfg.Now, log: cfg.Log, flights: map[string]chan struct{}{}}
	if s.keys = cfg.Keyring; s.keys == nil {
		s.keys = ephemeralKeyring()
	}
	if s.deadline <= 0 {
		s.deadline = DefaultDeadline
	}
	if s.ttl == 0 {
		s.ttl = DefaultIdempotencyTTL
	}
	if s.ttl < MinIdempotencyTTL {
		return nil, fmt.Errorf("hotline: idempotency keys must be kept at least %s, not %s", MinIdempotencyTTL, s.ttl)
	}
	if s.loc == nil {
		s.loc = time.FixedZone("CST", 8*3600)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.triager == nil {
		s.triager = &Triager{Tax: s.tax, Rules: NewClassifier(s.tax), Log: s.log}
	}
	if s.triager.Rules == nil {
		s.triager.Rules = NewClassifier(s.tax)
	}
	if s.triager.Budget <= 0 || s.triager.Budget > s.ModelBudget() {
		s.triager.Budget = s.ModelBudget()
	}
	return s, nil
}

// Taxonomy returns the rules the service triages by.
func (s *Service) Taxonomy() *Taxonomy { return s.tax }

// Location is the city's time zone, in which replies and Open311 show times.
func (s *Service) Location() *time.Location { return s.loc }

// Deadline is how long a create call may take.
func (s *Service) Deadline() time.Duration { return s.deadline }

// ModelBudget is the part of the deadline the model gets.
func (s *Service) ModelBudget() time.Duration { return ModelBudget(s.deadline) }

// ModelBudget is the part of a deadline the model gets: the rest (a fifth,
// at most 2s) is kept for the rules, retrieval and storing the ticket.
func ModelBudget(deadline time.Duration) time.Duration {
	reserve := min(max(deadline/5, 50*time.Millisecond), 2*time.Second)
	return deadline - reserve
}

// CreateOptions are the parts of a create call that are not the body.
type CreateOptions struct {
	Principal      access.Principal
	IdempotencyKey string // empty: no idempotency
	// Scope separates the idempotency keys of different APIs; the
	// principal's key id is added to it.
	Scope string
	// Category fixes the category (an Open311 service code).
	Category string
	// Attributes are Open311 attribute values, already checked.
	Attributes map[string]string
}

// Created is the outcome of a create call.
type Created struct {
	Ticket Ticket
	// Raw is the ticket as first answered, byte for byte: what a replay of
	// the same idempotency key returns.
	Raw      json.RawMessage
	Replayed bool // the ticket of an earlier request with the same key
}

// Create triages a request and stores it as a ticket, within the
// deadline. With an idempotency key, a repeat of the same request returns
// the first response (Replayed), the same key with a different request is
// ErrIdempotencyMismatch, and of concurrent requests with one key exactly
// one creates the ticket while the others wait for it.
func (s *Service) Create(ctx context.Context, req CreateRequest, opt CreateOptions) (Created, error) {
	start := s.now()
	req, err := req.normalize(start)
	if err != nil {
		return Created{}, err
	}
	if opt.Category != "" {
		if _, ok := s.tax.Category(opt.Category); !ok {
			return Created{}, &InputError{"category", fmt.Sprintf("unknown category %q", opt.Category)}
		}
	}
	// The deadline runs on the wall clock; s.now only stamps records.
	ctx, cancel := context.WithTimeout(ctx, s.deadline)
	defer cancel()
	if opt.IdempotencyKey == "" {
		t, raw, err := s.create(ctx, start, req, opt, nil)
		return Created{Ticket: t, Raw: raw}, err
	}
	if err := CheckIdempotencyKey(opt.IdempotencyKey); err != nil {
		return Created{}, err
	}
	scope := opt.Scope + ":" + opt.Principal.KeyID
	hash := requestHash(req, opt)
	for {
		// Claiming is a write like the ticket's: bounded by the store's
		// timeout, not the deadline (which the triage needs).
		cctx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		rec, claimed, err := s.store.ClaimIdempotency(cctx, store.Idempotency{Scope: scope, Key: opt.IdempotencyKey, RequestHash: hash,
			CreatedAt: start, ExpiresAt: start.Add(s.ttl)}, start.Add(-2*s.deadline-storeTimeout))
		cancelClaim()
		if err != nil {
			return Created{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if rec.RequestHash != hash {
			return Created{}, ErrIdempotencyMismatch
		}
		if claimed {
			return s.createClaimed(ctx, start, req, opt, rec)
		}
		if !rec.InFlight() {
			return s.replay(rec)
		}
		// Another request with this key is running: wait for it, then replay.
		if err := s.waitFlight(ctx, scope, opt.IdempotencyKey); err != nil {
			return Created{}, err
		}
	}
}

// createClaimed runs the request that owns the idempotency key.
func (s *Service) createClaimed(ctx context.Context, start time.Time, req CreateRequest, opt CreateOptions, rec store.Idempotency) (Created, error) {
	flight := rec.Scope + "\x00" + rec.Key
	s.mu.Lock()
	done := make(chan struct{})
	s.flights[flight] = done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.flights, flight)
		s.mu.Unlock()
		close(done)
	}()
	idem := &rec
	if rec.TicketID != "" {
		// A flight that died after storing its ticket: finish that one.
		t, raw, err := s.resume(ctx, rec)
		return Created{Ticket: t, Raw: raw}, err
	}
	t, raw, err := s.create(ctx, start, req, opt, idem)
	if err != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if rerr := s.store.ReleaseIdempotency(wctx, rec.Scope, rec.Key, rec.LockedAt); rerr != nil {
			s.log.Warn("hotline: releasing an idempotency key failed", "err", rerr)
		}
	}
	return Created{Ticket: t, Raw: raw}, err
}

// waitFlight waits until the key's running request ends (in this process:
// its signal; in another: polling), or ctx ends.
func (s *Service) waitFlight(ctx context.Context, scope, key string) error {
	s.mu.Lock()
	done := s.flights[scope+"\x00"+key]
	s.mu.Unlock()
	poll := time.NewTimer(50 * time.Millisecond)
	defer poll.Stop()
	select {
	case <-done: // nil when the flight runs elsewhere: only the poll fires
	case <-poll.C:
	case <-ctx.Done():
		return ErrIdempotencyInFlight
	}
	return nil
}

func (s *Service) replay(rec store.Idempotency) (Created, error) {
	var t Ticket
	if err := json.Unmarshal(rec.Response, &t); err != nil {
		return Created{}, fmt.Errorf("hotline: stored response of key %s: %w", rec.Key, err)
	}
	return Created{Ticket: t, Raw: rec.Response, Replayed: true}, nil
}

// requestHash identifies a request for its idempotency key: the normalised
// body and what the key is used for.
func requestHash(req CreateRequest, opt CreateOptions) string {
	attrs := make([]string, 0, len(opt.Attributes))
	for k, v := range opt.Attributes {
		attrs = append(attrs, k+"="+v)
	}
	sort.Strings(attrs)
	b, _ := json.Marshal(struct {
		Req        CreateRequest
		Category   string
		Attributes []string
	}{req, opt.Category, attrs})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// create triages and stores one ticket, proposes its dispatch and, with
// idem, stores the response under the key.
func (s *Service) create(ctx context.Context, start time.Time, req CreateRequest, opt CreateOptions, idem *store.Idempotency) (Ticket, json.RawMessage, error) {
	// From here on the request holds masked personal data only; the
	// originals are sealed into the ticket's write.
	req, orig := protect(req)
	treq := TriageRequest{Text: req.Text, Channel: req.Channel, Principal: opt.Principal, Category: opt.Category}
	if req.Location != nil {
		treq.Address = req.Location.Address
	}
	tri := s.triager.Triage(ctx, treq)
	received := start
	if req.ReceivedAt != nil {
		received = *req.ReceivedAt
	}
	t := s.view(req, opt, tri, received, start)
	// The writes get their own bound: the triage used the deadline's budget.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	data, err := json.Marshal(t)
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("hotline: encode ticket: %w", err)
	}
	caller, _ := json.Marshal(req.Caller)
	if req.Caller == nil {
		caller = []byte("{}")
	}
	st := store.Ticket{ID: t.ID, Token: t.Token, OwnerKeyID: opt.Principal.KeyID, Channel: t.Channel, Text: t.Text, Caller: caller,
		Type: t.Type, Category: t.Category, Department: t.Department, Urgency: t.Urgency, Status: t.Status, Degraded: t.Degraded,
		SessionID: t.Triage.SessionID, TraceID: t.Triage.TraceID, Data: data, ReceivedAt: t.ReceivedAt, CreatedAt: t.CreatedAt,
		Deadline: t.Deadline, UpdatedAt: t.CreatedAt}
	if req.Location != nil {
		st.Address, st.Lat, st.Lon = req.Location.Address, req.Location.Lat, req.Location.Lon
	}
	var ref *store.IdempotencyRef
	if idem != nil {
		ref = &store.IdempotencyRef{Scope: idem.Scope, Key: idem.Key}
	}
	entry := audit.Entry{Actor: opt.Principal.KeyID, Kind: KindTicketCreate, Subject: t.ID, At: t.CreatedAt, Payload: map[string]any{
		"type": t.Type, "category": t.Category, "department": t.Department, "urgency": t.Urgency, "deadline": t.Deadline,
		"degraded": t.Degraded, "channel": t.Channel, "sources": t.Triage.Sources, "session_id": t.Triage.SessionID,
		"text_sha256": sha(t.Text), "idempotency_key_sha256": idemHash(idem)}}
	if st.Personal, err = s.seal(t.ID, orig, t.CreatedAt); err != nil {
		return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := s.store.CreateTicket(wctx, st, ref, entry); err != nil {
		return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	t = s.markDuplicate(wctx, t)
	return s.dispatch(wctx, t, opt.Principal, idem)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func idemHash(idem *store.Idempotency) string {
	if idem == nil {
		return ""
	}
	return sha(idem.Key)
}

// dispatch proposes the stored ticket's dispatch and records the outcome
// (and, with idem, the key's response) in one write.
func (s *Service) dispatch(ctx context.Context, t Ticket, p access.Principal, idem *store.Idempotency) (Ticket, json.RawMessage, error) {
	if s.dispatcher != nil {
		cat, _ := s.tax.Category(t.Category)
		d := Dispatch{TicketID: t.ID, Department: t.Department, Urgency: t.Urgency, Category: t.Category, Text: t.Text,
			AutoApprove: s.auto && cat.LowRisk, Principal: p, Citations: t.Citations, Agent: t.Triage.Agent,
			Version: t.Triage.AgentVersion, Model: t.Triage.Model, SessionID: t.Triage.SessionID, TraceID: t.Triage.TraceID,
			Rationale: fmt.Sprintf("Hotline ticket %s triaged as %s / %s %s (%s), %s, due %s; triage sources %v.",
				t.ID, t.Type, t.Category, cat.Name, t.Department, t.Urgency, t.Deadline.Format(time.RFC3339), t.Triage.Sources)}
		if parts := t.Triage.Rules.Instructions; len(parts) > 0 {
			// Flag it for the person deciding, and never approve it unseen.
			d.Rationale += " Flag: " + InstructionWarning(parts) + "."
			d.AutoApprove = false
		}
		if t.Location != nil {
			d.Location = t.Location.Address
		}
		out, err := s.dispatcher.ProposeDispatch(ctx, d)
		switch {
		case out.ProposalID != "":
			t.Dispatch = &DispatchInfo{DispatchOutcome: out}
			t.Status = statusOfProposal(out.Status)
			if err != nil {
				t.Dispatch.Error = clip(err.Error(), 300)
			}
		case err != nil:
			s.log.Warn("hotline: proposing a dispatch failed; the sweep retries", "ticket", t.ID, "err", err)
			t.Dispatch = &DispatchInfo{Error: clip(err.Error(), 300)}
			t.Warnings = append(t.Warnings, "dispatch not proposed yet: "+clip(err.Error(), 200))
		}
	}
	t.UpdatedAt = s.now().UTC()
	data, err := json.Marshal(t)
	if err != nil {
		return Ticket{}, nil, err
	}
	u := store.TicketUpdate{ID: t.ID, Status: t.Status, Data: data, At: t.UpdatedAt}
	if t.Dispatch != nil {
		u.ProposalID = t.Dispatch.ProposalID
	}
	var resp *store.IdempotencyResponse
	if idem != nil {
		resp = &store.IdempotencyResponse{Scope: idem.Scope, Key: idem.Key, Status: 201, Response: data}
	}
	if err := s.storeDispatch(ctx, u, resp); err != nil { // hotline/lifecycle.go
		return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return t, data, nil
}

// resume finishes the ticket of a flight that stored it and then died.
func (s *Service) resume(ctx context.Context, rec store.Idempotency) (Ticket, json.RawMessage, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	st, err := s.store.GetTicket(wctx, rec.TicketID)
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	t, err := s.fromStore(st)
	if err != nil {
		return Ticket{}, nil, err
	}
	if st.ProposalID != "" || t.Dispatch != nil {
		data, _ := json.Marshal(t)
		if err := s.store.CompleteIdempotency(wctx, store.IdempotencyResponse{Scope: rec.Scope, Key: rec.Key, Status: 201, Response: data}); err != nil {
			return Ticket{}, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return t, data, nil
	}
	return s.dispatch(wctx, t, access.Principal{KeyID: st.OwnerKeyID, Role: access.RoleHotline, Clearance: access.Public}, &rec)
}

// view builds a new ticket's view from its triage.
func (s *Service) view(req CreateRequest, opt CreateOptions, tri Triage, received, now time.Time) Ticket {
	ty, _ := s.tax.Type(tri.Type)
	cat, _ := s.tax.Category(tri.Category)
	dept, _ := s.tax.Department(tri.Department)
	rule := s.tax.Deadline(tri.Type, cat, tri.Urgency)
	t := Ticket{ID: newID("tkt_", 8), Token: newID("tok_", 12), Status: StatusTriaged,
		Type: ty.ID, TypeName: Text{Zh: ty.NameZh, En: ty.Name},
		Category: cat.Code, CategoryName: Text{Zh: cat.NameZh, En: cat.Name}, CategoryPath: Text{Zh: cat.Path, En: cat.PathEn},
		Department: dept.ID, DepartmentName: Text{Zh: dept.NameZh, En: dept.Name}, Urgency: tri.Urgency,
		Deadline: received.Add(rule.Within).UTC(), DeadlineRule: rule.Name, Lang: tri.Lang, Citations: tri.Citations,
		Degraded: tri.Degraded, Warnings: append([]string{}, tri.Warnings...), Channel: req.Channel, Text: req.Text,
		Location: req.Location, Caller: req.Caller.mask(), Attributes: opt.Attributes,
		ReceivedAt: received.UTC(), CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
		Triage: TriageInfo{Sources: tri.Sources, ModelChoice: tri.ModelChoice, Model: tri.Model, Agent: tri.Agent, AgentVersion: tri.AgentVersion,
			SessionID: tri.SessionID, TraceID: tri.TraceID, Rules: tri.Rules, Taxonomy: s.tax.Version,
			DurationMS: s.now().Sub(now).Milliseconds()}}
	t.DraftReply = s.reply(t, cat, tri.Reply)
	return t
}

// reply writes the draft reply: the model's, if it passed the checks, with
// the ticket's facts added; else the type's template. Emergencies get the
// category's safety advice.
func (s *Service) reply(t Ticket, cat *Category, modelReply string) string {
	lang := t.Lang
	ty, _ := s.tax.Type(t.Type)
	deadline := formatTime(t.Deadline.In(s.loc), lang)
	r := strings.NewReplacer("{ticket_id}", t.ID, "{category}", t.CategoryName.In(lang), "{department}", t.DepartmentName.In(lang),
		"{deadline}", deadline, "{within}", humanWithin(t.Deadline.Sub(t.ReceivedAt), lang))
	var out string
	if modelReply != "" {
		facts := fmt.Sprintf("（工单号%s，承办单位%s，办理时限%s。）", t.ID, t.DepartmentName.Zh, deadline)
		if lang == LangEn {
			facts = fmt.Sprintf(" (Ticket %s, handled by the %s, due %s.)", t.ID, t.DepartmentName.En, deadline)
		}
		out = modelReply + facts
	} else {
		out = r.Replace(ty.Reply.In(lang))
	}
	if t.Urgency == UrgencyEmergency {
		if a := cat.Advice.In(lang); a != "" {
			sep := " "
			if lang == LangZh {
				sep = ""
			}
			out += sep + a
		}
	}
	return out
}

func formatTime(t time.Time, lang string) string {
	if lang == LangZh {
		return fmt.Sprintf("%d年%d月%d日%02d:%02d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute())
	}
	return t.Format("15:04 on 2 Jan 2006")
}

// fromStore rebuilds a ticket's view from its stored row: the view as
// created, with the row's current state.
func (s *Service) fromStore(st store.Ticket) (Ticket, error) {
	var t Ticket
	if err := json.Unmarshal(st.Data, &t); err != nil {
		return Ticket{}, fmt.Errorf("hotline: stored ticket %s: %w", st.ID, err)
	}
	t.Status, t.UpdatedAt, t.ClosedAt, t.Resolution = st.Status, st.UpdatedAt, st.ClosedAt, st.Resolution
	s.applyLifecycle(&t, st) // hotline/lifecycle.go
	if st.ProposalID != "" {
		if t.Dispatch == nil {
			t.Dispatch = &DispatchInfo{}
		}
		t.Dispatch.ProposalID = st.ProposalID
	}
	if t.Citations == nil {
		t.Citations = []agents.Citation{}
	}
	if t.Warnings == nil {
		t.Warnings = []string{}
	}
	return t, nil
}

// Get returns a ticket, its status brought up to date with its dispatch.
func (s *Service) Get(ctx context.Context, id string) (Ticket, error) {
	st, err := s.store.GetTicket(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Ticket{}, usererr.Errorf("%w: ticket %s", ErrNotFound, id)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	t, err := s.follow(ctx, st)
	if err != nil {
		return Ticket{}, err
	}
	return s.withDuplicates(ctx, t), nil
}

// GetByToken returns the ticket an Open311 token names.
func (s *Service) GetByToken(ctx context.Context, token string) (Ticket, error) {
	st, err := s.store.TicketByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return Ticket{}, usererr.Errorf("%w: token", ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return s.follow(ctx, st)
}

// follow updates a ticket waiting for its dispatch decision from the
// proposal's status.
func (s *Service) follow(ctx context.Context, st store.Ticket) (Ticket, error) {
	st = s.sync(ctx, st)
	return s.fromStore(st)
}

func (s *Service) sync(ctx context.Context, st store.Ticket) store.Ticket {
	ds, ok := s.dispatcher.(DispatchStatuser)
	if !ok || st.ProposalID == "" || st.Status != StatusPendingApproval {
		return st
	}
	ps, err := ds.DispatchStatus(ctx, st.ProposalID)
	if err != nil {
		s.log.Warn("hotline: reading a dispatch proposal failed", "ticket", st.ID, "proposal", st.ProposalID, "err", err)
		return st
	}
	next := statusOfProposal(ps)
	if next == st.Status {
		return st
	}
	up, err := s.followProposal(ctx, st, next) // a recorded transition (hotline/lifecycle.go)
	if err != nil {
		if !errors.Is(err, store.ErrTicketChanged) {
			s.log.Warn("hotline: updating a ticket's dispatch status failed", "ticket", st.ID, "err", err)
		}
		if fresh, gerr := s.store.GetTicket(ctx, st.ID); gerr == nil {
			return fresh
		}
		return st
	}
	return up
}

// ListFilter selects tickets for List and Stats.
type ListFilter struct {
	Status, Type, Category, Department, Urgency, Channel string
	Degraded                                             *bool
	Overdue                                              bool
	From, To                                             time.Time
	IDs                                                  []string
	Statuses                                             []string
	Categories                                           []string // any of these codes
	Limit                                                int
	Offset                                               int
	Before                                               string
	Oldest                                               bool
}

// ErrBadCursor is wrapped when a list cursor names no ticket.
var ErrBadCursor = usererr.Errorf("%w: unknown cursor", ErrInvalid)

func (s *Service) storeFilter(f ListFilter) store.TicketFilter {
	sf := store.TicketFilter{Status: f.Status, Type: f.Type, Category: f.Category, Department: f.Department, Urgency: f.Urgency,
		Channel: f.Channel, Degraded: f.Degraded, From: f.From, To: f.To, IDs: f.IDs, Statuses: f.Statuses, Categories: f.Categories,
		Limit: f.Limit, Offset: f.Offset, Before: f.Before, Oldest: f.Oldest}
	if f.Overdue {
		sf.OverdueAt = s.now()
	}
	return sf
}

// List pages through tickets, newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Ticket, error) {
	rows, err := s.store.ListTickets(ctx, s.storeFilter(f))
	if errors.Is(err, store.ErrNotFound) {
		return nil, &InputError{"before", "names no ticket"}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := make([]Ticket, 0, len(rows))
	for _, st := range rows {
		t, err := s.follow(ctx, st)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Close closes a ticket with the resolution through the lifecycle's
// transition table (ActionClose): a ticket the hotline centre answered
// itself, or one replied to that closes without a return visit. Any other
// status is a *TransitionError naming the statuses allowed next (409), a
// finished ticket too; the transition is recorded and audited.
func (s *Service) Close(ctx context.Context, id, resolution string, by access.Principal) (Ticket, error) {
	resolution = strings.TrimSpace(resolution)
	if msg := textProblem(resolution); msg != "" {
		return Ticket{}, &InputError{"resolution", msg}
	}
	if resolution == "" || len([]rune(resolution)) > MaxNoteRunes {
		return Ticket{}, &InputError{"resolution", fmt.Sprintf("must be 1 to %d characters", MaxNoteRunes)}
	}
	t, _, err := s.Act(ctx, id, by, ActRequest{Action: ActionClose, Note: resolution})
	return t, err
}

// Stats are the hotline's KPIs over the tickets a filter selects.
type Stats struct {
	From             *time.Time     `json:"from,omitempty"`
	To               *time.Time     `json:"to,omitempty"`
	At               time.Time      `json:"at"`
	Total            int            `json:"total"`
	ByType           map[string]int `json:"by_type"`
	ByCategory       map[string]int `json:"by_category"`
	ByDepartment     map[string]int `json:"by_department"`
	ByStatus         map[string]int `json:"by_status"`
	Closed           int            `json:"closed"`
	ClosedOnTime     int            `json:"closed_on_time"`
	OnTimeRate       *float64       `json:"on_time_rate"` // closed on time / closed; null when none closed
	Open             int            `json:"open"`
	OpenPastDeadline int            `json:"open_past_deadline"`
	Degraded         int            `json:"degraded"`
	DegradedShare    *float64       `json:"degraded_share"` // null when no tickets
	Dispatched       int            `json:"dispatch_proposed"`
}

// Stats computes the KPIs.
func (s *Service) Stats(ctx context.Context, f ListFilter) (Stats, error) {
	at := s.now().UTC()
	st, err := s.store.TicketStats(ctx, s.storeFilter(f), at)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := Stats{At: at, Total: st.Total, ByType: st.ByType, ByCategory: st.ByCategory, ByDepartment: st.ByDepartment, ByStatus: st.ByStatus,
		Closed: st.Closed, ClosedOnTime: st.ClosedOnTime, Open: st.Total - st.Closed, OpenPastDeadline: st.OpenPastDue,
		Degraded: st.Degraded, Dispatched: st.DispatchedOnce}
	if !f.From.IsZero() {
		out.From = &f.From
	}
	if !f.To.IsZero() {
		out.To = &f.To
	}
	if st.Closed > 0 {
		r := float64(st.ClosedOnTime) / float64(st.Closed)
		out.OnTimeRate = &r
	}
	if st.Total > 0 {
		r := float64(st.Degraded) / float64(st.Total)
		out.DegradedShare = &r
	}
	return out, nil
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Purged     int `json:"purged"`
	Redispatch int `json:"redispatched"`
	Synced     int `json:"synced"`
}

// Sweep purges expired idempotency keys, proposes the dispatch of tickets
// whose proposing failed, and brings tickets waiting for a dispatch
// decision up to date. Run it periodically.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	n, err := s.store.PurgeIdempotency(ctx, s.now())
	r.Purged = n
	if err != nil {
		return r, err
	}
	if s.dispatcher == nil {
		return r, nil
	}
	triaged, err := s.store.ListTickets(ctx, store.TicketFilter{Status: StatusTriaged, Limit: 100, Oldest: true})
	if err != nil {
		return r, err
	}
	for _, st := range triaged {
		if st.ProposalID != "" || s.now().Sub(st.UpdatedAt) < redispatchAfter {
			continue
		}
		t, err := s.fromStore(st)
		if err != nil {
			continue
		}
		t.Warnings = slices.DeleteFunc(t.Warnings, func(w string) bool { return strings.HasPrefix(w, "dispatch not proposed yet") })
		if _, _, err := s.dispatch(ctx, t, access.Principal{KeyID: st.OwnerKeyID, Role: access.RoleHotline, Clearance: access.Public}, nil); err == nil {
			r.Redispatch++
		}
	}
	pending, err := s.store.ListTickets(ctx, store.TicketFilter{Status: StatusPendingApproval, Limit: 200, Oldest: true})
	if err != nil {
		return r, err
	}
	for _, st := range pending {
		if s.sync(ctx, st).Status != st.Status {
			r.Synced++
		}
	}
	return r, nil
}

// Run sweeps every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	sweep.Every(ctx, interval, s.sweepAndLog)
}

func (s *Service) sweepAndLog(ctx context.Context) {
	r, err := s.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("hotline sweep failed", "err", err)
	}
	if r != (SweepResult{}) {
		s.log.Info("hotline sweep", "purged_keys", r.Purged, "redispatched", r.Redispatch, "synced", r.Synced)
	}
}
