//go:build bench

package embedded

import (
	"math"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
)

// exhaustiveLex is the lexical search before MaxScore: every posting of
// every query term scored. The benchmark's baseline.
func exhaustiveLex(x *lexIndex, terms []string, n int) []scored {
	docs, total := x.n[0], x.total[0]
	avg := float64(total) / float64(docs)
	scores := make([]float64, len(x.length))
	var touched []int32
	seen := map[string]bool{}
	for _, t := range terms {
		pl := x.terms[t]
		if seen[t] || pl == nil {
			continue
		}
		seen[t] = true
		df := int(pl.df[0])
		idf := math.Log(1 + (float64(docs)-float64(df)+0.5)/(float64(df)+0.5))
		for _, p := range pl.posts {
			s := int32(p >> 8)
			tf := float64(p & 0xff)
			norm := 1 - bm25B + bm25B*float64(x.length[s])/avg
			if scores[s] == 0 {
				touched = append(touched, s)
			}
			scores[s] += idf * tf * (bm25K1 + 1) / (tf + bm25K1*norm)
		}
	}
	top := topN{n: n}
	for _, s := range touched {
		top.offer(s, scores[s])
	}
	return top.sorted()
}

// BenchmarkLexSearch compares the lexical search (MaxScore over
// slot-sorted postings) with scoring every posting, on LEX_N (default
// 100,000) bilingual chunks and the hashed benchmark's queries, n = 40 (what
// a store ranks for Base's default k). It reports CPU per search of each
// and checks they return the same slots.
func BenchmarkLexSearch(b *testing.B) {
	n := envInt("LEX_N", 100_000)
	texts, queries := hashedCorpus(b, n, 300)
	var x lexIndex
	x.terms = map[string]*postingList{}
	for i, t := range texts {
		x.add(int32(i), 0, termsOf(knowledge.Chunk{Text: t}))
	}
	qs := make([][]string, len(queries))
	for i, q := range queries {
		qs[i] = knowledge.Tokens(q)
	}
	for i, q := range qs {
		got, want := x.search(q, 40, 0, func(int32) bool { return true }), exhaustiveLex(&x, q, 40)
		for j := range min(len(got), len(want)) {
			if got[j].slot != want[j].slot && math.Abs(got[j].score-want[j].score) > 1e-9*want[j].score {
				b.Fatalf("query %d %q: hit %d %v, exhaustive %v", i, queries[i], j, got[j], want[j])
			}
		}
	}
	for _, m := range []struct {
		name string
		f    func(q []string) []scored
	}{
		{"MaxScore (the store)", func(q []string) []scored { return x.search(q, 40, 0, func(int32) bool { return true }) }},
		{"every posting (before)", func(q []string) []scored { return exhaustiveLex(&x, q, 40) }},
	} {
		c0 := cpuSeconds()
		const rounds = 3
		for range rounds {
			for _, q := range qs {
				m.f(q)
			}
		}
		us := (cpuSeconds() - c0) * 1e6 / float64(rounds*len(qs))
		b.Logf("%d chunks, %d queries: %-24s %8.0f µs CPU per search (machine shared with other work)", n, len(qs), m.name, us)
	}
}
