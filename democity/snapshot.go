package democity

import (
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// trafficSnapshot is the whole city's traffic at one clock tick, shared by
// every observation of that tick. A busy server observes the city many
// times a second (each congestion, incident and signal question does), and
// computing all segments took most of a traffic tool call.
//
// The link model reads time only to the second (t.Unix(), the local hour,
// minute and second), so within a second the figures change only where an
// incident starts or ends or a signal plan takes effect, and those can fall
// anywhere (an operator's resolution or retiming happens at the clock's
// now). A snapshot therefore covers [from, until): inside t's second and
// between the boundaries around t, where every observation is the one
// computed at t except for its At. It also records the traffic state's
// version, which every approved action bumps, so it never outlives a change.
type trafficSnapshot struct {
	version     uint64
	from, until time.Time
	obs         []traffic.Observation // At is the time it was computed at
}

// covers reports whether the snapshot is the city's traffic at t under
// state version.
func (s *trafficSnapshot) covers(version uint64, t time.Time) bool {
	return s != nil && s.version == version && !t.Before(s.from) && t.Before(s.until)
}

// trafficSnapshotAt returns the snapshot covering t, computing and keeping
// it when the kept one does not. The caller holds c.mu (read or write); the
// result is shared and must not be written to.
func (c *City) trafficSnapshotAt(t time.Time) *trafficSnapshot {
	if s := c.snapshot.Load(); s.covers(c.traffic.version, t) {
		return s
	}
	s := c.computeSnapshot(t)
	// Concurrent readers may store theirs too; each is right for its own
	// window and version, and covers() checks both.
	c.snapshot.Store(s)
	return s
}

// computeSnapshot observes every segment at t and works out how far around
// t the result holds. The caller holds c.mu.
func (c *City) computeSnapshot(t time.Time) *trafficSnapshot {
	sec := time.Unix(t.Unix(), 0)
	s := &trafficSnapshot{version: c.traffic.version, from: sec, until: sec.Add(time.Second)}
	narrow := func(b time.Time) {
		if b.After(t) {
			if b.Before(s.until) {
				s.until = b
			}
		} else if b.After(s.from) {
			s.from = b
		}
	}

	// The incidents active at t, in the order incidentsBetween(t, t) gives
	// them (an incident's effects multiply, so the order is kept). Every
	// incident of the same slots bounds the window, active or not.
	bySeg := map[string][]traffic.Incident{}
	for slot := slotOf(t) - maxIncidentHours; slot <= slotOf(t); slot++ {
		for _, inc := range c.cachedSlotIncidents(slot) { // slotcache.go
			inc = c.applyResolution(inc)
			narrow(inc.Start)
			narrow(inc.End)
			if inc.ActiveAt(t) {
				bySeg[inc.SegmentID] = append(bySeg[inc.SegmentID], inc)
			}
		}
	}
	plans := make([]*traffic.SignalPlan, len(c.roads))
	for ri := range c.roads {
		plans[ri] = c.planAt(ri, t)
		for _, p := range c.traffic.plans[c.roads[ri].id] {
			narrow(p.LastChanged)
		}
	}
	s.obs = make([]traffic.Observation, len(c.segments))
	for si := range c.segments {
		seg := &c.segments[si]
		s.obs[si] = c.observe(si, t, plans[seg.road], bySeg[seg.ID])
	}
	return s
}
