package traffic

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestTopCongestedMatchesSort checks the selection against sorting all
// observations, on rankings full of ties (indexes to two decimals over a
// narrow range, as real cities give), for every k.
func TestTopCongestedMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		n := r.IntN(300)
		obs := make([]Observation, n)
		for i := range obs {
			obs[i] = Observation{
				SegmentID:       fmt.Sprintf("S%03d", r.IntN(1000)),
				CongestionIndex: 1 + float64(r.IntN(40))/100,
				SpeedKmh:        float64(i), // tells equal-ranking observations apart
			}
		}
		// Unique ids, as every network has: the selection is the sort's prefix.
		uniq := slices.Clone(obs)
		slices.SortFunc(uniq, func(a, b Observation) int { return cmpID(a, b) })
		uniq = slices.CompactFunc(uniq, func(a, b Observation) bool { return a.SegmentID == b.SegmentID })
		r.Shuffle(len(uniq), func(i, j int) { uniq[i], uniq[j] = uniq[j], uniq[i] })
		sorted := slices.Clone(uniq)
		slices.SortFunc(sorted, moreCongested)
		// Repeated ids: the selection is the stable sort's prefix.
		stable := slices.Clone(obs)
		slices.SortStableFunc(stable, moreCongested)
		for _, k := range []int{-1, 0, 1, 2, 3, 5, 10, 20, n - 1, n, n + 5} {
			if got, want := selectTop(uniq, k), sorted[:clamp(k, len(sorted))]; !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %d unique observations, k=%d:\n got %v\nwant %v", round, len(uniq), k, ids(got), ids(want))
			}
			if got, want := selectTop(obs, k), stable[:clamp(k, n)]; !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %d observations with repeated ids, k=%d:\n got %v\nwant %v", round, n, k, ids(got), ids(want))
			}
		}
	}
}

func cmpID(a, b Observation) int {
	switch {
	case a.SegmentID < b.SegmentID:
		return -1
	case a.SegmentID > b.SegmentID:
		return 1
	}
	return 0
}

func selectTop(obs []Observation, k int) []Observation {
	top := newTopCongested(k)
	for _, o := range obs {
		top.offer(o)
	}
	return top.top
}

func clamp(k, n int) int { return min(max(k, 0), n) }

func ids(obs []Observation) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = fmt.Sprintf("%s:%.2f/%g", o.SegmentID, o.CongestionIndex, o.SpeedKmh)
	}
	return out
}
