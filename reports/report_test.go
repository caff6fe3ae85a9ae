package reports_test

import (
	"testing"
	"time"

	"github.com/cityagent/cityagent/reports"
	"github.com/cityagent/cityagent/store"
)

func service(db *store.DB) *reports.Service {
	return &reports.Service{Store: db, Location: shanghai, Now: func() time.Time { return asOf }}
}

// wantReport is the report over the known history, figured by hand from
// the comments in history_test.go.
func wantReport() reports.Report {
	tc := func(tickets, on, late, pending, merged, degraded int) reports.TicketCounts {
		c := reports.TicketCounts{Tickets: tickets, OnTime: on, Late: late, Pending: pending, Merged: merged, Degraded: degraded}
		if on+late > 0 {
			c.OnTimeRate = ptr(float64(on) / float64(on+late))
		}
		c.DegradedShare = ptr(float64(degraded) / float64(tickets))
		return c
	}
	a2Firing := asOf.Sub(from.Add(2 * time.Hour)).Seconds() // still firing at asOf
	return reports.Report{
		From: from, To: to, AsOf: asOf, TimeZone: "Asia/Shanghai",
		Agents: []reports.AgentFigures{
			{Agent: "(unknown)", Turns: 1, DegradedUnknown: 1, LatencyUnknown: 1, Models: map[string]int{}},
			{Agent: "energy", Turns: 3, Answered: 3, AnsweredWithCitations: 2, CitedShare: ptr(2.0 / 3), DegradedShare: ptr(0.0),
				LatencyP50MS: ptr[int64](200), LatencyP95MS: ptr[int64](300), Models: map[string]int{"stub": 3}},
			{Agent: "traffic", Turns: 10, Answered: 8, Failed: 2, AnsweredWithCitations: 5, CitationsUnknown: 1, CitedShare: ptr(5.0 / 7),
				Degraded: 3, DegradedShare: ptr(0.3), LatencyP50MS: ptr[int64](300), LatencyP95MS: ptr[int64](1000), LatencyUnknown: 1,
				ToolCalls: 18, ToolErrors: 3, ToolCallsUnknown: 2, ToolErrorRate: ptr(3.0 / 18), Models: map[string]int{"stub": 10}},
		},
		Governance: reports.Governance{
			Proposals: 5, Decided: 3, MedianDecisionSeconds: ptr(1200.0), Expired: 1,
			Outcomes: []reports.ActionOutcome{
				{Action: "energy.demand_response", Outcome: "executed", Proposals: 1},
				{Action: "energy.demand_response", Outcome: "expired", Proposals: 1},
				{Action: "traffic.retime_signal", Outcome: "approved", Proposals: 1},
				{Action: "traffic.retime_signal", Outcome: "proposed", Proposals: 1},
				{Action: "traffic.retime_signal", Outcome: "rejected", Proposals: 1},
			},
		},
		Hotline: reports.Hotline{
			TicketCounts: tc(7, 3, 2, 1, 1, 2),
			ByType: []reports.TicketBreakdown{
				{Key: "complaint", TicketCounts: tc(3, 2, 1, 0, 0, 1)},
				{Key: "inquiry", TicketCounts: tc(2, 1, 1, 0, 0, 1)},
				{Key: "report", TicketCounts: tc(2, 0, 0, 1, 1, 0)},
			},
			ByDepartment: []reports.TicketBreakdown{
				{Key: "transport", TicketCounts: tc(3, 1, 1, 0, 1, 1)},
				{Key: "water", TicketCounts: tc(4, 2, 1, 1, 0, 1)},
			},
		},
		Monitors: []reports.MonitorFigures{
			{Monitor: "(unknown)", Alerts: 1, Firing: 1, MedianFiringSeconds: ptr(asOf.Sub(from.Add(5 * time.Hour)).Seconds()),
				TotalFiringSeconds: asOf.Sub(from.Add(5 * time.Hour)).Seconds()},
			{Monitor: "corridor-congestion", Alerts: 3, Acknowledged: 2, Resolved: 2, Firing: 1, MedianAckSeconds: ptr(300.0),
				MedianFiringSeconds: ptr(1800.0), TotalFiringSeconds: 1800 + 600 + a2Firing},
			{Monitor: "district-load", Alerts: 1, Acknowledged: 1, Resolved: 1, MedianAckSeconds: ptr(60.0),
				MedianFiringSeconds: ptr(120.0), TotalFiringSeconds: 120},
		},
	}
}

func TestOperationsOverKnownHistory(t *testing.T) {
	backends(t, func(t *testing.T, db *store.DB) {
		seedHistory(t, db)
		got, err := service(db).Operations(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := mustJSON(t, got), mustJSON(t, wantReport()); g != w {
			t.Errorf("report:\n%s\nwant:\n%s", g, w)
		}
		if got.From.Location().String() != "Asia/Shanghai" || got.From.Format(time.RFC3339) != "2026-11-02T00:00:00+08:00" {
			t.Errorf("from shown as %s in %s, want the city's zone", got.From.Format(time.RFC3339), got.From.Location())
		}
	})
}

// TestOperationsPagesThroughTurns crosses several audit pages: 1100 turns
// with durations 1…1100 ms written in a scrambled order.
func TestOperationsPagesThroughTurns(t *testing.T) {
	backends(t, func(t *testing.T, db *store.DB) {
		const n = 1100
		var ts []turn
		for i := range n {
			ms := int64((i*487)%n + 1) // 487 is prime to 1100: a permutation of 1…1100
			ts = append(ts, turn{agent: "bulk", at: time.Duration(i) * time.Second, durationMS: &ms, citations: ptr(1), toolCalls: 1, toolErrors: ptr(i % 2)})
		}
		for _, tn := range ts {
			if _, err := db.AppendAudit(t.Context(), tn.entry()); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := service(db).Operations(t.Context(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Agents) != 1 {
			t.Fatalf("agents = %s", mustJSON(t, rep.Agents))
		}
		a := rep.Agents[0]
		// nearest rank: p50 = 550th value, p95 = ⌈1045⌉th.
		if a.Turns != n || *a.LatencyP50MS != 550 || *a.LatencyP95MS != 1045 || a.ToolErrors != n/2 || fmtf(a.ToolErrorRate) != "0.500000" {
			t.Errorf("bulk = %s", mustJSON(t, a))
		}
	})
}

func TestOperationsEmptyRange(t *testing.T) {
	backends(t, func(t *testing.T, db *store.DB) {
		seedHistory(t, db)
		early := from.AddDate(-1, 0, 0)
		rep, err := service(db).Operations(t.Context(), early, early.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		h := rep.Hotline
		if len(rep.Agents) != 0 || len(rep.Monitors) != 0 || rep.Governance.Proposals != 0 || h.Tickets != 0 ||
			h.OnTimeRate != nil || rep.Governance.MedianDecisionSeconds != nil || rep.Agents == nil || rep.Monitors == nil {
			t.Errorf("empty range gave %s", mustJSON(t, rep))
		}
	})
}
