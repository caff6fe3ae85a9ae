package embedded

import (
	"container/heap"
	"math"
	"time"

	"github.com/cityagent/cityagent/knowledge"
)

// levels is the number of clearance levels (access.Clearances); lexical
// statistics are kept per level so that a query's scores depend only on
// chunks it may read.
const levels = 4

// collection is the in-memory index of one collection. Chunks live in
// numbered slots, which the dense and lexical indexes refer to; freed slots
// are reused.
type collection struct {
	name   string
	docs   map[string]*docEntry
	slots  []slot
	free   []int32
	chunks int // live
	dense  denseIndex
	lex    lexIndex
}

type slot struct {
	chunk       knowledge.Chunk
	level       int8  // clearance rank
	from, until int64 // validity in Unix nanoseconds
	live        bool
}

// validAt is knowledge.ValidAt on the slot's precomputed bounds.
func (s *slot) validAt(t int64) bool { return s.from <= t && t < s.until }

func bounds(c knowledge.Chunk) (from, until int64) {
	from, until = math.MinInt64, math.MaxInt64
	if c.Effective != nil {
		from = nanos(*c.Effective)
	}
	if c.Expires != nil {
		until = nanos(*c.Expires)
	}
	return from, until
}

// nanos is t in Unix nanoseconds, clamped where that overflows (before 1678,
// after 2261), so that "expires 9999-12-31" means never.
func nanos(t time.Time) int64 {
	switch y := t.Year(); {
	case y < 1678:
		return math.MinInt64
	case y > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

type docEntry struct {
	doc   knowledge.Document // without Text
	slots []int32
}

func newCollection(name string, dim int) *collection {
	c := &collection{name: name, docs: map[string]*docEntry{}}
	c.dense = newBruteForce(dim)
	c.lex.terms = map[string]*postingList{}
	return c
}

// put replaces doc's chunks. vecs are unit vectors; terms are the chunks'
// terms if already computed, else nil.
func (c *collection) put(doc knowledge.Document, chunks []knowledge.Chunk, vecs [][]float32, terms []chunkTerms) {
	if old := c.docs[doc.ID]; old != nil {
		c.remove(old)
	}
	e := &docEntry{doc: doc, slots: make([]int32, len(chunks))}
	for i, ch := range chunks {
		s := c.alloc()
		level := int8(ch.Clearance.Rank())
		from, until := bounds(ch)
		c.slots[s] = slot{chunk: ch, level: level, from: from, until: until, live: true}
		c.dense.add(s, vecs[i])
		var t chunkTerms
		if terms != nil {
			t = terms[i]
		} else {
			t = termsOf(ch)
		}
		c.lex.add(s, level, t)
		e.slots[i] = s
	}
	c.chunks += len(chunks)
	c.docs[doc.ID] = e
}

func (c *collection) remove(e *docEntry) {
	for _, s := range e.slots {
		sl := &c.slots[s]
		c.lex.remove(s, sl.level, termsOf(sl.chunk))
		c.dense.remove(s)
		*sl = slot{}
		c.free = append(c.free, s)
	}
	c.chunks -= len(e.slots)
	delete(c.docs, e.doc.ID)
}

func (c *collection) alloc() int32 {
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free = c.free[:n-1]
		return s
	}
	c.slots = append(c.slots, slot{})
	return int32(len(c.slots) - 1)
}

// scored is a slot with a ranker's score.
type scored struct {
	slot  int32
	score float64
}

// denseIndex holds the vectors of a collection's slots and finds the slots
// nearest a query, with positive similarity, among those allow accepts. The
// brute-force scan is exact; an approximate index (HNSW, IVF) can replace it
// behind this interface, provided it honours allow while searching rather
// than after, so that filtered-out chunks never crowd out readable ones.
type denseIndex interface {
	add(s int32, v []float32)
	remove(s int32)
	vector(s int32) []float32
	search(q []float32, n int, allow func(int32) bool) []scored
}

// bruteForce scores every allowed slot by dot product (cosine: all vectors
// are unit length). It stores vectors by dimension — cols[i][s] is component
// i of slot s — so that a query touches only the columns of its non-zero
// components, in long sequential runs: a hashed query has a few dozen of
// them out of hundreds.
type bruteForce struct {
	cols  [][]float32
	slots int
}

func newBruteForce(dim int) *bruteForce { return &bruteForce{cols: make([][]float32, dim)} }

func (b *bruteForce) add(s int32, v []float32) {
	for int(s) >= b.slots {
		for i := range b.cols {
			b.cols[i] = append(b.cols[i], 0)
		}
		b.slots++
	}
	for i, x := range v {
		b.cols[i][s] = x
	}
}

func (b *bruteForce) remove(s int32) {
	for i := range b.cols {
		b.cols[i][s] = 0
	}
}

func (b *bruteForce) vector(s int32) []float32 {
	v := make([]float32, len(b.cols))
	for i := range b.cols {
		v[i] = b.cols[i][s]
	}
	return v
}

func (b *bruteForce) search(q []float32, n int, allow func(int32) bool) []scored {
	scores := make([]float32, b.slots)
	for i, x := range q {
		if x != 0 {
			axpy(scores, x, b.cols[i])
		}
	}
	top := topN{n: n}
	for s, d := range scores {
		if d > 0 && allow(int32(s)) {
			top.offer(int32(s), float64(d))
		}
	}
	return top.sorted()
}

// axpy adds a·x to y.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// lexIndex is an inverted index scored by BM25. Document frequencies, chunk
// counts and lengths are kept per clearance level, and a query's statistics
// sum only the levels it may read, so that restricted text does not even
// shift the scores of a public query.
type lexIndex struct {
	terms  map[string]*postingList
	length []int32 // tokens per slot
	n      [levels]int
	total  [levels]int64
}

type postingList struct {
	df    [levels]int32
	posts []posting
}

type posting struct {
	slot int32
	tf   int32
}

// chunkTerms is a chunk's distinct terms with their frequencies, and its
// length in terms.
type chunkTerms struct {
	freqs  map[string]int32
	length int
}

// termsOf tokenises a chunk as every backend does (knowledge.IndexText).
func termsOf(c knowledge.Chunk) chunkTerms {
	tokens := knowledge.Tokens(knowledge.IndexText(c))
	m := make(map[string]int32, len(tokens))
	for _, t := range tokens {
		m[t]++
	}
	return chunkTerms{freqs: m, length: len(tokens)}
}

func (x *lexIndex) add(s int32, level int8, t chunkTerms) {
	for int(s) >= len(x.length) {
		x.length = append(x.length, 0)
	}
	x.length[s] = int32(t.length)
	x.n[level]++
	x.total[level] += int64(t.length)
	for term, tf := range t.freqs {
		pl := x.terms[term]
		if pl == nil {
			pl = &postingList{}
			x.terms[term] = pl
		}
		pl.df[level]++
		pl.posts = append(pl.posts, posting{slot: s, tf: tf})
	}
}

func (x *lexIndex) remove(s int32, level int8, t chunkTerms) {
	x.n[level]--
	x.total[level] -= int64(x.length[s])
	x.length[s] = 0
	for term := range t.freqs {
		pl := x.terms[term]
		if pl == nil {
			continue
		}
		for i, p := range pl.posts {
			if p.slot == s {
				last := len(pl.posts) - 1
				pl.posts[i] = pl.posts[last]
				pl.posts = pl.posts[:last]
				pl.df[level]--
				break
			}
		}
		if len(pl.posts) == 0 {
			delete(x.terms, term)
		}
	}
}

// BM25 parameters, the usual ones.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// search returns the n best allowed slots for the query terms, with
// statistics over the levels up to and including maxLevel.
func (x *lexIndex) search(terms []string, n int, maxLevel int, allow func(int32) bool) []scored {
	var docs int
	var total int64
	for l := 0; l <= maxLevel && l < levels; l++ {
		docs += x.n[l]
		total += x.total[l]
	}
	if docs == 0 {
		return nil
	}
	avg := float64(total) / float64(docs)
	scores := make([]float64, len(x.length))
	var touched []int32
	seen := map[string]bool{}
	for _, t := range terms {
		if seen[t] {
			continue
		}
		seen[t] = true
		pl := x.terms[t]
		if pl == nil {
			continue
		}
		var df int
		for l := 0; l <= maxLevel && l < levels; l++ {
			df += int(pl.df[l])
		}
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (float64(docs)-float64(df)+0.5)/(float64(df)+0.5))
		for _, p := range pl.posts {
			if !allow(p.slot) {
				continue
			}
			tf := float64(p.tf)
			norm := 1 - bm25B + bm25B*float64(x.length[p.slot])/avg
			if scores[p.slot] == 0 {
				touched = append(touched, p.slot)
			}
			scores[p.slot] += idf * tf * (bm25K1 + 1) / (tf + bm25K1*norm)
		}
	}
	top := topN{n: n}
	for _, s := range touched {
		top.offer(s, scores[s])
	}
	return top.sorted()
}

// topN keeps the n highest scores seen; ties go to the lower slot so that
// results do not depend on map order.
type topN struct {
	n int
	h scoredHeap
}

func (t *topN) offer(s int32, v float64) {
	if t.n <= 0 {
		return
	}
	if len(t.h) < t.n {
		heap.Push(&t.h, scored{s, v})
		return
	}
	if worse(t.h[0], scored{s, v}) {
		t.h[0] = scored{s, v}
		heap.Fix(&t.h, 0)
	}
}

// sorted empties t, best first.
func (t *topN) sorted() []scored {
	out := make([]scored, len(t.h))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&t.h).(scored)
	}
	return out
}

// worse reports whether a ranks below b.
func worse(a, b scored) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.slot > b.slot
}

// scoredHeap is a min-heap: the worst kept score on top.
type scoredHeap []scored

func (h scoredHeap) Len() int           { return len(h) }
func (h scoredHeap) Less(i, j int) bool { return worse(h[i], h[j]) }
func (h scoredHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *scoredHeap) Push(x any)        { *h = append(*h, x.(scored)) }
func (h *scoredHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
