// Package energytest provides the conformance suite every energy.Source
// runs (the demo city, NGSI-LD brokers, CSV and JSON tables): the grid's
// and the readings' contract, then the same questions to the energy tools,
// whose typed results must agree with the source's own readings.
package energytest

import (
	"context"
	"math"
	"regexp"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/energy"
)

// TestSource checks src at time at; the source must hold readings for
// part of the day before at.
func TestSource(t *testing.T, src energy.Source, at time.Time) {
	t.Helper()
	g := src.Grid()
	iv := checkGrid(t, g)
	end := at.Truncate(iv)
	from := end.Add(-24 * time.Hour)

	var total []float64
	t.Run("readings", func(t *testing.T) {
		total = readings(t, src, g, from, end, iv)
	})
	if total == nil {
		return
	}
	t.Run("tools", func(t *testing.T) {
		ts := citytooltest.ByName(energy.Tools(src, func() time.Time { return at }))
		var cons energy.ConsumptionResult
		citytooltest.Call(t, ts[energy.NameConsumption], `{"hours":24}`, g.Source, at, &cons)
		kwh, peak := 0.0, math.Inf(-1)
		for _, kw := range total {
			kwh += kw * iv.Hours()
			peak = max(peak, kw)
		}
		if math.Abs(cons.KWh-kwh) > 0.11 || math.Abs(cons.PeakKW-peak) > 0.051 || cons.Buildings != len(g.Buildings) {
			t.Errorf("consumption %.1f kWh, peak %.1f kW over %d buildings; the readings give %.2f kWh, peak %.2f kW over %d",
				cons.KWh, cons.PeakKW, cons.Buildings, kwh, peak, len(g.Buildings))
		}
		var pk energy.PeakResult
		citytooltest.Call(t, ts[energy.NamePeakLoad], `{"period":"today"}`, g.Source, at, &pk)
		if pk.PeakKW <= 0 || pk.PeakAt.Before(pk.From) || !pk.PeakAt.Before(pk.To) {
			t.Errorf("peak today %.1f kW at %s, window %s–%s", pk.PeakKW, pk.PeakAt, pk.From, pk.To)
		}
	})
}

func checkGrid(t *testing.T, g energy.Grid) time.Duration {
	t.Helper()
	if g.Source == "" || g.Location == nil || len(g.Buildings) == 0 || len(g.Districts) == 0 {
		t.Fatalf("grid needs a source, a location, districts and buildings: %+v", g)
	}
	var pattern *regexp.Regexp
	if g.BuildingIDPattern != "" {
		pattern = regexp.MustCompile(g.BuildingIDPattern)
	}
	districts := map[string]bool{}
	for _, d := range g.Districts {
		if d.ID == "" || d.NameEn == "" || d.NameZh == "" || districts[d.ID] {
			t.Errorf("bad or duplicate district %+v", d)
		}
		districts[d.ID] = true
	}
	seen := map[string]bool{}
	for _, b := range g.Buildings {
		switch {
		case seen[b.ID]:
			t.Errorf("duplicate building %s", b.ID)
		case pattern != nil && !pattern.MatchString(b.ID):
			t.Errorf("building id %q does not match %s", b.ID, g.BuildingIDPattern)
		case !districts[b.District]:
			t.Errorf("%s: unknown district %q", b.ID, b.District)
		case b.NameEn == "" || b.NameZh == "" || b.Type == "":
			t.Errorf("%s: missing names or type: %+v", b.ID, b)
		}
		seen[b.ID] = true
	}
	if g.Interval <= 0 {
		return 15 * time.Minute
	}
	return g.Interval
}

// readings checks the readings of every building over [from, to) and
// returns the total kW of each interval.
func readings(t *testing.T, src energy.Source, g energy.Grid, from, to time.Time, iv time.Duration) []float64 {
	t.Helper()
	ss, err := src.Readings(context.Background(), energy.ReadingsQuery{From: from, To: to})
	if err != nil {
		t.Fatalf("Readings: %v", err)
	}
	known := map[string]bool{}
	for _, b := range g.Buildings {
		known[b.ID] = true
	}
	n := int(to.Sub(from) / iv)
	total := make([]float64, n)
	got := 0
	for _, s := range ss {
		if !known[s.BuildingID] {
			t.Errorf("series of unknown building %q", s.BuildingID)
		}
		for i, r := range s.Readings {
			switch {
			case r.Start.Before(from) || !r.Start.Before(to) || !r.Start.Truncate(iv).Equal(r.Start):
				t.Errorf("%s: reading at %s outside [%s, %s) or off the %s grid", s.BuildingID, r.Start, from, to, iv)
			case r.KW < 0 || math.IsNaN(r.KW):
				t.Errorf("%s: %v kW at %s", s.BuildingID, r.KW, r.Start)
			case i > 0 && !r.Start.After(s.Readings[i-1].Start):
				t.Errorf("%s: readings out of order at %s", s.BuildingID, r.Start)
			default:
				total[int(r.Start.Sub(from)/iv)] += r.KW
				got++
			}
		}
	}
	if got == 0 {
		t.Fatalf("no readings in [%s, %s)", from, to)
	}
	if _, err := src.Readings(context.Background(), energy.ReadingsQuery{BuildingIDs: []string{"no-such-building"}, From: from, To: to}); err == nil {
		t.Error("Readings of an unknown building succeeded")
	}
	return total
}
