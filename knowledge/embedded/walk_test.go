package embedded

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// searchLayerRef is searchLayer as it was before accept was asked after
// the walk: the reference TestSearchLayerMatchesReference holds it to.
func (g *graph) searchLayerRef(q query, eps []scoredNode, ef, l int, accept func(int32) bool) []scoredNode {
	vs := g.walk()
	defer g.visits.Put(vs)
	cand := nodeHeap{max: true}
	var beam, res nodeHeap
	for _, e := range eps {
		vs.visit(e.node)
		cand.push(e)
		beam.push(e)
		if accept == nil || accept(e.node) {
			res.push(e)
		}
	}
	for len(cand.s) > 0 {
		c := cand.pop()
		if len(beam.s) >= ef && c.score < beam.s[0].score {
			break
		}
		for _, e := range g.neighbours(c.node, l) {
			if !vs.visit(e) {
				continue
			}
			s := g.sim(q, e)
			if len(beam.s) >= ef && s <= beam.s[0].score {
				continue
			}
			cand.push(scoredNode{e, s})
			beam.push(scoredNode{e, s})
			if len(beam.s) > ef {
				beam.pop()
			}
			if accept == nil || accept(e) {
				res.push(scoredNode{e, s})
				if len(res.s) > ef {
					res.pop()
				}
			}
		}
	}
	out := res.s
	slices.SortFunc(out, byScoreDesc)
	return out
}

// TestSearchLayerMatchesReference compares the beam search with the
// reference on random queries, filters and beams, over a graph where many
// vectors are exact duplicates (so that scores tie at the cut) and some
// nodes are tombstones.
func TestSearchLayerMatchesReference(t *testing.T) {
	const dim, n = 32, 3000
	data := embeddingLike(11, n/3, dim)
	g := newGraph(dim)
	g.exactBelow = 0
	for i := range n {
		g.add(int32(i), data[i%len(data)]) // each vector three times
	}
	for g.linkNext() {
	}
	for i := int32(0); i < n; i += 7 {
		g.remove(i)
	}
	for g.linkNext() {
	}
	queries := embeddingLike(12, 40, dim)
	r := rand.New(rand.NewPCG(5, 5))
	filters := map[string]func(int32) bool{
		"nil":  nil,
		"all":  func(int32) bool { return true },
		"none": func(int32) bool { return false },
		"half": func(n int32) bool { return n%2 == 0 },
		"rare": func(n int32) bool { return n%50 == 3 },
		"live": func(n int32) bool { return g.slotOf[n] >= 0 },
	}
	cases := 0
	for qi, v := range queries {
		q := g.newQuery(v)
		if qi%2 == 1 { // a query that is a node: many exact ties
			q = g.nodeQuery(int32(r.IntN(n)))
		}
		ep := int32(r.IntN(n))
		for name, accept := range filters {
			for _, ef := range []int{1, 2, 5, 10, 40, 64, 200} {
				eps := []scoredNode{{ep, g.sim(q, ep)}}
				want := g.searchLayerRef(q, eps, ef, 0, accept)
				got := g.searchLayer(q, eps, ef, 0, accept)
				if !slices.Equal(got, want) {
					t.Fatalf("query %d, filter %s, ef %d:\n got %v\nwant %v", qi, name, ef, got, want)
				}
				cases++
			}
		}
	}
	if testing.Verbose() {
		fmt.Println(cases, "cases")
	}
}
