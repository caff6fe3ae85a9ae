package reports

import (
	"math"
	"slices"
)

// quantiles accumulates integer values (milliseconds) for exact
// nearest-rank quantiles. It keeps a count per distinct value, so its size
// grows with how many different values there are (bounded by the longest
// duration), not with how many were added.
type quantiles struct {
	counts map[int64]int
	n      int
}

func (q *quantiles) add(v int64) {
	if q.counts == nil {
		q.counts = map[int64]int{}
	}
	q.counts[v]++
	q.n++
}

// rank returns the nearest-rank p-quantile: the smallest value v such that
// at least ⌈p·n⌉ of the values are ≤ v (so p50 of 1…10 is 5, p95 is 10). It
// returns nil when nothing was added.
func (q *quantiles) rank(p float64) *int64 {
	if q.n == 0 {
		return nil
	}
	k := max(int(math.Ceil(p*float64(q.n))), 1)
	keys := make([]int64, 0, len(q.counts))
	for v := range q.counts {
		keys = append(keys, v)
	}
	slices.Sort(keys)
	seen := 0
	for _, v := range keys {
		seen += q.counts[v]
		if seen >= k {
			return &v
		}
	}
	return &keys[len(keys)-1]
}

// rankSeconds is rank in seconds, for values in milliseconds.
func (q *quantiles) rankSeconds(p float64) *float64 {
	v := q.rank(p)
	if v == nil {
		return nil
	}
	s := float64(*v) / 1000
	return &s
}
