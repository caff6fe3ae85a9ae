package democity

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// observeUncached is TrafficAt without the snapshot: every segment computed
// at t, as the city did before snapshots.
func (c *City) observeUncached(t time.Time) []traffic.Observation {
	c.mu.RLock()
	defer c.mu.RUnlock()
	bySeg := map[string][]traffic.Incident{}
	for _, inc := range c.incidentsBetween(t, t) {
		if inc.ActiveAt(t) {
			bySeg[inc.SegmentID] = append(bySeg[inc.SegmentID], inc)
		}
	}
	out := make([]traffic.Observation, len(c.segments))
	for si := range c.segments {
		s := &c.segments[si]
		out[si] = c.observe(si, t, c.planAt(s.road, t), bySeg[s.ID])
	}
	return out
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (k *testClock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.t
}

func (k *testClock) Set(t time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = t
}

var cstZone = time.FixedZone("CST", 8*60*60)

func checkSame(t *testing.T, c *City, at time.Time, what string) {
	t.Helper()
	got, want := c.TrafficAt(at), c.observeUncached(at)
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s at %s: segment %s from the snapshot %+v, computed %+v", what, at.Format(time.RFC3339Nano), want[i].SegmentID, got[i], want[i])
			}
		}
		t.Fatalf("%s at %s: snapshot differs", what, at.Format(time.RFC3339Nano))
	}
}

// TestSnapshotMatchesComputation observes the city at many times, each
// right after another time of the same second (so the snapshot is reused
// whenever it may be), and compares with computing every segment afresh.
func TestSnapshotMatchesComputation(t *testing.T) {
	c := New(DefaultSeed, nil)
	day := time.Date(2025, 6, 3, 0, 0, 0, 0, cstZone)
	for at := day; at.Before(day.Add(48 * time.Hour)); at = at.Add(17*time.Minute + 13*time.Second) {
		for _, d := range []time.Duration{0, time.Nanosecond, 300 * time.Millisecond, 999_999_999} {
			checkSame(t, c, at.Add(d), "plain")
		}
		// A second before and after, and in another zone.
		checkSame(t, c, at.Add(-time.Nanosecond), "second before")
		checkSame(t, c, at.Add(time.Second), "second after")
		checkSame(t, c, at.UTC(), "in UTC")
	}
}

// TestSnapshotAcrossChanges changes the city within a second whose snapshot
// is kept: a resolution and a retiming at the clock's now (with
// nanoseconds) must show from that instant on, and not before it.
func TestSnapshotAcrossChanges(t *testing.T) {
	base := time.Date(2025, 6, 3, 8, 0, 0, 0, cstZone)
	clk := &testClock{t: base}
	c := New(DefaultSeed, clk.Now)

	var inc traffic.Incident
	var at time.Time
	for at = base; at.Before(base.Add(12 * time.Hour)); at = at.Add(10 * time.Minute) {
		if incs := c.IncidentsAt(at, "", ""); len(incs) > 0 && incs[0].LanesBlocked > 0 {
			inc = incs[0]
			break
		}
	}
	if inc.ID == "" {
		t.Fatal("no incident blocking a lane")
	}
	now := at.Add(400 * time.Millisecond)
	before := now.Add(-100 * time.Millisecond)
	after := now.Add(100 * time.Millisecond)
	checkSame(t, c, before, "before the resolution")
	checkSame(t, c, after, "before the resolution, later in the second")
	clk.Set(now)
	if _, err := c.ResolveIncident(inc.ID); err != nil {
		t.Fatal(err)
	}
	checkSame(t, c, after, "after the resolution")
	checkSame(t, c, before, "just before the resolution")
	checkSame(t, c, now, "at the resolution")
	if a, b := c.TrafficAt(before), c.TrafficAt(after); reflect.DeepEqual(a, b) {
		t.Error("the resolution changed nothing")
	}

	// A retiming half a second later, on a corridor some segment is on.
	now = now.Add(500 * time.Millisecond)
	clk.Set(now)
	p, err := c.SignalPlanAt("zhongshan", now)
	if err != nil {
		t.Fatal(err)
	}
	p.CycleSec += 20
	p.Phases = append([]traffic.Phase(nil), p.Phases...)
	p.Phases[0].GreenSec += 20
	checkSame(t, c, now.Add(time.Millisecond), "before the retiming")
	if _, err := c.ApplySignalPlan("zhongshan", p); err != nil {
		t.Fatal(err)
	}
	checkSame(t, c, now.Add(time.Millisecond), "after the retiming")
	checkSame(t, c, now.Add(-time.Millisecond), "just before the retiming")
	checkSame(t, c, now.Add(2*time.Millisecond), "after the retiming again")

	// A crew shortening an incident: its new end is within no second yet
	// observed, but the version still changes.
	checkSame(t, c, now, "before the dispatch")
	if _, err := c.DispatchCrew(inc.SegmentID, "crew 1", ""); err != nil {
		t.Fatal(err)
	}
	checkSame(t, c, now, "after the dispatch")
}

// TestSnapshotConcurrent observes two seconds alternately from several
// goroutines (the snapshot is replaced all the time) while the city changes.
func TestSnapshotConcurrent(t *testing.T) {
	base := time.Date(2025, 6, 3, 17, 30, 0, 0, cstZone)
	clk := &testClock{t: base}
	c := New(DefaultSeed, clk.Now)
	times := []time.Time{base, base.Add(1500 * time.Millisecond), base.Add(1700 * time.Millisecond)}
	want := make([][]traffic.Observation, len(times))
	for i, at := range times {
		want[i] = c.observeUncached(at)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(times)
				if got := c.TrafficAt(times[k]); !reflect.DeepEqual(got, want[k]) {
					t.Errorf("goroutine %d, call %d: wrong traffic at %s", g, i, times[k])
					return
				}
			}
		})
	}
	wg.Go(func() {
		// Retimings in the future of every observed time change nothing
		// they see, but invalidate the snapshot.
		clk.Set(base.Add(time.Hour))
		for range 20 {
			p, _ := c.SignalPlanAt("jiefang", base)
			if _, err := c.ApplySignalPlan("jiefang", p); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}
