package embedded

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exhaustiveScores is BM25 with every posting of every query term scored:
// the reference the search must agree with. It holds the allowed slots.
func exhaustiveScores(x *lexIndex, q []string, maxLevel int, allow func(int32) bool) map[int32]float64 {
	var docs int
	var total int64
	for l := 0; l <= maxLevel; l++ {
		docs += x.n[l]
		total += x.total[l]
	}
	if docs == 0 {
		return map[int32]float64{}
	}
	avg := float64(total) / float64(docs)
	acc := make([]float64, len(x.length))
	hit := make([]bool, len(x.length))
	seen := map[string]bool{}
	for _, w := range q {
		pl := x.terms[w]
		if seen[w] || pl == nil {
			continue
		}
		seen[w] = true
		var df int
		for l := 0; l <= maxLevel; l++ {
			df += int(pl.df[l])
		}
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (float64(docs)-float64(df)+0.5)/(float64(df)+0.5))
		for _, p := range pl.posts {
			s, tf := int32(p>>8), float64(p&0xff)
			if !allow(s) {
				continue
			}
			norm := 1 - bm25B + bm25B*float64(x.length[s])/avg
			acc[s] += idf * tf * (bm25K1 + 1) / (tf + bm25K1*norm)
			hit[s] = true
		}
	}
	score := map[int32]float64{}
	for s, ok := range hit {
		if ok {
			score[int32(s)] = acc[s]
		}
	}
	return score
}

// best is the n best of exhaustiveScores.
func best(all map[int32]float64, n int) []scored {
	top := topN{n: n}
	for s, v := range all {
		top.offer(s, v)
	}
	return top.sorted()
}

// scoreTolerance is how far apart (relatively) two sums of the same BM25
// terms may be when added in different orders.
const scoreTolerance = 1e-9

// sameRanking reports how got differs from want, the exhaustive ranking of
// the scores all (every allowed slot's): the same number of hits, each hit
// an allowed slot with its exhaustive score and listed once, each score
// equal to the reference's at that rank, and the same slots unless scores
// tie — all up to rounding. So got is a top n, tied scores ordered by
// rounding.
func sameRanking(got, want []scored, all map[int32]float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d hits, want %d", len(got), len(want))
	}
	seen := map[int32]bool{}
	for j := range got {
		v, ok := all[got[j].slot]
		switch {
		case !ok:
			return fmt.Errorf("hit %d %v: not an allowed slot with a score", j, got[j])
		case seen[got[j].slot]:
			return fmt.Errorf("hit %d %v: listed twice", j, got[j])
		case math.Abs(got[j].score-v) > scoreTolerance*v:
			return fmt.Errorf("hit %d %v: exhaustive score %v", j, got[j], v)
		case math.Abs(got[j].score-want[j].score) > scoreTolerance*want[j].score:
			return fmt.Errorf("hit %d %v, want %v", j, got[j], want[j])
		}
		seen[got[j].slot] = true
	}
	// Ranks may swap only within a run of tied scores: compare each run's
	// slots as sets, except the last, which may continue past n.
	for i := 0; i < len(want); {
		j := i + 1
		for j < len(want) && want[i].score-want[j].score <= scoreTolerance*want[i].score {
			j++
		}
		if j == len(want) {
			break
		}
		if a, b := slotsOf(got[i:j]), slotsOf(want[i:j]); !slices.Equal(a, b) {
			return fmt.Errorf("hits %d–%d are slots %v, want %v", i, j-1, a, b)
		}
		i = j
	}
	return nil
}

func slotsOf(xs []scored) []int32 {
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = x.slot
	}
	slices.Sort(out)
	return out
}

// TestLexSearchMatchesExhaustive checks the windowed search against scoring
// every posting on a collection that spans many windows, with long lists
// (summarised by window) and short ones (walked flat), chunk lengths and
// term frequencies that vary widely (so bounds from the shortest chunk and
// the highest frequency are loose), clearance levels and filters — and
// after the summaries have been built, through appends (which update them),
// removals and reused slots (which they follow too).
//
// In the uniform variant every chunk has the same length and no repeated
// term, so that a window's bound is the score its chunks reach and there
// are many exact ties: pruning is tested at its edge.
func TestLexSearchMatchesExhaustive(t *testing.T) {
	for _, uniform := range []bool{false, true} {
		t.Run(fmt.Sprintf("uniform=%v", uniform), func(t *testing.T) { testLexSearchMatches(t, uniform) })
	}
}

func testLexSearchMatches(t *testing.T, uniform bool) {
	r := rand.New(rand.NewPCG(21, 5))
	var x lexIndex
	x.terms = map[string]*postingList{}
	const vocab = 3000
	zipf := func() string { return fmt.Sprintf("w%d", int(math.Floor(math.Exp(r.Float64()*math.Log(vocab))))-1) }
	type chunk struct {
		terms []string
		level int8
		live  bool
	}
	var slots []chunk
	put := func(s int32) {
		var ct chunkTerms
		idx := map[string]int{}
		length := 1 + r.IntN(20)
		if r.IntN(4) == 0 {
			length = 100 + r.IntN(400)
		}
		if uniform {
			length = 12
		}
		for len(ct.terms) < length {
			w := zipf()
			if !uniform && r.IntN(10) == 0 && len(ct.terms) > 0 {
				w = ct.terms[r.IntN(len(ct.terms))] // repeats: high term frequencies
			}
			if i, ok := idx[w]; ok {
				if !uniform {
					ct.freqs[i]++
					ct.length++
				}
				continue
			}
			idx[w] = len(ct.terms)
			ct.terms = append(ct.terms, w)
			ct.freqs = append(ct.freqs, 1)
			ct.length++
		}
		for int(s) >= len(slots) {
			slots = append(slots, chunk{})
		}
		slots[s] = chunk{terms: ct.terms, level: int8(r.IntN(levels)), live: true}
		x.add(s, slots[s].level, ct)
	}
	remove := func(s int32) {
		x.remove(s, slots[s].level, slots[s].terms)
		slots[s].live = false
	}
	var positions, identical, queries int
	maxDiff := 0.0
	check := func(stage string, nq int) {
		for i := range nq {
			var q []string
			nt := 1 + r.IntN(12)
			if i%25 == 0 {
				nt = 40 + r.IntN(30) // a long query: duplicate terms are found with a map
			}
			for range nt {
				q = append(q, zipf())
			}
			if i%7 == 0 {
				q = append(q, "absent", q[0])
			}
			maxLevel := r.IntN(levels)
			n := 1 + r.IntN(60)
			if i%11 == 0 {
				n = 500 + r.IntN(2000) // more than match
			}
			mod := 1 + r.IntN(3)
			allow := func(s int32) bool {
				return slots[s].live && int(slots[s].level) <= maxLevel && int(s)%mod == 0
			}
			all := exhaustiveScores(&x, q, maxLevel, allow)
			got, want := x.search(q, n, maxLevel, allow), best(all, n)
			if err := sameRanking(got, want, all); err != nil {
				t.Fatalf("%s: query %d %v n %d level %d: %v", stage, i, q, n, maxLevel, err)
			}
			queries++
			for j := range got {
				positions++
				if got[j].slot == want[j].slot {
					identical++
				}
				maxDiff = max(maxDiff, math.Abs(got[j].score-want[j].score)/want[j].score)
			}
		}
	}
	for s := range int32(10_000) {
		put(s)
	}
	check("fresh", 120)
	// Appends after the summaries were built: they follow.
	for s := range int32(2_500) {
		put(10_000 + s)
	}
	for term, pl := range x.terms {
		w := pl.wins.Load()
		if w == nil {
			continue
		}
		fresh := buildWindows(pl.posts, x.length)
		if !slices.Equal(w.wins, fresh.wins) || w.maxTF != fresh.maxTF || w.minLen != fresh.minLen {
			t.Fatalf("summary of %s after appends differs from a fresh one", term)
		}
	}
	check("appended", 80)
	// Removals and reused slots.
	var freed []int32
	for s := range int32(len(slots)) {
		if r.IntN(3) == 0 {
			remove(s)
			freed = append(freed, s)
		}
	}
	checkSummaries(t, "removed", &x)
	check("removed", 60)
	r.Shuffle(len(freed), func(i, j int) { freed[i], freed[j] = freed[j], freed[i] })
	for _, s := range freed[:len(freed)/2] {
		put(s)
	}
	checkSummaries(t, "reused", &x)
	check("reused", 80)
	t.Logf("%d queries, %d ranked positions: %d hold the exhaustive ranking's slot, the others are ties; largest relative score difference %.1e",
		queries, positions, identical, maxDiff)
}

// checkSummaries checks that every posting list's summary, kept up to date
// through changes, still bounds its postings and points at where each
// window's postings start.
func checkSummaries(t *testing.T, stage string, x *lexIndex) {
	t.Helper()
	built := 0
	for term, pl := range x.terms {
		w := pl.wins.Load()
		if w == nil {
			continue
		}
		built++
		for i, p := range pl.posts {
			if uint8(p) > w.maxTF || x.length[p>>8] < w.minLen {
				t.Fatalf("%s: %s: posting %d exceeds the list's bounds", stage, term, i)
			}
		}
		if w.wins == nil {
			continue
		}
		at := 0
		for k, e := range w.wins {
			if int(e.start) != at || (k > 0 && e.win <= w.wins[k-1].win) {
				t.Fatalf("%s: %s: window %d starts at %d, want %d", stage, term, k, e.start, at)
			}
			for ; at < len(pl.posts) && int32(pl.posts[at]>>(8+windowShift)) == e.win; at++ {
				if p := pl.posts[at]; uint8(p) > e.maxTF || x.length[p>>8] < e.minLen {
					t.Fatalf("%s: %s: posting %d exceeds its window's bounds", stage, term, at)
				}
			}
		}
		if at != len(pl.posts) {
			t.Fatalf("%s: %s: postings from %d are in no window", stage, term, at)
		}
	}
	if built == 0 {
		t.Fatalf("%s: no summaries kept", stage)
	}
}

// TestLexSearchConcurrent runs searches that build the summaries at once
// (run with -race).
func TestLexSearchConcurrent(t *testing.T) {
	var x lexIndex
	x.terms = map[string]*postingList{}
	r := rand.New(rand.NewPCG(3, 4))
	for s := range int32(5000) {
		ct := chunkTerms{length: 10}
		for k := range 10 {
			ct.terms = append(ct.terms, fmt.Sprintf("w%d", k*k+r.IntN(3)))
			ct.freqs = append(ct.freqs, 1)
		}
		slices.Sort(ct.terms)
		ct.terms = slices.Compact(ct.terms)
		ct.freqs = ct.freqs[:len(ct.terms)]
		x.add(s, 0, ct)
	}
	q := []string{"w0", "w1", "w4", "w9", "w16", "w49"}
	all := exhaustiveScores(&x, q, 0, func(int32) bool { return true })
	want := best(all, 20)
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				if err = sameRanking(x.search(q, 20, 0, func(int32) bool { return true }), want, all); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
