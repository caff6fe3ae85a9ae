package evals

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func metricsReport(t *testing.T) *Report {
	t.Helper()
	r := newRig(t)
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{mustSuite(t, metricsSuite)},
		Options{Gates: []Gate{{Metric: MetricCasePassRate, Value: 0.9, Origin: "--fail-under"}}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestJSONReportRoundTrip(t *testing.T) {
	rep := metricsReport(t)
	path := filepath.Join(t.TempDir(), "run.json")
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != rep.ID || len(back.Cases) != len(rep.Cases) || back.Counts != rep.Counts || back.Metrics[MetricCasePassRate] != rep.Metrics[MetricCasePassRate] ||
		len(back.Breakdowns) != len(rep.Breakdowns) || back.Gates[0].Actual == nil || back.Passed {
		t.Errorf("round trip lost data: %+v", back)
	}
	for _, key := range []string{`"git_revision"`, `"data_snapshot"`, `"agent_version"`, `"retrieval_recall_at_k"`, `"breakdowns"`, `"dimension": "lang"`} {
		if !bytes.Contains(buf.Bytes(), []byte(key)) {
			t.Errorf("JSON report lacks %s", key)
		}
	}
	if err := os.WriteFile(path, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(path); err == nil {
		t.Error("ReadReport accepts JSON that is no report")
	}
}

// TestJUnitIsWhatCIReadersExpect decodes the XML with encoding/xml into the
// shape CI readers (Jenkins, GitLab, GitHub actions) use and checks the
// required attributes and that the counts add up.
func TestJUnitIsWhatCIReadersExpect(t *testing.T) {
	rep := metricsReport(t)
	var buf bytes.Buffer
	if err := rep.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "<?xml") {
		t.Error("no XML declaration")
	}
	type result struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
	}
	type testcase struct {
		Name      string     `xml:"name,attr"`
		Classname string     `xml:"classname,attr"`
		Time      string     `xml:"time,attr"`
		Failure   *result    `xml:"failure"`
		Error     *result    `xml:"error"`
		Skipped   *result    `xml:"skipped"`
		Attrs     []xml.Attr `xml:",any,attr"`
	}
	type testsuite struct {
		Name      string     `xml:"name,attr"`
		Tests     string     `xml:"tests,attr"`
		Failures  string     `xml:"failures,attr"`
		Errors    string     `xml:"errors,attr"`
		Skipped   string     `xml:"skipped,attr"`
		Time      string     `xml:"time,attr"`
		Timestamp string     `xml:"timestamp,attr"`
		Cases     []testcase `xml:"testcase"`
		Props     []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
	}
	var doc struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Tests    string      `xml:"tests,attr"`
		Failures string      `xml:"failures,attr"`
		Errors   string      `xml:"errors,attr"`
		Skipped  string      `xml:"skipped,attr"`
		Time     string      `xml:"time,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	num := func(field, s string) int {
		t.Helper()
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Errorf("%s = %q is not a count", field, s)
		}
		return n
	}
	secs := func(field, s string) {
		t.Helper()
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Errorf("%s = %q is not seconds", field, s)
		}
	}
	secs("testsuites.time", doc.Time)
	var tests, failures, errs, skipped int
	for _, s := range doc.Suites {
		if s.Name == "" || s.Timestamp == "" {
			t.Errorf("testsuite without name or timestamp: %+v", s)
		}
		secs("testsuite.time", s.Time)
		var f, e, sk int
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname == "" {
				t.Errorf("testcase without name or classname: %+v", c)
			}
			secs("testcase.time", c.Time)
			if c.Failure != nil {
				f++
				if c.Failure.Message == "" {
					t.Errorf("%s: failure without message", c.Name)
				}
			}
			if c.Error != nil {
				e++
			}
			if c.Skipped != nil {
				sk++
			}
		}
		if num("tests", s.Tests) != len(s.Cases) || num("failures", s.Failures) != f || num("errors", s.Errors) != e || num("skipped", s.Skipped) != sk {
			t.Errorf("testsuite %s counts %s/%s/%s/%s, children %d/%d/%d/%d", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), f, e, sk)
		}
		tests, failures, errs, skipped = tests+len(s.Cases), failures+f, errs+e, skipped+sk
	}
	if num("tests", doc.Tests) != tests || num("failures", doc.Failures) != failures || num("errors", doc.Errors) != errs || num("skipped", doc.Skipped) != skipped {
		t.Errorf("testsuites counts %s/%s/%s/%s, sums %d/%d/%d/%d", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, tests, failures, errs, skipped)
	}
	// The eval cases, then the thresholds as a suite of their own.
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "metrics" || doc.Suites[1].Name != "thresholds" {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	if tests != 9 || failures != 6 || skipped != 1 {
		t.Errorf("tests %d failures %d skipped %d, want 9 (8 cases + 1 gate), 6 (5 cases + 1 gate), 1", tests, failures, skipped)
	}
	props := map[string]string{}
	for _, p := range doc.Suites[0].Props {
		props[p.Name] = p.Value
	}
	if props["agent_version.traffic"] == "" || props["git_revision"] == "" || props["data_snapshot"] == "" {
		t.Errorf("properties: %v", props)
	}
}

func TestMarkdownAndSummary(t *testing.T) {
	rep := metricsReport(t)
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Eval run " + rep.ID, "## Metrics by agent and language", "| agent traffic |", "| lang zh |", "## Thresholds", "**missed**",
		"## Cases that did not pass", "### metrics/wrong-tool-expected", "❌ `tools.must_call[1]`", "## Not applicable", "metrics/not-yet"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	var sum bytes.Buffer
	if err := rep.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SCOPE", "RECALL@K", "agent traffic", "lang en", "ALL", "FAIL    metrics/wrong-arguments", "N/A     metrics/not-yet", "MISS case_pass_rate >= 0.9", "1 thresholds missed"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestCompare(t *testing.T) {
	a := &Report{ID: "a", Cases: []CaseResult{
		{Suite: "s", ID: "keeps", Status: StatusPass},
		{Suite: "s", ID: "breaks", Status: StatusPass},
		{Suite: "s", ID: "heals", Status: StatusFail},
		{Suite: "s", ID: "times-out", Status: StatusFail},
		{Suite: "s", ID: "gone", Status: StatusPass},
		{Suite: "s", ID: "enabled", Status: StatusNotApplicable},
	}, Aggregate: Aggregate{Metrics: map[string]float64{MetricToolRecall: 0.8, MetricLatencyP95: 100, MetricDegradedRate: 0.1, MetricMRR: 0.5}},
		Agents:     []AgentInfo{{Name: "traffic", Version: "v1", Model: "offline"}},
		Breakdowns: []Breakdown{{Dimension: "agent", Value: "traffic", Aggregate: Aggregate{Metrics: map[string]float64{MetricToolRecall: 0.8}}}}}
	b := &Report{ID: "b", Cases: []CaseResult{
		{Suite: "s", ID: "keeps", Status: StatusPass},
		{Suite: "s", ID: "breaks", Status: StatusFail, Reason: "tools.must_call[0]: traffic_congestion was not called"},
		{Suite: "s", ID: "heals", Status: StatusPass},
		{Suite: "s", ID: "times-out", Status: StatusTimeout},
		{Suite: "s", ID: "new", Status: StatusPass},
		{Suite: "s", ID: "enabled", Status: StatusPass},
	}, Aggregate: Aggregate{Metrics: map[string]float64{MetricToolRecall: 0.6, MetricLatencyP95: 105, MetricDegradedRate: 0, MetricAnswerPassRate: 1, MetricMRR: 0.5}},
		Agents:     []AgentInfo{{Name: "traffic", Version: "v2", Model: "offline"}},
		Breakdowns: []Breakdown{{Dimension: "agent", Value: "traffic", Aggregate: Aggregate{Metrics: map[string]float64{MetricToolRecall: 0.6}}}}}
	d := Compare(a, b)
	kinds := map[string]string{}
	for _, f := range d.Flips {
		kinds[f.Key] = f.Kind
	}
	want := map[string]string{"s/breaks": "regressed", "s/heals": "fixed", "s/times-out": "changed", "s/enabled": "changed"}
	for k, v := range want {
		if kinds[k] != v {
			t.Errorf("%s: %q, want %q", k, kinds[k], v)
		}
	}
	if len(d.Flips) != 4 || d.Flips[0].Key != "s/breaks" || d.Regressions() != 1 {
		t.Errorf("flips: %+v", d.Flips)
	}
	if strings.Join(d.Added, ",") != "s/new" || strings.Join(d.Removed, ",") != "s/gone" {
		t.Errorf("added %v removed %v", d.Added, d.Removed)
	}
	trend := map[string]string{}
	for _, m := range d.Metrics {
		trend[m.Scope+"/"+m.Metric] = m.Trend
	}
	wantTrend := map[string]string{"run/tool_recall": "worse", "run/latency_p95_ms": "worse", "run/degraded_rate": "better",
		"run/answer_pass_rate": "new", "run/retrieval_mrr": "same", "agent:traffic/tool_recall": "worse"}
	for k, v := range wantTrend {
		if trend[k] != v {
			t.Errorf("%s: %q, want %q", k, trend[k], v)
		}
	}
	if len(d.Agents) != 1 || d.Agents[0].VersionB != "v2" {
		t.Errorf("agents: %+v", d.Agents)
	}
	var out bytes.Buffer
	if err := d.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"4 cases changed status (1 regressed)", "regressed s/breaks: pass → fail: tools.must_call[0]", "fixed     s/heals", "added     s/new",
		"removed   s/gone", "agent traffic: version v1 → v2", "tool_recall", "degraded_rate"} {
		if !strings.Contains(text, want) {
			t.Errorf("diff text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "latency_p95_ms") {
		t.Errorf("a 5%% latency move is noise and is not listed:\n%s", text)
	}
}
