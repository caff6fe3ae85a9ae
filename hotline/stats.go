package hotline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/store"
)

// ResultsStore is the part of the state store the results report reads;
// *store.DB implements it.
type ResultsStore interface {
	HotlineResults(ctx context.Context, from, to, now time.Time, department string) ([]store.DepartmentResults, error)
}

var _ ResultsStore = (*store.DB)(nil)

// MaxResultsSpan is the longest period one results report covers.
const MaxResultsSpan = 366 * 24 * time.Hour

// Results are the hotline's results (接诉即办 assessment) per department
// over a period, computed from the stored tickets and their transitions.
// Every rate is null when its denominator is 0.
type Results struct {
	From        time.Time          `json:"from"`
	To          time.Time          `json:"to"`
	At          time.Time          `json:"at"`
	Department  string             `json:"department,omitempty"`
	Total       DepartmentResult   `json:"total"`
	Departments []DepartmentResult `json:"departments"`
	Definitions map[string]string  `json:"definitions"`
}

// DepartmentResult is one department's results (Department "" in Total).
type DepartmentResult struct {
	Department     string `json:"department"`
	DepartmentName *Text  `json:"department_name,omitempty"`
	Received       int    `json:"received"`
	Merged         int    `json:"merged"`
	// 按时办结率: handled (replied, else closed) by the deadline ÷ due in the period.
	Due        int      `json:"due"`
	OnTime     int      `json:"on_time"`
	OnTimeRate *float64 `json:"on_time_rate"`
	// 响应率: accepted ÷ dispatched.
	Dispatched   int      `json:"dispatched"`
	Accepted     int      `json:"accepted"`
	ResponseRate *float64 `json:"response_rate"`
	// 解决率 and 满意率 over the return visits.
	Visited            int      `json:"visited"`
	Solved             int      `json:"solved"`
	SolvedRate         *float64 `json:"solved_rate"`
	Satisfied          int      `json:"satisfied"`
	BasicallySatisfied int      `json:"basically_satisfied"`
	Unsatisfied        int      `json:"unsatisfied"`
	SatisfactionRate   *float64 `json:"satisfaction_rate"`
	StrictSatisfaction *float64 `json:"strict_satisfaction_rate"`
	Returned           int      `json:"returned"`
	Reopened           int      `json:"reopened"`
	OverdueNow         int      `json:"overdue_now"`
	Handled            int      `json:"handled"`
	MeanHandlingHours  *float64 `json:"mean_handling_hours"`
}

// ResultDefinitions say exactly what each figure counts; the API returns
// them with the figures.
var ResultDefinitions = map[string]string{
	"received":                 "tickets received in [from, to), merged ones included",
	"merged":                   "of those, tickets merged into another ticket",
	"due":                      "tickets not merged whose deadline (moved by any time paused waiting for the citizen) falls in [from, to), handled or past that deadline at the report's time (a ticket still inside its time and not handled yet is left out)",
	"on_time":                  "of the due tickets, those whose reply (or close, when closed without a reply) is at or before that deadline",
	"on_time_rate":             "按时办结率 = on_time / due",
	"dispatched":               "distinct tickets dispatched to the department in [from, to) (a transition to dispatched)",
	"accepted":                 "of those, tickets the department accepted after that dispatch (any time up to now)",
	"response_rate":            "响应率 = accepted / dispatched",
	"visited":                  "return visits (satisfaction recorded) in [from, to), every one from the transitions: a ticket reopened and visited again counts twice",
	"solved":                   "of the visits, those that found the problem solved",
	"unsatisfied":              "of the visits, those with the citizen unsatisfied (the ticket was reopened)",
	"solved_rate":              "解决率 = solved / visited (solved recorded at the return visit)",
	"satisfaction_rate":        "满意率 = (satisfied + basically_satisfied) / visited",
	"strict_satisfaction_rate": "satisfied / visited",
	"returned":                 "transitions to returned in [from, to), counted for the department that returned the ticket",
	"reopened":                 "transitions to reopened in [from, to)",
	"overdue_now":              "tickets still being handled (not replied, closed or merged) past their deadline at the report's time",
	"handled":                  "tickets not merged replied (or closed without a reply) in [from, to)",
	"mean_handling_hours":      "mean of (handled − received − paused) over the handled tickets, in hours",
}

// ErrNoResults: the state store cannot compute results.
var ErrNoResults = errors.New("hotline: this state store does not keep ticket results")

// CheckPeriod validates a report period [from, to).
func CheckPeriod(from, to time.Time) error {
	switch {
	case from.IsZero() || to.IsZero():
		return &InputError{"from", "from and to are required (RFC 3339 times)"}
	case !from.Before(to):
		return &InputError{"to", "must be after from"}
	case to.Sub(from) > MaxResultsSpan:
		return &InputError{"to", "the period may span at most 366 days"}
	}
	return nil
}

// Results computes the results over [from, to) for department ("" every
// department).
func (s *Service) Results(ctx context.Context, from, to time.Time, department string) (Results, error) {
	if err := CheckPeriod(from, to); err != nil {
		return Results{}, err
	}
	if _, ok := s.tax.Department(department); department != "" && !ok {
		return Results{}, &InputError{"department", fmt.Sprintf("unknown department %q", department)}
	}
	rs, ok := s.store.(ResultsStore)
	if !ok {
		return Results{}, ErrNoResults
	}
	at := s.now().UTC()
	rows, err := rs.HotlineResults(ctx, from, to, at, department)
	if err != nil {
		return Results{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := Results{From: from.UTC(), To: to.UTC(), At: at, Department: department, Departments: []DepartmentResult{}, Definitions: ResultDefinitions}
	var total store.DepartmentResults
	for _, r := range rows {
		total.Add(r)
		out.Departments = append(out.Departments, s.departmentResult(r))
	}
	out.Total = s.departmentResult(total)
	return out, nil
}

func (s *Service) departmentResult(r store.DepartmentResults) DepartmentResult {
	d := DepartmentResult{Department: r.Department, Received: r.Received, Merged: r.Merged, Due: r.Due, OnTime: r.OnTime,
		Dispatched: r.Dispatched, Accepted: r.Accepted, Visited: r.Visited, Solved: r.Solved, Satisfied: r.Satisfied,
		BasicallySatisfied: r.BasicallySatisfied, Unsatisfied: r.Unsatisfied, Returned: r.Returned, Reopened: r.Reopened,
		OverdueNow: r.OverdueNow, Handled: r.Handled}
	if dept, ok := s.tax.Department(r.Department); ok && r.Department != "" {
		d.DepartmentName = &Text{Zh: dept.NameZh, En: dept.Name}
	}
	d.OnTimeRate = ratio(r.OnTime, r.Due)
	d.ResponseRate = ratio(r.Accepted, r.Dispatched)
	d.SolvedRate = ratio(r.Solved, r.Visited)
	d.SatisfactionRate = ratio(r.Satisfied+r.BasicallySatisfied, r.Visited)
	d.StrictSatisfaction = ratio(r.Satisfied, r.Visited)
	if r.Handled > 0 {
		h := float64(r.HandlingSeconds) / float64(r.Handled) / 3600
		d.MeanHandlingHours = &h
	}
	return d
}

// ratio is n/d, or nil when d is 0.
func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}
