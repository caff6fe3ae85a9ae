package evals

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

// minimalSuite is the form the issue says must be accepted as written.
const minimalSuite = `name: traffic-basics
agent: traffic
cases:
  - id: most-congested-now
    input: "Which road segment is the most congested right now?"
    expect:
      tools: {must_call: [ traffic_congestion ]}
      answer: {must_contain: ["congestion index"], must_not_contain: ["I found nothing"]}
`

func TestParseMinimalSuite(t *testing.T) {
	s, err := ParseSuite([]byte(minimalSuite), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "traffic-basics" || len(s.Cases) != 1 {
		t.Fatalf("suite = %+v", s)
	}
	c := s.Cases[0]
	if c.Agent != "traffic" || c.Input.Message == "" || c.Input.Role != access.RoleOperator || c.Input.Clearance != access.Internal {
		t.Errorf("case defaults: %+v", c)
	}
	if c.Expect.Tools == nil || len(c.Expect.Tools.MustCall) != 1 || c.Expect.Tools.MustCall[0].Name != "traffic_congestion" {
		t.Errorf("tools: %+v", c.Expect.Tools)
	}
	if a := c.Expect.Answer; a == nil || len(a.MustContain) != 1 || a.MustContain[0][0] != "congestion index" || len(a.MustNotContain) != 1 {
		t.Errorf("answer: %+v", c.Expect.Answer)
	}
}

func TestParseFullSuite(t *testing.T) {
	s, err := ParseSuite([]byte(`name: full
agent: traffic
model: offline
k: 2
timeout: 5s
role: supervisor
clearance: public
tags: [t1]
requires: [tool:traffic_segment]
thresholds:
  fail_under: {tool_recall: 0.9}
  fail_over: {latency_p95_ms: 3000}
cases:
  - id: a
    agent: city
    timeout: 2s
    input:
      message: "那滨江区呢？"
      turns: ["现在全市路况怎么样？"]
      role: operator
      clearance: internal
    tags: [t2, t1]
    requires: [action:traffic.retime_signal]
    expect:
      retrieved: {must_include: [doc-a], must_not_include: [doc-b], k: 3}
      tools:
        must_call:
          - traffic_incidents
          - {name: traffic_congestion, arguments: {district: binjiang, limit: {range: [1, 10]}, road: {absent: true}}}
        may_call: [traffic_signal_plan]
        must_not_call: traffic_segment
        exclusive: true
      answer:
        must_contain: ["滨江", ["拥堵指数", "congestion index"]]
        must_not_contain: [secret]
        language: same
        judge: Names the most congested segment.
      proposals:
        must_propose: [{action: traffic.retime_signal, arguments: {corridor: {regex: "^bin"}}}]
        must_not_propose: [traffic.dispatch_crew]
      max_latency_ms: 1500
  - id: b
    input: hi
    expect: {refused: true}
  - id: c
    input: hi
    expect: {tools: none, proposals: none, retrieved: [x, y]}
`), "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.K != 2 || s.Timeout != 5*time.Second || s.Model != "offline" || len(s.Gates) != 2 || s.Gates[0].Scope != "suite:full" || !s.Gates[1].Max {
		t.Errorf("suite: %+v", s)
	}
	a := s.Cases[0]
	if a.Agent != "city" || a.Timeout != 2*time.Second || a.Input.Role != access.RoleOperator || a.Input.Clearance != access.Internal ||
		len(a.Input.Turns) != 1 || strings.Join(a.Tags, ",") != "t1,t2" || len(a.Requires) != 2 {
		t.Errorf("case a: %+v", a)
	}
	e := a.Expect
	if e.Retrieved.K != 3 || e.Tools.MustCall[1].Arguments["limit"].Kind != "range" || !e.Tools.Exclusive || e.Tools.MustNotCall[0] != "traffic_segment" ||
		len(e.Answer.MustContain[1]) != 2 || e.Answer.Judge == "" || e.Proposals.MustPropose[0].Arguments["corridor"].Kind != "regex" || e.MaxLatencyMS != 1500 {
		t.Errorf("expect a: %+v", e)
	}
	b := s.Cases[1]
	if b.Agent != "traffic" || b.Input.Role != access.RoleSupervisor || b.Input.Clearance != access.Public || !b.Expect.Refused || b.Line != 42 {
		t.Errorf("case b: %+v", b)
	}
	if c := s.Cases[2].Expect; !c.Tools.None || !c.Proposals.None || len(c.Retrieved.MustInclude) != 2 {
		t.Errorf("case c: %+v", c)
	}
}

// invalidSuites are refused, each with a message naming line and field.
// Entries marked semantic break rules no JSON Schema can state (unique
// ids, valid regular expressions, ordered ranges); the schema accepts them.
var invalidSuites = map[string]struct {
	yaml     string
	where    string // "line:col field" the first problem must name
	msg      string
	semantic bool
}{
	"unknown top-level field": {"name: x\nagent: a\nkases: []\n", "3:1 kases", "unknown field", false},
	"no cases":                {"name: x\nagent: a\n", "1:1 cases", "is required", false},
	"empty cases":             {"name: x\nagent: a\ncases: []\n", "3:8 cases", "at least one case", false},
	"bad name":                {"name: 'two words'\nagent: a\ncases: [{id: c, input: q, expect: {tools: none}}]\n", "1:7 name", "must match", false},
	"case without agent": {`name: x
cases:
  - id: c
    input: q
    expect: {tools: none}
`, "3:5 cases[0].agent", "no agent", false},
	"unknown expectation": {`name: x
agent: a
cases:
  - id: c
    input: q
    expect:
      tool: {must_call: [t]}
`, "7:7 cases[0].expect.tool", "unknown field", false},
	"misspelt matcher key": {`name: x
agent: a
cases:
  - id: c
    input: q
    expect:
      tools:
        must_call: [{name: t, arguments: {limit: {rnage: [1, 2], min: 1}}}]
`, "8:50 cases[0].expect.tools.must_call[0].arguments.limit", "mixes matcher keys", false},
	"bad regex": {`name: x
agent: a
cases:
  - id: c
    input: q
    expect:
      tools:
        must_call: [{name: t, arguments: {road: {regex: "("}}}]
`, "8:49 cases[0].expect.tools.must_call[0].arguments.road", "regular expression", true},
	"range reversed": {`name: x
agent: a
cases:
  - id: c
    input: q
    expect:
      tools:
        must_call: [{name: t, arguments: {limit: {range: [5, 1]}}}]
`, "8:50 cases[0].expect.tools.must_call[0].arguments.limit", "min is above max", true},
	"duplicate ids": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {tools: none}}
  - {id: c, input: q, expect: {tools: none}}
`, "5:5 cases[1].id", "already the id", true},
	"expects nothing": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {}}
`, "4:31 cases[0].expect", "expects nothing", false},
	"tools neither none nor mapping": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {tools: all}}
`, "4:39 cases[0].expect.tools", "must be none", false},
	"bad role": {`name: x
agent: a
cases:
  - id: c
    input: {message: q, role: mayor}
    expect: {tools: none}
`, "5:31 cases[0].input.role", "unknown role", false},
	"bad requirement": {`name: x
agent: a
cases:
  - {id: c, input: q, requires: [permits_search], expect: {tools: none}}
`, "4:34 cases[0].requires[0]", "tool:NAME", false},
	"gate in the wrong direction": {`name: x
agent: a
thresholds: {fail_under: {latency_p95_ms: 100}}
cases:
  - {id: c, input: q, expect: {tools: none}}
`, "3:27 thresholds.fail_under.latency_p95_ms", "lower-is-better", false},
	"unknown metric": {`name: x
agent: a
thresholds: {fail_under: {recall: 0.5}}
cases:
  - {id: c, input: q, expect: {tools: none}}
`, "3:27 thresholds.fail_under.recall", "unknown metric", false},
	"refused with other expectations": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {refused: true, tools: none}}
`, "4:31 cases[0].expect.refused", "drop the other", false},
	"empty input message": {`name: x
agent: a
cases:
  - {id: c, input: "", expect: {tools: none}}
`, "4:20 cases[0].input", "must not be empty", false},
	"answer language": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {answer: {language: fr}}}
`, "4:51 cases[0].expect.answer.language", "zh, en or same", false},
	"negative latency": {`name: x
agent: a
cases:
  - {id: c, input: q, expect: {max_latency_ms: -5}}
`, "4:48 cases[0].expect.max_latency_ms", "positive whole number", false},
}

func TestParseReportsFileLineAndField(t *testing.T) {
	for name, tc := range invalidSuites {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSuite([]byte(tc.yaml), "bad.yaml")
			var se *SuiteError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidSuite) {
				t.Fatalf("err = %v, want a *SuiteError", err)
			}
			p := se.Problems[0]
			where := strings.Join([]string{itoa(p.Line) + ":" + itoa(p.Column), p.Field}, " ")
			if where != tc.where || !strings.Contains(p.Message, tc.msg) || p.File != "bad.yaml" {
				t.Errorf("first problem = %s (at %q), want at %q with %q", p, where, tc.where, tc.msg)
			}
			if !strings.HasPrefix(p.String(), "bad.yaml:"+itoa(p.Line)+":") {
				t.Errorf("String() = %q does not start with file:line", p.String())
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := ParseSuite([]byte(`name: x
agent: a
cases:
  - {id: c1, input: q, expect: {tools: {must_cal: [t]}}}
  - {id: c2, input: q, expect: {answer: {must_contain: 5}}}
`), "two.yaml")
	var se *SuiteError
	if !errors.As(err, &se) || len(se.Problems) < 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
	if se.Problems[0].Line != 4 || se.Problems[len(se.Problems)-1].Line != 5 {
		t.Errorf("problems = %v", se.Problems)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := ParseSuite([]byte("name: x\ncases:\n  - id: [unclosed\n"), "syntax.yaml")
	var se *SuiteError
	if !errors.As(err, &se) || se.Problems[0].Line == 0 || se.Problems[0].File != "syntax.yaml" {
		t.Fatalf("err = %v, want a problem with a line", err)
	}
	_, err = ParseSuite(nil, "empty.yaml")
	if !errors.As(err, &se) || !strings.Contains(se.Problems[0].Message, "empty") {
		t.Fatalf("empty file: err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.yaml", minimalSuite)
	write("b.yml", strings.Replace(minimalSuite, "traffic-basics", "other", 1))
	write(ThresholdsFile, "fail_under: {tool_recall: 1}\n")
	write("notes.txt", "not a suite")
	suites, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 {
		t.Fatalf("loaded %d suites, want 2 (thresholds.yaml and notes.txt skipped)", len(suites))
	}

	// Problems in several files are reported together; duplicate names too.
	bad := write("bad.yaml", "name: x\nagent: a\ncases: 3\n")
	dup := filepath.Join(t.TempDir(), "dup.yaml")
	if err := os.WriteFile(dup, []byte(minimalSuite), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad, filepath.Join(dir, "a.yaml"), dup, filepath.Join(dir, "missing.yaml"))
	var se *SuiteError
	if !errors.As(err, &se) || len(se.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems (bad file, missing file, duplicate name)", err)
	}
	msg := err.Error()
	for _, want := range []string{"bad.yaml:3:8: cases: must be a list", "missing.yaml", "also defined in"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}

	// Names of shipped suites load from the binary.
	suites, err = Load("traffic-basics")
	if err != nil || len(suites) != 1 || suites[0].Name != "traffic-basics" {
		t.Fatalf("Load(shipped name) = %v, %v", suites, err)
	}
	all, err := Load("shipped")
	if err != nil || len(all) < 5 {
		t.Fatalf("Load(shipped) = %d suites, %v", len(all), err)
	}
	if _, err := ShippedByName("nope"); !errors.Is(err, ErrUnknownSuite) {
		t.Errorf("ShippedByName(nope) = %v", err)
	}
}

func TestThresholds(t *testing.T) {
	gates, err := ParseThresholds([]byte(`
fail_under: {tool_recall: 0.9}
fail_over: {degraded_rate: 0}
agents:
  traffic: {fail_under: {answer_pass_rate: 1}}
langs:
  zh: {fail_over: {latency_p95_ms: 5000}}
tags:
  multi-turn: {fail_under: {case_pass_rate: 0.5}}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tool_recall >= 0.9", "degraded_rate <= 0", "answer_pass_rate >= 1 [agent:traffic]", "latency_p95_ms <= 5000 [lang:zh]", "case_pass_rate >= 0.5 [tag:multi-turn]"}
	if len(gates) != len(want) {
		t.Fatalf("gates = %v", gates)
	}
	for i, g := range gates {
		if g.String() != want[i] || !strings.HasPrefix(g.Origin, "t.yaml:") {
			t.Errorf("gate %d = %s (%s), want %s", i, g, g.Origin, want[i])
		}
	}
	if _, err := ParseThresholds([]byte("agents: {traffic: {fail_over: {tool_recall: 1}}}\n"), "t.yaml"); err == nil ||
		!strings.Contains(err.Error(), "t.yaml:1:") || !strings.Contains(err.Error(), "higher-is-better") {
		t.Errorf("wrong direction: err = %v", err)
	}
	if _, err := ShippedThresholds(); err != nil {
		t.Errorf("shipped thresholds: %v", err)
	}
}

func TestParseGateFlag(t *testing.T) {
	tests := map[string]struct {
		value string
		max   bool
		want  string
		err   string
	}{
		"one":               {"answer_pass_rate=0.8", false, "answer_pass_rate >= 0.8", ""},
		"two":               {"tool_recall=1, tool_precision=0.5", false, "tool_recall >= 1,tool_precision >= 0.5", ""},
		"scoped":            {"tool_recall@agent:traffic=1", false, "tool_recall >= 1 [agent:traffic]", ""},
		"upper bound":       {"latency_p95_ms=2000", true, "latency_p95_ms <= 2000", ""},
		"wrong flag":        {"latency_p95_ms=2000", false, "", "--fail-over latency_p95_ms=VALUE"},
		"wrong flag (over)": {"tool_recall=1", true, "", "fail-under"},
		"unknown":           {"recall=1", false, "", "unknown metric"},
		"not a number":      {"tool_recall=high", false, "", "not a number"},
		"no value":          {"tool_recall", false, "", "METRIC=VALUE"},
		"bad scope":         {"tool_recall@team:x=1", false, "", "scope"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gates, err := ParseGateFlag(tc.value, tc.max)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidGate) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range gates {
				got = append(got, g.String())
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("gates = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestCheckGates(t *testing.T) {
	overall := Aggregate{Metrics: map[string]float64{MetricToolRecall: 0.9, MetricLatencyP95: 1200, MetricDegradedRate: 0.1}}
	bds := []Breakdown{{Dimension: "agent", Value: "traffic", Aggregate: Aggregate{Metrics: map[string]float64{MetricToolRecall: 1}}}}
	tests := map[string]struct {
		gate   Gate
		passed bool
		note   bool
	}{
		"under holds":         {Gate{Metric: MetricToolRecall, Value: 0.9}, true, false},
		"under missed":        {Gate{Metric: MetricToolRecall, Value: 0.95}, false, false},
		"over holds":          {Gate{Metric: MetricLatencyP95, Max: true, Value: 1200}, true, false},
		"over missed":         {Gate{Metric: MetricLatencyP95, Max: true, Value: 1000}, false, false},
		"degraded missed":     {Gate{Metric: MetricDegradedRate, Max: true, Value: 0}, false, false},
		"scoped holds":        {Gate{Scope: "agent:traffic", Metric: MetricToolRecall, Value: 1}, true, false},
		"scope absent":        {Gate{Scope: "agent:energy", Metric: MetricToolRecall, Value: 1}, true, true},
		"metric not measured": {Gate{Scope: "agent:traffic", Metric: MetricMRR, Value: 1}, true, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := checkGates([]Gate{tc.gate}, overall, bds)[0]
			if r.Passed != tc.passed || (r.Note != "") != tc.note {
				t.Errorf("%s: passed %v note %q", tc.gate, r.Passed, r.Note)
			}
		})
	}
}
