package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
)

// The CI gate: the shipped suites, the shipped thresholds, the offline engine.
const (
	shippedSuites     = "../../evals/suites"
	shippedThresholds = "../../evals/suites/thresholds.yaml"
)

// runCLI runs `cityagent args...` in this process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := rootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// shippedRun is `cityagent eval` of the shipped suites with the shipped
// thresholds, run once per package (it is the package's slowest step): the
// gate test checks it and the broken-agent test compares with it.
type shippedRun struct {
	json, junit, markdown string // report files
	stdout, stderr        string
	err                   error
}

// shippedOnce.run is set by TestMain, which makes and removes its directory.
var shippedOnce struct{ run func() shippedRun }

func TestMain(m *testing.M) {
	if os.Getenv(asCityagentEnv) == "1" { // a child process of the kill -9 test
		main()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "cityagent-eval-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shippedOnce.run = sync.OnceValue(func() shippedRun {
		r := shippedRun{json: filepath.Join(dir, "run.json"), junit: filepath.Join(dir, "run.xml"), markdown: filepath.Join(dir, "run.md")}
		var out, errb bytes.Buffer
		cmd := rootCmd()
		cmd.SetArgs([]string{"eval", shippedSuites, "--thresholds", shippedThresholds,
			"--json", r.json, "--junit", r.junit, "--markdown", r.markdown, "--parallel", "4"})
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		r.err = cmd.ExecuteContext(context.Background())
		r.stdout, r.stderr = out.String(), errb.String()
		return r
	})
	code := m.Run()
	os.RemoveAll(dir)
	if err := sharedPG.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func readReport(t *testing.T, path string) *evals.Report {
	t.Helper()
	rep, err := evals.ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestEvalGateOnShippedSuites is what `make test` gates on: every shipped
// suite against the agents built as `serve` builds them, with the
// thresholds set from the measured baseline. It fails when quality drops.
func TestEvalGateOnShippedSuites(t *testing.T) {
	t.Parallel()
	run := shippedOnce.run()
	jsonOut, junitOut, mdOut, stdout, stderr, err := run.json, run.junit, run.markdown, run.stdout, run.stderr, run.err
	t.Logf("cityagent eval %s --thresholds %s\n%s", shippedSuites, shippedThresholds, stdout)
	if err != nil {
		t.Fatalf("the eval gate failed: %v\nstderr:\n%s", err, stderr)
	}
	rep := readReport(t, jsonOut)
	if !rep.Passed || len(rep.Gates) == 0 || rep.Counts.Total < 60 || rep.Counts.Errors+rep.Counts.Timeouts != 0 {
		t.Errorf("report: passed %v, %d gates, counts %+v", rep.Passed, len(rep.Gates), rep.Counts)
	}
	if len(rep.Agents) != 5 || rep.Model != "offline" || !strings.HasPrefix(rep.DataSnapshot, "ds_") || rep.GitRevision == "" {
		t.Errorf("run facts: agents %d model %s snapshot %s git %s", len(rep.Agents), rep.Model, rep.DataSnapshot, rep.GitRevision)
	}
	for _, p := range []string{junitOut, mdOut} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !strings.Contains(stdout, "every threshold held") || !strings.Contains(stdout, "agent traffic") {
		t.Errorf("summary:\n%s", stdout)
	}
}

// brokenAgents writes an agents_dir whose traffic agent has lost its main
// tool, traffic_congestion, and a config file that uses it.
func brokenAgents(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := `name: traffic
description: Traffic operations, with traffic_congestion deleted by mistake.
instructions: |
  You are the traffic operations agent of the demo city's traffic management centre.
  Use the traffic tools for live numbers and cite them. Answer in the language of the question.
tools: [traffic_segment, traffic_incidents, traffic_signal_plan]
collections: [traffic]
roles: [operator]
retrieval: {k: 3}
`
	if err := os.WriteFile(filepath.Join(dir, "traffic.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "cityagent.yaml")
	if err := os.WriteFile(cfg, []byte("agents_dir: "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEvalGateCatchesABrokenAgent is the deliberately broken change: the
// traffic agent's spec without its main tool makes the CI gate fail, and
// `eval diff` names the cases that flipped.
func TestEvalGateCatchesABrokenAgent(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.json")
	// The gate as a whole is TestEvalGateOnShippedSuites' business; here the
	// point is the one threshold the broken spec must trip. The baseline is
	// that test's run of the shipped agents.
	const traffic = "MISS tool_recall >= 1 [agent:traffic]"
	base := shippedOnce.run()
	good := base.json
	if (base.err != nil && !errors.Is(base.err, errGate)) || strings.Contains(base.stdout, traffic) {
		t.Fatalf("baseline run: %v\n%s\n%s", base.err, base.stdout, base.stderr)
	}
	// Only the traffic suite: the other agents are unchanged, and their
	// thresholds hold on no cases, so the one threshold that must trip is
	// the broken agent's.
	stdout, _, err := runCLI(t, "--config", brokenAgents(t), "eval", filepath.Join(shippedSuites, "traffic.yaml"), "--thresholds", shippedThresholds, "--json", bad, "--quiet")
	if !errors.Is(err, errGate) {
		t.Fatalf("the gate passed a traffic agent without traffic_congestion: err = %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, traffic) {
		t.Errorf("the summary does not name the missed traffic threshold:\n%s", stdout)
	}
	rep := readReport(t, bad)
	if rep.Passed {
		t.Error("the JSON report says passed")
	}
	if a := rep.Agents[len(rep.Agents)-1]; a.Name != "traffic" || strings.Contains(strings.Join(a.Tools, ","), "traffic_congestion") {
		t.Errorf("the report does not record the broken agent: %+v", a)
	}

	diff, _, err := runCLI(t, "eval", "diff", good, bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"regressed traffic-basics/most-congested-now: pass → fail", "agent traffic: version", "agent:traffic", "tool_recall"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if _, _, err := runCLI(t, "eval", "diff", good, bad, "--fail-on-regression"); err == nil {
		t.Error("diff --fail-on-regression passed")
	}
	if _, _, err := runCLI(t, "eval", "diff", good, good, "--fail-on-regression"); err != nil {
		t.Errorf("a run compared with itself regressed: %v", err)
	}
	var d evals.Diff
	out, _, err := runCLI(t, "eval", "diff", good, bad, "--json")
	if err != nil || json.Unmarshal([]byte(out), &d) != nil || d.Regressions() == 0 {
		t.Errorf("diff --json: %v %s", err, out)
	}
}

func TestEvalBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badSuite := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badSuite, []byte("name: bad\nagent: traffic\ncases:\n  - id: x\n    input: hi\n    expect:\n      toolz: none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("name: unknown\nagent: mayor\ncases:\n  - {id: x, input: hi, expect: {tools: {must_call: [teleport]}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"invalid suite":     {[]string{"eval", badSuite}, badSuite + ":7:7: cases[0].expect.toolz: unknown field"},
		"unknown agent":     {[]string{"eval", unknown}, `unknown agent "mayor"`},
		"unknown tool":      {[]string{"eval", unknown}, `unknown tool "teleport"`},
		"no such suite":     {[]string{"eval", filepath.Join(dir, "nope.yaml")}, "not a shipped suite name"},
		"wrong gate flag":   {[]string{"eval", "traffic-basics", "--fail-under", "latency_p95_ms=100"}, "--fail-over latency_p95_ms=VALUE"},
		"remote with model": {[]string{"eval", "traffic-basics", "--remote", "http://127.0.0.1:1", "--key", "k", "--model", "offline"}, "--model cannot"},
		"missed threshold":  {[]string{"eval", "traffic-basics", "--fail-under", "case_pass_rate@agent:traffic=1.01", "--quiet"}, "thresholds missed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestEvalRemote runs a shipped suite against a running cityagent over
// HTTP: every turn runs on the server as the key (POST /v1/evals/turns),
// never above it, no key is minted, and no proposal is queued; an operator
// key may not run evals.
func TestEvalRemote(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir())
	out := filepath.Join(t.TempDir(), "remote.json")
	stdout, stderr, err := runCLI(t, "eval", "traffic-basics", "--remote", in.base, "--key", in.admin, "--json", out, "--quiet")
	if err != nil {
		t.Fatalf("remote eval: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "never queued for approval") {
		t.Errorf("the run does not say that its proposals are not queued:\n%s", stderr)
	}
	rep := readReport(t, out)
	byID := map[string]evals.CaseResult{}
	for _, c := range rep.Cases {
		byID[c.ID] = c
	}
	if rep.Target != in.base || rep.Counts.Errors != 0 || byID["most-congested-now"].Status != evals.StatusPass ||
		byID["hotline-key-refused"].Status != evals.StatusPass || byID["signal-plan-public-caller"].Status != evals.StatusPass {
		t.Errorf("remote run: target %s counts %+v, cases %+v", rep.Target, rep.Counts, byID)
	}
	code, body := in.call(t, "GET", "/v1/keys", in.admin, "")
	if code != 200 || strings.Contains(string(body), `"name":"eval-`) {
		t.Errorf("keys after a remote run: %d %s", code, body)
	}
	if code, body := in.call(t, "GET", "/v1/proposals?status=proposed", in.admin, ""); code != 200 || !strings.Contains(string(body), `"proposals":[]`) {
		t.Errorf("proposals queued by a remote eval: %d %s", code, body)
	}

	op := in.newKey(t, "operator", "internal")
	_, _, _ = runCLI(t, "eval", "traffic-basics", "--remote", in.base, "--key", op, "--json", out, "--quiet")
	rep = readReport(t, out)
	for _, c := range rep.Cases {
		if c.Status != evals.StatusError || !strings.Contains(c.Reason, "developer") {
			t.Errorf("with an operator key, %s: %s %q", c.ID, c.Status, c.Reason)
		}
	}
}

// echoPolicy is a scripted model that behaves like a tool-using model: it
// calls the first offered tool whose required arguments it can fill, then
// answers from what came back; asked to judge, it returns a verdict.
func echoPolicy(req llm.Request) (llm.Response, error) {
	if len(req.Messages) > 0 && strings.Contains(req.Messages[0].Content, "You grade an AI agent's answer") {
		return llm.Response{Content: `{"pass": true, "reason": "the answer cites live congestion data"}`}, nil
	}
	var gathered []string
	for _, m := range req.Messages {
		if m.Role == llm.RoleTool {
			gathered = append(gathered, m.Content)
		}
	}
	if len(gathered) == 0 && len(req.Tools) > 0 {
		for _, t := range req.Tools {
			if t.Name == "traffic_congestion" {
				return llm.Response{ToolCalls: []llm.ToolCall{{Name: t.Name, Arguments: []byte(`{"limit":3}`)}}}, nil
			}
		}
		return llm.Response{ToolCalls: []llm.ToolCall{{Name: req.Tools[0].Name, Arguments: []byte(`{}`)}}}, nil
	}
	answer := "Answer from the scripted model (congestion index as reported). " + strings.Join(gathered, "\n")
	return llm.Response{Content: answer}, nil
}

// TestEvalAgainstOpenAICompatibleServer runs the shipped suites with the
// agents on an OpenAI-compatible server (the scripted OpenAI-protocol test
// server): every turn goes through the real openai-go client over HTTP,
// and a rubric is graded by the same model as judge.
func TestEvalAgainstOpenAICompatibleServer(t *testing.T) {
	t.Parallel()
	model := scripted.New("scripted-gpt", scripted.Func(echoPolicy)).RepeatLast()
	srv := openaitest.New(model)
	base := srv.Start(t)
	cfg := config.Default()
	cfg.LLM.Provider, cfg.LLM.BaseURL, cfg.LLM.Model, cfg.LLM.APIKey = "openai", base, "scripted-gpt", "test-key"
	cfg.LLM.MaxRetries = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	judged := filepath.Join(dir, "judged.yaml")
	if err := os.WriteFile(judged, []byte(`name: judged
agent: traffic
cases:
  - id: rubric
    input: "Which road segment is the most congested right now?"
    expect:
      tools: {must_call: [{name: traffic_congestion, arguments: {limit: 3}}]}
      answer: {judge: "The answer reports live congestion with its source."}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	out := filepath.Join(dir, "openai.json")
	err := runEval(context.Background(), cfg, false, evalOptions{parallel: 4, timeout: time.Minute, jsonOut: out, quiet: true},
		[]string{shippedSuites, judged}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("eval: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	rep := readReport(t, out)
	if rep.Counts.Errors+rep.Counts.Timeouts != 0 || rep.Metrics[evals.MetricDegradedRate] != 0 || !strings.HasPrefix(rep.Model, "openai") {
		t.Errorf("run over the OpenAI client: model %s counts %+v degraded %v", rep.Model, rep.Counts, rep.Metrics[evals.MetricDegradedRate])
	}
	var rubric evals.CaseResult
	for _, c := range rep.Cases {
		if c.Suite == "judged" {
			rubric = c
		}
		if c.Status != evals.StatusNotApplicable && !c.Refused && c.Model != "scripted-gpt" {
			t.Errorf("%s answered by %q, not the OpenAI-compatible model", c.Key(), c.Model)
			break
		}
	}
	if rubric.Status != evals.StatusPass || rubric.Metrics[evals.MetricAnswerPassRate] != 1 {
		t.Errorf("judged case: %+v", rubric)
	}
	for _, ch := range rubric.Checks {
		if ch.Name == "answer.judge" && (ch.Skipped || !strings.Contains(ch.Detail, "live congestion")) {
			t.Errorf("the rubric was not judged by the model: %+v", ch)
		}
	}
	if srv.Requests() < rep.Counts.Total {
		t.Errorf("the OpenAI-compatible server saw %d requests for %d cases", srv.Requests(), rep.Counts.Total)
	}
}

// TestEvalAPI starts runs over HTTP: developers only, 202 with a run to
// poll, 400s that name the problem, the report when done.
func TestEvalAPI(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir())
	dev := in.newKey(t, "developer", "internal")
	op := in.newKey(t, "operator", "internal")

	code, body := in.call(t, "POST", "/v1/evals/runs", op, `{"suites":["traffic-basics"]}`)
	if code != 403 {
		t.Errorf("operator: %d %s", code, body)
	}
	// A developer key may not act as the hotline caller one case asks for;
	// the admin key holds every role.
	code, body = in.call(t, "POST", "/v1/evals/runs", dev, `{"suites":["traffic-basics"]}`)
	if code != 403 || !strings.Contains(string(body), "case hotline-key-refused input.role") {
		t.Errorf("developer running a case as hotline: %d %s", code, body)
	}
	code, body = in.call(t, "POST", "/v1/evals/runs", in.admin, `{"suites":["traffic-basics"],"fail_under":{"case_pass_rate":0.5}}`)
	if code != 202 {
		t.Fatalf("start: %d %s", code, body)
	}
	var st evals.RunStatus
	if err := json.Unmarshal(body, &st); err != nil || st.ID == "" || st.Total == 0 {
		t.Fatalf("start: %v %s", err, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for st.FinishedAt == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		code, body = in.call(t, "GET", "/v1/evals/runs/"+st.ID, in.admin, "")
		if code != 200 {
			t.Fatalf("poll: %d %s", code, body)
		}
		st = evals.RunStatus{}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
	}
	if st.Status != "done" || st.Report == nil || st.Passed == nil || !*st.Passed || st.Report.Counts.Total != st.Total || len(st.Report.Gates) != 1 {
		t.Fatalf("finished run: %s", body)
	}

	yamlBody, _ := json.Marshal(map[string]any{"suite_yaml": "name: mine\nagent: traffic\ncases:\n  - id: a\n    input: hi\n    expect:\n      tools: {must_call: [teleport]}\n"})
	bad := map[string]struct {
		body string
		want string
	}{
		"invalid yaml":   {`{"suite_yaml":"name: x\nagent: traffic\ncases:\n  - id: a\n    input: hi\n    expect: {toolz: none}\n"}`, `"field":"suite_yaml:6 cases[0].expect.toolz"`},
		"unknown tool":   {string(yamlBody), `unknown tool \"teleport\"`},
		"unknown suite":  {`{"suites":["nope"]}`, `"field":"suites"`},
		"unknown field":  {`{"suites":["all"],"speed":"fast"}`, `"field":"speed"`},
		"nothing to run": {`{}`, "give suites"},
		"wrong gate":     {`{"suites":["all"],"fail_under":{"latency_p95_ms":10}}`, "lower-is-better"},
	}
	for name, tc := range bad {
		code, body := in.call(t, "POST", "/v1/evals/runs", dev, tc.body)
		if code != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %s", name, code, body, tc.want)
		}
	}
	if code, body := in.call(t, "GET", "/v1/evals/runs/evr_nope", dev, ""); code != 404 {
		t.Errorf("unknown run: %d %s", code, body)
	}
}
