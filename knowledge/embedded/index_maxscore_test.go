package embedded

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLexSearchExact checks the search against scoring every
// posting, on a random collection with a skewed vocabulary (a few terms in
// most slots, many rare ones), removals and reused slots, a filter and
// clearance levels.
func TestLexSearchExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var x lexIndex
	x.terms = map[string]*postingList{}
	const slots = 3000
	terms := make([][]string, slots)
	levelOf := make([]int8, slots)
	chunk := func() chunkTerms {
		var ct chunkTerms
		idx := map[string]int{}
		length := 5 + r.IntN(60)
		for range length {
			// Zipf-like: term k with probability ~ 1/(k+1).
			w := fmt.Sprintf("t%d", int(math.Floor(math.Exp(r.Float64()*math.Log(5000))))-1)
			if i, ok := idx[w]; ok {
				ct.freqs[i]++
				continue
			}
			idx[w] = len(ct.terms)
			ct.terms = append(ct.terms, w)
			ct.freqs = append(ct.freqs, 1)
		}
		ct.length = length
		return ct
	}
	live := make([]bool, slots)
	put := func(s int32) {
		ct := chunk()
		levelOf[s] = int8(r.IntN(levels))
		terms[s] = ct.terms
		x.add(s, levelOf[s], ct)
		live[s] = true
	}
	for s := range int32(slots) {
		put(s)
	}
	// Remove a third and reuse their slots in random order.
	var freed []int32
	for s := range int32(slots) {
		if r.IntN(3) == 0 {
			x.remove(s, levelOf[s], terms[s])
			live[s] = false
			freed = append(freed, s)
		}
	}
	r.Shuffle(len(freed), func(i, j int) { freed[i], freed[j] = freed[j], freed[i] })
	for _, s := range freed[:len(freed)/2] {
		put(s)
	}
	for term, pl := range x.terms {
		if !slices.IsSortedFunc(pl.posts, func(a, b uint32) int { return int(a>>8) - int(b>>8) }) {
			t.Fatalf("posting list of %s not sorted by slot", term)
		}
	}
	for i := range 300 {
		var q []string
		for range 1 + r.IntN(12) {
			q = append(q, fmt.Sprintf("t%d", int(math.Floor(math.Exp(r.Float64()*math.Log(5000))))-1))
		}
		maxLevel := r.IntN(levels)
		n := 1 + r.IntN(40)
		odd := i%2 == 0
		allow := func(s int32) bool { return live[s] && int(levelOf[s]) <= maxLevel && (!odd || s%2 == 1) }
		all := exhaustiveScores(&x, q, maxLevel, allow)
		if err := sameRanking(x.search(q, n, maxLevel, allow), best(all, n), all); err != nil {
			t.Fatalf("query %v n %d: %v", q, n, err)
		}
	}
}
