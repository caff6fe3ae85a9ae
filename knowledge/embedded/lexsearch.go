package embedded

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// The lexical search walks the collection's slots a window at a time. A
// window of lexWindow slots holds a thousand postings of a term in most
// chunks (a common Chinese character) and one or none of a rare one, so a
// bound per window and term costs little to keep and to use.
const (
	windowShift = 11
	lexWindow   = 1 << windowShift // slots
	// Lists shorter than flatBelow are not summarised by window: they are
	// cheap to walk, and an entry per posting would cost more memory than
	// the list.
	flatBelow = 128
)

// windowIndex summarises a posting list for search: for each window of
// lexWindow slots the list has postings in, where they start in the list,
// their highest term frequency and their shortest chunk. From those search
// bounds what the term can add to any slot of the window, whatever the
// average chunk length of the query's clearance levels. Writes keep it up to
// date (removals leave its bounds valid but looser, so enough of them drop
// it); it is not part of the snapshot.
type windowIndex struct {
	wins   []window // ordered; nil for lists shorter than flatBelow
	maxTF  uint8    // over the whole list
	minLen int32
	stale  int // postings removed since it was built
}

type window struct {
	win, start, minLen int32
	maxTF              uint8
}

func buildWindows(posts []uint32, length []int32) *windowIndex {
	w := &windowIndex{minLen: math.MaxInt32}
	windowed := len(posts) >= flatBelow
	for i, p := range posts {
		w.note(i, p, length[p>>8], windowed)
	}
	return w
}

// note adds posting i of the list, p, of a chunk length terms long.
func (w *windowIndex) note(i int, p uint32, length int32, windowed bool) {
	tf := uint8(p)
	w.maxTF, w.minLen = max(w.maxTF, tf), min(w.minLen, length)
	if !windowed {
		return
	}
	win := int32(p >> (8 + windowShift))
	if n := len(w.wins); n > 0 && w.wins[n-1].win == win {
		e := &w.wins[n-1]
		e.maxTF, e.minLen = max(e.maxTF, tf), min(e.minLen, length)
		return
	}
	w.wins = append(w.wins, window{win: win, start: int32(i), minLen: length, maxTF: tf})
}

// appended follows posting i, p, appended to the list. It reports false
// when the summary should be rebuilt instead (the list has grown out of
// being flat).
func (w *windowIndex) appended(i int, p uint32, length int32) bool {
	if w.wins == nil && i+1 >= flatBelow {
		return false
	}
	// Windows emptied by removals at the end may lie beyond this one.
	win := int32(p >> (8 + windowShift))
	for n := len(w.wins); n > 0 && int(w.wins[n-1].start) == i && w.wins[n-1].win != win; n-- {
		w.wins = w.wins[:n-1]
	}
	w.note(i, p, length, w.wins != nil)
	return true
}

// inserted follows posting j, p, inserted into the list (a reused slot).
// It reports false when the summary should be rebuilt instead.
func (w *windowIndex) inserted(j int, p uint32, length int32, n int) bool {
	if w.wins == nil {
		if n >= flatBelow {
			return false
		}
		w.note(j, p, length, false)
		return true
	}
	tf, win := uint8(p), int32(p>>(8+windowShift))
	w.maxTF, w.minLen = max(w.maxTF, tf), min(w.minLen, length)
	k, found := slices.BinarySearchFunc(w.wins, win, func(e window, win int32) int { return cmp.Compare(e.win, win) })
	if found {
		e := &w.wins[k]
		e.maxTF, e.minLen = max(e.maxTF, tf), min(e.minLen, length)
	} else {
		w.wins = slices.Insert(w.wins, k, window{win: win, start: int32(j), minLen: length, maxTF: tf})
	}
	for i := k + 1; i < len(w.wins); i++ {
		w.wins[i].start++
	}
	return true
}

// removed follows the removal of posting j from the list, which leaves
// the bounds valid if looser (a window left empty keeps its entry). It
// reports false when enough has been removed that the summary should be
// rebuilt, for tighter bounds.
func (w *windowIndex) removed(j int, n int) bool {
	w.stale++
	if w.stale > 64 && w.stale > n/4 {
		return false
	}
	k, _ := slices.BinarySearchFunc(w.wins, int32(j), func(e window, j int32) int { return cmp.Compare(e.start, j+1) })
	for ; k < len(w.wins); k++ {
		w.wins[k].start--
	}
	return true
}

// windows returns pl's summary, building it if a change dropped it. Searches
// run concurrently (writers exclude them), and two that build it at once
// build the same thing.
func (x *lexIndex) windows(pl *postingList) *windowIndex {
	if w := pl.wins.Load(); w != nil {
		return w
	}
	w := buildWindows(pl.posts, x.length)
	pl.wins.CompareAndSwap(nil, w)
	return w
}

// lexWork is one search's scratch space, pooled.
type lexWork struct {
	acc   [lexWindow]float64
	seen  [lexWindow / 64]uint64
	qts   []qterm
	order []int
	bound []float64
	top   topN
	seeds []scored
	dense [8][lexWindow]uint8 // term frequencies by slot in the window
}

// qterm is a query term's cursor.
type qterm struct {
	posts  []uint32
	wins   []window
	c1     float64           // idf × (k1 + 1)
	flatUB float64           // the bound over the whole list
	ub     float64           // the bound in the current window
	pos    int               // in posts
	at     int               // in wins
	tab    *[lexWindow]uint8 // the window's postings by slot, or nil
}

// slack absorbs rounding: sums of bounds and of contributions are added in
// different orders.
const slack = 1 + 1e-9

// search returns the n best allowed slots for the query terms by BM25, with
// statistics over the levels up to and including maxLevel. allow decides
// only among the best.
//
// It is MaxScore, document at a time over slot-sorted postings, with bounds
// per window of slots (as Lucene's MaxScoreBulkScorer has per block). In
// each window the terms are ordered by what they can add to a slot there;
// the weakest, whose bounds together cannot lift a slot to the bar (the
// n-th best allowed score so far), are non-essential: a slot none of the
// others contains cannot make the top n. The essential lists are walked
// into an accumulator, strongest first, and once the terms left could not
// lift a slot not yet seen to the bar they only add to slots seen. Each slot
// found is then completed from the non-essential lists, strongest first
// (galloping, or a table by slot when a list is dense here), and given up as
// soon as the terms left cannot lift it to the bar. A window in which every
// term is non-essential is skipped, and the bar starts from n chunks of the
// strongest term (seed), so that the first window is not scored in full.
// Common single characters of Chinese text have low idf and are probed
// only for the chunks that match the query's rarer terms.
//
// The result is that of scoring every posting, up to rounding in the last
// bits of a score: scores are summed in another order, so chunks whose
// scores tie exactly may come in another order (TestLexSearchMatchesExhaustive).
func (x *lexIndex) search(terms []string, n int, maxLevel int, allow func(int32) bool) []scored {
	var docs int
	var total int64
	for l := 0; l <= maxLevel && l < levels; l++ {
		docs += x.n[l]
		total += x.total[l]
	}
	if docs == 0 || n <= 0 {
		return nil
	}
	avg := float64(total) / float64(docs)
	// A term's contribution is c1·tf / (tf + c2 + c3·length).
	c2, c3 := bm25K1*(1-bm25B), bm25K1*bm25B/avg
	bound := func(c1 float64, maxTF uint8, minLen int32) float64 {
		tf := float64(maxTF)
		return c1 * tf / (tf + c2 + c3*float64(minLen))
	}
	wk, _ := x.work.Get().(*lexWork)
	if wk == nil {
		wk = &lexWork{}
	}
	defer func() {
		clear(wk.qts)
		wk.qts = wk.qts[:0]
		x.work.Put(wk)
	}()
	var seen map[string]bool
	if len(terms) > 32 {
		seen = make(map[string]bool, len(terms))
	}
	qts := wk.qts[:0]
	for i, t := range terms {
		if seen != nil {
			if seen[t] {
				continue
			}
			seen[t] = true
		} else if slices.Contains(terms[:i], t) {
			continue
		}
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
		w := x.windows(pl)
		c1 := idf * (bm25K1 + 1)
		qts = append(qts, qterm{posts: pl.posts, wins: w.wins, c1: c1, flatUB: bound(c1, w.maxTF, w.minLen)})
	}
	wk.qts = qts
	if len(qts) == 0 {
		return nil
	}
	order := wk.order[:0]
	for i := range qts {
		order = append(order, i)
	}
	wk.order = order
	if cap(wk.bound) <= len(qts) {
		wk.bound = make([]float64, len(qts)+1)
	}
	ubs := wk.bound[:len(qts)+1]
	top := &wk.top
	top.n, top.h = n, top.h[:0]
	acc, seenIn, length := &wk.acc, &wk.seen, x.length
	// score is a slot's full score, for slots in ascending order.
	score := func(s int32) float64 {
		v := 0.0
		for i := range qts {
			t := &qts[i]
			if t.pos = gallop(t.posts, t.pos, s); t.pos < len(t.posts) && int32(t.posts[t.pos]>>8) == s {
				tf := float64(t.posts[t.pos] & 0xff)
				v += t.c1 * tf / (tf + c2 + c3*float64(length[s]))
			}
		}
		return v
	}
	seed := x.seed(wk, n, score, allow)
	for i := range qts {
		qts[i].pos = 0
	}

	for win := int32(0); ; win++ {
		// Move every cursor to the window and find the next window with
		// postings.
		next := int32(math.MaxInt32)
		w0 := uint32(win) << windowShift
		for i := range qts {
			t := &qts[i]
			if t.wins != nil {
				for t.at < len(t.wins) && t.wins[t.at].win < win {
					t.at++
				}
				if t.at == len(t.wins) {
					t.pos = len(t.posts)
					continue
				}
				t.pos = max(t.pos, int(t.wins[t.at].start))
				next = min(next, t.wins[t.at].win)
				continue
			}
			for t.pos < len(t.posts) && t.posts[t.pos]>>8 < w0 {
				t.pos++
			}
			if t.pos < len(t.posts) {
				next = min(next, int32(t.posts[t.pos]>>(8+windowShift)))
			}
		}
		if next == math.MaxInt32 {
			break
		}
		win = next
		w0 = uint32(win) << windowShift
		w1 := w0 + lexWindow
		for i := range qts {
			t := &qts[i]
			t.ub = 0
			switch {
			case t.wins != nil:
				if t.at < len(t.wins) && t.wins[t.at].win == win {
					e := &t.wins[t.at]
					t.ub = bound(t.c1, e.maxTF, e.minLen)
				}
			case t.pos < len(t.posts) && t.posts[t.pos]>>8 < w1:
				t.ub = t.flatUB
			}
		}
		// Weakest first; ubs[j] bounds what order[:j] can add.
		for j := 1; j < len(order); j++ {
			for k := j; k > 0 && qts[order[k]].ub < qts[order[k-1]].ub; k-- {
				order[k], order[k-1] = order[k-1], order[k]
			}
		}
		for j, i := range order {
			ubs[j+1] = ubs[j] + qts[i].ub
		}
		theta := seed
		if top.full() {
			theta = max(theta, top.h[0].score)
		}
		ne := 0
		for ne < len(order) && ubs[ne+1]*slack < theta {
			ne++
		}
		if ne == len(order) {
			continue // nothing in this window can make the top n
		}
		// The essential terms, strongest first. A slot first seen at term
		// order[k] can gain no more than ubs[k+1]: once that is below the
		// bar, the terms left only add to slots already seen.
		admit := true
		for k := len(order) - 1; k >= ne; k-- {
			t := &qts[order[k]]
			if t.ub == 0 {
				continue
			}
			if admit && ubs[k+1]*slack < theta {
				admit = false
			}
			if admit {
				for ; t.pos < len(t.posts); t.pos++ {
					p := t.posts[t.pos]
					s := p >> 8
					if s >= w1 {
						break
					}
					j := s - w0
					tf := float64(p & 0xff)
					acc[j] += t.c1 * tf / (tf + c2 + c3*float64(length[s]))
					seenIn[j>>6] |= 1 << (j & 63)
				}
				continue
			}
			// Drop the slots that cannot reach the bar even with every
			// term left, and probe this term's list for the others.
			for wi, word := range seenIn {
				for ; word != 0; word &= word - 1 {
					b := bits.TrailingZeros64(word)
					j := wi<<6 | b
					if (acc[j]+ubs[k+1])*slack < theta {
						acc[j] = 0
						seenIn[wi] &^= 1 << b
						continue
					}
					s := int32(w0) + int32(j)
					t.pos = seek(t.posts, t.pos, s)
					if t.pos < len(t.posts) && int32(t.posts[t.pos]>>8) == s {
						tf := float64(t.posts[t.pos] & 0xff)
						acc[j] += t.c1 * tf / (tf + c2 + c3*float64(length[s]))
					}
				}
			}
		}
		// Non-essential lists with many postings here against the slots
		// to probe are laid out by slot instead: a lookup per probe.
		cands := 0
		for _, word := range seenIn {
			cands += bits.OnesCount64(word)
		}
		dense := 0
		for k := ne - 1; k >= 0; k-- {
			t := &qts[order[k]]
			t.tab = nil
			if t.ub == 0 || t.wins == nil || dense == len(wk.dense) {
				continue
			}
			end := len(t.posts)
			if t.at+1 < len(t.wins) {
				end = int(t.wins[t.at+1].start)
			}
			if end-t.pos > 4*cands {
				continue
			}
			tab := &wk.dense[dense]
			dense++
			for ; t.pos < end; t.pos++ {
				p := t.posts[t.pos]
				tab[p>>8-w0] = uint8(p)
			}
			t.tab = tab
		}
		for wi, word := range seenIn {
			if word == 0 {
				continue
			}
			seenIn[wi] = 0
			for ; word != 0; word &= word - 1 {
				j := wi<<6 | bits.TrailingZeros64(word)
				s := int32(w0) + int32(j)
				score := acc[j]
				acc[j] = 0
				ok := true
				for k := ne - 1; k >= 0; k-- {
					if (score+ubs[k+1])*slack < theta {
						ok = false
						break
					}
					t := &qts[order[k]]
					if t.ub == 0 {
						continue
					}
					if t.tab != nil {
						if tf := float64(t.tab[j]); tf != 0 {
							score += t.c1 * tf / (tf + c2 + c3*float64(length[s]))
						}
						continue
					}
					t.pos = seek(t.posts, t.pos, s)
					if t.pos < len(t.posts) && int32(t.posts[t.pos]>>8) == s {
						tf := float64(t.posts[t.pos] & 0xff)
						score += t.c1 * tf / (tf + c2 + c3*float64(length[s]))
					}
				}
				// allow is asked only about slots that would enter the
				// top n: it reads the slot (a cache miss each), and most
				// scored slots never come close.
				if ok && top.admits(s, score) && allow(s) {
					top.offer(s, score)
					if top.full() {
						theta = max(theta, top.h[0].score)
					}
				}
			}
		}
		for i := range dense {
			clear(wk.dense[i][:])
		}
	}
	return top.sorted()
}

// seedMax bounds the n for which search seeds its bar (each seed costs a
// probe of every query term's list).
const seedMax = 100

// seed returns a lower bound of the n-th best allowed score, 0 if it finds
// none: the n-th best of n allowed slots from the list of the term that can
// add the most (usually the rarest), scored fully. Without it the first
// window would be scored with every term essential; with it, the terms that
// cannot lift a slot to the bar are probed from the first window on.
func (x *lexIndex) seed(wk *lexWork, n int, score func(int32) float64, allow func(int32) bool) float64 {
	if n > seedMax {
		return 0
	}
	var lead *qterm
	for i := range wk.qts {
		if t := &wk.qts[i]; lead == nil || t.flatUB > lead.flatUB {
			lead = t
		}
	}
	top := topN{n: n, h: wk.seeds[:0]}
	for i, p := range lead.posts {
		if i >= 4*n || top.full() {
			break
		}
		if s := int32(p >> 8); allow(s) {
			top.offer(s, score(s))
		}
	}
	wk.seeds = top.h
	if !top.full() {
		return 0
	}
	return top.h[0].score
}

// seek is gallop for the short hops of probing a list for ascending slots:
// the next postings are stepped over one by one first.
func seek(posts []uint32, from int, s int32) int {
	key := uint32(s) << 8 // below every posting of slot s
	end := min(from+16, len(posts))
	for i := from; i < end; i++ {
		if posts[i] >= key {
			return i
		}
	}
	return gallop(posts, end, s)
}
