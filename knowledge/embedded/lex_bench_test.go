//go:build bench

package embedded

import (
	"math"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
)

// exhaustiveLex is the lexical search before MaxScore: every posting of
// every query term scored into an array. The benchmark's baseline.
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

// BenchmarkLexSearch compares the lexical search (MaxScore by window of
// slots over slot-sorted postings) with scoring every posting, on LEX_N (default
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
	all := func(int32) bool { return true }
	same, positions := 0, 0
	for i, q := range qs {
		got, want := x.search(q, 40, 0, all), exhaustiveLex(&x, q, 40)
		if err := sameRanking(got, want, exhaustiveScores(&x, q, 0, all)); err != nil {
			b.Fatalf("query %d %q: %v", i, queries[i], err)
		}
		for j := range got {
			positions++
			if got[j].slot == want[j].slot {
				same++
			}
		}
	}
	b.Logf("%d queries: the same top 40 as scoring every posting; %d of %d ranked positions hold the same slot, the others swap tied scores", len(qs), same, positions)
	for _, m := range []struct {
		name string
		f    func(q []string) []scored
	}{
		{"windowed MaxScore (store)", func(q []string) []scored { return x.search(q, 40, 0, func(int32) bool { return true }) }},
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
		// By kind of query (hashedCorpus makes them in turn).
		var kinds [3]float64
		for k := range kinds {
			c0 := cpuSeconds()
			for range rounds {
				for i := k; i < len(qs); i += 3 {
					m.f(qs[i])
				}
			}
			kinds[k] = (cpuSeconds() - c0) * 1e6 / float64(rounds*((len(qs)-k+2)/3))
		}
		b.Logf("    by kind: 12-character prefix %.0f µs, subject + road %.0f µs, English words %.0f µs", kinds[0], kinds[1], kinds[2])
	}
}
