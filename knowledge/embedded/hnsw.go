package embedded

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// HNSW parameters (Malkov & Yashunin 2018). M links per node on the upper
// layers and 2·M on layer 0; efConstruction candidates while linking a new
// node; efSearch candidates while searching (at least the number of results
// asked for). The defaults reach recall@10 ≥ 0.95 on 100k embedding-like
// vectors of 384 dimensions (see BenchmarkANN and `make bench-knowledge`).
const (
	DefaultM              = 16
	DefaultEfConstruction = 100
	DefaultEfSearch       = 64
	maxLevel              = 16
	// exactBelow is the graph size up to which search scans every vector
	// instead: 10,000 int8 dot products take about 0.2 ms, and a graph is
	// weakest on the near-duplicate chunks small collections often hold
	// (templated records, revisions).
	exactBelow = 10_000
)

// graph is a hierarchical navigable small world graph over int8-quantised
// unit vectors: the dense side of a collection. Nodes are numbered in the
// order vectors are added and never reused; a node whose chunk is deleted
// becomes a tombstone that still routes searches but is never returned.
//
// New vectors wait in a pending list, which searches scan exactly, until
// the store's indexer goroutine — the graph's only writer — links them in:
// linking costs far more than appending to the log, and neither ingestion
// nor searches should wait for it. The committer only touches the pending
// list and the tombstone list, under pmu, never the graph's arrays.
type graph struct {
	mu sync.RWMutex // guards the arrays: nodes [0, len(slotOf)), all linked

	dim    int
	m, m0  int
	efC    int
	codes  []int8    // node*dim … (node+1)*dim
	scales []float32 // per node: the vector is scales[n]·codes[n]
	slotOf []int32   // node → slot, -1 for a tombstone
	levels []uint8   // top layer of each node
	nbr0   []int32   // layer-0 links: node*m0 … (node+1)*m0
	cnt0   []uint8   // layer-0 link count
	indeg  []uint16  // layer-0 links pointing at each node
	upper  map[int32][]int32
	entry  int32 // -1 when no node is linked
	top    int   // layer of entry
	dead   int   // tombstones
	// exactBelow is the size up to which search scans instead.
	exactBelow int

	pmu    sync.Mutex // guards the fields below; taken after mu
	pend   []pendingVec
	admit  int32   // len(slotOf), as seen under pmu
	tombs  []int32 // linked nodes removed since the indexer last ran
	added  int32   // nodes ever added, linked or pending
	rng    *rand.Rand
	visits sync.Pool // *visitSet
}

// pendingVec is a vector waiting to be linked; it is node admit+i.
type pendingVec struct {
	slot  int32 // -1 once removed
	codes []int8
	scale float32
}

func newGraph(dim int) *graph {
	return &graph{dim: dim, m: DefaultM, m0: 2 * DefaultM, efC: DefaultEfConstruction, entry: -1, exactBelow: exactBelow,
		upper: map[int32][]int32{}, rng: rand.New(rand.NewPCG(uint64(dim), 0x5eed))}
}

// quantize scales a unit vector to int8 codes: code = round(x·127/max|x|).
// The per-vector scale keeps the full int8 range for every vector.
func quantize(dst []int8, v []float32) float32 {
	var mx float32
	for _, x := range v {
		mx = max(mx, abs32(x))
	}
	if mx == 0 {
		clear(dst)
		return 0
	}
	inv := 127 / mx
	for i, x := range v {
		dst[i] = int8(math.Round(float64(x * inv)))
	}
	return mx / 127
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// dot8 is the dot product of two code vectors of equal length.
func dot8(a, b []int8) int32 {
	b = b[:len(a)]
	n := len(a) &^ 63
	var s int32
	if n > 0 && useSIMD {
		s = dot8SIMD(&a[0], &b[0], n)
		a, b = a[n:], b[n:]
	}
	return s + dot8Go(a, b)
}

// dot8Go is the portable kernel.
func dot8Go(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += int32(a[i])*int32(b[i]) + int32(a[i+4])*int32(b[i+4])
		s1 += int32(a[i+1])*int32(b[i+1]) + int32(a[i+5])*int32(b[i+5])
		s2 += int32(a[i+2])*int32(b[i+2]) + int32(a[i+6])*int32(b[i+6])
		s3 += int32(a[i+3])*int32(b[i+3]) + int32(a[i+7])*int32(b[i+7])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

// query is a search vector, quantised like the nodes.
type query struct {
	codes []int8
	scale float32
}

func (g *graph) newQuery(v []float32) query {
	q := query{codes: make([]int8, g.dim)}
	q.scale = quantize(q.codes, v)
	return q
}

// sim is the approximate cosine similarity of the query and node n.
func (g *graph) sim(q query, n int32) float32 {
	return q.scale * g.scales[n] * float32(dot8(q.codes, g.codes[int(n)*g.dim:int(n+1)*g.dim]))
}

func (g *graph) nodeQuery(n int32) query {
	return query{codes: g.codes[int(n)*g.dim : int(n+1)*g.dim], scale: g.scales[n]}
}

// add queues a vector for slot and returns its node.
func (g *graph) add(slot int32, v []float32) int32 {
	codes := make([]int8, g.dim)
	scale := quantize(codes, v)
	return g.addCodes(slot, codes, scale)
}

func (g *graph) addCodes(slot int32, codes []int8, scale float32) int32 {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	n := g.added
	g.added++
	g.pend = append(g.pend, pendingVec{slot: slot, codes: codes, scale: scale})
	return n
}

// remove makes node n a tombstone (at once for searches, which also check
// that the slot still holds the node; in the arrays when the indexer runs).
func (g *graph) remove(n int32) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	if n >= g.admit {
		g.pend[n-g.admit].slot = -1
		return
	}
	g.tombs = append(g.tombs, n)
}

// counts returns the linked nodes (tombstones included), the pending ones
// and the tombstones.
func (g *graph) counts() (linked, pending, dead int) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.pmu.Lock()
	defer g.pmu.Unlock()
	return len(g.slotOf), len(g.pend), g.dead + len(g.tombs)
}

// pending is the number of vectors waiting to be linked.
func (g *graph) pending() int {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	return len(g.pend)
}

// neighbours returns the links of n on layer l. The caller holds mu.
func (g *graph) neighbours(n int32, l int) []int32 {
	if l == 0 {
		return g.nbr0[int(n)*g.m0 : int(n)*g.m0+int(g.cnt0[n])]
	}
	u := g.upper[n]
	base := (l - 1) * (g.m + 1)
	return u[base+1 : base+1+int(u[base])]
}

func (g *graph) setNeighbours(n int32, l int, ns []int32) {
	if l == 0 {
		for _, e := range g.neighbours(n, 0) {
			g.indeg[e]--
		}
		for _, e := range ns {
			g.indeg[e]++
		}
		copy(g.nbr0[int(n)*g.m0:], ns)
		g.cnt0[n] = uint8(len(ns))
		return
	}
	u := g.upper[n]
	base := (l - 1) * (g.m + 1)
	u[base] = int32(len(ns))
	copy(u[base+1:], ns)
}

// countInDegrees recomputes indeg from the layer-0 links.
func (g *graph) countInDegrees() {
	g.indeg = make([]uint16, len(g.slotOf))
	for n := range int32(len(g.slotOf)) {
		for _, e := range g.neighbours(n, 0) {
			g.indeg[e]++
		}
	}
}

// linkNext links the oldest pending vector into the graph and reports
// whether there was one. Only the indexer calls it: the expensive search
// for neighbours runs under the read lock, so searches go on meanwhile, and
// only the linking under the write lock.
func (g *graph) linkNext() bool {
	g.pmu.Lock()
	if len(g.pend) == 0 {
		g.pmu.Unlock()
		return false
	}
	p := g.pend[0]
	g.pmu.Unlock()
	q := query{codes: p.codes, scale: p.scale}
	level := min(int(math.Floor(-math.Log(1-g.rng.Float64())/math.Log(float64(g.m)))), maxLevel)

	g.mu.RLock()
	entry, top := g.entry, g.top
	var layers [][]int32
	if p.slot >= 0 && entry >= 0 {
		layers = make([][]int32, min(level, top)+1)
		ep := entry
		for l := top; l > level; l-- {
			ep = g.greedy(q, ep, l)
		}
		eps := []scoredNode{{ep, g.sim(q, ep)}}
		for l := min(level, top); l >= 0; l-- {
			w := g.searchLayer(q, eps, g.efC, l, nil)
			maxN := g.m
			if l == 0 {
				maxN = g.m0
			}
			layers[l] = g.selectNeighbours(w, maxN)
			eps = w
		}
	}
	g.mu.RUnlock()

	g.mu.Lock()
	defer g.mu.Unlock()
	g.pmu.Lock()
	p = g.pend[0] // it may have been removed meanwhile
	g.pend[0] = pendingVec{}
	g.pend = g.pend[1:]
	if len(g.pend) == 0 {
		g.pend = nil
	}
	tombs := g.tombs
	g.tombs = nil
	g.admit++
	g.pmu.Unlock()

	n := int32(len(g.slotOf))
	g.codes = append(g.codes, p.codes...)
	g.scales = append(g.scales, p.scale)
	g.slotOf = append(g.slotOf, p.slot)
	g.levels = append(g.levels, 0)
	g.nbr0 = append(g.nbr0, make([]int32, g.m0)...)
	g.cnt0 = append(g.cnt0, 0)
	g.indeg = append(g.indeg, 0)
	for _, t := range tombs {
		if g.slotOf[t] >= 0 {
			g.slotOf[t] = -1
			g.dead++
		}
	}
	if p.slot < 0 {
		// Removed before it was linked: a tombstone without links.
		g.dead++
		return true
	}
	g.levels[n] = uint8(level)
	if level > 0 {
		g.upper[n] = make([]int32, level*(g.m+1))
	}
	for l, ns := range layers {
		g.setNeighbours(n, l, ns)
		maxN := g.m
		if l == 0 {
			maxN = g.m0
		}
		for _, e := range ns {
			g.addLink(e, n, l, maxN)
		}
	}
	if g.indeg[n] == 0 && len(layers) > 0 && len(layers[0]) > 0 {
		g.adopt(layers[0][0], n)
	}
	if entry < 0 || level > top {
		g.entry, g.top = n, level
	}
	return true
}

// adopt makes e link to n on layer 0, replacing e's farthest link whose
// target another node also links to, so that no node is left unreachable.
func (g *graph) adopt(e, n int32) {
	cur := slices.Clone(g.neighbours(e, 0))
	if len(cur) < g.m0 {
		g.setNeighbours(e, 0, append(cur, n))
		return
	}
	for j := len(cur) - 1; j >= 0; j-- {
		if g.indeg[cur[j]] >= 2 {
			cur[j] = n
			g.setNeighbours(e, 0, cur)
			return
		}
	}
}

// addLink adds n to e's links on layer l, pruning them with the heuristic
// when they overflow. On layer 0 a pruning never drops a node's last
// incoming link: that node would become unreachable (this happens with
// near-duplicate vectors, which the heuristic considers redundant). The
// caller holds the write lock.
func (g *graph) addLink(e, n int32, l, maxN int) {
	cur := g.neighbours(e, l)
	if len(cur) < maxN {
		ns := append(slices.Clone(cur), n)
		g.setNeighbours(e, l, ns)
		return
	}
	q := g.nodeQuery(e)
	cands := make([]scoredNode, 0, len(cur)+1)
	for _, c := range cur {
		cands = append(cands, scoredNode{c, g.sim(q, c)})
	}
	cands = append(cands, scoredNode{n, g.sim(q, n)})
	slices.SortFunc(cands, byScoreDesc)
	sel := g.selectNeighbours(cands, maxN)
	if l == 0 {
		kept := make(map[int32]bool, len(sel))
		for _, x := range sel {
			kept[x] = true
		}
		for _, c := range cur {
			if kept[c] || g.indeg[c] > 1 {
				continue
			}
			// c would lose its only incoming link: keep it instead of the
			// farthest kept node that others link to.
			// (n itself may go: linkNext makes sure it is adopted.)
			for j := len(sel) - 1; j >= 0; j-- {
				if x := sel[j]; x == n || g.indeg[x] > 1 {
					delete(kept, x)
					sel[j], kept[c] = c, true
					break
				}
			}
		}
	}
	g.setNeighbours(e, l, sel)
}

// selectNeighbours is the paper's heuristic (algorithm 4): take candidates
// best first, keeping one only if it is closer to the base than to every
// one kept, so that links spread in all directions; fill up with the closest
// left over. cands is sorted best first.
func (g *graph) selectNeighbours(cands []scoredNode, maxN int) []int32 {
	out := make([]int32, 0, maxN)
	var skipped []int32
	for _, c := range cands {
		if len(out) == maxN {
			break
		}
		cq := g.nodeQuery(c.node)
		keep := true
		for _, o := range out {
			if g.sim(cq, o) > c.score {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, c.node)
		} else {
			skipped = append(skipped, c.node)
		}
	}
	for _, s := range skipped {
		if len(out) == maxN {
			break
		}
		out = append(out, s)
	}
	return out
}

// greedy walks layer l from ep to the node nearest q.
func (g *graph) greedy(q query, ep int32, l int) int32 {
	best := g.sim(q, ep)
	for changed := true; changed; {
		changed = false
		for _, e := range g.neighbours(ep, l) {
			if s := g.sim(q, e); s > best {
				best, ep, changed = s, e, true
			}
		}
	}
	return ep
}

type scoredNode struct {
	node  int32
	score float32
}

func byScoreDesc(a, b scoredNode) int {
	switch {
	case a.score > b.score:
		return -1
	case a.score < b.score:
		return 1
	}
	return int(a.node - b.node)
}

// searchLayer is the beam search of layer l from eps (algorithm 2) with a
// beam of ef, returning up to ef nearest nodes best first. With accept set,
// the beam walks through every node, but only accepted ones make the
// result: filtered-out chunks guide the walk and never crowd out readable
// ones. The walk stops as an unfiltered one would, so a selective filter
// returns fewer than ef nodes rather than walking the whole graph.
//
// The walk does not depend on accept, so accept is asked after it, and only
// about the best nodes the beam took in (see bestAccepted): each question
// reads a slot of the store, a cache miss, and most of the nodes taken in
// fall out of the beam again.
func (g *graph) searchLayer(q query, eps []scoredNode, ef, l int, accept func(int32) bool) []scoredNode {
	w := g.walk()
	defer g.visits.Put(w)
	cand := nodeHeap{s: w.cand[:0], max: true} // best candidate first
	beam := nodeHeap{s: w.beam[:0]}            // worst of the beam first
	taken := w.taken[:0]                       // every node the beam took in, in order
	for _, e := range eps {
		w.visit(e.node)
		cand.push(e)
		beam.push(e)
		taken = append(taken, e)
	}
	for len(cand.s) > 0 {
		c := cand.pop()
		if len(beam.s) >= ef && c.score < beam.s[0].score {
			break
		}
		for _, e := range g.neighbours(c.node, l) {
			if !w.visit(e) {
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
			taken = append(taken, scoredNode{e, s})
		}
	}
	w.cand, w.beam, w.taken = cand.s, beam.s, taken
	if accept == nil {
		// The result heap would have seen the beam's pushes and pops.
		out := slices.Clone(beam.s)
		slices.SortFunc(out, byScoreDesc)
		return out
	}
	return w.bestAccepted(taken, len(eps), ef, accept)
}

// bestAccepted returns, best first (byScoreDesc), the nodes a bounded
// min-heap of ef would hold after being offered the accepted ones of taken
// in order (the first nEps without a bound): the ef best accepted nodes.
// The heap's choice among nodes tied at the ef-th score depends on the
// order of offers, so when such a tie straddles the cut it is replayed
// exactly; otherwise the best nodes are found by asking accept about as
// few nodes as possible: the ef+1 best first (enough when the ef best are
// all accepted), else down the sorted list until ef are accepted.
func (w *visitSet) bestAccepted(taken []scoredNode, nEps, ef int, accept func(int32) bool) []scoredNode {
	if nEps > ef || ef <= 0 {
		return replayAccepted(taken, nEps, ef, accept)
	}
	// The ef+1 best of taken.
	top := nodeHeap{s: w.top[:0]}
	for _, t := range taken {
		switch {
		case len(top.s) <= ef:
			top.push(t)
		case t.score > top.s[0].score:
			top.s[0] = t
			top.down(0)
		}
	}
	w.top = top.s
	best := top.s
	slices.SortFunc(best, byScoreDesc)
	if len(best) <= ef || best[ef-1].score > best[ef].score {
		// The ef best are certain: take them if all are accepted.
		best = best[:min(len(best), ef)]
		ok := true
		for _, b := range best {
			if !accept(b.node) {
				ok = false
				break
			}
		}
		if ok {
			return slices.Clone(best)
		}
	}
	sorted := append(w.sorted[:0], taken...)
	w.sorted = sorted
	slices.SortFunc(sorted, byScoreDesc)
	out := make([]scoredNode, 0, min(ef, len(sorted)))
	i := 0
	for ; i < len(sorted) && len(out) < ef; i++ {
		if accept(sorted[i].node) {
			out = append(out, sorted[i])
		}
	}
	if len(out) == ef {
		for cut := out[ef-1].score; i < len(sorted) && sorted[i].score == cut; i++ {
			if accept(sorted[i].node) {
				return replayAccepted(taken, nEps, ef, accept)
			}
		}
	}
	return out
}

// replayAccepted offers the accepted nodes of taken to a min-heap bounded
// at ef (the first nEps without the bound) and returns it best first.
func replayAccepted(taken []scoredNode, nEps, ef int, accept func(int32) bool) []scoredNode {
	var res nodeHeap // worst accepted first
	for i, t := range taken {
		if !accept(t.node) {
			continue
		}
		res.push(t)
		if i >= nEps && len(res.s) > ef {
			res.pop()
		}
	}
	slices.SortFunc(res.s, byScoreDesc)
	return res.s
}

// search returns up to n allowed slots nearest v (similarity > 0), best
// first: a beam search of the graph with a beam of max(ef, n), widened once
// when the filter leaves too few results, plus an exact scan of pending
// vectors; an exact scan of everything when the graph is small or the
// filter so selective that a wide beam cannot fill n. allow is asked about a
// slot and the node that claims it: a slot whose chunk was replaced holds
// another node, and the old node must not rank the new chunk. Equal scores
// rank the lower slot first, however the vectors were found.
func (g *graph) search(v []float32, n, ef int, allow func(slot, node int32) bool) []scored {
	if n <= 0 {
		return nil
	}
	q := g.newQuery(v)
	g.mu.RLock()
	defer g.mu.RUnlock()
	accept := func(node int32) bool {
		s := g.slotOf[node]
		return s >= 0 && (allow == nil || allow(s, node))
	}
	size := int32(len(g.slotOf))
	top := topN{n: n}
	switch {
	case int(size) <= g.exactBelow:
		// Small: an exact scan is about as fast, and exact.
		g.scan(q, 0, size, accept, &top)
	case g.entry >= 0:
		ep := g.entry
		for l := g.top; l > 0; l-- {
			ep = g.greedy(q, ep, l)
		}
		eps := []scoredNode{{ep, g.sim(q, ep)}}
		beam := max(ef, n)
		found := g.searchLayer(q, eps, beam, 0, accept)
		if len(found) < n && int(size) > beam {
			found = g.searchLayer(q, eps, 8*beam, 0, accept)
		}
		if len(found) < n && int(size) > 8*beam {
			// So selective that a wide walk cannot find n: scan.
			g.scan(q, 0, size, accept, &top)
		} else {
			for _, f := range found {
				top.offer(g.slotOf[f.node], float64(f.score))
			}
		}
	}
	g.scanPending(q, allow, &top)
	return positive(top.sorted())
}

// exact returns the n allowed slots nearest v by scanning every vector: the
// baseline that search approximates.
func (g *graph) exact(v []float32, n int, allow func(slot, node int32) bool) []scored {
	q := g.newQuery(v)
	g.mu.RLock()
	defer g.mu.RUnlock()
	top := topN{n: n}
	g.scan(q, 0, int32(len(g.slotOf)), func(node int32) bool {
		s := g.slotOf[node]
		return s >= 0 && (allow == nil || allow(s, node))
	}, &top)
	g.scanPending(q, allow, &top)
	return positive(top.sorted())
}

// positive cuts a best-first list at the first similarity ≤ 0.
func positive(ranked []scored) []scored {
	for i, r := range ranked {
		if r.score <= 0 {
			return ranked[:i]
		}
	}
	return ranked
}

// scan offers the accepted nodes in [from, to) to top; the caller holds mu.
func (g *graph) scan(q query, from, to int32, accept func(int32) bool, top *topN) {
	for node := from; node < to; node++ {
		if accept(node) {
			top.offer(g.slotOf[node], float64(g.sim(q, node)))
		}
	}
}

// scanPending offers the pending vectors to top; the caller holds mu.
func (g *graph) scanPending(q query, allow func(slot, node int32) bool, top *topN) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	for i, p := range g.pend {
		node := g.admit + int32(i)
		if p.slot < 0 || (allow != nil && !allow(p.slot, node)) {
			continue
		}
		top.offer(p.slot, float64(q.scale*p.scale*float32(dot8(q.codes, p.codes))))
	}
}

// visitSet is a walk's scratch space, pooled: a bitset of visited nodes,
// cleared for each walk (100,000 nodes take 12.5 KB, which stays in cache
// where a stamp per node would not), and the walk's heaps and lists.
type visitSet struct {
	bits []uint64
	// Kept between walks only for their capacity.
	cand, beam, taken, top, sorted []scoredNode
}

func (g *graph) walk() *visitSet {
	vs, _ := g.visits.Get().(*visitSet)
	if vs == nil {
		vs = &visitSet{}
	}
	words := (len(g.slotOf) + 63) / 64
	if len(vs.bits) < words {
		vs.bits = make([]uint64, words+words/4)
	} else {
		clear(vs.bits[:words])
	}
	return vs
}

// visit marks n and reports whether it was not marked before.
func (vs *visitSet) visit(n int32) bool {
	w, bit := n>>6, uint64(1)<<(n&63)
	if vs.bits[w]&bit != 0 {
		return false
	}
	vs.bits[w] |= bit
	return true
}

// nodeHeap is a binary heap of scored nodes: a min-heap by score, or a
// max-heap when max is set. Hand-written: container/heap's interface calls
// cost a third of a search.
type nodeHeap struct {
	s   []scoredNode
	max bool
}

func (h *nodeHeap) less(i, j int) bool {
	if h.max {
		return h.s[i].score > h.s[j].score
	}
	return h.s[i].score < h.s[j].score
}

func (h *nodeHeap) push(x scoredNode) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.s[i], h.s[p] = h.s[p], h.s[i]
		i = p
	}
}

func (h *nodeHeap) pop() scoredNode {
	top := h.s[0]
	last := len(h.s) - 1
	h.s[0] = h.s[last]
	h.s = h.s[:last]
	if last > 0 {
		h.down(0)
	}
	return top
}

func (h *nodeHeap) down(i int) {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		best := l
		if r := l + 1; r < n && h.less(r, l) {
			best = r
		}
		if !h.less(best, i) {
			return
		}
		h.s[i], h.s[best] = h.s[best], h.s[i]
		i = best
	}
}

// rescore returns the similarity of v to each of nodes that allow accepts
// (linked or pending; tombstones and removed vectors are left out), by the
// same int8 kernel as search.
func (g *graph) rescore(v []float32, nodes []int32, allow func(slot, node int32) bool) []scored {
	if len(nodes) == 0 {
		return nil
	}
	q := g.newQuery(v)
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]scored, 0, len(nodes))
	linked := int32(len(g.slotOf))
	var late []int32
	for _, node := range nodes {
		if node < 0 {
			continue
		}
		if node >= linked {
			late = append(late, node)
			continue
		}
		if s := g.slotOf[node]; s >= 0 && (allow == nil || allow(s, node)) {
			out = append(out, scored{s, float64(g.sim(q, node))})
		}
	}
	if len(late) > 0 {
		g.pmu.Lock()
		for _, node := range late {
			i := int(node - g.admit)
			if i < 0 || i >= len(g.pend) {
				continue
			}
			p := g.pend[i]
			if p.slot < 0 || (allow != nil && !allow(p.slot, node)) {
				continue
			}
			out = append(out, scored{p.slot, float64(q.scale * p.scale * float32(dot8(q.codes, p.codes)))})
		}
		g.pmu.Unlock()
	}
	return out
}

// mergeDense adds to the graph's ranking the exactly scored candidates it
// missed, keeping the n best with similarity > 0: the dense ranking of
// every lexical candidate is then exact, however the graph walk went.
func mergeDense(dense, extra []scored, n int) []scored {
	if len(extra) == 0 {
		return dense
	}
	top := topN{n: n}
	seen := make(map[int32]bool, len(dense)+len(extra))
	for _, list := range [][]scored{dense, extra} {
		for _, x := range list {
			if !seen[x.slot] {
				seen[x.slot] = true
				top.offer(x.slot, x.score)
			}
		}
	}
	return positive(top.sorted())
}
