package reports_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/store"
)

// The known history every report test reads: a week in Shanghai with turns,
// proposals, tickets and alerts at chosen times, plus records just outside
// the week that must not count.
var (
	shanghai = mustZone("Asia/Shanghai")
	from     = time.Date(2026, 11, 2, 0, 0, 0, 0, shanghai)
	to       = from.AddDate(0, 0, 7)
	asOf     = to.Add(24 * time.Hour) // when the report is made
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// backends runs fn against a fresh SQLite store and a fresh database on a
// real PostgreSQL 15.
func backends(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	pgURL := pgtest.Start(t)
	for name, open := range map[string]func(t *testing.T) (string, string){
		store.BackendSQLite:   func(t *testing.T) (string, string) { return "", t.TempDir() },
		store.BackendPostgres: func(t *testing.T) (string, string) { return pgtest.NewDatabase(t, pgURL), "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url, dir := open(t)
			db, err := store.Open(t.Context(), url, dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fn(t, db)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// turn is one chat.turn record; nil fields are left out of the payload, as
// in records written before the report existed.
type turn struct {
	agent      string
	at         time.Duration // after from
	failed     bool
	degraded   bool
	durationMS *int64
	citations  *int
	toolCalls  int
	toolErrors *int
}

func (tn turn) entry() audit.Entry {
	p := map[string]any{"agent": tn.agent, "model": "stub", "degraded": tn.degraded, "tool_calls": tn.toolCalls, "proposals": []string{}}
	if tn.failed {
		p["error"] = "model unavailable"
	} else {
		p["answer_sha256"] = "abc"
	}
	if tn.durationMS != nil {
		p["duration_ms"] = *tn.durationMS
	}
	if tn.citations != nil {
		p["citations"] = *tn.citations
	}
	if tn.toolErrors != nil {
		p["tool_errors"] = *tn.toolErrors
	}
	return audit.Entry{Actor: "key_op", Kind: audit.KindChatTurn, Subject: "sess", At: from.Add(tn.at), Payload: p}
}

// trafficTurns: 10 turns. Durations of the 9 that record one, sorted:
// 60 80 120 250 300 400 700 950 1000 → p50 (5th) 300, p95 (9th) 1000.
// Answered 8 (2 failed); of the answered, 5 cite, 2 do not, 1 old record
// does not say. Degraded 3 of 10. Tool calls 2 each: 18 known with 3
// errors, 2 unknown (the old record).
func trafficTurns() []turn {
	n := func(v int) *int { return &v }
	d := func(v int64) *int64 { return &v }
	return []turn{
		{agent: "traffic", at: 0, durationMS: d(120), citations: n(2), toolCalls: 2, toolErrors: n(0)}, // exactly at from: counts
		{agent: "traffic", at: time.Hour, durationMS: d(80), citations: n(1), toolCalls: 2, toolErrors: n(1), degraded: true},
		{agent: "traffic", at: 2 * time.Hour, durationMS: d(300), citations: n(0), toolCalls: 2, toolErrors: n(0)},
		{agent: "traffic", at: 3 * time.Hour, durationMS: d(950), citations: n(3), toolCalls: 2, toolErrors: n(2), degraded: true},
		{agent: "traffic", at: 4 * time.Hour, durationMS: d(400), citations: n(1), toolCalls: 2, toolErrors: n(0)},
		{agent: "traffic", at: 5 * time.Hour, durationMS: d(60), citations: n(0), toolCalls: 2, toolErrors: n(0)},
		{agent: "traffic", at: 6 * time.Hour, durationMS: d(700), citations: n(5), toolCalls: 2, toolErrors: n(0)},
		{agent: "traffic", at: 7 * time.Hour, toolCalls: 2}, // an old record: no duration, citations or tool errors
		{agent: "traffic", at: 8 * time.Hour, durationMS: d(250), failed: true, toolCalls: 2, toolErrors: n(0), degraded: true},
		{agent: "traffic", at: 9 * time.Hour, durationMS: d(1000), failed: true, toolCalls: 2, toolErrors: n(0)},
		// Outside [from, to): never counted.
		{agent: "traffic", at: -time.Nanosecond, durationMS: d(5), citations: n(1), toolCalls: 9, toolErrors: n(9)},
		{agent: "traffic", at: 7 * 24 * time.Hour, durationMS: d(5), citations: n(1), toolCalls: 9, toolErrors: n(9)},
	}
}

// energyTurns: durations 100 200 300 → p50 (2nd) 200, p95 (3rd) 300; no
// tool calls, so no tool error rate.
func energyTurns() []turn {
	n := func(v int) *int { return &v }
	d := func(v int64) *int64 { return &v }
	return []turn{
		{agent: "energy", at: 24 * time.Hour, durationMS: d(300), citations: n(1), toolErrors: n(0)},
		{agent: "energy", at: 25 * time.Hour, durationMS: d(100), citations: n(1), toolErrors: n(0)},
		{agent: "energy", at: 26 * time.Hour, durationMS: d(200), citations: n(0), toolErrors: n(0)},
	}
}

func seedTurns(t *testing.T, db *store.DB) {
	var es []audit.Entry
	for _, tn := range append(trafficTurns(), energyTurns()...) {
		es = append(es, tn.entry())
	}
	// A record that is not an object: counted as a turn of an unknown agent.
	es = append(es, audit.Entry{Actor: "key_op", Kind: audit.KindChatTurn, Subject: "sess", At: from.Add(time.Minute), Payload: "not an object"})
	if _, err := db.AppendAudit(t.Context(), es...); err != nil {
		t.Fatal(err)
	}
}

// seedProposals: decided after 600 s, 1800 s and 1200 s (median 1200 s);
// one expired, one still proposed, one created before from.
func seedProposals(t *testing.T, db *store.DB) {
	ctx := t.Context()
	mk := func(id, action string, created time.Time, expires time.Duration) {
		t.Helper()
		err := db.CreateProposal(ctx, store.Proposal{ID: id, Action: action, Arguments: json.RawMessage(`{}`), Risk: "low",
			ApproverRole: access.RoleSupervisor, Clearance: access.Internal, Agent: "traffic", CreatedAt: created, ExpiresAt: created.Add(expires)})
		if err != nil {
			t.Fatal(err)
		}
	}
	decide := func(id, status string, at time.Time) {
		t.Helper()
		if _, err := db.DecideProposal(ctx, store.Decision{ID: id, Status: status, By: "key_sup", Role: access.RoleSupervisor, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	h := func(n float64) time.Time { return from.Add(time.Duration(n * float64(time.Hour))) }
	mk("p1", "traffic.retime_signal", h(1), 24*time.Hour)
	decide("p1", store.ProposalApproved, h(1).Add(10*time.Minute))
	mk("p2", "traffic.retime_signal", h(2), 24*time.Hour)
	decide("p2", store.ProposalRejected, h(2).Add(30*time.Minute))
	mk("p3", "energy.demand_response", h(3), 24*time.Hour)
	decide("p3", store.ProposalApproved, h(3).Add(20*time.Minute))
	claimed, err := db.ClaimExecution(ctx, "p3", h(3.5), h(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinishExecution(ctx, store.Outcome{ID: "p3", Attempt: claimed.Attempts, Status: store.ProposalExecuted, Result: json.RawMessage(`{}`), At: h(3.6)}); err != nil {
		t.Fatal(err)
	}
	mk("p4", "energy.demand_response", h(4), time.Hour)
	if _, err := db.ExpireProposal(ctx, "p4", h(5)); err != nil {
		t.Fatal(err)
	}
	mk("p5", "traffic.retime_signal", h(5), 30*24*time.Hour)
	mk("p0", "traffic.retime_signal", from.Add(-time.Hour), 24*time.Hour) // before from
	decide("p0", store.ProposalApproved, from.Add(-time.Hour+time.Second))
}

// ticket is one hotline ticket of the history and what happened to it.
type ticket struct {
	id, typ, dept   string
	received        time.Duration // after from
	deadline        time.Duration // after received
	degraded        bool
	replied, closed *time.Duration // after received
	merged          bool
}

// historyTickets: on time t1, t3 (its reply counts, not its late close),
// t7 (closed exactly at the deadline); late t2 (replied late), t4 (never
// answered, deadline passed); pending t5; merged t6; t0 is before from.
func historyTickets() []ticket {
	d := func(v time.Duration) *time.Duration { return &v }
	day := 24 * time.Hour
	return []ticket{
		{id: "t1", typ: "complaint", dept: "water", received: time.Hour, deadline: day, closed: d(10 * time.Hour)},
		{id: "t2", typ: "complaint", dept: "water", received: 2 * time.Hour, deadline: day, replied: d(30 * time.Hour), closed: d(40 * time.Hour)},
		{id: "t3", typ: "inquiry", dept: "transport", received: 3 * time.Hour, deadline: day, replied: d(2 * time.Hour), closed: d(50 * time.Hour)},
		{id: "t4", typ: "inquiry", dept: "transport", received: 4 * time.Hour, deadline: day, degraded: true},
		{id: "t5", typ: "report", dept: "water", received: 5 * time.Hour, deadline: 30 * day},
		{id: "t6", typ: "report", dept: "transport", received: 6 * time.Hour, deadline: day, merged: true},
		{id: "t7", typ: "complaint", dept: "water", received: 7 * time.Hour, deadline: day, closed: d(day), degraded: true},
		{id: "t0", typ: "complaint", dept: "water", received: -time.Hour, deadline: day},
	}
}

func seedTickets(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, tk := range historyTickets() {
		rec := from.Add(tk.received)
		err := db.CreateTicket(ctx, store.Ticket{ID: tk.id, Token: "tok-" + tk.id, Channel: "phone", Text: "x", Type: tk.typ, Category: "0301",
			Department: tk.dept, Urgency: "normal", Status: "triaged", Degraded: tk.degraded, ReceivedAt: rec, CreatedAt: rec, Deadline: rec.Add(tk.deadline)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, seq := "triaged", int64(1)
		move := func(to string, at time.Time, u store.TransitionUpdate) {
			t.Helper()
			u.ID, u.From, u.To, u.Seq, u.At, u.Actor = tk.id, status, to, seq, at, "key_dept"
			if _, _, err := db.TransitionTicket(ctx, u); err != nil {
				t.Fatal(err)
			}
			status, seq = to, seq+1
		}
		if tk.replied != nil {
			move("replied", rec.Add(*tk.replied), store.TransitionUpdate{Stamp: []string{"replied_at"}})
		}
		if tk.closed != nil {
			move("closed", rec.Add(*tk.closed), store.TransitionUpdate{Stamp: []string{"closed_at"}})
		}
		if tk.merged {
			move("merged", rec.Add(time.Hour), store.TransitionUpdate{MergedInto: "t5"})
		}
	}
}

// alertEntries: corridor-congestion raises 3 alerts in the range (acked
// after 300 s and 900 s; firing 1800 s, 600 s and, unresolved, until asOf),
// district-load one (acked after 60 s, firing 120 s); one fire record names
// no monitor; one alert fired before from is left out with its records.
func alertEntries() []audit.Entry {
	var es []audit.Entry
	add := func(kind, id string, at time.Time, monitor string) {
		p := map[string]any{"alert_id": id, "subject": "corridor-7", "severity": "warning", "value": 3.2, "title": "t", "title_zh": "t"}
		if monitor != "" {
			p["monitor"] = monitor
		}
		es = append(es, audit.Entry{Actor: "system", Kind: kind, Subject: id, At: at, Payload: p})
	}
	h := func(n float64) time.Time { return from.Add(time.Duration(n * float64(time.Hour))) }
	add("alert.fire", "a0", from.Add(-time.Hour), "corridor-congestion")
	add("alert.acknowledge", "a0", h(0.5), "corridor-congestion")
	add("alert.fire", "a1", h(1), "corridor-congestion")
	add("alert.acknowledge", "a1", h(1).Add(5*time.Minute), "corridor-congestion")
	add("alert.resolve", "a1", h(1.5), "corridor-congestion")
	add("alert.fire", "a2", h(2), "corridor-congestion")
	add("alert.acknowledge", "a2", h(2).Add(15*time.Minute), "corridor-congestion")
	add("alert.acknowledge", "a2", h(2).Add(20*time.Minute), "corridor-congestion") // a second ack: the first counts
	add("alert.fire", "a3", h(3), "corridor-congestion")
	add("alert.resolve", "a3", h(3).Add(10*time.Minute), "corridor-congestion")
	add("alert.fire", "a4", h(4), "district-load")
	add("alert.acknowledge", "a4", h(4).Add(time.Minute), "district-load")
	add("alert.resolve", "a4", h(4).Add(2*time.Minute), "district-load")
	add("alert.fire", "a5", h(5), "")
	return es
}

func seedHistory(t *testing.T, db *store.DB) {
	t.Helper()
	seedTurns(t, db)
	seedProposals(t, db)
	seedTickets(t, db)
	if _, err := db.AppendAudit(t.Context(), alertEntries()...); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fmtf(v *float64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%.6f", *v)
}
