package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Table is one section of a report as rows, the form CSV and text take.
type Table struct {
	Name    string
	Columns []string
	Rows    [][]Cell
}

// Cell is one value as CSV writes it (plain numbers, shares as fractions,
// durations in seconds, empty when unknown) and as a person reads it (shares
// as percentages, durations as 1m30s, "-" when unknown).
type Cell struct {
	CSV, Text string
}

func str(s string) Cell { return Cell{s, s} }

func num(n int) Cell { s := strconv.Itoa(n); return Cell{s, s} }

func rate(v *float64) Cell {
	if v == nil {
		return Cell{"", "-"}
	}
	return Cell{strconv.FormatFloat(*v, 'f', 4, 64), strconv.FormatFloat(*v*100, 'f', 1, 64) + "%"}
}

func millis(v *int64) Cell {
	if v == nil {
		return Cell{"", "-"}
	}
	return Cell{strconv.FormatInt(*v, 10), (time.Duration(*v) * time.Millisecond).String()}
}

func secs(v *float64) Cell {
	if v == nil {
		return Cell{"", "-"}
	}
	d := time.Duration(*v*1000) * time.Millisecond
	if d >= time.Minute {
		d = d.Round(time.Second) // 2m31s, not 2m30.69s
	}
	return Cell{strconv.FormatFloat(*v, 'f', 3, 64), d.String()}
}

// ticketColumns follow the key column of every ticket table.
var ticketColumns = []string{"tickets", "on_time", "late", "pending", "merged", "on_time_rate", "degraded", "degraded_share"}

func ticketCells(c TicketCounts) []Cell {
	return []Cell{num(c.Tickets), num(c.OnTime), num(c.Late), num(c.Pending), num(c.Merged), rate(c.OnTimeRate), num(c.Degraded), rate(c.DegradedShare)}
}

// Tables lays the report out as the sections CSV and text show, in order:
// range, agents, proposals, governance, hotline, tickets_by_type,
// tickets_by_department, monitors (docs/reports.md lists the columns).
func (r Report) Tables() []Table {
	ts := []Table{{Name: "range", Columns: []string{"from", "to", "as_of", "time_zone"},
		Rows: [][]Cell{{str(r.From.Format(time.RFC3339)), str(r.To.Format(time.RFC3339)), str(r.AsOf.Format(time.RFC3339)), str(r.TimeZone)}}}}
	agents := Table{Name: "agents", Columns: []string{"agent", "turns", "answered", "failed", "answered_with_citations", "citations_unknown", "cited_share",
		"degraded", "degraded_unknown", "degraded_share", "latency_p50_ms", "latency_p95_ms", "latency_unknown",
		"tool_calls", "tool_errors", "tool_calls_unknown", "tool_error_rate"}}
	for _, a := range r.Agents {
		agents.Rows = append(agents.Rows, []Cell{str(a.Agent), num(a.Turns), num(a.Answered), num(a.Failed), num(a.AnsweredWithCitations), num(a.CitationsUnknown), rate(a.CitedShare),
			num(a.Degraded), num(a.DegradedUnknown), rate(a.DegradedShare), millis(a.LatencyP50MS), millis(a.LatencyP95MS), num(a.LatencyUnknown),
			num(a.ToolCalls), num(a.ToolErrors), num(a.ToolCallsUnknown), rate(a.ToolErrorRate)})
	}
	props := Table{Name: "proposals", Columns: []string{"action", "outcome", "proposals"}}
	for _, o := range r.Governance.Outcomes {
		props.Rows = append(props.Rows, []Cell{str(o.Action), str(o.Outcome), num(o.Proposals)})
	}
	g := r.Governance
	gov := Table{Name: "governance", Columns: []string{"proposals", "decided", "median_decision_seconds", "expired"},
		Rows: [][]Cell{{num(g.Proposals), num(g.Decided), secs(g.MedianDecisionSeconds), num(g.Expired)}}}
	hot := Table{Name: "hotline", Columns: ticketColumns, Rows: [][]Cell{ticketCells(r.Hotline.TicketCounts)}}
	ts = append(ts, agents, props, gov, hot, ticketTable("tickets_by_type", "type", r.Hotline.ByType), ticketTable("tickets_by_department", "department", r.Hotline.ByDepartment))
	mons := Table{Name: "monitors", Columns: []string{"monitor", "alerts", "acknowledged", "resolved", "firing", "median_ack_seconds", "median_firing_seconds", "total_firing_seconds"}}
	for _, m := range r.Monitors {
		total := m.TotalFiringSeconds
		mons.Rows = append(mons.Rows, []Cell{str(m.Monitor), num(m.Alerts), num(m.Acknowledged), num(m.Resolved), num(m.Firing),
			secs(m.MedianAckSeconds), secs(m.MedianFiringSeconds), secs(&total)})
	}
	return append(ts, mons)
}

func ticketTable(name, key string, bs []TicketBreakdown) Table {
	t := Table{Name: name, Columns: append([]string{key}, ticketColumns...)}
	for _, b := range bs {
		t.Rows = append(t.Rows, append([]Cell{str(b.Key)}, ticketCells(b.TicketCounts)...))
	}
	return t
}

// WriteCSV writes every table as a CSV section: a header row whose first
// cell is "section" and then the table's columns, one row per line whose
// first cell is the table's name, and an empty line after each section.
// encoding/csv readers skip the empty lines; set FieldsPerRecord to -1.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	for i, t := range r.Tables() {
		if i > 0 {
			cw.Flush()
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := cw.Write(append([]string{"section"}, t.Columns...)); err != nil {
			return err
		}
		for _, row := range t.Rows {
			rec := []string{t.Name}
			for _, c := range row {
				rec = append(rec, c.CSV)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteText writes every table for a person to read: its name, then
// aligned columns; an empty table says "(none)".
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, t := range r.Tables() {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "== %s\n", t.Name)
		if len(t.Rows) == 0 {
			fmt.Fprintln(tw, "(none)")
			continue
		}
		heads := make([]string, len(t.Columns))
		for j, c := range t.Columns {
			heads[j] = textHeading(c)
		}
		fmt.Fprintln(tw, strings.Join(heads, "\t"))
		for _, row := range t.Rows {
			cells := make([]string, len(row))
			for j, c := range row {
				cells[j] = c.Text
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	fmt.Fprintln(tw, "\n? = records that do not carry the figure (older records); - = no data. docs/reports.md explains each column.")
	return tw.Flush()
}

// shortHeadings keep the text tables narrow; CSV and JSON use the full names.
var shortHeadings = map[string]string{
	"answered_with_citations": "CITED", "citations_unknown": "CITED?", "cited_share": "CITED%",
	"degraded_unknown": "DEGRADED?", "degraded_share": "DEGRADED%",
	"latency_p50_ms": "P50", "latency_p95_ms": "P95", "latency_unknown": "LATENCY?",
	"tool_calls": "TOOL_CALLS", "tool_errors": "TOOL_ERRORS", "tool_calls_unknown": "TOOL_CALLS?", "tool_error_rate": "TOOL_ERROR%",
	"median_decision_seconds": "MEDIAN_DECISION", "on_time_rate": "ON_TIME%",
	"median_ack_seconds": "MEDIAN_ACK", "median_firing_seconds": "MEDIAN_FIRING", "total_firing_seconds": "TOTAL_FIRING",
}

func textHeading(col string) string {
	if h, ok := shortHeadings[col]; ok {
		return h
	}
	return strings.ToUpper(col)
}
