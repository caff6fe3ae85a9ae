package knowledge

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// fuseRef is Fuse as it was before it sorted pointers instead of copies
// of hits: the reference of TestFuseMatchesReference.
func fuseRef(dense, lexical []Hit) []Hit {
	type key struct{ collection, doc, chunk string }
	type fused struct {
		hit        Hit
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
		for rank, h := range list {
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
				h.Score = 0
				out = append(out, fused{hit: h, lex: absent, dense: absent})
			}
			out[i].hit.Score += s
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
		if c := cmp.Compare(b.hit.Score, a.hit.Score); c != 0 {
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
		hits[i] = f.hit
	}
	return hits
}

// TestFuseMatchesReference compares Fuse with the reference on random
// lists with shared hits, repeated hits, tied and zero scores.
func TestFuseMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	list := func() []Hit {
		out := make([]Hit, r.IntN(30))
		for i := range out {
			d := r.IntN(25)
			out[i] = Hit{Chunk: Chunk{ID: fmt.Sprintf("d%d#%d", d, r.IntN(2)), DocID: fmt.Sprintf("d%d", d), Collection: []string{"a", "b"}[r.IntN(2)],
				Title: fmt.Sprint(r.IntN(1000))}, Score: float64(r.IntN(4)) / float64(1+r.IntN(3))}
		}
		return out
	}
	for i := range 20_000 {
		dense, lex := list(), list()
		if got, want := Fuse(dense, lex), fuseRef(dense, lex); !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d:\n got %v\nwant %v", i, got, want)
		}
	}
}
