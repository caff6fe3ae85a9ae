package hotline

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// OverdueToolName is the read-only tool that counts open tickets past
// their deadline; the hotline-overdue monitor reads it.
const OverdueToolName = "hotline_overdue"

// OverdueSource is the part of the state store the tool reads.
type OverdueSource interface {
	ListTickets(ctx context.Context, f store.TicketFilter) ([]store.Ticket, error)
}

// OverdueArgs are hotline_overdue's arguments.
type OverdueArgs struct {
	Department string `json:"department,omitempty" jsonschema:"Department (承办单位) code; omit for every department."`
}

// OverdueDepartment counts one department's overdue tickets.
type OverdueDepartment struct {
	Department     string    `json:"department"`
	Overdue        int       `json:"overdue"`
	OldestDeadline time.Time `json:"oldest_deadline"`
}

// OverdueResult is hotline_overdue's answer. It names departments and
// counts, never callers or ticket text.
type OverdueResult struct {
	AsOf        time.Time           `json:"as_of"`
	Total       int                 `json:"total"`
	Truncated   bool                `json:"truncated,omitempty"`
	Departments []OverdueDepartment `json:"departments"`
}

// overdueScan bounds how many overdue tickets one call reads.
const overdueScan = 1000

// NewOverdueTool returns hotline_overdue: open tickets whose deadline has
// passed, counted per department. It changes nothing.
func NewOverdueTool(src OverdueSource, now func() time.Time) (tools.Tool, error) {
	spec := tools.Spec{
		Name: OverdueToolName,
		Description: "Hotline tickets past deadline 热线超期工单: open 12345 tickets whose handling deadline has passed, " +
			"counted per department, with each department's oldest deadline.",
		Clearance: access.Internal,
		Timeout:   5 * time.Second,
		Source:    "hotline:tickets",
	}
	return tools.NewTyped(spec, func(ctx context.Context, a OverdueArgs) (tools.Result, error) {
		at := now()
		list, err := src.ListTickets(ctx, store.TicketFilter{OverdueAt: at, Department: a.Department, Limit: overdueScan, Oldest: true})
		if err != nil {
			return tools.Result{}, fmt.Errorf("hotline: overdue tickets: %w", err)
		}
		res := OverdueResult{AsOf: at, Total: len(list), Truncated: len(list) == overdueScan, Departments: []OverdueDepartment{}}
		byDept := map[string]int{}
		for _, t := range list {
			i, ok := byDept[t.Department]
			if !ok {
				i = len(res.Departments)
				byDept[t.Department] = i
				res.Departments = append(res.Departments, OverdueDepartment{Department: t.Department, OldestDeadline: t.Deadline})
			}
			d := &res.Departments[i]
			d.Overdue++
			if t.Deadline.Before(d.OldestDeadline) {
				d.OldestDeadline = t.Deadline
			}
		}
		sort.Slice(res.Departments, func(i, j int) bool { return res.Departments[i].Department < res.Departments[j].Department })
		return tools.JSONResult(res, tools.Citation{Source: "hotline:tickets", Title: "Overdue hotline tickets 超期工单", AsOf: at})
	})
}
