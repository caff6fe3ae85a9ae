package embedded

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// levels is the number of clearance levels (access.Clearances); lexical
// statistics are kept per level so that a query's scores depend only on
// chunks it may read.
const levels = 4

// maxSlots bounds the chunks of one collection: a posting packs a slot into
// 24 bits.
const maxSlots = 1 << 24

// collection is the in-memory index of one collection. Chunks live in
// numbered slots, which the lexical index and the graph refer to; freed
// slots are reused (their graph nodes become tombstones). Chunk texts stay
// in the log and are read back for the hits a search returns, so that memory
// holds only what ranking needs.
type collection struct {
	name   string
	docs   map[string]*docEntry
	slots  []slot
	free   []int32
	chunks int // live
	lex    lexIndex
	dense  *graph
}

type slot struct {
	doc     *docEntry
	id      string   // chunk id; empty when it is knowledge.ChunkID(doc id, ordinal)
	heading []string // interned
	extra   *chunkExtra
	textOff int64 // where the chunk's text is in the log
	textLen int32
	ordinal int32
	node    int32 // in dense; -1 when the store has no vectors
	level   int8  // clearance rank
	live    bool
	from    int64 // validity in Unix nanoseconds
	until   int64
}

// chunkExtra holds what a chunk does not share with its document; nil for
// the chunks knowledge.Base makes.
type chunkExtra struct {
	title, source string
	metadata      map[string]string
	effective     *time.Time
	expires       *time.Time
}

// validAt is knowledge.ValidAt on the slot's precomputed bounds.
func (s *slot) validAt(t int64) bool { return s.from <= t && t < s.until }

func (s *slot) metadata() map[string]string {
	if s.extra != nil {
		return s.extra.metadata
	}
	return s.doc.doc.Metadata
}

func (s *slot) chunkID() string {
	if s.id != "" {
		return s.id
	}
	return knowledge.ChunkID(s.doc.doc.ID, int(s.ordinal))
}

func bounds(effective, expires *time.Time) (from, until int64) {
	from, until = math.MinInt64, math.MaxInt64
	if effective != nil {
		from = nanos(*effective)
	}
	if expires != nil {
		until = nanos(*expires)
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
	off   int64 // its put record in the log
	size  int64
}

func newCollection(name string, dim int) *collection {
	c := &collection{name: name, docs: map[string]*docEntry{}}
	if dim > 0 {
		c.dense = newGraph(dim)
	}
	c.lex.terms = map[string]*postingList{}
	return c
}

// chunkData is what apply needs of one chunk of a put.
type chunkData struct {
	chunk   knowledge.Chunk // Text empty
	textOff int64           // absolute, in the log
	textLen int32
	terms   chunkTerms
	codes   []int8
	scale   float32
}

// put replaces doc's chunks. interned shares heading paths between chunks;
// termsOf returns the terms an existing slot was indexed with.
func (c *collection) put(e *docEntry, chunks []chunkData, interned *internTable, termsOf func(int32) []string) {
	if old := c.docs[e.doc.ID]; old != nil {
		c.remove(old, termsOf)
	}
	e.slots = make([]int32, len(chunks))
	for i, cd := range chunks {
		ch := cd.chunk
		s := c.alloc()
		sl := slot{doc: e, ordinal: int32(ch.Ordinal), heading: interned.path(ch.HeadingPath),
			textOff: cd.textOff, textLen: cd.textLen, level: int8(ch.Clearance.Rank()), live: true, node: -1}
		if ch.ID != knowledge.ChunkID(e.doc.ID, ch.Ordinal) {
			sl.id = ch.ID
		}
		sl.extra = extraOf(e.doc, ch)
		sl.from, sl.until = bounds(ch.Effective, ch.Expires)
		if c.dense != nil && cd.codes != nil {
			sl.node = c.dense.addCodes(s, cd.codes, cd.scale)
		}
		c.slots[s] = sl
		c.lex.add(s, sl.level, cd.terms)
		e.slots[i] = s
	}
	c.chunks += len(chunks)
	c.docs[e.doc.ID] = e
}

// extraOf returns what chunk does not share with doc, nil if nothing.
func extraOf(doc knowledge.Document, ch knowledge.Chunk) *chunkExtra {
	if ch.Title == doc.Title && ch.Source == doc.Source && mapsEqual(ch.Metadata, doc.Metadata) &&
		timeEqual(ch.Effective, doc.Effective) && timeEqual(ch.Expires, doc.Expires) {
		return nil
	}
	return &chunkExtra{title: ch.Title, source: ch.Source, metadata: ch.Metadata, effective: ch.Effective, expires: ch.Expires}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// remove drops a document's chunks. termsOf returns the terms a slot was
// indexed with (they are not kept in memory: the text is in the log).
func (c *collection) remove(e *docEntry, termsOf func(int32) []string) {
	for _, s := range e.slots {
		sl := &c.slots[s]
		c.lex.remove(s, sl.level, termsOf(s))
		if sl.node >= 0 {
			c.dense.remove(sl.node)
		}
		*sl = slot{node: -1}
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
	c.slots = append(c.slots, slot{node: -1})
	return int32(len(c.slots) - 1)
}

// room reports whether n more chunks fit.
func (c *collection) room(n int) bool { return len(c.slots)-len(c.free)+n <= maxSlots }

// internTable shares equal heading paths between chunks.
type internTable struct{ m map[string][]string }

func (t *internTable) path(p []string) []string {
	if len(p) == 0 {
		return nil
	}
	if t.m == nil {
		t.m = map[string][]string{}
	}
	key := joinPath(p)
	if q, ok := t.m[key]; ok {
		return q
	}
	q := slices.Clone(p)
	t.m[key] = q
	return q
}

func joinPath(p []string) string {
	n := 0
	for _, s := range p {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for _, s := range p {
		b = append(b, s...)
		b = append(b, 0)
	}
	return string(b)
}

// scored is a slot with a ranker's score.
type scored struct {
	slot  int32
	score float64
}

// lexIndex is an inverted index scored by BM25. Document frequencies, chunk
// counts and lengths are kept per clearance level, and a query's statistics
// sum only the levels it may read, so that restricted text does not even
// shift the scores of a public query. A posting packs a slot (24 bits) and a
// term frequency (8 bits, saturating) into 32 bits.
type lexIndex struct {
	terms  map[string]*postingList
	length []int32 // tokens per slot
	n      [levels]int
	total  [levels]int64
	work   sync.Pool // *lexWork
}

type postingList struct {
	df    [levels]int32
	posts []uint32
	// wins summarises posts by window of slots for search; nil until a
	// search needs it, and again after a change it cannot follow.
	wins atomic.Pointer[windowIndex]
}

func posting(slot int32, tf int32) uint32 { return uint32(slot)<<8 | uint32(min(tf, 255)) }

// chunkTerms is a chunk's distinct terms with their frequencies, and its
// length in terms.
type chunkTerms struct {
	terms  []string
	freqs  []int32
	length int
}

// termsOf tokenises a chunk as every backend does (knowledge.IndexText).
func termsOf(c knowledge.Chunk) chunkTerms {
	tokens := knowledge.Tokens(knowledge.IndexText(c))
	idx := make(map[string]int, len(tokens))
	ct := chunkTerms{length: len(tokens)}
	for _, t := range tokens {
		if i, ok := idx[t]; ok {
			ct.freqs[i]++
			continue
		}
		idx[t] = len(ct.terms)
		ct.terms = append(ct.terms, t)
		ct.freqs = append(ct.freqs, 1)
	}
	return ct
}

func (x *lexIndex) add(s int32, level int8, t chunkTerms) {
	for int(s) >= len(x.length) {
		x.length = append(x.length, 0)
	}
	x.length[s] = int32(t.length)
	x.n[level]++
	x.total[level] += int64(t.length)
	for i, term := range t.terms {
		pl := x.terms[term]
		if pl == nil {
			pl = &postingList{}
			x.terms[term] = pl
		}
		pl.df[level]++
		p := posting(s, t.freqs[i])
		if n := len(pl.posts); n == 0 || pl.posts[n-1]>>8 < uint32(s) {
			pl.posts = append(pl.posts, p)
			if w := pl.wins.Load(); w != nil && !w.appended(len(pl.posts)-1, p, int32(t.length)) {
				pl.wins.Store(nil)
			}
			continue
		}
		// A reused slot: keep the list sorted by slot, which search's
		// probing relies on.
		j, _ := slices.BinarySearchFunc(pl.posts, uint32(s), func(e, slot uint32) int { return cmp.Compare(e>>8, slot) })
		pl.posts = slices.Insert(pl.posts, j, p)
		if w := pl.wins.Load(); w != nil && !w.inserted(j, p, int32(t.length), len(pl.posts)) {
			pl.wins.Store(nil)
		}
	}
}

// sortPosts sorts a posting list by slot (lists of snapshots written before
// lists were kept sorted may not be).
func sortPosts(ps []uint32) []uint32 {
	if !slices.IsSortedFunc(ps, func(a, b uint32) int { return cmp.Compare(a>>8, b>>8) }) {
		slices.SortFunc(ps, func(a, b uint32) int { return cmp.Compare(a>>8, b>>8) })
	}
	return ps
}

// remove drops slot s, indexed with terms (repeats are harmless).
func (x *lexIndex) remove(s int32, level int8, terms []string) {
	x.n[level]--
	x.total[level] -= int64(x.length[s])
	x.length[s] = 0
	for _, term := range terms {
		pl := x.terms[term]
		if pl == nil {
			continue
		}
		if i, ok := slices.BinarySearchFunc(pl.posts, uint32(s), func(e, slot uint32) int { return cmp.Compare(e>>8, slot) }); ok {
			pl.posts = slices.Delete(pl.posts, i, i+1)
			pl.df[level]--
			if w := pl.wins.Load(); w != nil && !w.removed(i, len(pl.posts)) {
				pl.wins.Store(nil)
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

// gallop returns the first index ≥ from of posts whose slot is ≥ s.
func gallop(posts []uint32, from int, s int32) int {
	step := 1
	lo, hi := from, from
	for hi < len(posts) && int32(posts[hi]>>8) < s {
		lo = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, len(posts))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if int32(posts[mid]>>8) < s {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// topN keeps the n highest scores seen; ties go to the lower slot so that
// results do not depend on map order. h is a min-heap: the worst kept score
// on top.
type topN struct {
	n int
	h []scored
}

func (t *topN) offer(s int32, v float64) {
	if t.n <= 0 {
		return
	}
	if len(t.h) < t.n {
		t.h = append(t.h, scored{s, v})
		t.up(len(t.h) - 1)
		return
	}
	if worse(t.h[0], scored{s, v}) {
		t.h[0] = scored{s, v}
		t.down(0, len(t.h))
	}
}

// admits reports whether offering (s, v) would keep it.
func (t *topN) admits(s int32, v float64) bool {
	return t.n > 0 && (len(t.h) < t.n || worse(t.h[0], scored{s, v}))
}

// full reports whether t holds n scores, so that h[0] is the bar to beat.
func (t *topN) full() bool { return t.n > 0 && len(t.h) == t.n }

// sorted empties t, best first, into a new slice.
func (t *topN) sorted() []scored {
	out := make([]scored, len(t.h))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = t.h[0]
		last := len(t.h) - 1
		t.h[0] = t.h[last]
		t.h = t.h[:last]
		t.down(0, last)
	}
	return out
}

func (t *topN) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !worse(t.h[j], t.h[i]) {
			break
		}
		t.h[i], t.h[j] = t.h[j], t.h[i]
		j = i
	}
}

func (t *topN) down(i, n int) {
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && worse(t.h[r], t.h[j]) {
			j = r
		}
		if !worse(t.h[j], t.h[i]) {
			return
		}
		t.h[i], t.h[j] = t.h[j], t.h[i]
		i = j
	}
}

// worse reports whether a ranks below b.
func worse(a, b scored) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.slot > b.slot
}

// clearanceOf is the level of a rank.
func clearanceOf(level int8) access.Clearance { return access.Clearances[level] }
