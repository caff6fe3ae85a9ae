package reports

import "testing"

func TestNearestRank(t *testing.T) {
	seq := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(n - i) // descending: order of adding must not matter
		}
		return out
	}
	cases := map[string]struct {
		values   []int64
		p50, p95 int64
	}{
		"one value":  {[]int64{7}, 7, 7},
		"two values": {[]int64{9, 1}, 1, 9},
		"1 to 10":    {seq(10), 5, 10},
		"1 to 20":    {seq(20), 10, 19},
		"1 to 100":   {seq(100), 50, 95},
		"ties":       {[]int64{5, 5, 5, 1}, 5, 5},
		"zeros":      {[]int64{0, 0, 3}, 0, 3},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var q quantiles
			for _, v := range c.values {
				q.add(v)
			}
			if p50, p95 := q.rank(0.5), q.rank(0.95); *p50 != c.p50 || *p95 != c.p95 {
				t.Errorf("p50 %d p95 %d, want %d %d", *p50, *p95, c.p50, c.p95)
			}
		})
	}
	var empty quantiles
	if empty.rank(0.5) != nil || empty.rankSeconds(0.5) != nil {
		t.Error("an empty accumulator has no quantile")
	}
}
