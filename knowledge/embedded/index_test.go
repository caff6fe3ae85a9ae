package embedded

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

func TestLevelsMatchClearances(t *testing.T) {
	if levels != len(access.Clearances) {
		t.Fatalf("levels = %d, access has %d clearances", levels, len(access.Clearances))
	}
	for i, c := range access.Clearances {
		if c.Rank() != i {
			t.Fatalf("%s ranks %d, want %d", c, c.Rank(), i)
		}
	}
}

func TestNanosClamps(t *testing.T) {
	if nanos(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)) != math.MaxInt64 || nanos(time.Time{}) != math.MinInt64 {
		t.Fatal("out-of-range times are not clamped")
	}
	now := time.Now()
	if nanos(now) != now.UnixNano() {
		t.Fatal("in-range time changed")
	}
}

// TestBruteForceExact checks the column scan against plain dot products,
// for sparse and dense queries, with an allow filter.
func TestBruteForceExact(t *testing.T) {
	const dim, n = 32, 200
	r := rand.New(rand.NewPCG(1, 2))
	b := newBruteForce(dim)
	rows := make([][]float32, n)
	for s := range n {
		rows[s] = make([]float32, dim)
		for i := range rows[s] {
			rows[s][i] = r.Float32()*2 - 1
		}
		b.add(int32(s), rows[s])
	}
	b.remove(7)
	rows[7] = make([]float32, dim)
	for _, nonZero := range []int{3, dim} {
		q := make([]float32, dim)
		for _, i := range r.Perm(dim)[:nonZero] {
			q[i] = r.Float32()*2 - 1
		}
		allow := func(s int32) bool { return s%3 != 0 }
		got := b.search(q, 10, allow)
		// The expected top 10 by a naive scan.
		var want []scored
		top := topN{n: 10}
		for s, row := range rows {
			var d float32
			for i := range q {
				d += q[i] * row[i]
			}
			if d > 0 && allow(int32(s)) {
				top.offer(int32(s), float64(d))
			}
		}
		want = top.sorted()
		if len(got) != len(want) {
			t.Fatalf("%d non-zero: %d results, want %d", nonZero, len(got), len(want))
		}
		for i := range got {
			if got[i].slot != want[i].slot || math.Abs(got[i].score-want[i].score) > 1e-5 {
				t.Fatalf("%d non-zero: result %d is %+v, want %+v", nonZero, i, got[i], want[i])
			}
		}
		if v := b.vector(3); v[5] != rows[3][5] {
			t.Fatal("vector() does not return what add stored")
		}
	}
}
