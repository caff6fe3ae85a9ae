package knowledge

import (
	"cmp"
	"slices"
)

// DefaultRRFK is the rank constant of reciprocal-rank fusion from Cormack et
// al. (2009); larger values flatten the advantage of the top ranks.
const DefaultRRFK = 60

// FuseRRF merges ranked lists by reciprocal-rank fusion: a hit scores the sum
// of 1/(k+rank) over the lists it appears in (rank from 1), so that agreement
// between rankers counts more than any ranker's raw score, whose scales are
// not comparable. Hits are the same when collection, document and chunk id
// are; the first occurrence's fields are kept. The result is sorted by fused
// score, best first, ties broken by best rank and then by id so that it is
// deterministic. k ≤ 0 means DefaultRRFK.
func FuseRRF(k int, lists ...[]Hit) []Hit {
	if k <= 0 {
		k = DefaultRRFK
	}
	type key struct{ collection, doc, chunk string }
	type fused struct {
		hit  Hit
		best int
	}
	index := map[key]int{}
	var out []fused
	for _, list := range lists {
		for rank, h := range list {
			id := key{h.Collection, h.DocID, h.ID}
			s := 1 / float64(k+rank+1)
			if i, ok := index[id]; ok {
				out[i].hit.Score += s
				out[i].best = min(out[i].best, rank)
				continue
			}
			index[id] = len(out)
			h.Score = s
			out = append(out, fused{hit: h, best: rank})
		}
	}
	slices.SortStableFunc(out, func(a, b fused) int {
		if c := cmp.Compare(b.hit.Score, a.hit.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.best, b.best); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.hit.Collection, b.hit.Collection),
			cmp.Compare(a.hit.DocID, b.hit.DocID), cmp.Compare(a.hit.ID, b.hit.ID))
	})
	hits := make([]Hit, len(out))
	for i, f := range out {
		hits[i] = f.hit
	}
	return hits
}

// Fusion weights of Fuse. Equal: with the score scaling and the tie-break
// they measured best on the labelled set (docs/knowledge.md); exact
// identifier and phrase matches are ranked first by OrderByEvidence, not by
// weighting.
const (
	FuseDenseWeight   = 1.0
	FuseLexicalWeight = 1.0
)

// Fuse is the hybrid fusion every store applies to its dense (cosine) and
// lexical (BM25) rankings. It is reciprocal-rank fusion made score-aware: a
// hit earns w/(k+rank) from each list it is in (k = DefaultRRFK), scaled by
// (1+s/top)/2 where s is its score in that list and top the list's best, so
// that a hit far behind its list's leader earns less than the rank alone
// says. Ties go to the better lexical rank, then to the better dense rank,
// then to the id, never to whichever list happened to come first. Scores
// must be ≥ 0 (a list whose best score is not positive counts by rank only).
// Hits are the same when collection, document and chunk id are; the dense
// occurrence's fields are kept.
func Fuse(dense, lexical []Hit) []Hit {
	type key struct{ collection, doc, chunk string }
	// fused points at a hit's first occurrence rather than copying it:
	// sorting small values is cheaper, and only the result is copied.
	type fused struct {
		hit        *Hit
		score      float64
		lex, dense int // rank from 0; len+1 when absent
	}
	const absent = 1 << 30
	index := make(map[key]int, len(dense)+len(lexical))
	out := make([]fused, 0, len(dense)+len(lexical))
	add := func(list []Hit, w float64, isLex bool) {
		top := 0.0
		if len(list) > 0 {
			top = list[0].Score
			for _, h := range list {
				top = max(top, h.Score)
			}
		}
		for rank := range list {
			h := &list[rank]
			f := 1.0
			if top > 0 {
				f = (1 + max(h.Score, 0)/top) / 2
			}
			s := w * f / float64(DefaultRRFK+rank+1)
			id := key{h.Collection, h.DocID, h.ID}
			i, ok := index[id]
			if !ok {
				i = len(out)
				index[id] = i
				out = append(out, fused{hit: h, lex: absent, dense: absent})
			}
			out[i].score += s
			if isLex {
				out[i].lex = rank
			} else {
				out[i].dense = rank
			}
		}
	}
	add(dense, FuseDenseWeight, false)
	add(lexical, FuseLexicalWeight, true)
	slices.SortFunc(out, func(a, b fused) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.lex, b.lex); c != 0 {
			return c
		}
		if c := cmp.Compare(a.dense, b.dense); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.hit.Collection, b.hit.Collection),
			cmp.Compare(a.hit.DocID, b.hit.DocID), cmp.Compare(a.hit.ID, b.hit.ID))
	})
	hits := make([]Hit, len(out))
	for i, f := range out {
		hits[i] = *f.hit
		hits[i].Score = f.score
	}
	return hits
}
