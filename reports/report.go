// Package reports computes the operations report (issue 17, "result-oriented
// operation and assessment"): how each agent answered, how governed actions
// were decided, how the hotline kept its deadlines and how monitors' alerts
// were handled, over a range of time, from stored records only. docs/reports.md
// says what every figure means.
package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// Store is the part of the state store the report reads (store/reports.go).
type Store interface {
	ScanAudit(ctx context.Context, r store.AuditRange, fn func(audit.Record) error) error
	ProposalReport(ctx context.Context, from, to time.Time, clearances []string) (store.ProposalSummary, error)
	TicketReport(ctx context.Context, from, to, asOf time.Time) ([]store.TicketGroup, error)
	ScanAlertSpans(ctx context.Context, from, to, asOf time.Time, fn func(store.AlertSpan) error) error
}

var _ Store = (*store.DB)(nil)

// Service computes reports for one city.
type Service struct {
	Store    Store
	Location *time.Location // the city's zone: times are shown in it, dates are read in it; nil: UTC
	Now      func() time.Time
}

// Report is the operations report over [From, To). Every item is counted in
// the range it arrived in (a turn when it was recorded, a proposal when it
// was created, a ticket when it was received, an alert when it fired) and
// followed to AsOf, when the report was made.
type Report struct {
	From       time.Time        `json:"from"`
	To         time.Time        `json:"to"`
	AsOf       time.Time        `json:"as_of"`
	TimeZone   string           `json:"time_zone"`
	Agents     []AgentFigures   `json:"agents"`
	Governance Governance       `json:"governance"`
	Hotline    Hotline          `json:"hotline"`
	Monitors   []MonitorFigures `json:"monitors"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) loc() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	return time.UTC
}

// Operations computes the report over [from, to) with every record in it
// (the CLI, which reads the store directly).
func (s *Service) Operations(ctx context.Context, from, to time.Time) (Report, error) {
	return s.OperationsFor(ctx, from, to, access.Restricted)
}

// OperationsFor computes the report over [from, to) as a reader of
// clearance viewer sees it: chat turns, proposals and alerts above it are
// left out (a record that names no clearance counts as restricted), so no
// figure, and no agent or monitor name, reveals what the reader may not
// read. Tickets carry no clearance (the hotline routes show them to every
// supervisor) and are all counted.
func (s *Service) OperationsFor(ctx context.Context, from, to time.Time, viewer access.Clearance) (Report, error) {
	if !from.Before(to) {
		return Report{}, &RangeError{Field: "from", Message: "must be before to"}
	}
	loc := s.loc()
	asOf := s.now()
	rep := Report{From: from.In(loc), To: to.In(loc), AsOf: asOf.In(loc), TimeZone: loc.String()}
	var err error
	if rep.Agents, err = s.agents(ctx, from, to, viewer); err != nil {
		return Report{}, fmt.Errorf("reports: agents: %w", err)
	}
	ps, err := s.Store.ProposalReport(ctx, from, to, covered(viewer))
	if err != nil {
		return Report{}, fmt.Errorf("reports: governance: %w", err)
	}
	rep.Governance = governance(ps)
	groups, err := s.Store.TicketReport(ctx, from, to, asOf)
	if err != nil {
		return Report{}, fmt.Errorf("reports: hotline: %w", err)
	}
	rep.Hotline = hotline(groups)
	if rep.Monitors, err = s.monitors(ctx, from, to, asOf, viewer); err != nil {
		return Report{}, fmt.Errorf("reports: monitors: %w", err)
	}
	return rep, nil
}

// share is part/whole, or nil when whole is 0 (no data, not 0 %).
func share(part, whole int) *float64 {
	if whole <= 0 {
		return nil
	}
	v := float64(part) / float64(whole)
	return &v
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}

// covered lists the clearance levels viewer covers.
func covered(viewer access.Clearance) []string {
	out := []string{}
	for _, c := range access.Clearances {
		if viewer.Covers(c) {
			out = append(out, string(c))
		}
	}
	return out
}

// recordClearance is the level a record's payload names; restricted when
// it names none, so that an old or unreadable record is never shown below
// the top level.
func recordClearance(c access.Clearance) access.Clearance {
	if c == "" {
		return access.Restricted
	}
	return c
}
