package evals

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/llm"
)

// evaluate checks the final turn's result against the case's expectations
// and fills r's checks, metrics, status and reason.
func evaluate(ctx context.Context, p planned, res agents.ChatResult, r *CaseResult, judge llm.Model) {
	e := p.c.Expect
	r.Metrics = map[string]float64{}
	if r.Refused {
		if e.Refused {
			r.add("refused", true, r.Reason)
		} else {
			r.add("refused", false, "the turn was refused: "+r.Reason)
		}
		finish(r)
		return
	}
	if e.Refused {
		r.add("refused", false, "the turn was answered; it should have been refused")
	}
	r.record(res)
	if re := e.Retrieved; re != nil {
		k := re.K
		if k == 0 {
			k = p.suite.K
		}
		r.checkRetrieved(re, k)
	}
	if te := e.Tools; te != nil {
		r.checkTools(te)
	}
	if ae := e.Answer; ae != nil {
		r.checkAnswer(ctx, ae, p.c.Input.Message, res.Answer, judge)
	}
	if pe := e.Proposals; pe != nil {
		r.checkProposals(pe)
	}
	if e.MaxLatencyMS > 0 {
		r.add("max_latency_ms", r.DurationMS <= e.MaxLatencyMS, fmt.Sprintf("took %d ms, limit %d ms", r.DurationMS, e.MaxLatencyMS))
	}
	finish(r)
}

func (r *CaseResult) add(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Passed: ok, Detail: pii.Mask(detail)}) // reports show personal data masked
}

func (r *CaseResult) skip(name, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Passed: true, Skipped: true, Detail: detail})
}

// record copies what the turn retrieved, called and proposed into r.
func (r *CaseResult) record(res agents.ChatResult) {
	for _, c := range res.Citations {
		if c.Kind != "document" {
			continue
		}
		r.retrievedChunks = append(r.retrievedChunks, c.Ref)
	}
	r.Retrieved = docIDs(r.retrievedChunks, 0)
	for _, tc := range res.ToolCalls {
		r.ToolCalls = append(r.ToolCalls, ToolCall{Name: tc.Name, Arguments: normJSON(tc.Arguments), OK: tc.OK, Error: tc.Error})
	}
	for _, pr := range res.Proposals {
		// Arguments may be decoded values or raw JSON, depending on the target.
		r.Proposals = append(r.Proposals, Proposal{Action: pr.Action, Arguments: normJSON(pr.Arguments), Status: pr.Status})
	}
}

// checkRetrieved checks the documents in the top k against re and sets
// recall@k and MRR.
func (r *CaseResult) checkRetrieved(re *RetrievedExpect, k int) {
	top := docIDs(r.retrievedChunks, k)
	found := 0
	rank := 0
	for i, want := range re.MustInclude {
		pos := indexOf(top, want)
		if pos >= 0 {
			found++
			if rank == 0 || pos+1 < rank {
				rank = pos + 1
			}
		}
		r.add(fmt.Sprintf("retrieved.must_include[%d]", i), pos >= 0, fmt.Sprintf("%s %s in the top %s: %s", want, map[bool]string{true: "is", false: "is not"}[pos >= 0], kText(k), listOrNone(top)))
	}
	for i, bad := range re.MustNotInclude {
		pos := indexOf(top, bad)
		r.add(fmt.Sprintf("retrieved.must_not_include[%d]", i), pos < 0, fmt.Sprintf("%s %s retrieved", bad, map[bool]string{true: "was not", false: "was"}[pos < 0]))
	}
	if n := len(re.MustInclude); n > 0 {
		r.Metrics[MetricRecallAtK] = float64(found) / float64(n)
		if rank > 0 {
			r.Metrics[MetricMRR] = 1 / float64(rank)
		} else {
			r.Metrics[MetricMRR] = 0
		}
	}
}

// checkTools checks the tool calls against te and sets tool precision,
// tool recall and argument accuracy.
func (r *CaseResult) checkTools(te *ToolsExpect) {
	called := calledNames(r.ToolCalls)
	allowed := map[string]bool{}
	for _, m := range te.MustCall {
		allowed[m.Name] = true
	}
	for _, n := range te.MayCall {
		allowed[n] = true
	}
	restrictive := te.None || len(allowed) > 0
	wrong := 0
	for _, n := range called {
		if contains(te.MustNotCall, n) || (restrictive && !allowed[n]) {
			wrong++
		}
	}
	if len(called) == 0 {
		r.Metrics[MetricToolPrecision] = 1
	} else {
		r.Metrics[MetricToolPrecision] = float64(len(called)-wrong) / float64(len(called))
	}
	if te.None {
		r.add("tools.none", len(called) == 0, "called: "+listOrNone(called))
	}
	r.checkMustCall(te.MustCall, called)
	for i, n := range te.MustNotCall {
		r.add(fmt.Sprintf("tools.must_not_call[%d]", i), !contains(called, n), n+map[bool]string{true: " was not called", false: " was called"}[!contains(called, n)])
	}
	if te.Exclusive {
		var extra []string
		for _, n := range called {
			if !allowed[n] {
				extra = append(extra, n)
			}
		}
		r.add("tools.exclusive", len(extra) == 0, "calls outside must_call and may_call: "+listOrNone(extra))
	}
}

// checkMustCall checks that each required tool was called, with matching
// arguments when the case gives them.
func (r *CaseResult) checkMustCall(must []ToolMatch, called []string) {
	hits, argChecked, argHits := 0, 0, 0
	for i, m := range must {
		name := fmt.Sprintf("tools.must_call[%d]", i)
		calls := callsOf(r.ToolCalls, m.Name)
		if len(calls) == 0 {
			r.add(name, false, m.Name+" was not called; called: "+listOrNone(called))
			continue
		}
		hits++
		if len(m.Arguments) == 0 {
			r.add(name, true, m.Name+" was called")
			continue
		}
		argChecked++
		why := ""
		ok := false
		for _, c := range calls {
			obj, _ := c.Arguments.(map[string]any)
			if obj == nil {
				obj = map[string]any{}
			}
			if good, w := matchFields(obj, m.Arguments); good {
				ok = true
				break
			} else {
				why = w
			}
		}
		if ok {
			argHits++
			r.add(name, true, m.Name+" was called with matching arguments")
		} else {
			r.add(name, false, fmt.Sprintf("%s was called, but its arguments do not match: %s", m.Name, why))
		}
	}
	if len(must) > 0 {
		r.Metrics[MetricToolRecall] = float64(hits) / float64(len(must))
	}
	if argChecked > 0 {
		r.Metrics[MetricArgumentAccuracy] = float64(argHits) / float64(argChecked)
	}
}

// checkAnswer checks the answer's text, language and (with a judge) rubric
// and sets the answer pass rate over the checks that were scored.
func (r *CaseResult) checkAnswer(ctx context.Context, ae *AnswerExpect, question, answer string, judge llm.Model) {
	before := len(r.Checks)
	for i, alts := range ae.MustContain {
		hit := ""
		for _, a := range alts {
			if Contains(answer, a) {
				hit = a
				break
			}
		}
		if hit != "" {
			r.add(fmt.Sprintf("answer.must_contain[%d]", i), true, fmt.Sprintf("contains %q", hit))
		} else {
			r.add(fmt.Sprintf("answer.must_contain[%d]", i), false, fmt.Sprintf("contains none of %s", quoteList(alts)))
		}
	}
	for i, s := range ae.MustNotContain {
		bad := Contains(answer, s)
		r.add(fmt.Sprintf("answer.must_not_contain[%d]", i), !bad, fmt.Sprintf("%s %q", map[bool]string{true: "contains", false: "does not contain"}[bad], s))
	}
	if ae.Language != "" {
		want := ae.Language
		if want == "same" {
			want = Language(question)
		}
		got := Language(answer)
		r.add("answer.language", got == want, fmt.Sprintf("the answer is in %s, want %s", got, want))
	}
	if ae.Judge != "" {
		r.judge(ctx, judge, question, ae.Judge, answer)
	}
	scored, passed := 0, true
	for _, c := range r.Checks[before:] {
		if !c.Skipped {
			scored++
			passed = passed && c.Passed
		}
	}
	if scored > 0 {
		r.Metrics[MetricAnswerPassRate] = b2f(passed)
	}
}

// judge has a real model grade the answer against the rubric; without one
// the check is skipped.
func (r *CaseResult) judge(ctx context.Context, judge llm.Model, question, rubric, answer string) {
	if judge == nil {
		r.skip("answer.judge", "not judged: the rubric is only judged by a real model (the offline engine is configured)")
		return
	}
	ok, why, err := judgeAnswer(ctx, judge, question, rubric, answer)
	if err != nil {
		r.add("answer.judge", false, "the judge failed: "+err.Error())
	} else {
		r.add("answer.judge", ok, why)
	}
}

// checkProposals checks the proposals against pe and sets proposal accuracy.
func (r *CaseResult) checkProposals(pe *ProposalsExpect) {
	before := len(r.Checks)
	actions := make([]string, len(r.Proposals))
	for i, pr := range r.Proposals {
		actions[i] = pr.Action
	}
	if pe.None {
		r.add("proposals.none", len(r.Proposals) == 0, "proposed: "+listOrNone(actions))
	}
	for i, m := range pe.MustPropose {
		ok, why := r.proposed(m, actions)
		r.add(fmt.Sprintf("proposals.must_propose[%d]", i), ok, why)
	}
	for i, n := range pe.MustNotPropose {
		r.add(fmt.Sprintf("proposals.must_not_propose[%d]", i), !contains(actions, n), n+map[bool]string{true: " was not proposed", false: " was proposed"}[!contains(actions, n)])
	}
	passed := true
	for _, c := range r.Checks[before:] {
		passed = passed && c.Passed
	}
	r.Metrics[MetricProposalAccuracy] = b2f(passed)
}

// proposed reports whether a proposal matches m, and why (not).
func (r *CaseResult) proposed(m ProposalMatch, actions []string) (bool, string) {
	why := m.Action + " was not proposed; proposed: " + listOrNone(actions)
	for _, pr := range r.Proposals {
		if pr.Action != m.Action {
			continue
		}
		obj, _ := pr.Arguments.(map[string]any)
		if obj == nil {
			obj = map[string]any{}
		}
		good, w := matchFields(obj, m.Arguments)
		if good {
			return true, m.Action + " was proposed"
		}
		why = fmt.Sprintf("%s was proposed, but its arguments do not match: %s", m.Action, w)
	}
	return false, why
}

// finish sets the status from the checks.
func finish(r *CaseResult) {
	r.Status = StatusPass
	reason := ""
	for _, c := range r.Checks {
		if !c.Passed {
			r.Status = StatusFail
			if reason == "" {
				reason = c.Name + ": " + c.Detail
			}
		}
	}
	if r.Status == StatusFail || !r.Refused {
		r.Reason = reason
	}
	for k, v := range r.Metrics {
		r.Metrics[k] = round4(v)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round4(v float64) float64 { return math.Round(v*10000) / 10000 }

// docIDs returns the distinct document ids of the first k chunk refs (all when k is 0), in rank order.
func docIDs(chunks []string, k int) []string {
	if k > 0 && len(chunks) > k {
		chunks = chunks[:k]
	}
	var out []string
	for _, ref := range chunks {
		id := ref
		if i := strings.LastIndexByte(ref, '#'); i > 0 {
			id = ref[:i]
		}
		if !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func calledNames(calls []ToolCall) []string {
	var out []string
	for _, c := range calls {
		if !contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func callsOf(calls []ToolCall, name string) []ToolCall {
	var out []ToolCall
	for _, c := range calls {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func kText(k int) string {
	if k == 0 {
		return "retrieved"
	}
	return fmt.Sprint(k)
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ", ")
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// ---- aggregation ---------------------------------------------------------------

// aggregate counts statuses and averages the case metrics over the cases
// that measured them; latency and degraded share are over answered cases.
func aggregate(cases []CaseResult) Aggregate {
	a := Aggregate{Metrics: map[string]float64{}}
	sums := map[string]float64{}
	ns := map[string]int{}
	var lat []float64
	degraded := 0
	for _, c := range cases {
		a.Counts.Total++
		switch c.Status {
		case StatusPass:
			a.Counts.Passed++
		case StatusFail:
			a.Counts.Failed++
		case StatusError:
			a.Counts.Errors++
		case StatusTimeout:
			a.Counts.Timeouts++
		case StatusNotApplicable:
			a.Counts.NotApplicable++
		}
		if c.Status != StatusPass && c.Status != StatusFail {
			continue
		}
		for k, v := range c.Metrics {
			sums[k] += v
			ns[k]++
		}
		if !c.Refused {
			lat = append(lat, float64(c.DurationMS))
			if c.Degraded {
				degraded++
			}
		}
	}
	for k, s := range sums {
		a.Metrics[k] = round4(s / float64(ns[k]))
	}
	if run := a.Counts.Total - a.Counts.NotApplicable; run > 0 {
		a.Metrics[MetricCasePassRate] = round4(float64(a.Counts.Passed) / float64(run))
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		a.Metrics[MetricLatencyP50] = percentile(lat, 50)
		a.Metrics[MetricLatencyP95] = percentile(lat, 95)
		a.Metrics[MetricDegradedRate] = round4(float64(degraded) / float64(len(lat)))
	}
	return a
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// breakdowns aggregates by agent, language, suite and every tag.
func breakdowns(cases []CaseResult) []Breakdown {
	groups := map[[2]string][]CaseResult{}
	for _, c := range cases {
		keys := [][2]string{{"agent", c.Agent}, {"lang", c.Lang}, {"suite", c.Suite}}
		for _, t := range c.Tags {
			keys = append(keys, [2]string{"tag", t})
		}
		for _, k := range keys {
			groups[k] = append(groups[k], c)
		}
	}
	order := map[string]int{"agent": 0, "lang": 1, "suite": 2, "tag": 3}
	out := make([]Breakdown, 0, len(groups))
	for k, cs := range groups {
		out = append(out, Breakdown{Dimension: k[0], Value: k[1], Aggregate: aggregate(cs)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dimension != out[j].Dimension {
			return order[out[i].Dimension] < order[out[j].Dimension]
		}
		return out[i].Value < out[j].Value
	})
	return out
}
