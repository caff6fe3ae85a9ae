package reports

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
)

// Governance is how governed actions were decided: proposals created in the
// range, each in the status it has at AsOf.
type Governance struct {
	Proposals int             `json:"proposals"`
	Outcomes  []ActionOutcome `json:"outcomes"` // by action, then outcome
	Decided   int             `json:"decided"`  // approved or rejected by a person
	// MedianDecisionSeconds is the nearest-rank median of decided − created
	// over the decided proposals; nil when none was decided.
	MedianDecisionSeconds *float64 `json:"median_decision_seconds"`
	Expired               int      `json:"expired"` // nobody decided before the expiry
}

// ActionOutcome counts the proposals of one action in one status
// (proposed, approved, executed, failed, rejected, expired).
type ActionOutcome struct {
	Action    string `json:"action"`
	Outcome   string `json:"outcome"`
	Proposals int    `json:"proposals"`
}

func governance(ps store.ProposalSummary) Governance {
	g := Governance{Outcomes: []ActionOutcome{}, Decided: ps.Decided}
	for _, o := range ps.Outcomes {
		g.Outcomes = append(g.Outcomes, ActionOutcome{Action: o.Action, Outcome: o.Status, Proposals: o.Count})
		g.Proposals += o.Count
		if o.Status == store.ProposalExpired {
			g.Expired += o.Count
		}
	}
	if ps.MedianDecision != nil {
		v := seconds(*ps.MedianDecision)
		g.MedianDecisionSeconds = &v
	}
	return g
}

// Hotline is how tickets received in the range were handled. A ticket is on
// time when its first reply or its closing came at or before its deadline
// (as the lifecycle moved it for pauses), late when it came after or
// has not come and the deadline has passed, pending when it has not come and
// the deadline is still ahead; merged tickets are none of the three.
// OnTimeRate = on_time / (on_time + late).
type Hotline struct {
	TicketCounts
	ByType       []TicketBreakdown `json:"by_type"`
	ByDepartment []TicketBreakdown `json:"by_department"`
}

// TicketCounts are the counts of one group of tickets.
type TicketCounts struct {
	Tickets       int      `json:"tickets"`
	OnTime        int      `json:"on_time"`
	Late          int      `json:"late"`
	Pending       int      `json:"pending"`
	Merged        int      `json:"merged"`
	OnTimeRate    *float64 `json:"on_time_rate"`
	Degraded      int      `json:"degraded"` // triaged without the model (rules and retrieval)
	DegradedShare *float64 `json:"degraded_share"`
}

// TicketBreakdown is TicketCounts for one type or department.
type TicketBreakdown struct {
	Key string `json:"key"`
	TicketCounts
}

func (c *TicketCounts) add(g store.TicketGroup) {
	c.Tickets += g.Tickets
	c.OnTime += g.OnTime
	c.Late += g.Late
	c.Pending += g.Pending
	c.Merged += g.Merged
	c.Degraded += g.Degraded
}

func (c *TicketCounts) finish() {
	c.OnTimeRate = share(c.OnTime, c.OnTime+c.Late)
	c.DegradedShare = share(c.Degraded, c.Tickets)
}

func hotline(groups []store.TicketGroup) Hotline {
	var h Hotline
	byType, byDept := map[string]*TicketCounts{}, map[string]*TicketCounts{}
	for _, g := range groups {
		h.add(g)
		addTo(byType, g.Type, g)
		addTo(byDept, g.Department, g)
	}
	h.finish()
	h.ByType, h.ByDepartment = breakdown(byType), breakdown(byDept)
	return h
}

func addTo(m map[string]*TicketCounts, key string, g store.TicketGroup) {
	if m[key] == nil {
		m[key] = &TicketCounts{}
	}
	m[key].add(g)
}

func breakdown(m map[string]*TicketCounts) []TicketBreakdown {
	out := make([]TicketBreakdown, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		c := *m[k]
		c.finish()
		out = append(out, TicketBreakdown{Key: k, TicketCounts: c})
	}
	return out
}

// MonitorFigures is how the alerts one monitor raised in the range were
// handled, followed to AsOf.
type MonitorFigures struct {
	Monitor      string `json:"monitor"`
	Alerts       int    `json:"alerts"`
	Acknowledged int    `json:"acknowledged"`
	Resolved     int    `json:"resolved"`
	Firing       int    `json:"firing"` // not resolved at AsOf
	// MedianAckSeconds: fired → first acknowledged, over acknowledged alerts.
	MedianAckSeconds *float64 `json:"median_ack_seconds"`
	// Time firing: fired → resolved, or → AsOf for an alert still firing.
	MedianFiringSeconds *float64 `json:"median_firing_seconds"`
	TotalFiringSeconds  float64  `json:"total_firing_seconds"`
}

type monitorAcc struct {
	f           MonitorFigures
	ack, firing quantiles
	total       time.Duration
}

// alertRecord is the part of an alert.fire payload the report reads.
type alertRecord struct {
	Monitor   string `json:"monitor"`
	Clearance string `json:"clearance"`
}

func (s *Service) monitors(ctx context.Context, from, to, asOf time.Time, viewer access.Clearance) ([]MonitorFigures, error) {
	accs := map[string]*monitorAcc{}
	err := s.Store.ScanAlertSpans(ctx, from, to, asOf, func(sp store.AlertSpan) error {
		var rec alertRecord
		if json.Unmarshal(sp.Fire.Payload, &rec) != nil || rec.Monitor == "" {
			rec.Monitor = unknownName
		}
		if !viewer.Covers(recordClearance(access.Clearance(rec.Clearance))) {
			return nil // an alert above the reader's clearance does not exist for them
		}
		a := accs[rec.Monitor]
		if a == nil {
			a = &monitorAcc{f: MonitorFigures{Monitor: rec.Monitor}}
			accs[rec.Monitor] = a
		}
		a.add(sp, asOf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]MonitorFigures, 0, len(accs))
	for _, name := range slices.Sorted(maps.Keys(accs)) {
		a := accs[name]
		f := a.f
		f.MedianAckSeconds, f.MedianFiringSeconds = a.ack.rankSeconds(0.5), a.firing.rankSeconds(0.5)
		f.TotalFiringSeconds = seconds(a.total)
		out = append(out, f)
	}
	return out, nil
}

func (a *monitorAcc) add(sp store.AlertSpan, asOf time.Time) {
	a.f.Alerts++
	fired := sp.Fire.At
	if sp.AcknowledgedAt != nil {
		a.f.Acknowledged++
		a.ack.add(sp.AcknowledgedAt.Sub(fired).Milliseconds())
	}
	end := asOf
	if sp.ResolvedAt != nil {
		a.f.Resolved++
		end = *sp.ResolvedAt
	} else {
		a.f.Firing++
	}
	d := max(end.Sub(fired), 0)
	a.firing.add(d.Milliseconds())
	a.total += d
}
