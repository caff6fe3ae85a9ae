package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
)

// governanceConformance covers proposals, the audit chain and dispatch
// records; TestConformance runs it against every backend.
var governanceConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"audit append, order, head, filters", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if seq, hash, err := db.AuditHead(ctx); err != nil || seq != 0 || hash != audit.Genesis {
			t.Fatalf("empty head = %d %s %v", seq, hash, err)
		}
		recs, err := db.AppendAudit(ctx,
			audit.Entry{Actor: "key_a", Kind: audit.KindKeyCreate, Subject: "key_b", Payload: map[string]string{"role": "operator"}, At: t0},
			audit.Entry{Actor: "key_b", Kind: audit.KindChatTurn, Subject: "ses_1", Payload: map[string]any{"agent": "traffic", "问题": "拥堵"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Seq != 1 || recs[1].Seq != 2 || recs[0].PrevHash != audit.Genesis || recs[1].PrevHash != recs[0].Hash {
			t.Fatalf("records = %+v", recs)
		}
		assertTime(t, "At", recs[0].At, t0)
		if err := db.Audit(ctx, audit.Entry{Actor: "system", Kind: audit.KindExpire, Subject: "prop_1"}); err != nil {
			t.Fatal(err)
		}
		if err := db.Audit(ctx, audit.Entry{Actor: "x"}); err == nil {
			t.Error("an entry without a kind was appended")
		}
		seq, hash, err := db.AuditHead(ctx)
		if err != nil || seq != 3 {
			t.Fatalf("head = %d, %v; want 3", seq, err)
		}
		chain, err := db.AuditChain(ctx, 0, 10)
		if err != nil || len(chain) != 3 || chain[2].Hash != hash || string(chain[2].Payload) != "{}" {
			t.Fatalf("chain = %+v, %v", chain, err)
		}
		for i, r := range chain {
			if r.Seq != int64(i+1) || audit.ChainHash(r) != r.Hash {
				t.Errorf("record %d does not verify as stored: %+v", i+1, r)
			}
		}
		rep, err := audit.Verify(ctx, db)
		if err != nil || !rep.OK || rep.Records != 3 || rep.Head.Seq != 3 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
		cases := map[string]struct {
			f    AuditFilter
			want []int64
		}{
			"newest first":   {AuditFilter{}, []int64{3, 2, 1}},
			"before":         {AuditFilter{Before: 3, Limit: 1}, []int64{2}},
			"after":          {AuditFilter{After: 1}, []int64{2, 3}},
			"kind":           {AuditFilter{Kind: audit.KindChatTurn}, []int64{2}},
			"kind prefix":    {AuditFilter{Kind: "proposal."}, []int64{3}},
			"actor":          {AuditFilter{Actor: "key_a"}, []int64{1}},
			"subject":        {AuditFilter{Subject: "ses_1"}, []int64{2}},
			"nothing":        {AuditFilter{Kind: "nope"}, []int64{}},
			"actor and kind": {AuditFilter{Actor: "key_a", Kind: audit.KindChatTurn}, []int64{}},
		}
		for name, c := range cases {
			got, err := db.ListAudit(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			seqs := []int64{}
			for _, r := range got {
				seqs = append(seqs, r.Seq)
			}
			if !slices.Equal(seqs, c.want) {
				t.Errorf("%s: seqs %v, want %v", name, seqs, c.want)
			}
		}
	}},

	{"audit concurrent appenders keep one chain", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		const writers, batches = 8, 6
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					entries := []audit.Entry{{Actor: fmt.Sprint(w), Kind: audit.KindToolCall, Subject: "t", Payload: map[string]int{"b": b}},
						{Actor: fmt.Sprint(w), Kind: audit.KindChatTurn, Subject: "s"}}
					if err := db.Audit(ctx, entries...); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(ctx, db)
		if err != nil || !rep.OK || rep.Records != writers*batches*2 {
			t.Fatalf("Verify = %+v, %v; want %d records", rep, err, writers*batches*2)
		}
		// Each batch is contiguous: an append's records are never interleaved.
		chain, _ := db.AuditChain(ctx, 0, 1000)
		for i := 0; i < len(chain); i += 2 {
			if chain[i].Kind != audit.KindToolCall || chain[i+1].Kind != audit.KindChatTurn || chain[i].Actor != chain[i+1].Actor {
				t.Fatalf("records %d and %d are not one batch", chain[i].Seq, chain[i+1].Seq)
			}
		}
	}},

	{"audit tampering is found at the first bad seq", func(t *testing.T, tg target) {
		cases := []struct {
			name    string
			tamper  []string
			wantBad int64
		}{
			{"edit payload", []string{`UPDATE audit_log SET payload = '{"role":"admin"}' WHERE seq = 4`}, 4},
			{"edit actor", []string{`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3`}, 3},
			{"edit time", []string{`UPDATE audit_log SET at = at + 1 WHERE seq = 6`}, 6},
			{"delete middle", []string{`DELETE FROM audit_log WHERE seq = 5`}, 5},
			{"delete last", []string{`DELETE FROM audit_log WHERE seq = 8`}, 8},
			{"delete first", []string{`DELETE FROM audit_log WHERE seq = 1`}, 1},
			{"swap two", []string{`UPDATE audit_log SET seq = 100 WHERE seq = 3`, `UPDATE audit_log SET seq = 3 WHERE seq = 4`, `UPDATE audit_log SET seq = 4 WHERE seq = 100`}, 3},
			{"insert at the end", []string{`INSERT INTO audit_log (seq, at, actor, kind, subject, payload, payload_hash, prev_hash, hash) SELECT 9, at, actor, kind, subject, payload, payload_hash, hash, hash FROM audit_log WHERE seq = 8`}, 9},
			{"rehash a payload", []string{`UPDATE audit_log SET payload = '{}', payload_hash = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' WHERE seq = 2`}, 2},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				db := tg.newTarget(t).open(t)
				ctx := t.Context()
				for i := range 8 {
					if err := db.Audit(ctx, audit.Entry{Actor: "key_a", Kind: audit.KindToolCall, Subject: fmt.Sprint("s", i), Payload: map[string]int{"i": i}}); err != nil {
						t.Fatal(err)
					}
				}
				if rep, err := audit.Verify(ctx, db); err != nil || !rep.OK {
					t.Fatalf("untouched chain: %+v, %v", rep, err)
				}
				for _, q := range c.tamper {
					if _, err := db.sql.ExecContext(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				rep, err := audit.Verify(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.FirstBadSeq != c.wantBad {
					t.Fatalf("Verify after %s = %+v; want first bad seq %d", c.name, rep, c.wantBad)
				}
			})
		}
	}},

	{"proposals create, get, list", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		base := Proposal{Action: "traffic.retime_signal", Arguments: json.RawMessage(`{"corridor":"renmin"}`), Risk: "medium",
			ApproverRole: access.RoleSupervisor, Clearance: access.Internal, Agent: "traffic", AgentVersion: "v1", Model: "offline",
			SessionID: "ses_1", Turn: 1, TraceID: "tr", Question: "人民路拥堵，调整信号配时", Rationale: "main green too short",
			Evidence: json.RawMessage(`[{"kind":"tool","ref":"call_1"}]`), Flags: []string{"x"}, ProposerKeyID: "key_op", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for i := range 5 {
			p := base
			p.ID = fmt.Sprintf("prop_%d", i)
			p.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			if i == 3 {
				p.Action, p.Agent, p.Clearance = "energy.demand_response_event", "energy", access.Restricted
			}
			if err := db.CreateProposal(ctx, p, audit.Entry{Actor: "key_op", Kind: audit.KindProposalCreate, Subject: p.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateProposal(ctx, Proposal{ID: "prop_0", Action: "x", Arguments: json.RawMessage(`{}`)}); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate id: %v, want ErrConflict", err)
		}
		if err := db.CreateProposal(ctx, Proposal{ID: "prop_bad", Action: "x", Arguments: json.RawMessage(`{`)}); err == nil {
			t.Error("proposal with non-JSON arguments stored")
		}
		got, err := db.GetProposal(ctx, "prop_0")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ProposalProposed || got.Question != base.Question || string(got.Arguments) != string(base.Arguments) ||
			string(got.Evidence) != string(base.Evidence) || !slices.Equal(got.Flags, []string{"x"}) || got.ApproverRole != access.RoleSupervisor ||
			got.DecidedAt != nil || got.ClaimedAt != nil || got.Result != nil || got.Turn != 1 {
			t.Errorf("GetProposal = %+v", got)
		}
		assertTime(t, "ExpiresAt", got.ExpiresAt, base.ExpiresAt)
		if _, err := db.GetProposal(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown proposal: %v", err)
		}
		if n, _ := db.AuditChain(ctx, 0, 100); len(n) != 5 {
			t.Errorf("%d audit records, want one per created proposal", len(n))
		}
		list := func(f ProposalFilter) []string {
			t.Helper()
			ps, err := db.ListProposals(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, p := range ps {
				out = append(out, p.ID)
			}
			return out
		}
		cases := map[string]struct {
			f    ProposalFilter
			want []string
		}{
			"all newest first": {ProposalFilter{}, []string{"prop_4", "prop_3", "prop_2", "prop_1", "prop_0"}},
			"page":             {ProposalFilter{Limit: 2, Before: "prop_3"}, []string{"prop_2", "prop_1"}},
			"action":           {ProposalFilter{Action: "energy.demand_response_event"}, []string{"prop_3"}},
			"agent":            {ProposalFilter{Agent: "traffic", Limit: 1}, []string{"prop_4"}},
			"clearance":        {ProposalFilter{Clearances: []access.Clearance{access.Public, access.Internal}}, []string{"prop_4", "prop_2", "prop_1", "prop_0"}},
			"no clearance":     {ProposalFilter{Clearances: []access.Clearance{}}, []string{}},
			"status":           {ProposalFilter{Status: ProposalApproved}, []string{}},
		}
		for name, c := range cases {
			if got := list(c.f); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", name, got, c.want)
			}
		}
		if _, err := db.ListProposals(ctx, ProposalFilter{Before: "zz"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown cursor: %v", err)
		}
	}},

	{"proposals decide once, expire, claim and finish", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		mk := func(id string, expires time.Time) {
			t.Helper()
			if err := db.CreateProposal(ctx, Proposal{ID: id, Action: "a", Arguments: json.RawMessage(`{}`), Risk: "low", ApproverRole: access.RoleSupervisor,
				Clearance: access.Public, ProposerKeyID: "key_p", CreatedAt: t0, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		mk("p_race", t0.Add(time.Hour))
		const deciders = 8
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range deciders {
			wg.Go(func() {
				status := ProposalApproved
				if i%2 == 1 {
					status = ProposalRejected
				}
				_, err := db.DecideProposal(ctx, Decision{ID: "p_race", Status: status, By: fmt.Sprint("key_s", i), Role: access.RoleSupervisor, At: t0.Add(time.Minute)},
					audit.Entry{Actor: fmt.Sprint("key_s", i), Kind: audit.KindApprove, Subject: "p_race"})
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, ErrStateChanged) || !errors.Is(err, ErrConflict):
					t.Errorf("decider %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d deciders won, want exactly 1", wins.Load())
		}
		if recs, _ := db.ListAudit(ctx, AuditFilter{Kind: audit.KindApprove}); len(recs) != 1 {
			t.Errorf("%d decision records, want 1 (losers append nothing)", len(recs))
		}

		mk("p_exp", t0.Add(time.Minute))
		p, err := db.DecideProposal(ctx, Decision{ID: "p_exp", Status: ProposalApproved, By: "key_s", At: t0.Add(time.Minute)})
		if !errors.Is(err, ErrStateChanged) || p.Status != ProposalProposed {
			t.Fatalf("approving at expiry: %v, status %s; want ErrStateChanged, still proposed", err, p.Status)
		}
		if due, err := db.DueProposals(ctx, t0.Add(time.Minute), 10); err != nil || !slices.Equal(due, []string{"p_exp"}) {
			t.Errorf("DueProposals = %v, %v", due, err)
		}
		if _, err := db.ExpireProposal(ctx, "p_race", t0.Add(2*time.Hour)); !errors.Is(err, ErrStateChanged) {
			t.Errorf("expiring a decided proposal: %v", err)
		}
		if p, err := db.ExpireProposal(ctx, "p_exp", t0.Add(time.Minute)); err != nil || p.Status != ProposalExpired {
			t.Fatalf("ExpireProposal = %s, %v", p.Status, err)
		}
		if _, err := db.DecideProposal(ctx, Decision{ID: "nope", Status: ProposalApproved, At: t0}); !errors.Is(err, ErrNotFound) {
			t.Errorf("deciding an unknown proposal: %v", err)
		}

		mk("p_exec", t0.Add(time.Hour))
		if _, err := db.ClaimExecution(ctx, "p_exec", t0, t0); !errors.Is(err, ErrStateChanged) {
			t.Errorf("claiming a proposed (unapproved) proposal: %v", err)
		}
		if _, err := db.DecideProposal(ctx, Decision{ID: "p_exec", Status: ProposalApproved, By: "key_s", Role: access.RoleSupervisor, At: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		pending, _ := db.PendingExecutions(ctx, t0, 10)
		if !slices.Contains(pending, "p_exec") {
			t.Errorf("PendingExecutions = %v, want p_exec", pending)
		}
		var claims atomic.Int32
		var claimed Proposal
		var mu sync.Mutex
		for range 6 {
			wg.Go(func() {
				p, err := db.ClaimExecution(ctx, "p_exec", t0.Add(2*time.Second), t0)
				if err == nil {
					claims.Add(1)
					mu.Lock()
					claimed = p
					mu.Unlock()
				} else if !errors.Is(err, ErrStateChanged) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if claims.Load() != 1 || claimed.Attempts != 1 || claimed.ClaimedAt == nil {
			t.Fatalf("%d claims (attempts %d), want exactly 1", claims.Load(), claimed.Attempts)
		}
		if pending, _ := db.PendingExecutions(ctx, t0.Add(time.Second), 10); slices.Contains(pending, "p_exec") {
			t.Error("a live claim is listed as pending")
		}
		// The claim goes stale; a second executor takes over (attempt 2) and
		// the first one's late outcome is refused.
		taken, err := db.ClaimExecution(ctx, "p_exec", t0.Add(time.Hour), t0.Add(time.Minute))
		if err != nil || taken.Attempts != 2 {
			t.Fatalf("stale takeover: %+v, %v", taken, err)
		}
		if _, err := db.FinishExecution(ctx, Outcome{ID: "p_exec", Attempt: 1, Status: ProposalExecuted, Result: json.RawMessage(`{}`), At: t0.Add(time.Hour)}); !errors.Is(err, ErrStateChanged) {
			t.Errorf("finishing with a lost claim: %v", err)
		}
		done, err := db.FinishExecution(ctx, Outcome{ID: "p_exec", Attempt: 2, Status: ProposalExecuted, Result: json.RawMessage(`{"plan":"SP-2"}`), At: t0.Add(time.Hour)},
			audit.Entry{Actor: "system", Kind: audit.KindExecute, Subject: "p_exec"})
		if err != nil || done.Status != ProposalExecuted || string(done.Result) != `{"plan":"SP-2"}` || done.FinishedAt == nil {
			t.Fatalf("FinishExecution = %+v, %v", done, err)
		}
		if _, err := db.ClaimExecution(ctx, "p_exec", t0.Add(3*time.Hour), t0.Add(3*time.Hour)); !errors.Is(err, ErrStateChanged) {
			t.Errorf("claiming an executed proposal: %v", err)
		}
		if _, err := db.FinishExecution(ctx, Outcome{ID: "p_exec", Attempt: 2, Status: ProposalFailed, At: t0}); !errors.Is(err, ErrStateChanged) {
			t.Errorf("finishing twice: %v", err)
		}
		if rep, err := audit.Verify(ctx, db); err != nil || !rep.OK {
			t.Errorf("chain after transitions: %+v, %v", rep, err)
		}
	}},

	{"dispatch once per proposal", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		d := Dispatch{ID: "dsp_1", ProposalID: "prop_1", Department: "municipal roads 市政道路", Category: "pothole", Urgency: "urgent",
			Summary: "坑洼", Location: "人民路", DueAt: t0.Add(2 * time.Hour), CreatedAt: t0}
		got, created, err := db.CreateDispatch(ctx, d)
		if err != nil || !created || got.ID != "dsp_1" {
			t.Fatalf("CreateDispatch = %+v %v %v", got, created, err)
		}
		again := d
		again.ID = "dsp_2"
		got, created, err = db.CreateDispatch(ctx, again)
		if err != nil || created || got.ID != "dsp_1" {
			t.Fatalf("second CreateDispatch = %+v %v %v; want the first, not created", got, created, err)
		}
		if got, err := db.DispatchFor(ctx, "prop_1"); err != nil || got.ID != "dsp_1" {
			t.Errorf("DispatchFor = %+v, %v", got, err)
		}
		if _, err := db.DispatchFor(ctx, "prop_x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("DispatchFor(unknown) = %v", err)
		}
	}},
}
