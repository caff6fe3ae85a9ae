package hotline

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var pipelineRounds = flag.String("pipeline-rounds", "", "for BenchmarkPipelineRounds: score only these dev rounds (comma-separated), each held back in turn")

// BenchmarkPipelineRounds holds back each dev round in turn (or those of
// -pipeline-rounds) from the example model and triages it through the
// whole pipeline (the offline engine checked by the rules of today), a
// measurement of how the model and decide carry to requests they have not
// learnt from (logged, with the misses of the rounds asked for):
//
//	go test ./hotline -run '^$' -bench PipelineRounds -benchtime 1x -v [-pipeline-rounds u]
func BenchmarkPipelineRounds(b *testing.B) {
	t := testing.TB(b)
	all := devRounds(t)
	var rounds []string
	for _, l := range all {
		if !slices.Contains(rounds, l.round) {
			rounds = append(rounds, l.round)
		}
	}
	if *pipelineRounds != "" {
		rounds = strings.Split(*pipelineRounds, ",")
	}
	r := newRig(t, rigOptions{})
	rules := r.triager.Rules
	defer func() { r.triager.Rules = rules }()
	pooled, pooledRules := map[string]*quality{}, map[string]*quality{}
	for _, k := range []string{"all", LangZh, LangEn} {
		pooled[k], pooledRules[k] = &quality{}, &quality{}
	}
	for _, round := range rounds {
		var train, test []labelled
		for _, l := range all {
			if l.round == round {
				test = append(test, l)
			} else {
				train = append(train, l)
			}
		}
		c := *rules
		c.examples = newExampleModel(asExamples(train), c.tax)
		r.triager.Rules = &c
		texts := make([]string, len(test))
		for i, l := range test {
			texts[i] = l.Text
		}
		results := triageAll(r, texts, 2)
		per := map[string]*quality{"all": {}, LangZh: {}, LangEn: {}}
		var misses []string
		for i, l := range test {
			tri, q := results[i], l.qualityRequest
			for _, k := range []string{"all", q.Lang} {
				per[k].add(q, tri.Type, tri.Category, tri.Department, tri.Urgency)
				pooled[k].add(q, tri.Type, tri.Category, tri.Department, tri.Urgency)
				pooledRules[k].add(q, tri.Rules.Type, tri.Rules.Category, tri.Rules.Department, tri.Rules.Urgency)
			}
			if tri.Type != q.Type || tri.Category != q.Category || tri.Department != q.Department || tri.Urgency != q.Urgency {
				misses = append(misses, fmt.Sprintf("%s: type %s→%s category %s→%s department %s→%s urgency %s→%s (rules %s %s %s via %s)",
					q.ID, q.Type, tri.Type, q.Category, tri.Category, q.Department, tri.Department, q.Urgency, tri.Urgency,
					tri.Rules.Type, tri.Rules.Category, tri.Rules.Urgency, tri.Rules.Via))
			}
		}
		for _, k := range []string{"all", LangZh, LangEn} {
			t.Log(per[k].row("round "+round, k))
		}
		if *pipelineRounds != "" {
			t.Logf("round %s misses (%d):\n  %s", round, len(misses), strings.Join(misses, "\n  "))
		}
	}
	for _, k := range []string{"all", LangZh, LangEn} {
		t.Log(pooled[k].row("pooled pipeline", k))
	}
	for _, k := range []string{"all", LangZh, LangEn} {
		t.Log(pooledRules[k].row("pooled rules alone", k))
	}
}
