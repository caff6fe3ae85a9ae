// Package quality measures retrieval on a labelled query set: for each
// query, the documents that answer it; recall@k (the share of queries with an
// answering document in the top k) and MRR (mean reciprocal rank of the first
// answering document), overall and per language. It also ranks with BM25
// alone under other ways of splitting Chinese into terms, to compare them
// with the CJK bigrams the stores use.
package quality

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// Query is one labelled question.
type Query struct {
	ID         string           `yaml:"id"`
	Lang       string           `yaml:"lang"`
	Collection string           `yaml:"collection"`
	Clearance  access.Clearance `yaml:"clearance"`
	Query      string           `yaml:"query"`
	Relevant   []string         `yaml:"relevant"`
}

// LoadQueries reads a query file ({queries: [...]}) and checks it.
func LoadQueries(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Queries []Query `yaml:"queries"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("quality: %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, q := range f.Queries {
		c, err := access.ParseClearance(string(q.Clearance))
		switch {
		case err != nil:
			return nil, fmt.Errorf("quality: %s: query %s: %w", path, q.ID, err)
		case q.ID == "" || seen[q.ID]:
			return nil, fmt.Errorf("quality: %s: query %d: missing or repeated id %q", path, i, q.ID)
		case q.Query == "" || q.Collection == "" || len(q.Relevant) == 0:
			return nil, fmt.Errorf("quality: %s: query %s: query, collection and relevant are required", path, q.ID)
		}
		seen[q.ID] = true
		f.Queries[i].Clearance = c
	}
	return f.Queries, nil
}

// Metrics are the scores of a set of queries.
type Metrics struct {
	Queries int     `json:"queries"`
	Recall  float64 `json:"recall_at_k"` // share with an answer in the top k
	MRR     float64 `json:"mrr"`         // over the top 10
}

// Report is an evaluation's metrics overall and per language, and the
// queries with no answer in the top k.
type Report struct {
	K      int                `json:"k"`
	All    Metrics            `json:"all"`
	ByLang map[string]Metrics `json:"by_lang"`
	Missed []string           `json:"missed"`
}

// Ranker returns the ids of the documents a query finds, best first.
type Ranker func(ctx context.Context, q Query) ([]string, error)

// BaseRanker ranks with a knowledge base's hybrid search, at the query's
// clearance, ten results.
func BaseRanker(b *knowledge.Base) Ranker {
	return func(ctx context.Context, q Query) ([]string, error) {
		hits, err := b.Search(ctx, knowledge.Query{Collection: q.Collection, Text: q.Query, K: 10, Clearance: q.Clearance})
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.DocID
		}
		return ids, nil
	}
}

// Evaluate runs every query through rank and scores recall@k and MRR@10.
func Evaluate(ctx context.Context, rank Ranker, qs []Query, k int) (Report, error) {
	type acc struct {
		n, hit int
		rr     float64
	}
	all, by := acc{}, map[string]*acc{}
	rep := Report{K: k, ByLang: map[string]Metrics{}}
	for _, q := range qs {
		ids, err := rank(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("quality: query %s: %w", q.ID, err)
		}
		rankOf := 0
		for i, id := range ids[:min(len(ids), 10)] {
			if slices.Contains(q.Relevant, id) {
				rankOf = i + 1
				break
			}
		}
		a := by[q.Lang]
		if a == nil {
			a = &acc{}
			by[q.Lang] = a
		}
		for _, x := range []*acc{&all, a} {
			x.n++
			if rankOf > 0 && rankOf <= k {
				x.hit++
			}
			if rankOf > 0 {
				x.rr += 1 / float64(rankOf)
			}
		}
		if rankOf == 0 || rankOf > k {
			rep.Missed = append(rep.Missed, q.ID)
		}
	}
	m := func(a acc) Metrics {
		if a.n == 0 {
			return Metrics{}
		}
		return Metrics{Queries: a.n, Recall: float64(a.hit) / float64(a.n), MRR: a.rr / float64(a.n)}
	}
	rep.All = m(all)
	for lang, a := range by {
		rep.ByLang[lang] = m(*a)
	}
	return rep, nil
}

// WriteTable prints reports side by side, one row per name.
func WriteTable(w io.Writer, names []string, reps map[string]Report) {
	langs := map[string]bool{}
	for _, r := range reps {
		for l := range r.ByLang {
			langs[l] = true
		}
	}
	ls := slices.Sorted(maps.Keys(langs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	k := 5
	for _, r := range reps {
		k = r.K
	}
	fmt.Fprintf(tw, "\tall: recall@%d\tMRR", k)
	for _, l := range ls {
		fmt.Fprintf(tw, "\t%s: recall@%d\tMRR", l, k)
	}
	fmt.Fprintln(tw, "\tqueries")
	for _, name := range names {
		r := reps[name]
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f", name, r.All.Recall, r.All.MRR)
		for _, l := range ls {
			fmt.Fprintf(tw, "\t%.3f\t%.3f", r.ByLang[l].Recall, r.ByLang[l].MRR)
		}
		fmt.Fprintf(tw, "\t%d\n", r.All.Queries)
	}
	tw.Flush()
}

// Segmenter splits a run of CJK characters into terms.
type Segmenter func(run []rune) []string

// Segmenters are the ways of splitting Chinese that LexicalRanker compares:
// single characters, pairs, both (what knowledge.Tokens makes), and triples.
var Segmenters = map[string]Segmenter{
	"bigram":         func(r []rune) []string { return ngrams(r, 2) },
	"unigram":        func(r []rune) []string { return ngrams(r, 1) },
	"unigram+bigram": func(r []rune) []string { return unibi(r) },
	"trigram":        func(r []rune) []string { return ngrams(r, 3) },
}

// unibi is each character, then each pair, as knowledge.Tokens makes them.
func unibi(run []rune) []string {
	out := ngrams(run, 1)
	if len(run) > 1 {
		out = append(out, ngrams(run, 2)...)
	}
	return out
}

// ngrams are the n-grams of run, or run itself when it is shorter.
func ngrams(run []rune, n int) []string {
	if len(run) <= n {
		return []string{string(run)}
	}
	out := make([]string, 0, len(run)-n+1)
	for i := 0; i+n <= len(run); i++ {
		out = append(out, string(run[i:i+n]))
	}
	return out
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// Tokenize splits text as knowledge.Tokens does, except that runs of CJK
// characters go through seg: words of other scripts are the same terms.
func Tokenize(text string, seg Segmenter) []string {
	var out []string
	var other strings.Builder
	var run []rune
	flush := func() {
		if other.Len() > 0 {
			out = append(out, knowledge.Tokens(other.String())...)
			other.Reset()
		}
		if len(run) > 0 {
			out = append(out, seg(run)...)
			run = run[:0]
		}
	}
	for _, r := range text {
		if isCJK(r) {
			if other.Len() > 0 {
				out = append(out, knowledge.Tokens(other.String())...)
				other.Reset()
			}
			run = append(run, r)
			continue
		}
		if len(run) > 0 {
			out = append(out, seg(run)...)
			run = run[:0]
		}
		other.WriteRune(r)
	}
	flush()
	return out
}

// LexicalRanker ranks documents by BM25 over their chunks (as chunked by
// base, indexing knowledge.IndexText) with terms from tokenize, one hit per
// document, at the query's clearance: the lexical side of the stores with
// another tokenizer.
func LexicalRanker(base *knowledge.Base, docs []knowledge.Document, tokenize func(string) []string) Ranker {
	type chunk struct {
		doc   string
		coll  string
		level access.Clearance
		tf    map[string]int
		n     int
	}
	var chunks []chunk
	for _, d := range docs {
		for _, c := range base.Chunks(d) {
			terms := tokenize(knowledge.IndexText(c))
			tf := map[string]int{}
			for _, t := range terms {
				tf[t]++
			}
			chunks = append(chunks, chunk{doc: d.ID, coll: d.Collection, level: cmp.Or(d.Clearance, access.Public), tf: tf, n: len(terms)})
		}
	}
	return func(_ context.Context, q Query) ([]string, error) {
		var in []int
		total := 0
		for i, c := range chunks {
			if c.coll == q.Collection && q.Clearance.Covers(c.level) {
				in = append(in, i)
				total += c.n
			}
		}
		if len(in) == 0 {
			return nil, nil
		}
		avg := float64(total) / float64(len(in))
		terms := map[string]bool{}
		for _, t := range tokenize(q.Query) {
			terms[t] = true
		}
		scores := map[int]float64{} // by chunk
		for t := range terms {
			df := 0
			for _, i := range in {
				if chunks[i].tf[t] > 0 {
					df++
				}
			}
			if df == 0 {
				continue
			}
			idf := math.Log(1 + (float64(len(in))-float64(df)+0.5)/(float64(df)+0.5))
			for _, i := range in {
				c := chunks[i]
				if f := float64(c.tf[t]); f > 0 {
					norm := 1 - 0.75 + 0.75*float64(c.n)/avg
					scores[i] += idf * f * 2.2 / (f + 1.2*norm)
				}
			}
		}
		best := map[string]float64{}
		for i, s := range scores {
			best[chunks[i].doc] = max(best[chunks[i].doc], s)
		}
		ids := slices.Collect(maps.Keys(best))
		slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(best[b], best[a]), cmp.Compare(a, b)) })
		return ids, nil
	}
}
