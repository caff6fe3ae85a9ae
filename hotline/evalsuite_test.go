package hotline

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/evals"
)

var update = flag.Bool("update", false, "rewrite generated test files (testdata/triage-suite.yaml)")

const suiteFile = "testdata/triage-suite.yaml"

// triageSuite writes the test set as an eval suite (evals/ format) for the
// triage turn: each case is the question the hotline service asks the
// hotline agent, and expects one hotline_triage call with the operator's
// type and category. It measures the model's own triage, before the rules
// check it.
func triageSuite(reqs []testRequest) []byte {
	var b bytes.Buffer
	b.WriteString(`# GENERATED from requests.yaml by TestTriageEvalSuite (go test ./hotline -run TestTriageEvalSuite -update).
# The hotline test set as an eval suite of the triage turn: the hotline agent, given the question the
# hotline service asks it, must call hotline_triage with the operator's type and category. It grades
# the model's own triage, before the rules check it (the service's accuracy is TestTriageAccuracy's).
# Run it on the triage agent (the hotline agent plus the hotline_triage tool), as TestTriageEvalSuite does;
# the chat agent "hotline" does not offer the triage tool.
name: hotline-triage
description: Hotline triage — the model fills hotline_triage with the right type and category (165 citizen requests, zh/en).
agent: hotline
role: hotline
clearance: public
tags: [hotline, triage]
requires: [tool:hotline_triage]
thresholds:
  # Measured with the offline engine (go test ./hotline -run TestTriageEvalSuite -v); a real model should do better.
  fail_under: {tool_recall: 1, case_pass_rate: 0.45} # baseline 0.533
  fail_over: {degraded_rate: 0}
cases:
`)
	for _, r := range reqs {
		lang := r.Lang
		if lang == "" {
			lang = LangZh
		}
		fmt.Fprintf(&b, "  - id: %s\n    tags: [%s, %s]\n    input: %s\n    expect:\n      tools:\n        must_call: [{name: %s, arguments: {type: %s, category: %q}}]\n",
			r.ID, r.Split, lang, strconv.Quote(Prompt(TriageRequest{Text: r.Text})), ToolName, r.Type, r.Category)
	}
	return b.Bytes()
}

// TestTriageEvalSuite keeps testdata/triage-suite.yaml in step with the test
// set and runs it through the eval runner on the triage agent with the
// offline engine; the suite's own thresholds must hold.
//
//	go test ./hotline -run TestTriageEvalSuite -v
func TestTriageEvalSuite(t *testing.T) {
	t.Parallel()
	want := triageSuite(loadRequests(t))
	if *update {
		if err := os.WriteFile(suiteFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(suiteFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with requests.yaml; run go test ./hotline -run TestTriageEvalSuite -update", suiteFile)
	}
	suite, err := evals.ParseSuite(got, suiteFile)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{})
	rep, err := evals.Run(context.Background(), evals.NewLocal(r.runner), []*evals.Suite{suite}, evals.Options{Parallel: 8})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range []string{evals.MetricCasePassRate, evals.MetricToolRecall, evals.MetricArgumentAccuracy, evals.MetricDegradedRate} {
		lines = append(lines, fmt.Sprintf("%s %.3f", m, rep.Metrics[m]))
	}
	t.Logf("eval suite %s, offline engine, %d cases: %s", suite.Name, len(rep.Cases), strings.Join(lines, ", "))
	for _, g := range rep.Gates {
		if !g.Passed {
			actual := "none"
			if g.Actual != nil {
				actual = fmt.Sprintf("%.3f", *g.Actual)
			}
			t.Errorf("gate %+v failed: actual %s", g.Gate, actual)
		}
	}
	if !rep.Passed || len(rep.Cases) != len(suite.Cases) {
		t.Errorf("passed %v, %d cases run of %d", rep.Passed, len(rep.Cases), len(suite.Cases))
	}
}
