package evals

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// ReportFormat is the version of the JSON report layout.
const ReportFormat = 1

// Status is how a case ended.
type Status string

// Case statuses.
const (
	StatusPass          Status = "pass"
	StatusFail          Status = "fail"
	StatusError         Status = "error"   // the turn could not be run (not a refusal)
	StatusTimeout       Status = "timeout" // no answer within the case's timeout
	StatusNotApplicable Status = "not_applicable"
)

// Report is the whole outcome of a run.
type Report struct {
	Format       int          `json:"format"`
	ID           string       `json:"id"`
	StartedAt    time.Time    `json:"started_at"`
	FinishedAt   time.Time    `json:"finished_at"`
	DurationMS   int64        `json:"duration_ms"`
	Target       string       `json:"target"`
	Model        string       `json:"model"`
	GitRevision  string       `json:"git_revision"`
	DataSnapshot string       `json:"data_snapshot"`
	Parallel     int          `json:"parallel"`
	Agents       []AgentInfo  `json:"agents"`
	Suites       []SuiteRef   `json:"suites"`
	Aggregate                 // counts and metrics of the whole run
	Breakdowns   []Breakdown  `json:"breakdowns"`
	Gates        []GateResult `json:"gates"`
	Passed       bool         `json:"passed"` // every gate held
	Warnings     []string     `json:"warnings,omitempty"`
	Cases        []CaseResult `json:"cases"`
}

// SuiteRef records which suite file a run used.
type SuiteRef struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Hash  string `json:"hash"`
	Cases int    `json:"cases"`
}

// Counts are case outcomes.
type Counts struct {
	Total         int `json:"total"`
	Passed        int `json:"passed"`
	Failed        int `json:"failed"`
	Errors        int `json:"errors"`
	Timeouts      int `json:"timeouts"`
	NotApplicable int `json:"not_applicable"`
}

// Aggregate is counts and metric values over a set of cases. A metric that
// no case measured is absent.
type Aggregate struct {
	Counts  Counts             `json:"counts"`
	Metrics map[string]float64 `json:"metrics"`
}

// Breakdown is the aggregate of the cases sharing one value of a dimension
// (agent, lang, suite or tag).
type Breakdown struct {
	Dimension string `json:"dimension"`
	Value     string `json:"value"`
	Aggregate
}

// CaseResult is one case's outcome.
type CaseResult struct {
	Suite        string             `json:"suite"`
	ID           string             `json:"id"`
	File         string             `json:"file"`
	Line         int                `json:"line"`
	Agent        string             `json:"agent"`
	AgentVersion string             `json:"agent_version"`
	Model        string             `json:"model"`
	Lang         string             `json:"lang"`
	Tags         []string           `json:"tags,omitempty"`
	Role         string             `json:"role"`
	Clearance    string             `json:"clearance"`
	Status       Status             `json:"status"`
	Reason       string             `json:"reason,omitempty"`
	Message      string             `json:"message"`
	Turns        int                `json:"turns"`
	SessionID    string             `json:"session_id,omitempty"`
	DurationMS   int64              `json:"duration_ms"`
	Refused      bool               `json:"refused,omitempty"`
	Degraded     bool               `json:"degraded,omitempty"`
	Answer       string             `json:"answer,omitempty"`
	Retrieved    []string           `json:"retrieved,omitempty"`
	ToolCalls    []ToolCall         `json:"tool_calls,omitempty"`
	Proposals    []Proposal         `json:"proposals,omitempty"`
	Checks       []Check            `json:"checks,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	Warnings     []string           `json:"warnings,omitempty"`

	retrievedChunks []string
}

// Key identifies a case across runs: suite/id.
func (c CaseResult) Key() string { return c.Suite + "/" + c.ID }

// ToolCall is one tool call of the evaluated turn.
type ToolCall struct {
	Name      string `json:"name"`
	Arguments any    `json:"arguments,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// Proposal is one governance proposal of the evaluated turn.
type Proposal struct {
	Action    string `json:"action"`
	Arguments any    `json:"arguments,omitempty"`
	Status    string `json:"status,omitempty"`
}

// Check is one expectation checked.
type Check struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// ErrNotAReport is returned by ReadReport for JSON that is no eval report.
var ErrNotAReport = errors.New("evals: not an eval report")

// ReadReport reads a JSON report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotAReport, path, err)
	}
	if r.Format == 0 || r.ID == "" {
		return nil, fmt.Errorf("%w: %s has no format or id", ErrNotAReport, path)
	}
	return &r, nil
}

// Breakdown returns the aggregate for dimension=value, if any case had it.
func (r *Report) Breakdown(dimension, value string) (Aggregate, bool) {
	for _, b := range r.Breakdowns {
		if b.Dimension == dimension && b.Value == value {
			return b.Aggregate, true
		}
	}
	return Aggregate{}, false
}

// summaryColumns are the metrics the summary table shows, with short headers.
var summaryColumns = []struct{ metric, head string }{
	{MetricCasePassRate, "PASS%"},
	{MetricRecallAtK, "RECALL@K"},
	{MetricMRR, "MRR"},
	{MetricToolPrecision, "TOOL_P"},
	{MetricToolRecall, "TOOL_R"},
	{MetricArgumentAccuracy, "ARGS"},
	{MetricAnswerPassRate, "ANSWER"},
	{MetricProposalAccuracy, "PROPOSAL"},
	{MetricLatencyP50, "P50_MS"},
	{MetricLatencyP95, "P95_MS"},
	{MetricDegradedRate, "DEGRADED"},
}

func metricText(m map[string]float64, name string) string {
	v, ok := m[name]
	if !ok {
		return "-"
	}
	if name == MetricLatencyP50 || name == MetricLatencyP95 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteSummary writes the table a terminal shows after a run: one row per
// agent and language and the whole run, then failures, cases not
// applicable and gates.
func (r *Report) WriteSummary(w io.Writer) error {
	fmt.Fprintf(w, "eval %s: %d cases in %d suites on %s, model %s, data %s, git %s, %.1fs\n\n",
		r.ID, r.Counts.Total, len(r.Suites), r.Target, r.Model, r.DataSnapshot, shortRev(r.GitRevision), float64(r.DurationMS)/1000)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	head := "SCOPE\tCASES\tPASS\tFAIL\tERR\tN/A"
	for _, c := range summaryColumns {
		head += "\t" + c.head
	}
	fmt.Fprintln(tw, head+"\t")
	row := func(name string, a Aggregate) {
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t%d\t%d", name, a.Counts.Total, a.Counts.Passed, a.Counts.Failed, a.Counts.Errors+a.Counts.Timeouts, a.Counts.NotApplicable)
		for _, c := range summaryColumns {
			line += "\t" + metricText(a.Metrics, c.metric)
		}
		fmt.Fprintln(tw, line+"\t")
	}
	for _, b := range r.Breakdowns {
		if b.Dimension == "agent" {
			row("agent "+b.Value, b.Aggregate)
		}
	}
	for _, b := range r.Breakdowns {
		if b.Dimension == "lang" {
			row("lang "+b.Value, b.Aggregate)
		}
	}
	row("ALL", r.Aggregate)
	if err := tw.Flush(); err != nil {
		return err
	}
	var failed, na []CaseResult
	for _, c := range r.Cases {
		switch c.Status {
		case StatusFail, StatusError, StatusTimeout:
			failed = append(failed, c)
		case StatusNotApplicable:
			na = append(na, c)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n%d cases did not pass:\n", len(failed))
		for _, c := range failed {
			fmt.Fprintf(w, "  %-7s %s (%s:%d): %s\n", strings.ToUpper(string(c.Status)), c.Key(), c.File, c.Line, oneLine(c.Reason, 160))
		}
	}
	if len(na) > 0 {
		fmt.Fprintf(w, "\n%d cases not applicable (reported, not run):\n", len(na))
		for _, c := range na {
			fmt.Fprintf(w, "  N/A     %s: %s\n", c.Key(), c.Reason)
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", wn)
	}
	if len(r.Gates) > 0 {
		fmt.Fprintln(w, "\nthresholds:")
		for _, g := range r.Gates {
			fmt.Fprintf(w, "  %s\n", g.text())
		}
		if r.Passed {
			fmt.Fprintln(w, "every threshold held")
		} else {
			fmt.Fprintf(w, "%d thresholds missed\n", r.GatesMissed())
		}
	}
	return nil
}

// GatesMissed counts the gates that did not hold.
func (r *Report) GatesMissed() int {
	n := 0
	for _, g := range r.Gates {
		if !g.Passed {
			n++
		}
	}
	return n
}

func (g GateResult) text() string {
	mark := "ok  "
	if !g.Passed {
		mark = "MISS"
	}
	actual := "n/a (" + g.Note + ")"
	if g.Actual != nil {
		actual = fmt.Sprintf("%g", *g.Actual)
	}
	s := fmt.Sprintf("%s %s: %s", mark, g.Gate.String(), actual)
	if g.Origin != "" {
		s += "  (" + g.Origin + ")"
	}
	return s
}

func shortRev(s string) string {
	if len(s) > 12 && !strings.Contains(s, " ") {
		return s[:12]
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// sortedMetricNames lists the metrics of m in report order.
func sortedMetricNames(m map[string]float64) []string {
	var out []string
	for _, info := range Metrics {
		if _, ok := m[info.Name]; ok {
			out = append(out, info.Name)
		}
	}
	var extra []string
	for k := range m {
		if _, ok := MetricByName(k); !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}
