package knowledge

import (
	"context"
	"fmt"
	"slices"
)

// Reranker scores candidate texts against a query, as a cross-encoder does:
// Rerank returns one relevance score per document, higher is better, in the
// order of docs. The knowledge/rerank package speaks the OpenAI-compatible
// /v1/rerank protocol (vLLM, TEI, Jina, Cohere-style servers).
type Reranker interface {
	Rerank(ctx context.Context, query string, docs []string) ([]float64, error)
}

// DefaultRerankDepth is how many fused hits a reranker sees by default.
const DefaultRerankDepth = 20

// WithReranker makes Search reorder its best depth hits (≤ 0:
// DefaultRerankDepth) by r's scores before exact-match evidence is applied,
// so that a reranker never moves a chunk without the identifier or phrase
// asked for above one that has it. Off unless set. A reranker error fails
// the search: a caller that configured one wants its ranking or to know.
func WithReranker(r Reranker, depth int) Option {
	return func(b *Base) {
		b.reranker = r
		b.rerankDepth = depth
		if depth <= 0 {
			b.rerankDepth = DefaultRerankDepth
		}
	}
}

// rerank reorders the first depth hits by the reranker's scores; their
// Score stays the fused one, so that scores keep one scale.
func (b *Base) rerank(ctx context.Context, query string, hits []Hit) ([]Hit, error) {
	n := min(len(hits), b.rerankDepth)
	if b.reranker == nil || n < 2 {
		return hits, nil
	}
	docs := make([]string, n)
	for i, h := range hits[:n] {
		docs[i] = IndexText(h.Chunk)
	}
	scores, err := b.reranker.Rerank(ctx, query, docs)
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if len(scores) != n {
		return nil, fmt.Errorf("rerank: %d scores for %d documents", len(scores), n)
	}
	type scoredHit struct {
		h Hit
		s float64
	}
	sh := make([]scoredHit, n)
	for i := range sh {
		sh[i] = scoredHit{hits[i], scores[i]}
	}
	slices.SortStableFunc(sh, func(a, b scoredHit) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	for i := range sh {
		hits[i] = sh[i].h
	}
	return hits, nil
}
