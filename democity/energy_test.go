package democity_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/traffic"
)

func TestEnergyGrid(t *testing.T) {
	c, _ := newCity(t, tuesday(10, 0))
	g := c.Grid()
	if len(g.Buildings) < 300 || len(g.Districts) != 6 || g.Interval != 15*time.Minute {
		t.Fatalf("%d buildings, %d districts, interval %s", len(g.Buildings), len(g.Districts), g.Interval)
	}
	re := regexp.MustCompile(g.BuildingIDPattern)
	seen := map[string]bool{}
	names := map[string]bool{}
	perDistrict := map[string]int{}
	for _, b := range g.Buildings {
		if !re.MatchString(b.ID) || seen[b.ID] || names[b.NameZh] || b.NameEn == "" || b.AddressZh == "" || b.FloorAreaM2 <= 0 || b.ContractKW <= 0 {
			t.Errorf("bad building %+v", b)
		}
		seen[b.ID], names[b.NameZh] = true, true
		perDistrict[b.District]++
	}
	for _, d := range g.Districts {
		if perDistrict[d.ID] < 40 || d.CapacityKW <= 0 {
			t.Errorf("district %s: %d buildings, capacity %.0f", d.ID, perDistrict[d.ID], d.CapacityKW)
		}
	}
	dr, _ := c.DemandResponse(context.Background(), tuesday(10, 0))
	if len(dr.Buildings) < 100 {
		t.Errorf("%d buildings enrolled in demand response", len(dr.Buildings))
	}
}

func series(t *testing.T, c *democity.City, ids []string, from, to time.Time) map[string][]energy.Reading {
	t.Helper()
	ss, err := c.Readings(context.Background(), energy.ReadingsQuery{BuildingIDs: ids, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]energy.Reading{}
	for _, s := range ss {
		out[s.BuildingID] = s.Readings
	}
	return out
}

func TestReadings(t *testing.T) {
	c, _ := newCity(t, tuesday(12, 0))
	byType := map[string]string{}
	for _, b := range c.Buildings() {
		if _, ok := byType[b.Type]; !ok {
			byType[b.Type] = b.ID
		}
	}
	// The office draws far more at noon than at 03:00; the data centre hardly changes.
	at := func(id string, h int) float64 {
		rs := series(t, c, []string{id}, tuesday(h, 0), tuesday(h, 15))[id]
		if len(rs) != 1 {
			t.Fatalf("%s at %02d:00: %d readings", id, h, len(rs))
		}
		return rs[0].KW
	}
	if o := byType[energy.TypeOffice]; at(o, 12) < 2*at(o, 3) {
		t.Errorf("office %s: %.0f kW at noon, %.0f at 03:00", o, at(o, 12), at(o, 3))
	}
	if d := byType[energy.TypeDataCentre]; math.Abs(at(d, 12)/at(d, 3)-1) > 0.15 {
		t.Errorf("data centre %s: %.0f kW at noon, %.0f at 03:00", d, at(d, 12), at(d, 3))
	}
	// 15-minute intervals, aligned, deterministic, summer above spring.
	all := series(t, c, nil, tuesday(0, 0), tuesday(6, 0))
	if len(all) < 300 {
		t.Fatalf("%d series", len(all))
	}
	for id, rs := range all {
		for _, r := range rs {
			if r.Start.Unix()%900 != 0 || r.KW < 0 {
				t.Fatalf("%s: reading %+v", id, r)
			}
		}
	}
	if again := series(t, c, nil, tuesday(0, 0), tuesday(6, 0)); !reflect.DeepEqual(all, again) {
		t.Error("readings differ between calls")
	}
	spring := c.DistrictLoad("", time.Date(2025, 4, 15, 15, 0, 0, 0, cst))
	summer := c.DistrictLoad("", time.Date(2025, 7, 29, 15, 0, 0, 0, cst))
	if summer < 1.15*spring {
		t.Errorf("city load on a July afternoon %.0f kW, April %.0f kW", summer, spring)
	}
	if _, err := c.Readings(context.Background(), energy.ReadingsQuery{BuildingIDs: []string{"B999"}, From: tuesday(0, 0), To: tuesday(1, 0)}); !errors.Is(err, energy.ErrNotFound) {
		t.Errorf("unknown building: %v", err)
	}
}

func TestInjectedAnomalies(t *testing.T) {
	c, _ := newCity(t, tuesday(12, 0))
	from, to := tuesday(0, 0).AddDate(0, 0, -7), tuesday(0, 0)
	as := c.EnergyAnomaliesBetween(from, to)
	kinds := map[string]int{}
	for _, a := range as {
		kinds[a.Kind]++
	}
	if len(as) < 20 || len(kinds) != 4 {
		t.Fatalf("%d anomalies in a week: %v", len(as), kinds)
	}
	for _, a := range as {
		if a.Kind != democity.AnomalyMeterGap {
			continue
		}
		rs := series(t, c, []string{a.BuildingID}, a.Start, a.End)[a.BuildingID]
		if len(rs) != 0 {
			t.Errorf("meter gap %+v still has %d readings", a, len(rs))
		}
		break
	}
}

func TestDemandResponseEvent(t *testing.T) {
	now := tuesday(14, 5)
	c, _ := newCity(t, now)
	start := tuesday(14, 15)
	before := c.DistrictLoad("gaoxin", start)
	ev, err := c.DemandResponseEvent("gaoxin", now, 2*time.Hour, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "DR-gaoxin-202506031415" || !ev.Start.Equal(start) || !ev.End.Equal(tuesday(16, 15)) || ev.Status != energy.EventScheduled || ev.Buildings == 0 {
		t.Errorf("event %+v", ev)
	}
	during := c.DistrictLoad("gaoxin", start)
	if cut := before - during; cut < 2000 || cut > 3000.5 {
		t.Errorf("gaoxin load %.0f → %.0f kW during the event (cut %.0f, asked 3000)", before, during, cut)
	}
	if c.DistrictLoad("gaoxin", tuesday(16, 15)) == 0 || c.DistrictLoad("nanhu", start) != c.DistrictLoad("nanhu", start) {
		t.Error("loads outside the event")
	}
	other := democity.New(democity.DefaultSeed, func() time.Time { return now })
	if c.DistrictLoad("gaoxin", tuesday(16, 15)) != other.DistrictLoad("gaoxin", tuesday(16, 15)) ||
		c.DistrictLoad("nanhu", start) != other.DistrictLoad("nanhu", start) {
		t.Error("the event changed loads outside its window or district")
	}
	st, _ := c.DemandResponse(context.Background(), tuesday(15, 0))
	if len(st.Events) != 1 || st.Events[0].Status != energy.EventActive {
		t.Errorf("status during the event: %+v", st.Events)
	}
	for name, tc := range map[string]struct {
		district string
		start    time.Time
		d        time.Duration
		kw       float64
		want     error
	}{
		"unknown district": {"atlantis", now, time.Hour, 100, energy.ErrNotFound},
		"too long":         {"nanhu", now, 5 * time.Hour, 100, democity.ErrInvalidRequest},
		"too short":        {"nanhu", now, 5 * time.Minute, 100, democity.ErrInvalidRequest},
		"too large":        {"nanhu", now, time.Hour, 1e9, democity.ErrInvalidRequest},
		"zero":             {"nanhu", now, time.Hour, 0, democity.ErrInvalidRequest},
		"in the past":      {"nanhu", now.Add(-time.Hour), time.Hour, 100, democity.ErrInvalidRequest},
		"overlapping":      {"gaoxin", tuesday(15, 0), time.Hour, 100, democity.ErrInvalidRequest},
	} {
		if _, err := c.DemandResponseEvent(tc.district, tc.start, tc.d, tc.kw); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestDispatchCrew(t *testing.T) {
	c, clk := newCity(t, tuesday(7, 0))
	var inc traffic.Incident
	var at time.Time
	for at = tuesday(7, 0); at.Before(tuesday(20, 0)) && inc.ID == ""; at = at.Add(10 * time.Minute) {
		for _, x := range c.IncidentsAt(at, "", "") {
			if x.Type == traffic.IncidentCrash && x.End.Sub(at) > 45*time.Minute {
				inc = x
				break
			}
		}
	}
	if inc.ID == "" {
		t.Fatal("no long crash on a weekday")
	}
	clk.Set(at)
	d, err := c.DispatchCrew(inc.SegmentID, "tow truck 2 清障车2号", "clear the crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Shortened) != 1 || d.Shortened[0].IncidentID != inc.ID || !d.Shortened[0].NowEnd.Equal(at.Add(32*time.Minute)) || d.SummaryZh == "" {
		t.Fatalf("dispatch %+v", d)
	}
	got, _ := c.Incident(inc.ID)
	if !got.End.Equal(at.Add(32*time.Minute)) || !got.Resolved {
		t.Errorf("incident after dispatch: %+v", got)
	}
	if len(c.IncidentsAt(at.Add(40*time.Minute), "", inc.SegmentID)) != 0 && inc.End.After(at.Add(40*time.Minute)) {
		for _, x := range c.IncidentsAt(at.Add(40*time.Minute), "", inc.SegmentID) {
			if x.ID == inc.ID {
				t.Error("the crash is still active after the crew cleared it")
			}
		}
	}
	quiet, err := c.DispatchCrew("S001", "patrol 巡逻车", "")
	if err != nil || quiet.ID == d.ID {
		t.Errorf("quiet dispatch %+v, %v", quiet, err)
	}
	if _, err := c.DispatchCrew("S999", "x", ""); !errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("unknown segment: %v", err)
	}
	if _, err := c.DispatchCrew("S001", " ", ""); !errors.Is(err, democity.ErrInvalidRequest) {
		t.Errorf("empty crew: %v", err)
	}
}

func TestConcurrentPermitsAndEnergy(t *testing.T) {
	at := tuesday(10, 0)
	c, _ := newCity(t, at)
	p := issuedPermit(t, c, at)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			when := at.Add(time.Duration(g) * 24 * time.Hour)
			if _, err := c.Search(ctx, permits.Query{AsOf: when, Open: true}); err != nil {
				t.Error(err)
			}
			c.InspectionsBetween(when, when.AddDate(0, 0, 7), when)
			if _, err := c.Readings(ctx, energy.ReadingsQuery{From: when.Add(-time.Hour), To: when}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		if _, err := c.ScheduleInspection(p.PermitNum, time.Date(2025, 6, 4, 10, 0, 0, 0, cst), democity.InspectRoutine); err != nil {
			t.Error(err)
		}
		if _, err := c.FlagPermitForReview(p.PermitNum, "check"); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if _, err := c.DemandResponseEvent("beian", at, time.Hour, 500); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
}

func BenchmarkPermitSearch(b *testing.B) {
	at := tuesday(10, 0)
	c := democity.New(democity.DefaultSeed, func() time.Time { return at })
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Search(ctx, permits.Query{AsOf: at, District: "dongcheng", Status: democity.StatusUnderReview}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadingsCityDay(b *testing.B) {
	at := tuesday(10, 0)
	c := democity.New(democity.DefaultSeed, func() time.Time { return at })
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Readings(ctx, energy.ReadingsQuery{From: at.Add(-24 * time.Hour), To: at}); err != nil {
			b.Fatal(err)
		}
	}
}
