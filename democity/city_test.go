package democity_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/traffic"
	"github.com/cityagent/cityagent/tools/traffic/traffictest"
)

// cst is the city's zone; tests pin times in it.
var cst = time.FixedZone("CST", 8*60*60)

// tuesday is a weekday the tests look at.
func tuesday(h, m int) time.Time { return time.Date(2025, 6, 3, h, m, 0, 0, cst) }

// clock is a settable simulated clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newCity(t *testing.T, at time.Time) (*democity.City, *clock) {
	t.Helper()
	clk := &clock{t: at}
	return democity.New(democity.DefaultSeed, clk.Now), clk
}

func TestConformance(t *testing.T) {
	c, _ := newCity(t, tuesday(8, 15))
	for _, at := range []time.Time{tuesday(3, 0), tuesday(8, 15), tuesday(18, 0), time.Date(2025, 6, 7, 11, 0, 0, 0, cst)} {
		t.Run(at.Format("Mon 15:04"), func(t *testing.T) { traffictest.TestSource(t, c, at) })
	}
}

func TestDeterministic(t *testing.T) {
	times := []time.Time{tuesday(2, 0), tuesday(8, 10), tuesday(17, 45), time.Date(2025, 6, 8, 15, 0, 0, 0, cst)}
	snapshot := func(seed int64) (traffic.Network, [][]traffic.Observation, [][]traffic.Incident) {
		c := democity.New(seed, func() time.Time { return times[0] })
		var obs [][]traffic.Observation
		var incs [][]traffic.Incident
		for _, at := range times {
			obs = append(obs, c.TrafficAt(at))
			incs = append(incs, c.IncidentsAt(at, "", ""))
		}
		return c.Network(), obs, incs
	}
	n1, o1, i1 := snapshot(7)
	n2, o2, i2 := snapshot(7)
	if !reflect.DeepEqual(n1, n2) || !reflect.DeepEqual(o1, o2) || !reflect.DeepEqual(i1, i2) {
		t.Fatal("the same seed built different cities")
	}
	n3, o3, _ := snapshot(8)
	if reflect.DeepEqual(n1.Segments, n3.Segments) {
		t.Error("different seeds built the same road network")
	}
	if reflect.DeepEqual(o1, o3) {
		t.Error("different seeds gave the same traffic")
	}
	// Names are fixed across seeds so that documents and evals can use them.
	for i := range n1.Segments {
		if n1.Segments[i].NameZh != n3.Segments[i].NameZh || n1.Segments[i].ID != n3.Segments[i].ID {
			t.Fatalf("segment %d named %q under one seed and %q under another", i, n1.Segments[i].NameZh, n3.Segments[i].NameZh)
		}
	}
}

func TestSize(t *testing.T) {
	c, _ := newCity(t, tuesday(8, 0))
	net := c.Network()
	if len(net.Districts) < 6 {
		t.Errorf("%d districts, want ≥ 6", len(net.Districts))
	}
	if len(net.Segments) < 200 {
		t.Errorf("%d segments, want ≥ 200", len(net.Segments))
	}
	perDistrict := map[string]int{}
	classes := map[string]bool{}
	for _, s := range net.Segments {
		perDistrict[s.District]++
		classes[s.Class] = true
		if s.FromZh == s.ToZh || s.FreeFlowKmh > s.SpeedLimitKmh {
			t.Errorf("%s: from %s to %s, free flow %.0f over limit %.0f", s.ID, s.FromZh, s.ToZh, s.FreeFlowKmh, s.SpeedLimitKmh)
		}
	}
	for _, d := range net.Districts {
		if perDistrict[d.ID] < 10 {
			t.Errorf("district %s has %d segments", d.ID, perDistrict[d.ID])
		}
	}
	if len(classes) != 4 {
		t.Errorf("road classes %v", classes)
	}
	s, err := c.Segment("S001")
	if err != nil || s.ID != "S001" {
		t.Errorf("Segment(S001) = %+v, %v", s, err)
	}
	if _, err := c.Segment("S999"); !errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("Segment(S999): %v", err)
	}
}

// average returns the mean speed and congestion index over all segments.
func average(obs []traffic.Observation) (speed, index float64) {
	for _, o := range obs {
		speed += o.SpeedKmh
		index += o.CongestionIndex
	}
	n := float64(len(obs))
	return speed / n, index / n
}

func TestTimeOfDay(t *testing.T) {
	c, _ := newCity(t, tuesday(8, 0))
	nightSpeed, nightIndex := average(c.TrafficAt(tuesday(3, 0)))
	for _, at := range []time.Time{tuesday(8, 0), tuesday(18, 0)} {
		speed, index := average(c.TrafficAt(at))
		if speed >= nightSpeed*0.9 || index <= nightIndex*1.2 {
			t.Errorf("%s: mean speed %.1f, index %.2f; night %.1f, %.2f — peak should be clearly slower",
				at.Format("15:04"), speed, index, nightSpeed, nightIndex)
		}
	}
	// Saturday morning is lighter than Tuesday morning.
	_, satIndex := average(c.TrafficAt(time.Date(2025, 6, 7, 8, 0, 0, 0, cst)))
	if _, tueIndex := average(c.TrafficAt(tuesday(8, 0))); satIndex >= tueIndex {
		t.Errorf("Saturday 08:00 index %.2f ≥ Tuesday's %.2f", satIndex, tueIndex)
	}
	// Districts peak differently: the high-tech zone's morning peak comes
	// later than the port district's.
	peakHour := func(district string) int {
		best, bestIdx := 0, 0.0
		for h := 6; h <= 10; h++ {
			for m := 0; m < 60; m += 15 {
				var sum float64
				obs := c.Congestion(tuesday(h, m), district, 0)
				for _, o := range obs {
					sum += o.CongestionIndex
				}
				if sum/float64(len(obs)) > bestIdx {
					best, bestIdx = h*60+m, sum/float64(len(obs))
				}
			}
		}
		return best
	}
	if g, b := peakHour("gaoxin"), peakHour("beian"); g <= b {
		t.Errorf("Gaoxin's morning peak at minute %d is not after Beian's at %d", g, b)
	}
	// Moving the clock moves the data; asking twice does not.
	a, b := c.TrafficAt(tuesday(8, 0)), c.TrafficAt(tuesday(8, 5))
	if reflect.DeepEqual(a, b) {
		t.Error("traffic identical five minutes apart")
	}
	if !reflect.DeepEqual(a, c.TrafficAt(tuesday(8, 0))) {
		t.Error("traffic at the same time differs between calls")
	}
	if o := a[0]; o.Period == "" {
		t.Errorf("observation without period: %+v", o)
	}
}

// activeIncident finds an incident blocking a lane at some weekday peak.
func activeIncident(t *testing.T, c *democity.City) (traffic.Incident, time.Time) {
	t.Helper()
	for at := tuesday(7, 0); at.Before(tuesday(20, 0)); at = at.Add(10 * time.Minute) {
		for _, inc := range c.IncidentsAt(at, "", "") {
			if inc.LanesBlocked > 0 {
				return inc, at
			}
		}
	}
	t.Fatal("no incident blocking a lane on a whole weekday")
	return traffic.Incident{}, time.Time{}
}

func TestIncidentSlowsSegment(t *testing.T) {
	c, clk := newCity(t, tuesday(7, 0))
	inc, at := activeIncident(t, c)
	clk.Set(at)
	before, err := c.SegmentAt(inc.SegmentID, at)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Incident(inc.ID); err != nil || !reflect.DeepEqual(got, inc) {
		t.Fatalf("Incident(%s) = %+v, %v; want %+v", inc.ID, got, err, inc)
	}
	if got := c.IncidentsAt(at, inc.District, inc.SegmentID); len(got) == 0 || got[0].ID != inc.ID {
		t.Fatalf("IncidentsAt by district and segment = %+v", got)
	}

	resolved, err := c.ResolveIncident(inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !resolved.Resolved || !resolved.End.Equal(at) {
		t.Errorf("resolved incident %+v, want end %s", resolved, at)
	}
	after, err := c.SegmentAt(inc.SegmentID, at)
	if err != nil {
		t.Fatal(err)
	}
	if after.SpeedKmh <= before.SpeedKmh || after.CongestionIndex >= before.CongestionIndex {
		t.Errorf("%s with %s: %.1f km/h, index %.2f; cleared: %.1f km/h, index %.2f — the incident should slow it",
			inc.SegmentID, inc.Type, before.SpeedKmh, before.CongestionIndex, after.SpeedKmh, after.CongestionIndex)
	}
	for _, other := range c.IncidentsAt(at, "", "") {
		if other.ID == inc.ID {
			t.Error("resolved incident still active")
		}
	}
	// A minute earlier, history keeps the incident.
	if got := c.IncidentsAt(at.Add(-time.Minute), "", inc.SegmentID); len(got) == 0 || got[0].ID != inc.ID || !got[0].Resolved {
		t.Errorf("before its resolution: %+v", got)
	}
	if _, err := c.ResolveIncident(inc.ID); !errors.Is(err, democity.ErrIncidentNotActive) {
		t.Errorf("second resolve: %v", err)
	}
	for _, id := range []string{"INC-2025060308-99", "INC-x", "nope"} {
		if _, err := c.ResolveIncident(id); !errors.Is(err, traffic.ErrNotFound) {
			t.Errorf("resolve %s: %v", id, err)
		}
	}
}

func TestIncidentsOverAWeek(t *testing.T) {
	c, _ := newCity(t, tuesday(0, 0))
	seen := map[string]traffic.Incident{}
	types := map[string]int{}
	for at := tuesday(0, 0); at.Before(tuesday(0, 0).AddDate(0, 0, 7)); at = at.Add(20 * time.Minute) {
		for _, inc := range c.IncidentsAt(at, "", "") {
			if prev, ok := seen[inc.ID]; ok {
				if !reflect.DeepEqual(prev, inc) {
					t.Fatalf("incident %s changed between queries", inc.ID)
				}
				continue
			}
			seen[inc.ID] = inc
			types[inc.Type]++
			seg, err := c.Segment(inc.SegmentID)
			if err != nil {
				t.Fatal(err)
			}
			d := inc.End.Sub(inc.Start)
			if d <= 0 || d > 8*time.Hour || inc.District != seg.District || inc.LanesBlocked > seg.Lanes {
				t.Errorf("bad incident %+v on %+v", inc, seg)
			}
			if inc.Type == traffic.IncidentCrash && inc.Severity == 1 && d > 30*time.Minute {
				t.Errorf("%s: minor crash lasting %s, over the 30 min quick settlement", inc.ID, d)
			}
			if inc.Type == traffic.IncidentRoadworks && !strings.HasPrefix(inc.DescriptionEn, "Emergency") {
				checkWorks(t, inc, seg)
			}
		}
	}
	if len(seen) < 50 {
		t.Errorf("%d incidents in a week", len(seen))
	}
	for _, typ := range []string{traffic.IncidentCrash, traffic.IncidentBreakdown, traffic.IncidentRoadworks} {
		if types[typ] == 0 {
			t.Errorf("no %s in a week: %v", typ, types)
		}
	}
}

// checkWorks applies the roadworks rules to planned works: arterials and
// expressways only 22:00–06:00, and nothing in the weekday peaks.
func checkWorks(t *testing.T, inc traffic.Incident, seg traffic.Segment) {
	t.Helper()
	for at := inc.Start; at.Before(inc.End); at = at.Add(5 * time.Minute) {
		lt := at.In(cst)
		m := lt.Hour()*60 + lt.Minute()
		night := m >= 22*60 || m < 6*60
		weekday := lt.Weekday() != time.Saturday && lt.Weekday() != time.Sunday
		peak := weekday && ((m >= 7*60 && m < 9*60+30) || (m >= 16*60+30 && m < 19*60+30))
		major := seg.Class == traffic.ClassArterial || seg.Class == traffic.ClassExpressway
		if peak || (major && !night) {
			t.Errorf("%s: planned works on %s (%s) at %s", inc.ID, seg.ID, seg.Class, lt.Format("Mon 15:04"))
			return
		}
	}
}

func TestApplySignalPlan(t *testing.T) {
	at := tuesday(8, 15)
	c, _ := newCity(t, at)
	const corridor, segID = "renmin", "S066"
	old, err := c.SignalPlanAt(corridor, at)
	if err != nil {
		t.Fatal(err)
	}
	if viaSeg, err := c.SignalPlanAt(segID, at); err != nil || viaSeg.ID != old.ID {
		t.Fatalf("plan via segment: %+v, %v", viaSeg, err)
	}
	earlier, _ := c.SegmentAt(segID, at.Add(-time.Hour))
	before, _ := c.SegmentAt(segID, at)

	// Give the main road more of the same cycle, taking it from the cross street.
	p := old
	p.Name, p.NameZh, p.ChangedBy = "", "", "supervisor wang"
	p.Phases = append([]traffic.Phase(nil), old.Phases...)
	p.Phases[0].GreenSec += 20
	p.Phases[len(p.Phases)-1].GreenSec -= 20
	applied, err := c.ApplySignalPlan(corridor, p)
	if err != nil {
		t.Fatal(err)
	}
	if applied.ID != "SP-renmin-2" || !applied.LastChanged.Equal(at) || applied.Name == "" || applied.ChangedBy != "supervisor wang" {
		t.Errorf("applied plan %+v", applied)
	}
	if now, _ := c.SignalPlanAt(corridor, at); now.ID != applied.ID {
		t.Errorf("plan in effect %s, want %s", now.ID, applied.ID)
	}
	if then, _ := c.SignalPlanAt(corridor, at.Add(-time.Hour)); then.ID != old.ID {
		t.Errorf("plan an hour ago %s, want %s", then.ID, old.ID)
	}
	after, _ := c.SegmentAt(segID, at)
	if after.TravelTimeSec >= before.TravelTimeSec || after.VCRatio >= before.VCRatio {
		t.Errorf("%s travel time %.1f s → %.1f s, v/c %.2f → %.2f: more green should speed it up",
			segID, before.TravelTimeSec, after.TravelTimeSec, before.VCRatio, after.VCRatio)
	}
	if again, _ := c.SegmentAt(segID, at.Add(-time.Hour)); !reflect.DeepEqual(again, earlier) {
		t.Error("a plan applied now changed the past")
	}
	if hist, _ := c.SignalPlanHistory(corridor); len(hist) != 2 || hist[1].ID != applied.ID {
		t.Errorf("history %+v", hist)
	}

	bad := p
	bad.CycleSec = 20
	long := p // valid anywhere, but over the city's 180 s
	long.CycleSec = 200
	long.Phases = append([]traffic.Phase(nil), p.Phases...)
	long.Phases[0].GreenSec += 200 - p.CycleSec
	cases := map[string]struct {
		corridor string
		plan     traffic.SignalPlan
		want     error
	}{
		"unknown corridor": {"nowhere", p, traffic.ErrNotFound},
		"expressway":       {"ring_east", p, traffic.ErrNotFound},
		"short cycle":      {corridor, bad, traffic.ErrInvalidPlan},
		"over city limit":  {corridor, long, traffic.ErrInvalidPlan},
		"other corridor":   {"zhongshan", applied, traffic.ErrInvalidPlan},
	}
	for name, tc := range cases {
		if _, err := c.ApplySignalPlan(tc.corridor, tc.plan); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestCongestionAndHistory(t *testing.T) {
	at := tuesday(18, 0)
	c, _ := newCity(t, at)
	top := c.Congestion(at, "dongcheng", 5)
	if len(top) != 5 {
		t.Fatalf("%d rows", len(top))
	}
	for i, o := range top {
		s, _ := c.Segment(o.SegmentID)
		if s.District != "dongcheng" || (i > 0 && o.CongestionIndex > top[i-1].CongestionIndex) {
			t.Errorf("row %d: %+v in %s", i, o, s.District)
		}
	}
	hist, err := c.SegmentHistory(top[0].SegmentID, at.Add(-2*time.Hour), at, 15*time.Minute)
	if err != nil || len(hist) != 9 {
		t.Fatalf("history: %d points, %v", len(hist), err)
	}
	for _, h := range hist {
		if o, _ := c.SegmentAt(h.SegmentID, h.At); !reflect.DeepEqual(o, h) {
			t.Errorf("history point %+v differs from SegmentAt %+v", h, o)
		}
	}
	if !reflect.DeepEqual(hist[8], top[0]) {
		t.Errorf("history now %+v, ranking %+v", hist[8], top[0])
	}
	if _, err := c.SegmentHistory("S001", at, at.Add(100*24*time.Hour), time.Minute); err == nil {
		t.Error("oversized history accepted")
	}
}

func TestConcurrentUse(t *testing.T) {
	at := tuesday(8, 0)
	c, clk := newCity(t, at)
	inc, incAt := activeIncident(t, c)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				when := at.Add(time.Duration(g*20+i) * time.Minute)
				c.TrafficAt(when)
				c.IncidentsAt(when, "", "")
				if _, err := c.SegmentHistory("S010", when.Add(-time.Hour), when, 15*time.Minute); err != nil {
					t.Error(err)
				}
				if _, err := c.SignalPlanAt("zhongshan", when); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			p, _ := c.SignalPlanAt("jiefang", at)
			p.CycleSec += 10 * (i % 2)
			p.Phases = append([]traffic.Phase(nil), p.Phases...)
			p.Phases[len(p.Phases)-1].GreenSec += 10 * (i % 2)
			if _, err := c.ApplySignalPlan("jiefang", p); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		clk.Set(incAt)
		if _, err := c.ResolveIncident(inc.ID); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if hist, _ := c.SignalPlanHistory("jiefang"); len(hist) != 11 {
		t.Errorf("%d plans after 10 changes", len(hist))
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		democity.New(democity.DefaultSeed, nil)
	}
}

func BenchmarkTrafficAt(b *testing.B) {
	c := democity.New(democity.DefaultSeed, nil)
	at := tuesday(8, 0)
	for b.Loop() {
		c.TrafficAt(at)
	}
}
