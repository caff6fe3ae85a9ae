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
