package hotline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
)

func ptr[T any](v T) *T { return &v }

var waterOutage = CreateRequest{Text: "我们小区从今天早上就停水了，到现在还没来水", Channel: "phone",
	Location: &Location{Address: "幸福里小区5栋", Lat: ptr(30.58), Lon: ptr(114.27)},
	Caller:   &Caller{Name: "张三", Phone: "13812345678", Email: "zhang@example.com"}}

func countTickets(t *testing.T, r *rig) int {
	t.Helper()
	list, err := r.db.ListTickets(context.Background(), store.TicketFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestCreateTicket(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	received := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	req := waterOutage
	req.ReceivedAt = &received
	out, err := r.svc.Create(ctx, req, CreateOptions{Principal: hotlineKey, IdempotencyKey: "k-1", Scope: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tk := out.Ticket
	if tk.Type != "help" || tk.Category != "030101" || tk.Department != "water" || tk.Urgency != "urgent" || tk.Degraded {
		t.Errorf("triage = %s %s %s %s degraded=%v", tk.Type, tk.Category, tk.Department, tk.Urgency, tk.Degraded)
	}
	if !tk.Deadline.Equal(received.Add(24*time.Hour)) || tk.DeadlineRule != "utilities" {
		t.Errorf("deadline %s (%s), want received + 24h", tk.Deadline, tk.DeadlineRule)
	}
	if !strings.Contains(tk.DraftReply, tk.ID) || !strings.Contains(tk.DraftReply, "市水务集团") || tk.Lang != "zh" {
		t.Errorf("draft reply %q", tk.DraftReply)
	}
	if len(tk.Citations) == 0 || tk.Triage.SessionID == "" || tk.Triage.Sources["category"] == "" || tk.Triage.ModelChoice == nil {
		t.Errorf("no citations or triage record: %+v", tk.Triage)
	}
	if tk.Caller.Phone != "138****5678" || tk.Caller.Name != "张*" || tk.Caller.Email != "z***@example.com" {
		t.Errorf("caller not masked: %+v", tk.Caller)
	}
	if tk.Status != StatusPendingApproval || tk.Dispatch == nil || tk.Dispatch.ProposalID == "" || tk.Dispatch.AutoApproved {
		t.Fatalf("dispatch = %s %+v", tk.Status, tk.Dispatch)
	}
	p, err := r.actions.Get(ctx, tk.Dispatch.ProposalID, access.Principal{KeyID: "sup", Role: access.RoleSupervisor, Clearance: access.Internal})
	if err != nil {
		t.Fatal(err)
	}
	var args map[string]string
	_ = json.Unmarshal(p.Arguments, &args)
	if p.Action != DispatchAction || args["department"] != "water" || args["urgency"] != "urgent" || p.ProposedBy != hotlineKey.KeyID {
		t.Errorf("proposal = %s %v by %s", p.Action, args, p.ProposedBy)
	}
	// The stored ticket keeps the caller masked; the original is in the
	// encrypted personal-data store (personal_test.go), for a sensitive+ key.
	st, err := r.db.GetTicket(ctx, tk.ID)
	if err != nil || bytes.Contains(st.Caller, []byte("13812345678")) || !bytes.Contains(st.Caller, []byte("138****5678")) {
		t.Errorf("stored caller = %s, %v", st.Caller, err)
	}
	got, err := r.svc.Get(ctx, tk.ID)
	if err != nil || got.ID != tk.ID || got.Status != StatusPendingApproval {
		t.Errorf("Get = %+v, %v", got.Status, err)
	}
	if byTok, err := r.svc.GetByToken(ctx, tk.Token); err != nil || byTok.ID != tk.ID {
		t.Errorf("GetByToken = %v, %v", byTok.ID, err)
	}
	recs, err := r.db.ListAudit(ctx, store.AuditFilter{Kind: KindTicketCreate})
	if err != nil || len(recs) != 1 || recs[0].Subject != tk.ID || recs[0].Actor != hotlineKey.KeyID {
		t.Errorf("ticket audit = %+v, %v", recs, err)
	}
	if _, err := r.svc.Get(ctx, "tkt_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown) = %v", err)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	opt := CreateOptions{Principal: hotlineKey, IdempotencyKey: "same-key-1", Scope: "v1"}
	const n = 50
	outs := make([]Created, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = r.svc.Create(ctx, waterOutage, opt)
		}()
	}
	wg.Wait()
	replayed := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !bytes.Equal(outs[i].Raw, outs[0].Raw) {
			t.Fatalf("request %d answered differently:\n%s\n%s", i, outs[i].Raw, outs[0].Raw)
		}
		if outs[i].Replayed {
			replayed++
		}
	}
	if replayed != n-1 || countTickets(t, r) != 1 {
		t.Fatalf("%d replays and %d tickets; want %d replays of one ticket", replayed, countTickets(t, r), n-1)
	}
	// The same key with another body is refused, and creates nothing.
	changed := waterOutage
	changed.Text += "，而且水压很低"
	if _, err := r.svc.Create(ctx, changed, opt); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("changed body: %v, want ErrIdempotencyMismatch", err)
	}
	// Whitespace around the text is not a different request.
	same := waterOutage
	same.Text = "  " + same.Text + "\n"
	if out, err := r.svc.Create(ctx, same, opt); err != nil || !out.Replayed {
		t.Errorf("normalised same body: replayed=%v, %v", out.Replayed, err)
	}
	// Keys are per API key and per API.
	other := opt
	other.Principal.KeyID = "key_other_gateway"
	if out, err := r.svc.Create(ctx, waterOutage, other); err != nil || out.Replayed {
		t.Errorf("another key's request: replayed=%v, %v", out.Replayed, err)
	}
	open311 := opt
	open311.Scope = "open311"
	if out, err := r.svc.Create(ctx, waterOutage, open311); err != nil || out.Replayed {
		t.Errorf("the Open311 API's request: replayed=%v, %v", out.Replayed, err)
	}
	// Without a key, every request is new.
	for range 2 {
		if _, err := r.svc.Create(ctx, waterOutage, CreateOptions{Principal: hotlineKey, Scope: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := countTickets(t, r); got != 5 {
		t.Errorf("%d tickets, want 5", got)
	}
}

// A key expires after its TTL: the same key then starts a new request.
func TestIdempotencyExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	r := newRig(t, rigOptions{now: func() time.Time { return time.Unix(0, clock.Load()) }})
	ctx := context.Background()
	opt := CreateOptions{Principal: hotlineKey, IdempotencyKey: "day-key", Scope: "v1"}
	first, err := r.svc.Create(ctx, waterOutage, opt)
	if err != nil {
		t.Fatal(err)
	}
	clock.Store(now.Add(23 * time.Hour).UnixNano())
	if again, err := r.svc.Create(ctx, waterOutage, opt); err != nil || !again.Replayed || again.Ticket.ID != first.Ticket.ID {
		t.Fatalf("within 24h: replayed=%v id=%s, %v", again.Replayed, again.Ticket.ID, err)
	}
	clock.Store(now.Add(25 * time.Hour).UnixNano())
	later, err := r.svc.Create(ctx, waterOutage, opt)
	if err != nil || later.Replayed || later.Ticket.ID == first.Ticket.ID {
		t.Fatalf("after 24h: replayed=%v id=%s, %v", later.Replayed, later.Ticket.ID, err)
	}
	if _, err := NewService(Config{Taxonomy: r.tax, Store: r.db, IdempotencyTTL: time.Hour}); err == nil {
		t.Error("a TTL under 24h was accepted")
	}
}

// A request that stored its ticket and died before answering: the retry
// with the same key finishes that ticket instead of making another.
func TestIdempotencyResumesAfterCrash(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	opt := CreateOptions{Principal: hotlineKey, IdempotencyKey: "crash-key", Scope: "v1"}
	req, err := waterOutage.normalize(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	scope := "v1:" + hotlineKey.KeyID
	if _, claimed, err := r.db.ClaimIdempotency(ctx, store.Idempotency{Scope: scope, Key: opt.IdempotencyKey, RequestHash: requestHash(req, opt),
		CreatedAt: long, ExpiresAt: long.Add(24 * time.Hour)}, long); err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	orphan := store.Ticket{ID: "tkt_orphan", Token: "tok_orphan", OwnerKeyID: hotlineKey.KeyID, Channel: "phone", Text: req.Text,
		Type: "help", Category: "030101", Department: "water", Urgency: "urgent", Status: StatusTriaged,
		Data:      json.RawMessage(`{"ticket_id":"tkt_orphan","status":"triaged","type":"help","category":"030101","department":"water","urgency":"urgent","text":"` + req.Text + `"}`),
		CreatedAt: long, Deadline: long.Add(24 * time.Hour)}
	if err := r.db.CreateTicket(ctx, orphan, &store.IdempotencyRef{Scope: scope, Key: opt.IdempotencyKey}); err != nil {
		t.Fatal(err)
	}
	out, err := r.svc.Create(ctx, waterOutage, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Ticket.ID != "tkt_orphan" || out.Ticket.Status != StatusPendingApproval || countTickets(t, r) != 1 {
		t.Errorf("retry after a crash: ticket %s status %s, %d tickets", out.Ticket.ID, out.Ticket.Status, countTickets(t, r))
	}
	again, err := r.svc.Create(ctx, waterOutage, opt)
	if err != nil || !again.Replayed || !bytes.Equal(again.Raw, out.Raw) {
		t.Errorf("replay after the resume: %v %v", again.Replayed, err)
	}
}

func TestBadRequestsCreateNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	cases := map[string]struct {
		req   CreateRequest
		key   string
		field string
	}{
		"empty text":       {CreateRequest{Text: "  \n "}, "", "text"},
		"oversized text":   {CreateRequest{Text: strings.Repeat("水", MaxTextRunes+1)}, "", "text"},
		"bad utf-8":        {CreateRequest{Text: "停水\xff"}, "", "text"},
		"latitude":         {CreateRequest{Text: "停水", Location: &Location{Lat: ptr(91.0), Lon: ptr(114.0)}}, "", "location.lat"},
		"longitude":        {CreateRequest{Text: "停水", Location: &Location{Lat: ptr(30.0), Lon: ptr(-181.0)}}, "", "location.lon"},
		"lat without lon":  {CreateRequest{Text: "停水", Location: &Location{Lat: ptr(30.0)}}, "", "location"},
		"long address":     {CreateRequest{Text: "停水", Location: &Location{Address: strings.Repeat("路", MaxAddressRunes+1)}}, "", "location.address"},
		"channel":          {CreateRequest{Text: "停水", Channel: "Phone Call!"}, "", "channel"},
		"phone":            {CreateRequest{Text: "停水", Caller: &Caller{Phone: "call me"}}, "", "caller.phone"},
		"email":            {CreateRequest{Text: "停水", Caller: &Caller{Email: "nobody"}}, "", "caller.email"},
		"future":           {CreateRequest{Text: "停水", ReceivedAt: ptr(time.Now().Add(time.Hour))}, "", "received_at"},
		"ancient":          {CreateRequest{Text: "停水", ReceivedAt: ptr(time.Now().Add(-40 * 24 * time.Hour))}, "", "received_at"},
		"key with a space": {CreateRequest{Text: "停水"}, "my key", "Idempotency-Key"},
		"key too long":     {CreateRequest{Text: "停水"}, strings.Repeat("k", MaxIdempotencyKey+1), "Idempotency-Key"},
	}
	for name, c := range cases {
		_, err := r.svc.Create(ctx, c.req, CreateOptions{Principal: hotlineKey, IdempotencyKey: c.key, Scope: "v1"})
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want an InputError on %s", name, err, c.field)
		}
	}
	if _, err := r.svc.Create(ctx, CreateRequest{Text: "停水"}, CreateOptions{Principal: hotlineKey, Category: "999999"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown category: %v", err)
	}
	if n := countTickets(t, r); n != 0 {
		t.Errorf("%d tickets created by bad requests", n)
	}
}

// A model that hangs: every call answers by the deadline, from the rules,
// degraded.
func TestHangingModelFallsBackToRules(t *testing.T) {
	t.Parallel()
	hang := scripted.New("hang", scripted.Hang()).RepeatLast()
	deadline := time.Second
	r := newRig(t, rigOptions{model: hang, deadline: deadline})
	ctx := context.Background()
	var wg sync.WaitGroup
	outs := make([]Created, 20)
	errs := make([]error, 20)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = r.svc.Create(ctx, waterOutage, CreateOptions{Principal: hotlineKey, Scope: "v1"})
		}()
	}
	wg.Wait()
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		tk := out.Ticket
		if !tk.Degraded || tk.Category != "030101" || tk.Department != "water" || len(tk.Warnings) == 0 {
			t.Errorf("request %d: degraded=%v %s %s warnings %v", i, tk.Degraded, tk.Category, tk.Department, tk.Warnings)
		}
	}
}

// A model that answers garbage (tool arguments that are not JSON) is
// replaced by the offline engine within the turn: still triaged, degraded.
func TestGarbageModel(t *testing.T) {
	t.Parallel()
	garbage := scripted.New("garbage", scripted.Call(ToolName, `{"type": "help", "categ`)).RepeatLast()
	r := newRig(t, rigOptions{model: garbage})
	out, err := r.svc.Create(context.Background(), waterOutage, CreateOptions{Principal: hotlineKey, Scope: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Ticket.Degraded || out.Ticket.Category != "030101" {
		t.Errorf("garbage model: degraded=%v category %s warnings %v", out.Ticket.Degraded, out.Ticket.Category, out.Ticket.Warnings)
	}
}

// A model that triages well and drafts a reply: its reply is used, with the
// ticket's facts added; its choices are checked by the rules.
func TestModelReply(t *testing.T) {
	t.Parallel()
	model := scripted.New("llm",
		scripted.Call(ToolName, `{"type":"help","category":"030101","department":"water","urgency":"urgent","reply":"您好，我们已收到您反映的停水问题，抢修人员正在排查。"}`),
		scripted.Reply("已分诊。")).RepeatLast()
	r := newRig(t, rigOptions{model: model})
	out, err := r.svc.Create(context.Background(), waterOutage, CreateOptions{Principal: hotlineKey, Scope: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tk := out.Ticket
	if tk.Degraded || !strings.HasPrefix(tk.DraftReply, "您好，我们已收到您反映的停水问题") || !strings.Contains(tk.DraftReply, tk.ID) {
		t.Errorf("reply %q degraded=%v", tk.DraftReply, tk.Degraded)
	}
	if tk.Triage.Model != "llm" || tk.Triage.Sources["type"] != SourceAgreed {
		t.Errorf("triage %+v", tk.Triage)
	}
}

func TestDispatchGovernance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	streetLight := CreateRequest{Text: "我家楼下的路灯坏了一个星期了，晚上黑漆漆的"}
	sup := access.Principal{KeyID: "key_sup", Role: access.RoleSupervisor, Clearance: access.Internal}

	t.Run("low-risk category, auto-approval on", func(t *testing.T) {
		r := newRig(t, rigOptions{autoApprove: true})
		out, err := r.svc.Create(ctx, streetLight, CreateOptions{Principal: hotlineKey})
		if err != nil {
			t.Fatal(err)
		}
		tk := out.Ticket
		if tk.Status != StatusDispatched || !tk.Dispatch.AutoApproved {
			t.Fatalf("status %s dispatch %+v", tk.Status, tk.Dispatch)
		}
		if d, err := r.db.DispatchFor(ctx, tk.Dispatch.ProposalID); err != nil || d.Department != "urban_management" {
			t.Errorf("dispatch record = %+v, %v", d, err)
		}
		recs, err := r.db.ListAudit(ctx, store.AuditFilter{Subject: tk.Dispatch.ProposalID})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, rec := range recs {
			kinds[rec.Kind] = rec.Actor
		}
		if kinds["proposal.create"] != hotlineKey.KeyID || kinds["proposal.approve"] != AutoApprover.KeyID || kinds["proposal.execute"] == "" {
			t.Errorf("audit of the dispatch: %v", kinds)
		}
	})

	t.Run("not low-risk: waits for a supervisor", func(t *testing.T) {
		r := newRig(t, rigOptions{autoApprove: true})
		out, err := r.svc.Create(ctx, waterOutage, CreateOptions{Principal: hotlineKey})
		if err != nil {
			t.Fatal(err)
		}
		if out.Ticket.Status != StatusPendingApproval {
			t.Fatalf("status %s", out.Ticket.Status)
		}
		// The hotline key cannot decide its own proposal.
		if _, err := r.actions.Approve(ctx, out.Ticket.Dispatch.ProposalID, hotlineKey, "mine"); !errors.Is(err, actions.ErrForbidden) {
			t.Errorf("hotline key approving: %v", err)
		}
		if _, err := r.actions.Approve(ctx, out.Ticket.Dispatch.ProposalID, sup, "ok"); err != nil {
			t.Fatal(err)
		}
		got, err := r.svc.Get(ctx, out.Ticket.ID)
		if err != nil || got.Status != StatusDispatched {
			t.Errorf("after approval: %s, %v", got.Status, err)
		}
	})

	t.Run("auto-approval off", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		out, err := r.svc.Create(ctx, streetLight, CreateOptions{Principal: hotlineKey})
		if err != nil || out.Ticket.Status != StatusPendingApproval || out.Ticket.Dispatch.AutoApproved {
			t.Fatalf("status %s, %v", out.Ticket.Status, err)
		}
		if _, err := r.actions.Reject(ctx, out.Ticket.Dispatch.ProposalID, sup, "wrong department"); err != nil {
			t.Fatal(err)
		}
		list, err := r.svc.List(ctx, ListFilter{})
		if err != nil || len(list) != 1 || list[0].Status != StatusDispatchRejected {
			t.Errorf("after rejection: %+v, %v", list, err)
		}
	})

	t.Run("no dispatcher, then the sweep", func(t *testing.T) {
		r := newRig(t, rigOptions{noDispatch: true})
		out, err := r.svc.Create(ctx, streetLight, CreateOptions{Principal: hotlineKey})
		if err != nil || out.Ticket.Status != StatusTriaged || out.Ticket.Dispatch != nil {
			t.Fatalf("status %s %+v, %v", out.Ticket.Status, out.Ticket.Dispatch, err)
		}
		later := time.Now().Add(2 * time.Minute)
		svc, err := NewService(Config{Taxonomy: r.tax, Store: r.db, Triager: r.triager, Dispatcher: GovernedDispatcher{Gov: r.actions},
			Now: func() time.Time { return later }})
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Sweep(ctx)
		if err != nil || res.Redispatch != 1 {
			t.Fatalf("sweep = %+v, %v", res, err)
		}
		got, err := svc.Get(ctx, out.Ticket.ID)
		if err != nil || got.Status != StatusPendingApproval || got.Dispatch == nil || got.Dispatch.ProposalID == "" {
			t.Errorf("after the sweep: %s %+v, %v", got.Status, got.Dispatch, err)
		}
	})
}

func TestCloseAndStats(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	var ids []string
	for _, text := range []string{"路灯坏了", "投诉：工地半夜施工噪音太大", "请问营业执照怎么办理？"} {
		out, err := r.svc.Create(ctx, CreateRequest{Text: text}, CreateOptions{Principal: hotlineKey})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.Ticket.ID)
	}
	// A ticket waiting for its dispatch decision is not closed: the
	// transition table says what may come next.
	var te *TransitionError
	if _, err := r.svc.Close(ctx, ids[0], "已更换灯泡 Bulb replaced", hotlineKey); !errors.As(err, &te) || !slices.Contains(te.Allowed, StatusDispatched) ||
		slices.Contains(te.Allowed, StatusClosed) {
		t.Fatalf("closing a ticket pending approval: %v", err)
	}
	pending, err := r.svc.Get(ctx, ids[0])
	if err != nil || pending.Dispatch == nil {
		t.Fatalf("get: %+v %v", pending, err)
	}
	boss := access.Principal{KeyID: "key_sup", Name: "supervisor", Role: access.RoleSupervisor, Clearance: access.Internal}
	if _, err := r.actions.Reject(ctx, pending.Dispatch.ProposalID, boss, "answered by the hotline"); err != nil {
		t.Fatal(err)
	}
	closed, err := r.svc.Close(ctx, ids[0], "已更换灯泡 Bulb replaced", hotlineKey)
	if err != nil || closed.Status != StatusClosed || closed.ClosedAt == nil || closed.Resolution == "" {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if _, err := r.svc.Close(ctx, ids[0], "again", hotlineKey); !errors.Is(err, ErrClosed) {
		t.Errorf("closing twice: %v", err)
	}
	if _, err := r.svc.Close(ctx, ids[1], " ", hotlineKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty resolution: %v", err)
	}
	if _, err := r.svc.Close(ctx, "tkt_nope", "x", hotlineKey); !errors.Is(err, ErrNotFound) {
		t.Errorf("closing an unknown ticket: %v", err)
	}
	st, err := r.svc.Stats(ctx, ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 3 || st.Closed != 1 || st.ClosedOnTime != 1 || st.Open != 2 || st.OnTimeRate == nil || *st.OnTimeRate != 1 ||
		st.DegradedShare == nil || *st.DegradedShare != 0 || st.ByType["inquiry"] != 1 || st.ByDepartment["urban_management"] != 2 ||
		st.OpenPastDeadline != 0 || st.Dispatched != 3 {
		t.Errorf("stats = %+v", st)
	}
	list, err := r.svc.List(ctx, ListFilter{Status: StatusClosed})
	if err != nil || len(list) != 1 || list[0].ID != ids[0] {
		t.Errorf("closed list = %v, %v", list, err)
	}
	if _, err := r.svc.List(ctx, ListFilter{Before: "tkt_nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown cursor: %v", err)
	}
	empty, _ := newRig(t, rigOptions{}).svc.Stats(ctx, ListFilter{})
	if empty.OnTimeRate != nil || empty.DegradedShare != nil || empty.Total != 0 {
		t.Errorf("stats of nothing = %+v", empty)
	}
}

// A triage degraded because the model missed its deadline says so in its
// warnings, whichever way the fallback answered.
func TestDegradedTriageWarns(t *testing.T) {
	t.Parallel()
	hang := scripted.New("hang", scripted.Hang()).RepeatLast()
	r := newRig(t, rigOptions{model: hang, deadline: time.Second})
	out, err := r.svc.Create(context.Background(), waterOutage, CreateOptions{Principal: hotlineKey, Scope: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	tk := out.Ticket
	if !tk.Degraded || !slicesAny(tk.Warnings, "degraded") && !slicesAny(tk.Warnings, "triage by rules") {
		t.Errorf("degraded=%v warnings %v", tk.Degraded, tk.Warnings)
	}
	t.Logf("warnings %v", tk.Warnings)
}
