package democity

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// The city is a traffic source with every optional ability.
var (
	_ traffic.Source         = (*City)(nil)
	_ traffic.SeqSource      = (*City)(nil)
	_ traffic.HistorySource  = (*City)(nil)
	_ traffic.IncidentSource = (*City)(nil)
	_ traffic.SignalSource   = (*City)(nil)
)

// SourceName is how the city's traffic data is cited.
const SourceName = "democity:traffic"

// maxHistoryPoints bounds one history query.
const maxHistoryPoints = 2000

// trafficState is what approved traffic actions change.
type trafficState struct {
	plans    map[string][]traffic.SignalPlan // corridor id → plans, by LastChanged
	resolved map[string]time.Time            // incident id → when an operator cleared it
	// version counts the changes above, so that a traffic snapshot
	// (snapshot.go) never outlives one.
	version uint64
	// dispatches counts crews sent (crews.go), for their ids.
	dispatches int
}

func (c *City) initialTrafficState() trafficState {
	st := trafficState{plans: map[string][]traffic.SignalPlan{}, resolved: map[string]time.Time{}}
	for ri, r := range c.roads {
		if r.signalized {
			st.plans[r.id] = []traffic.SignalPlan{c.initialPlan(ri)}
		}
	}
	return st
}

// Network implements traffic.Source.
func (c *City) Network() traffic.Network {
	return traffic.Network{
		Source:           SourceName,
		CityZh:           CityZh,
		CityEn:           CityEn,
		Location:         c.loc,
		SegmentIDPattern: `^S\d{3}$`,
		Districts:        c.Districts(),
		Segments:         c.Segments(),
	}
}

// Segments lists every road segment in id order.
func (c *City) Segments() []traffic.Segment {
	out := make([]traffic.Segment, len(c.segments))
	for i, s := range c.segments {
		out[i] = s.Segment
	}
	return out
}

// Segment returns the segment with id.
func (c *City) Segment(id string) (traffic.Segment, error) {
	si, ok := c.segByID[id]
	if !ok {
		return traffic.Segment{}, fmt.Errorf("democity: segment %q: %w", id, traffic.ErrNotFound)
	}
	return c.segments[si].Segment, nil
}

// Observe implements traffic.Source: every segment at t, in id order.
func (c *City) Observe(ctx context.Context, t time.Time) ([]traffic.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.TrafficAt(t), nil
}

// ObserveSeq implements traffic.SeqSource: Observe straight from the
// snapshot of t's clock tick, without copying the city for the caller.
func (c *City) ObserveSeq(ctx context.Context, t time.Time) (iter.Seq[traffic.Observation], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.RLock()
	snap := c.trafficSnapshotAt(t)
	c.mu.RUnlock()
	return func(yield func(traffic.Observation) bool) {
		for _, o := range snap.obs {
			o.At = t
			if !yield(o) {
				return
			}
		}
	}, nil
}

// TrafficAt returns every segment's state at t, in id order. Observations
// within the same clock tick share one computation (snapshot.go).
func (c *City) TrafficAt(t time.Time) []traffic.Observation {
	c.mu.RLock()
	snap := c.trafficSnapshotAt(t)
	c.mu.RUnlock()
	out := make([]traffic.Observation, len(snap.obs))
	copy(out, snap.obs)
	for i := range out {
		out[i].At = t
	}
	return out
}

// SegmentAt returns one segment's state at t.
func (c *City) SegmentAt(id string, t time.Time) (traffic.Observation, error) {
	obs, err := c.SegmentHistory(id, t, t, time.Minute)
	if err != nil {
		return traffic.Observation{}, err
	}
	return obs[0], nil
}

// History implements traffic.HistorySource.
func (c *City) History(ctx context.Context, segmentID string, from, to time.Time, step time.Duration) ([]traffic.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.SegmentHistory(segmentID, from, to, step)
}

// SegmentHistory returns a segment's state at from, from+step, … up to to.
func (c *City) SegmentHistory(id string, from, to time.Time, step time.Duration) ([]traffic.Observation, error) {
	si, ok := c.segByID[id]
	if !ok {
		return nil, fmt.Errorf("democity: segment %q: %w", id, traffic.ErrNotFound)
	}
	if step <= 0 || to.Before(from) {
		return nil, fmt.Errorf("democity: history of %s: need step > 0 and from ≤ to", id)
	}
	if n := to.Sub(from)/step + 1; n > maxHistoryPoints {
		return nil, fmt.Errorf("democity: history of %s: %d points exceed %d", id, n, maxHistoryPoints)
	}
	s := &c.segments[si]

	c.mu.RLock()
	defer c.mu.RUnlock()
	var mine []traffic.Incident
	for _, inc := range c.incidentsBetween(from, to) {
		if inc.SegmentID == id {
			mine = append(mine, inc)
		}
	}
	var out []traffic.Observation
	var active []traffic.Incident
	for t := from; !t.After(to); t = t.Add(step) {
		active = active[:0]
		for _, inc := range mine {
			if inc.ActiveAt(t) {
				active = append(active, inc)
			}
		}
		var plan *traffic.SignalPlan
		if s.Signalized {
			plan = c.planAt(s.road, t)
		}
		out = append(out, c.observe(si, t, plan, active))
	}
	return out, nil
}

// Congestion ranks segments at t, most congested first (ties by id), only in
// district unless it is "", keeping the first n (all when n ≤ 0).
func (c *City) Congestion(t time.Time, district string, n int) []traffic.Observation {
	all := c.TrafficAt(t)
	out := all[:0]
	for _, o := range all {
		if district == "" || c.segments[c.segByID[o.SegmentID]].District == district {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b traffic.Observation) int {
		if d := cmp.Compare(b.CongestionIndex, a.CongestionIndex); d != 0 {
			return d
		}
		return cmp.Compare(a.SegmentID, b.SegmentID)
	})
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

// Incidents implements traffic.IncidentSource.
func (c *City) Incidents(ctx context.Context, t time.Time) ([]traffic.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.IncidentsAt(t, "", ""), nil
}

// SignalPlan implements traffic.SignalSource. It also accepts a segment id
// for its road's corridor.
func (c *City) SignalPlan(ctx context.Context, corridor string, t time.Time) (traffic.SignalPlan, error) {
	if err := ctx.Err(); err != nil {
		return traffic.SignalPlan{}, err
	}
	return c.SignalPlanAt(corridor, t)
}
