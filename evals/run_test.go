package evals

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
)

// modelFunc is a model whose every call is f.
type modelFunc struct {
	name string
	f    func(ctx context.Context, req llm.Request) (llm.Response, error)
}

var _ llm.Model = (*modelFunc)(nil)

func (m *modelFunc) Name() string { return m.name }
func (m *modelFunc) Generate(ctx context.Context, req llm.Request, _ llm.StreamFunc) (llm.Response, error) {
	return m.f(ctx, req)
}

func lastUser(req llm.Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleUser {
			return req.Messages[i].Content
		}
	}
	return ""
}

const metricsSuite = `name: metrics
agent: traffic
k: 3
tags: [demo]
cases:
  - id: congested
    input: "Which road segment is the most congested right now?"
    expect:
      tools:
        must_call: [{name: traffic_congestion, arguments: {limit: {range: [1, 20]}}}]
        must_not_call: [traffic_signal_plan]
      answer: {must_contain: ["congestion index"], language: same}
      proposals: none
  - id: wrong-tool-expected
    input: "Which road segment is the most congested right now?"
    expect:
      tools: {must_call: [traffic_congestion, traffic_segment]}
  - id: wrong-arguments
    input: "Which road segment is the most congested right now?"
    expect:
      tools: {must_call: [{name: traffic_congestion, arguments: {district: binjiang}}]}
  - id: half-recall
    input: "How is the congestion index defined?"
    expect:
      retrieved: [traffic-congestion-management, permits-rules-fees]
  - id: answer-misses
    input: "路网拥堵指数超过多少会启动一级响应？"
    expect:
      answer: {must_contain: ["这句话不会出现在回答里"]}
  - id: refused-as-expected
    input: {message: "Which roads are congested?", role: hotline, clearance: public}
    expect: {refused: true}
  - id: refused-unexpectedly
    input: {message: "Which roads are congested?", role: hotline, clearance: public}
    expect: {tools: {must_call: [traffic_congestion]}}
  - id: not-yet
    input: "How many permits are under review?"
    requires: [tool:permits_search]
    expect: {tools: {must_call: [permits_search]}}
`

func TestRunComputesMetrics(t *testing.T) {
	r := newRig(t)
	s := mustSuite(t, metricsSuite)
	target := &countingTarget{Target: NewLocal(r.runner)}
	rep, err := Run(context.Background(), target, []*Suite{s}, Options{Parallel: 3,
		Gates:       []Gate{{Metric: MetricCasePassRate, Value: 0.9}, {Metric: MetricDegradedRate, Max: true, Value: 0}, {Scope: "agent:nobody", Metric: MetricToolRecall, Value: 1}},
		GitRevision: "abc123", DataSnapshot: "ds_test"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]CaseResult{}
	for _, c := range rep.Cases {
		byID[c.ID] = c
	}
	wantStatus := map[string]Status{
		"congested": StatusPass, "wrong-tool-expected": StatusFail, "wrong-arguments": StatusFail, "half-recall": StatusFail,
		"answer-misses": StatusFail, "refused-as-expected": StatusPass, "refused-unexpectedly": StatusFail, "not-yet": StatusNotApplicable,
	}
	for id, want := range wantStatus {
		if got := byID[id].Status; got != want {
			t.Errorf("%s: status %s (%s), want %s", id, got, byID[id].Reason, want)
		}
	}
	if got := target.chats.Load(); got != 7 {
		t.Errorf("%d turns were run, want 7 (the not-applicable case is not run)", got)
	}
	if c := byID["not-yet"]; !strings.Contains(c.Reason, "tool:permits_search (not registered)") {
		t.Errorf("not-applicable reason = %q", c.Reason)
	}
	if c := byID["wrong-tool-expected"]; !strings.Contains(c.Reason, "traffic_segment was not called") || c.Metrics[MetricToolRecall] != 0.5 {
		t.Errorf("wrong-tool-expected: %q %v", c.Reason, c.Metrics)
	}
	if c := byID["wrong-arguments"]; !strings.Contains(c.Reason, "district is absent") || c.Metrics[MetricArgumentAccuracy] != 0 || c.Metrics[MetricToolRecall] != 1 {
		t.Errorf("wrong-arguments: %q %v", c.Reason, c.Metrics)
	}
	if c := byID["half-recall"]; c.Metrics[MetricRecallAtK] != 0.5 || c.Metrics[MetricMRR] == 0 || len(c.Retrieved) == 0 {
		t.Errorf("half-recall: %v retrieved %v", c.Metrics, c.Retrieved)
	}
	if c := byID["congested"]; c.Metrics[MetricToolPrecision] != 1 || c.Metrics[MetricAnswerPassRate] != 1 || c.Metrics[MetricProposalAccuracy] != 1 ||
		c.AgentVersion == "" || c.Model == "" || c.Lang != "en" || c.SessionID == "" || c.Answer == "" || len(c.ToolCalls) == 0 {
		t.Errorf("congested: %+v", c)
	}
	if c := byID["answer-misses"]; c.Metrics[MetricAnswerPassRate] != 0 || c.Lang != "zh" {
		t.Errorf("answer-misses: %v %s", c.Metrics, c.Lang)
	}
	if c := byID["refused-unexpectedly"]; !strings.Contains(c.Reason, "refused") {
		t.Errorf("refused-unexpectedly: %q", c.Reason)
	}

	// Aggregates: the mean of each metric over the cases that measured it.
	want := Counts{Total: 8, Passed: 2, Failed: 5, NotApplicable: 1}
	if rep.Counts != want {
		t.Errorf("counts = %+v, want %+v", rep.Counts, want)
	}
	m := rep.Metrics
	checks := map[string]float64{
		MetricCasePassRate:     round4(2.0 / 7),
		MetricToolRecall:       round4((1 + 0.5 + 1) / 3.0),
		MetricArgumentAccuracy: 0.5,
		MetricRecallAtK:        0.5,
		MetricAnswerPassRate:   0.5,
		MetricProposalAccuracy: 1,
		MetricDegradedRate:     0,
	}
	for k, v := range checks {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m[MetricLatencyP95]; !ok || m[MetricLatencyP50] > m[MetricLatencyP95] {
		t.Errorf("latency: %v", m)
	}
	for _, dim := range [][2]string{{"agent", "traffic"}, {"lang", "zh"}, {"lang", "en"}, {"suite", "metrics"}, {"tag", "demo"}} {
		if _, ok := rep.Breakdown(dim[0], dim[1]); !ok {
			t.Errorf("no breakdown for %s=%s", dim[0], dim[1])
		}
	}
	if zh, _ := rep.Breakdown("lang", "zh"); zh.Counts.Total != 1 {
		t.Errorf("lang zh: %+v", zh.Counts)
	}

	// Gates: case_pass_rate misses, degraded_rate holds, an empty scope is noted, not failed.
	if rep.Passed || rep.GatesMissed() != 1 || !rep.Gates[1].Passed || rep.Gates[2].Note == "" || !rep.Gates[2].Passed {
		t.Errorf("gates: %+v", rep.Gates)
	}
	if rep.GitRevision != "abc123" || rep.DataSnapshot != "ds_test" || len(rep.Agents) != 1 || rep.Agents[0].Version == "" || rep.Model != "offline" {
		t.Errorf("run facts: %+v", rep)
	}
}

func TestPreflightReportsEverythingBeforeRunning(t *testing.T) {
	r := newRig(t)
	s := mustSuite(t, `name: broken
agent: traffic
cases:
  - id: unknown-agent
    agent: mayor
    input: q
    expect: {tools: none}
  - id: unknown-tool
    input: q
    expect: {tools: {must_call: [traffic_teleport], must_not_call: [weather_now]}}
  - id: unknown-action
    input: q
    expect: {proposals: {must_propose: [traffic.close_road]}}
  - id: unknown-model
    model: gpt-9
    input: q
    expect: {tools: none}
  - id: coming-later
    input: q
    requires: [tool:permits_search, action:traffic.close_road]
    expect: {tools: {must_call: [permits_search]}, proposals: {must_propose: [traffic.close_road]}}
`)
	target := &countingTarget{Target: NewLocal(r.runner)}
	_, err := Run(context.Background(), target, []*Suite{s}, Options{})
	var pe *PreflightError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPreflight) {
		t.Fatalf("err = %v, want a *PreflightError", err)
	}
	if target.chats.Load() != 0 {
		t.Errorf("%d turns ran before the preflight failed", target.chats.Load())
	}
	msg := err.Error()
	for _, want := range []string{`unknown agent "mayor"`, `unknown tool "traffic_teleport"`, `unknown tool "weather_now"`, `unknown action "traffic.close_road"`, `model "gpt-9" is not configured`, "test.yaml:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("preflight error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "coming-later") {
		t.Errorf("a case that requires what it names is not a preflight problem:\n%s", msg)
	}
	if len(pe.Problems) != 5 {
		t.Errorf("%d problems, want 5: %v", len(pe.Problems), pe.Problems)
	}

	_, err = Run(context.Background(), target, []*Suite{mustSuite(t, minimalSuite)}, Options{Model: "gpt-9"})
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "--model") {
		t.Errorf("--model gpt-9: err = %v", err)
	}
}

func TestErrorsAndTimeoutsDoNotStopTheRun(t *testing.T) {
	slow := &modelFunc{name: "slow", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if strings.Contains(lastUser(req), "hang") {
			<-ctx.Done()
			return llm.Response{}, ctx.Err()
		}
		return llm.Response{Content: "The congestion index is travel time over free-flow time."}, nil
	}}
	r := newRig(t, withModel(slow))
	long := strings.Repeat("路", 8001)
	s := mustSuite(t, `name: faults
agent: traffic
cases:
  - id: hangs
    timeout: 300ms
    input: "please hang"
    expect: {answer: {must_contain: [x]}}
  - id: too-long
    input: "`+long+`"
    expect: {answer: {must_contain: [x]}}
  - id: earlier-turn-fails
    input: {turns: ["`+long+`"], message: "and then?"}
    expect: {answer: {must_contain: [x]}}
  - id: fine
    input: "What is the congestion index?"
    expect: {answer: {must_contain: ["free-flow"]}}
`)
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{StatusTimeout, StatusError, StatusError, StatusPass}
	for i, c := range rep.Cases {
		if c.Status != want[i] {
			t.Errorf("%s: %s (%s), want %s", c.ID, c.Status, c.Reason, want[i])
		}
	}
	if !strings.Contains(rep.Cases[0].Reason, "300ms") || !strings.Contains(rep.Cases[1].Reason, "message") || !strings.Contains(rep.Cases[2].Reason, "turn 1 of 2") {
		t.Errorf("reasons: %q / %q / %q", rep.Cases[0].Reason, rep.Cases[1].Reason, rep.Cases[2].Reason)
	}
	if rep.Counts.Timeouts != 1 || rep.Counts.Errors != 2 || rep.Metrics[MetricCasePassRate] != 0.25 {
		t.Errorf("counts %+v metrics %v", rep.Counts, rep.Metrics)
	}
	if rep.Model != "slow" || rep.Cases[3].Model != "slow" {
		t.Errorf("model: run %s, case %s", rep.Model, rep.Cases[3].Model)
	}

	// A cancelled run records the cases it did not reach.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err = Run(ctx, NewLocal(r.runner), []*Suite{s}, Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Cases {
		if c.Status != StatusError || !strings.Contains(c.Reason, "cancelled") {
			t.Errorf("%s after cancel: %s %q", c.ID, c.Status, c.Reason)
		}
	}
}

func TestMultiTurnRunsInOneSession(t *testing.T) {
	var seen [][]llm.Message
	var mu sync.Mutex
	echo := &modelFunc{name: "echo", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		mu.Lock()
		seen = append(seen, req.Messages)
		mu.Unlock()
		return llm.Response{Content: "answer to: " + lastUser(req)}, nil
	}}
	r := newRig(t, withModel(echo))
	s := mustSuite(t, `name: mt
agent: traffic
cases:
  - id: three-turns
    input: {turns: ["first question", "second question"], message: "third question"}
    expect: {answer: {must_contain: ["answer to: third question"]}}
`)
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Cases[0]; c.Status != StatusPass || c.Turns != 3 {
		t.Fatalf("case: %+v", c)
	}
	last := seen[len(seen)-1]
	var history []string
	for _, m := range last {
		if m.Role == llm.RoleUser || m.Role == llm.RoleAssistant {
			history = append(history, string(m.Role)+": "+m.Content)
		}
	}
	joined := strings.Join(history, "\n")
	for _, want := range []string{"user: first question", "assistant: answer to: first question", "user: second question", "user: third question"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the last turn's prompt lacks %q:\n%s", want, joined)
		}
	}
}

func TestJudgeOnlyWithARealModel(t *testing.T) {
	var judged int
	judge := &modelFunc{name: "judge-model", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		if req.Messages[0].Content == judgeSystem {
			judged++
			if strings.Contains(req.Messages[1].Content, "Renmin") {
				return llm.Response{Content: `{"pass": true, "reason": "names the road"}`}, nil
			}
			return llm.Response{Content: `{"pass": false, "reason": "does not name the road"}`}, nil
		}
		return llm.Response{Content: "Renmin Road is the most congested."}, nil
	}}
	s := mustSuite(t, `name: judged
agent: traffic
cases:
  - id: rubric
    input: "Which road is the most congested?"
    expect: {answer: {judge: "The answer names a road of the demo city."}}
`)
	// With the offline engine the rubric is skipped, and the answer metric is not measured.
	rep, err := Run(context.Background(), NewLocal(newRig(t).runner), []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cases[0]
	if c.Status != StatusPass || len(c.Checks) != 1 || !c.Checks[0].Skipped {
		t.Errorf("offline: %+v", c)
	}
	if _, ok := c.Metrics[MetricAnswerPassRate]; ok {
		t.Errorf("a skipped rubric must not count: %v", c.Metrics)
	}
	// With a real model the same model judges.
	rep, err = Run(context.Background(), NewLocal(newRig(t, withModel(judge)).runner), []*Suite{s}, Options{Judge: judge})
	if err != nil {
		t.Fatal(err)
	}
	c = rep.Cases[0]
	if c.Status != StatusPass || judged != 1 || c.Metrics[MetricAnswerPassRate] != 1 || !strings.Contains(c.Checks[0].Detail, "names the road") {
		t.Errorf("judged: %+v (judged %d)", c, judged)
	}
}

func TestModelOverrideAndAgentOverride(t *testing.T) {
	named := &modelFunc{name: "named", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: "from named"}, nil
	}}
	r := newRig(t, withModel(named))
	s := mustSuite(t, `name: ov
agent: traffic
cases:
  - id: a
    input: "Which road segment is the most congested right now?"
    expect: {tools: {must_call: [traffic_congestion]}}
`)
	// The rig's default is "named"; --model offline runs the offline engine.
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{Model: "offline", Agent: "city"})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cases[0]
	if c.Agent != "city" || !strings.Contains(c.Model, "offline") || c.Status != StatusPass || rep.Model != "offline" {
		t.Errorf("override: agent %s model %s status %s (%s)", c.Agent, c.Model, c.Status, c.Reason)
	}
	rep, err = Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Cases[0]; c.Model != "named" || c.Status != StatusFail {
		t.Errorf("default: model %s status %s", c.Model, c.Status)
	}
}

func TestCaseLatencyLimit(t *testing.T) {
	slow := &modelFunc{name: "slow", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		return llm.Response{Content: "done"}, nil
	}}
	r := newRig(t, withModel(slow))
	s := mustSuite(t, `name: lat
agent: traffic
cases:
  - id: over
    input: "q"
    expect: {max_latency_ms: 1}
`)
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Cases[0]; c.Status != StatusFail || !strings.Contains(c.Reason, "limit 1 ms") {
		t.Errorf("case: %s %q", c.Status, c.Reason)
	}
}

// fakeTarget is a hand-written Target: an inventory and a function per turn.
type fakeTarget struct {
	inv  Inventory
	chat func(req ChatRequest) (agents.ChatResult, error)
}

var _ Target = (*fakeTarget)(nil)

func (f *fakeTarget) Inventory(context.Context) (Inventory, error) { return f.inv, nil }
func (f *fakeTarget) Chat(_ context.Context, req ChatRequest) (agents.ChatResult, error) {
	return f.chat(req)
}

// TestProposalExpectations checks proposals as targets report them: decoded
// values over HTTP, raw JSON in process.
func TestProposalExpectations(t *testing.T) {
	target := &fakeTarget{
		inv: Inventory{Target: "fake", Agents: map[string]AgentInfo{"traffic": {Name: "traffic", Version: "v1", Model: "m",
			Actions: []string{"traffic.retime_signal", "traffic.dispatch_crew"}}}, Tools: map[string]bool{}},
		chat: func(req ChatRequest) (agents.ChatResult, error) {
			res := agents.ChatResult{SessionID: "s", Answer: "ok", Model: "m"}
			switch req.Message {
			case "raw":
				res.Proposals = []agents.ProposalRef{{Action: "traffic.retime_signal", Arguments: json.RawMessage(`{"corridor":"renmin","seconds":10}`)}}
			case "decoded":
				res.Proposals = []agents.ProposalRef{{Action: "traffic.retime_signal", Arguments: map[string]any{"corridor": "binjiang", "seconds": 10.0}}}
			case "two":
				res.Proposals = []agents.ProposalRef{{Action: "traffic.retime_signal", Arguments: map[string]any{"corridor": "renmin"}}, {Action: "traffic.dispatch_crew"}}
			}
			return res, nil
		},
	}
	s := mustSuite(t, `name: props
agent: traffic
cases:
  - id: raw-json
    input: raw
    expect: {proposals: {must_propose: [{action: traffic.retime_signal, arguments: {corridor: renmin, seconds: {range: [5, 40]}}}]}}
  - id: decoded
    input: decoded
    expect: {proposals: {must_propose: [{action: traffic.retime_signal, arguments: {corridor: {regex: "^bin"}}}]}}
  - id: wrong-corridor
    input: decoded
    expect: {proposals: {must_propose: [{action: traffic.retime_signal, arguments: {corridor: renmin}}]}}
  - id: forbidden-one
    input: two
    expect: {proposals: {must_propose: [traffic.retime_signal], must_not_propose: [traffic.dispatch_crew]}}
  - id: none-holds
    input: nothing
    expect: {proposals: none}
  - id: none-broken
    input: raw
    expect: {proposals: none}
`)
	rep, err := Run(context.Background(), target, []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"raw-json": StatusPass, "decoded": StatusPass, "wrong-corridor": StatusFail, "forbidden-one": StatusFail, "none-holds": StatusPass, "none-broken": StatusFail}
	for _, c := range rep.Cases {
		if c.Status != want[c.ID] {
			t.Errorf("%s: %s (%s), want %s", c.ID, c.Status, c.Reason, want[c.ID])
		}
	}
	if rep.Metrics[MetricProposalAccuracy] != 0.5 {
		t.Errorf("proposal_accuracy = %v, want 0.5", rep.Metrics[MetricProposalAccuracy])
	}
	if c := rep.Cases[2]; !strings.Contains(c.Reason, `corridor is "binjiang", want "renmin"`) {
		t.Errorf("reason: %q", c.Reason)
	}
}
