package traffic_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/traffic"
)

// TestCongestionRankingMatchesFullSort compares traffic_congestion with
// ranking the whole city the way it did before selection and snapshots:
// observe every segment, filter, sort all of them, keep the first limit.
func TestCongestionRankingMatchesFullSort(t *testing.T) {
	var at time.Time
	clock := func() time.Time { return at }
	c := democity.New(democity.DefaultSeed, clock)
	tl := citytooltest.ByName(traffic.Tools(c, clock))[traffic.NameCongestion]
	net := c.Network()
	segs := map[string]traffic.Segment{}
	for _, s := range net.Segments {
		segs[s.ID] = s
	}
	districts := []string{""}
	for _, d := range net.Districts {
		districts = append(districts, d.ID)
	}
	roads := []string{"", "zhongshan", "jiefang"}
	start := time.Date(2025, 6, 2, 0, 0, 0, 0, cst) // a Monday, then the whole week
	for at = start; at.Before(start.Add(7 * 24 * time.Hour)); at = at.Add(97 * time.Minute) {
		obs, err := c.Observe(context.Background(), at)
		if err != nil {
			t.Fatal(err)
		}
		for _, district := range districts {
			for _, road := range roads {
				var picked []traffic.Observation
				sum := 0.0 // in the source's order, as the tool adds up
				for _, o := range obs {
					if s := segs[o.SegmentID]; (district == "" || s.District == district) && (road == "" || s.Road == road) {
						picked = append(picked, o)
						sum += o.CongestionIndex
					}
				}
				slices.SortFunc(picked, func(a, b traffic.Observation) int {
					if d := cmp.Compare(b.CongestionIndex, a.CongestionIndex); d != 0 {
						return d
					}
					return cmp.Compare(a.SegmentID, b.SegmentID)
				})
				for _, limit := range []int{1, 5, 20} {
					var res traffic.CongestionResult
					args := fmt.Sprintf(`{"limit":%d`, limit)
					if district != "" {
						args += fmt.Sprintf(`,"district":%q`, district)
					}
					if road != "" {
						args += fmt.Sprintf(`,"road":%q`, road)
					}
					args += "}"
					citytooltest.Call(t, tl, args, democity.SourceName, at, &res)
					want := picked[:min(limit, len(picked))]
					if len(res.Segments) != len(want) || res.SegmentsCounted != len(picked) {
						t.Fatalf("%s %s: %d segments of %d, want %d of %d", at, args, len(res.Segments), res.SegmentsCounted, len(want), len(picked))
					}
					for i, st := range res.Segments {
						if st.SegmentID != want[i].SegmentID || st.CongestionIndex != want[i].CongestionIndex || st.Rank != i+1 {
							t.Fatalf("%s %s: rank %d is %s (%.2f), want %s (%.2f)", at, args, i+1, st.SegmentID, st.CongestionIndex, want[i].SegmentID, want[i].CongestionIndex)
						}
					}
					if len(picked) > 0 && res.AverageIndex != math.Round(sum/float64(len(picked))*100)/100 {
						t.Errorf("%s %s: average %.2f", at, args, res.AverageIndex)
					}
					if ni := math.Round(traffic.NetworkIndex(net.Segments, obs)*100) / 100; res.NetworkIndex != ni {
						t.Errorf("%s %s: network index %.2f, want %.2f", at, args, res.NetworkIndex, ni)
					}
				}
			}
		}
	}
}
