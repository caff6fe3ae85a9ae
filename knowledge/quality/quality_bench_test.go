//go:build bench

package quality_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ego/gse"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/quality"
)

// BenchmarkQuality reports recall@5 and MRR on the demo query set: hybrid
// search on each backend (embedded, pgvector on a real PostgreSQL via
// PGlite, qdrant on the in-process fake) with the hashed embedder; then BM25
// alone under each way of splitting Chinese — the stores' bigrams, single
// characters, both, trigrams, and a dictionary segmenter (gse v0.80.3, its
// embedded simplified-Chinese dictionary, search mode).
func BenchmarkQuality(b *testing.B) {
	ctx := context.Background()
	qs, err := quality.LoadQueries(queryFile)
	if err != nil {
		b.Fatal(err)
	}
	docs, err := demodocs.Documents()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		reps := map[string]quality.Report{}
		var names []string
		for _, be := range backends(b) {
			base := knowledge.NewBase(be.store, knowledge.NewHashedEmbedder(0))
			if _, err := demodocs.Load(ctx, base); err != nil {
				b.Fatal(err)
			}
			rep, err := quality.Evaluate(ctx, quality.BaseRanker(base), qs, 5)
			if err != nil {
				b.Fatal(err)
			}
			name := "hybrid, " + be.name
			names = append(names, name)
			reps[name] = rep
		}
		chunker := knowledge.NewBase(nil, knowledge.NewHashedEmbedder(0))
		for _, seg := range []string{"bigram", "unigram", "unigram+bigram", "trigram"} {
			s := quality.Segmenters[seg]
			rep, err := quality.Evaluate(ctx, quality.LexicalRanker(chunker, docs, func(t string) []string { return quality.Tokenize(t, s) }), qs, 5)
			if err != nil {
				b.Fatal(err)
			}
			name := "BM25 only, CJK " + seg
			names = append(names, name)
			reps[name] = rep
		}
		dict, err := gse.NewEmbed("zh_s")
		if err != nil {
			b.Fatal(err)
		}
		words := func(run []rune) []string {
			var out []string
			for _, w := range dict.CutSearch(string(run), true) {
				if w = strings.TrimSpace(w); w != "" {
					out = append(out, w)
				}
			}
			return out
		}
		rep, err := quality.Evaluate(ctx, quality.LexicalRanker(chunker, docs, func(t string) []string { return quality.Tokenize(t, words) }), qs, 5)
		if err != nil {
			b.Fatal(err)
		}
		names = append(names, "BM25 only, CJK gse dictionary words")
		reps["BM25 only, CJK gse dictionary words"] = rep
		var sb strings.Builder
		quality.WriteTable(&sb, names, reps)
		b.Log("\n" + sb.String())
		for _, n := range names[:3] {
			b.Logf("%s missed: %v", n, reps[n].Missed)
		}
		b.ReportMetric(reps[names[0]].All.Recall, "embedded_recall@5")
		b.ReportMetric(reps[names[0]].All.MRR, "embedded_MRR")
	}
}
