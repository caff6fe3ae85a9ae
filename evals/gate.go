package evals

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/internal/usererr"
)

// Metric names, as reports and gates spell them.
const (
	MetricRecallAtK        = "retrieval_recall_at_k"
	MetricMRR              = "retrieval_mrr"
	MetricToolPrecision    = "tool_precision"
	MetricToolRecall       = "tool_recall"
	MetricArgumentAccuracy = "argument_accuracy"
	MetricAnswerPassRate   = "answer_pass_rate"
	MetricProposalAccuracy = "proposal_accuracy"
	MetricLatencyP50       = "latency_p50_ms"
	MetricLatencyP95       = "latency_p95_ms"
	MetricDegradedRate     = "degraded_rate"
	MetricCasePassRate     = "case_pass_rate"
)

// MetricInfo describes a metric: its name, whether higher is better, and
// what it measures.
type MetricInfo struct {
	Name           string
	HigherIsBetter bool
	Description    string
}

// Metrics lists every metric in report order.
var Metrics = []MetricInfo{
	{MetricCasePassRate, true, "share of applicable cases whose every expectation held (errors and timeouts count as failures)"},
	{MetricRecallAtK, true, "mean share of the expected documents found among the top k retrieved"},
	{MetricMRR, true, "mean reciprocal rank of the first expected document among the top k (0 when none)"},
	{MetricToolPrecision, true, "mean share of called tools that were expected (must_call or may_call) and not forbidden"},
	{MetricToolRecall, true, "mean share of must_call tools that were called"},
	{MetricArgumentAccuracy, true, "share of called must_call tools with argument matchers whose arguments matched"},
	{MetricAnswerPassRate, true, "share of cases with answer expectations whose answer passed them"},
	{MetricProposalAccuracy, true, "share of cases with proposal expectations whose proposals matched"},
	{MetricLatencyP50, false, "median wall-clock time of the evaluated turn, in ms"},
	{MetricLatencyP95, false, "95th percentile wall-clock time of the evaluated turn, in ms"},
	{MetricDegradedRate, false, "share of answered cases whose answer was degraded (a model failed and a fallback answered)"},
}

// MetricByName returns the named metric.
func MetricByName(name string) (MetricInfo, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}

func metricNames() string {
	s := make([]string, len(Metrics))
	for i, m := range Metrics {
		s[i] = m.Name
	}
	return strings.Join(s, ", ")
}

// ErrInvalidGate is wrapped by every bad threshold.
var ErrInvalidGate = usererr.New("evals", "invalid threshold")

// Gate is one threshold: Metric in Scope must not fall under Value (a
// fail-under gate, for higher-is-better metrics) or rise over it (a
// fail-over gate, Max, for lower-is-better metrics).
type Gate struct {
	Scope  string  `json:"scope"` // "" = the whole run; "agent:NAME", "suite:NAME", "lang:zh", "tag:NAME"
	Metric string  `json:"metric"`
	Max    bool    `json:"max"` // true: fail over Value; false: fail under Value
	Value  float64 `json:"value"`
	Origin string  `json:"origin,omitempty"` // where the gate was set
}

func (g Gate) String() string {
	op := ">="
	if g.Max {
		op = "<="
	}
	s := fmt.Sprintf("%s %s %g", g.Metric, op, g.Value)
	if g.Scope != "" {
		s += " [" + g.Scope + "]"
	}
	return s
}

func newGate(scope, metric string, isMax bool, value float64, origin string) (Gate, error) {
	info, ok := MetricByName(metric)
	if !ok {
		return Gate{}, usererr.Wrapf(ErrInvalidGate, "unknown metric %q (known: %s)", metric, metricNames())
	}
	if isMax && info.HigherIsBetter {
		return Gate{}, usererr.Wrapf(ErrInvalidGate, "%s is higher-is-better: gate it with fail-under (--fail-under %s=VALUE), not fail-over", metric, metric)
	}
	if !isMax && !info.HigherIsBetter {
		return Gate{}, usererr.Wrapf(ErrInvalidGate, "%s is lower-is-better: gate it with fail-over (--fail-over %s=VALUE), not fail-under", metric, metric)
	}
	if value < 0 {
		return Gate{}, usererr.Wrapf(ErrInvalidGate, "%s: the value must not be negative", metric)
	}
	if scope != "" {
		kind, name, ok := strings.Cut(scope, ":")
		if !ok || name == "" || !contains([]string{"agent", "suite", "lang", "tag"}, kind) {
			return Gate{}, usererr.Wrapf(ErrInvalidGate, "scope %q must be agent:NAME, suite:NAME, lang:zh|en or tag:NAME", scope)
		}
	}
	return Gate{Scope: scope, Metric: metric, Max: isMax, Value: value, Origin: origin}, nil
}

// ParseGateFlag parses the value of --fail-under (isMax false) or
// --fail-over (isMax true): METRIC=VALUE, optionally METRIC@SCOPE=VALUE
// (e.g. tool_recall@agent:traffic=1); several may be comma-separated.
func ParseGateFlag(value string, isMax bool) ([]Gate, error) {
	flag := "--fail-under"
	if isMax {
		flag = "--fail-over"
	}
	var out []Gate
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lhs, rhs, ok := strings.Cut(part, "=")
		if !ok {
			return nil, usererr.Wrapf(ErrInvalidGate, "%s %q: want METRIC=VALUE", flag, part)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rhs), 64)
		if err != nil {
			return nil, usererr.Wrapf(ErrInvalidGate, "%s %q: %q is not a number", flag, part, rhs)
		}
		metric, scope, _ := strings.Cut(strings.TrimSpace(lhs), "@")
		g, err := newGate(scope, metric, isMax, v, flag)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// ParseThresholds reads a gate file:
//
//	fail_under: {answer_pass_rate: 0.6}      # the whole run
//	fail_over:  {degraded_rate: 0}
//	agents:  {traffic: {fail_under: {tool_recall: 1}}}
//	suites:  {traffic-basics: {...}}
//	langs:   {zh: {...}}
//	tags:    {multi-turn: {...}}
func ParseThresholds(data []byte, file string) ([]Gate, error) {
	p := &parser{file: file}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		p.syntax(err)
		return nil, p.err()
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	m := p.mapping(doc, "", "fail_under", "fail_over", "agents", "suites", "langs", "tags")
	if m == nil {
		return nil, p.err()
	}
	top := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range []string{"fail_under", "fail_over"} {
		if v := m.get(k); v != nil {
			top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k, Line: v.Line}, v)
		}
	}
	gates := p.thresholds(top, "", "")
	for _, sec := range []struct{ key, kind string }{{"agents", "agent"}, {"suites", "suite"}, {"langs", "lang"}, {"tags", "tag"}} {
		n := m.get(sec.key)
		if n == nil {
			continue
		}
		if n.Kind != yaml.MappingNode {
			p.fail(n, sec.key, "must be a mapping of name to {fail_under, fail_over}")
			continue
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			gates = append(gates, p.thresholds(v, sec.key+"."+k.Value, sec.kind+":"+k.Value)...)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return gates, nil
}

// LoadThresholds reads a gate file from disk.
func LoadThresholds(path string) ([]Gate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("evals: thresholds: %w", err)
	}
	return ParseThresholds(data, path)
}

// GateResult is a gate checked against a run.
type GateResult struct {
	Gate
	Actual *float64 `json:"actual"` // nil: the scope has no measurement of the metric
	Passed bool     `json:"passed"`
	Note   string   `json:"note,omitempty"`
}

// checkGates evaluates gates against the run's aggregates. A gate whose
// scope did not measure its metric (e.g. every case was not applicable)
// passes with a note rather than failing the run.
func checkGates(gates []Gate, overall Aggregate, breakdowns []Breakdown) []GateResult {
	out := make([]GateResult, 0, len(gates))
	for _, g := range gates {
		agg, found := overall, true
		if g.Scope != "" {
			found = false
			kind, name, _ := strings.Cut(g.Scope, ":")
			for _, b := range breakdowns {
				if b.Dimension == kind && b.Value == name {
					agg, found = b.Aggregate, true
					break
				}
			}
		}
		r := GateResult{Gate: g, Passed: true}
		v, ok := agg.Metrics[g.Metric]
		switch {
		case !found:
			r.Note = "no case in this scope"
		case !ok:
			r.Note = "not measured in this scope"
		default:
			r.Actual = &v
			if g.Max {
				r.Passed = v <= g.Value+1e-9
			} else {
				r.Passed = v >= g.Value-1e-9
			}
		}
		out = append(out, r)
	}
	return out
}
