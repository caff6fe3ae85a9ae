package traffic

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"sort"
	"time"

	"github.com/cityagent/cityagent/tools/citytool"
)

// moreCongested orders observations most congested first, ties by segment
// id: the order of every congestion ranking.
func moreCongested(a, b Observation) int {
	if d := cmp.Compare(b.CongestionIndex, a.CongestionIndex); d != 0 {
		return d
	}
	return cmp.Compare(a.SegmentID, b.SegmentID)
}

// topCongested keeps the k most congested observations offered to it, in
// moreCongested order, without sorting all of them: a ranking of a few out
// of a city's hundreds of segments costs one comparison for most of them.
// Observations that compare equal keep the order they were offered in.
type topCongested struct {
	k   int
	top []Observation // best first, at most k
}

func newTopCongested(k int) *topCongested {
	return &topCongested{k: k, top: make([]Observation, 0, min(max(k, 0), 32))}
}

func (t *topCongested) offer(o Observation) {
	n := len(t.top)
	if t.k <= 0 || (n == t.k && moreCongested(o, t.top[n-1]) >= 0) {
		return
	}
	i := sort.Search(n, func(i int) bool { return moreCongested(o, t.top[i]) < 0 })
	if n < t.k {
		t.top = append(t.top, Observation{})
	}
	copy(t.top[i+1:], t.top[i:len(t.top)-1])
	t.top[i] = o
}

// observations yields the source's observations at t: from SeqSource when
// the source has it, which spares the slice, else from Observe.
func (s *service) observations(ctx context.Context, t time.Time) (iter.Seq[Observation], error) {
	var seq iter.Seq[Observation]
	var err error
	if ss, ok := s.src.(SeqSource); ok {
		seq, err = ss.ObserveSeq(ctx, t)
	} else {
		var obs []Observation
		obs, err = s.src.Observe(ctx, t)
		seq = slices.Values(obs)
	}
	if err != nil {
		return nil, citytool.SourceFailed("traffic", fmt.Errorf("traffic: observe: %w", err))
	}
	return seq, nil
}
