package ngsild_test

// Tests on the official Smart Data Models example payloads (testdata/sdm,
// CC-BY-4.0, see ATTRIBUTION.md), served by a real HTTP broker. Each test
// starts from the unchanged example and adjusts only what its scenario
// needs, in the open, below.

import (
	"context"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/energy/energytest"
	"github.com/cityagent/cityagent/tools/sources/ngsild"
	"github.com/cityagent/cityagent/tools/sources/ngsild/ngsildtest"
	"github.com/cityagent/cityagent/tools/traffic"
	"github.com/cityagent/cityagent/tools/traffic/traffictest"
)

// The examples observe 11:10–11:15 UTC on 7 December 2016.
var sdmNow = time.Date(2016, 12, 7, 11, 16, 0, 0, time.UTC)

const segID = "urn:ngsi-ld:RoadSegment:Spain-RoadSegment-A62-osm-24702186"

func sdm(t *testing.T, name, form string) map[string]any {
	t.Helper()
	m := ngsildtest.Fixture(t, "testdata/sdm/"+name+"."+form+".jsonld")
	delete(m, "@context")
	return m
}

func sdmClient(t *testing.T, b *ngsildtest.Broker) *ngsild.Client {
	t.Helper()
	c, err := ngsild.NewClient(ngsild.Config{BaseURL: b.URL, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lane is the TrafficFlowObserved example as a lane of the A-62 segment.
func lane(t *testing.T, form string, id int, speed, count float64, congested bool) map[string]any {
	t.Helper()
	f := sdm(t, "TrafficFlowObserved", form)
	f["id"] = f["id"].(string) + "-lane" + string(rune('0'+id))
	set := func(k string, v any) {
		if form == "normalized" {
			f[k] = map[string]any{"type": "Property", "value": v}
		} else {
			f[k] = v
		}
	}
	set("laneId", id)
	set("averageVehicleSpeed", speed)
	set("intensity", count)
	set("congested", congested)
	if form == "normalized" {
		f["refRoadSegment"] = map[string]any{"type": "Relationship", "object": segID}
	} else {
		f["refRoadSegment"] = segID
	}
	return f
}

func network(t *testing.T, form string) []map[string]any {
	return []map[string]any{sdm(t, "Road", form), sdm(t, "RoadSegment", form)}
}

func trafficOver(t *testing.T, ents, temporal []map[string]any) (*ngsild.Traffic, *ngsildtest.Broker) {
	t.Helper()
	b := ngsildtest.NewBroker(t, ents, temporal)
	src, err := ngsild.NewTraffic(context.Background(), sdmClient(t, b), ngsild.TrafficConfig{Location: time.UTC})
	if err != nil {
		t.Fatalf("NewTraffic over the official examples: %v", err)
	}
	return src, b
}

func observeOne(t *testing.T, src *ngsild.Traffic, at time.Time) traffic.Observation {
	t.Helper()
	obs, err := src.Observe(context.Background(), at)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(obs) != 1 {
		t.Fatalf("%d observations, want the one segment", len(obs))
	}
	return obs[0]
}

// TestSDMRoadSegmentWithoutLength: the official RoadSegment has no length;
// it comes from its LineString (24.23 km by haversine), its free-flow speed
// from maximumAllowedSpeed 120 km/h, and its road's name from the Road.
func TestSDMRoadSegmentWithoutLength(t *testing.T) {
	for _, form := range []string{"normalized", "keyvalues"} {
		t.Run(form, func(t *testing.T) {
			src, _ := trafficOver(t, network(t, form), nil)
			net := src.Network()
			if len(net.Segments) != 1 {
				t.Fatalf("segments %+v", net.Segments)
			}
			s := net.Segments[0]
			if math.Abs(s.LengthKm-24.226) > 0.002 || s.SpeedLimitKmh != 120 || s.FreeFlowKmh != 102 || s.Lanes != 2 {
				t.Errorf("segment %+v", s)
			}
			if s.NameEn != "Valladolid-Dueñas" || s.RoadEn != "A-62" || s.Road != "Spain-Road-A62" {
				t.Errorf("names %q %q %q", s.NameEn, s.RoadEn, s.Road)
			}
		})
	}
}

// TestSDMSpeedFromObservations: a segment with neither a speed limit nor a
// free-flow speed takes the fastest speed observed on it.
func TestSDMSpeedFromObservations(t *testing.T) {
	seg := sdm(t, "RoadSegment", "keyvalues")
	delete(seg, "maximumAllowedSpeed")
	ents := []map[string]any{sdm(t, "Road", "keyvalues"), seg, lane(t, "keyvalues", 1, 61.5, 20, false), lane(t, "keyvalues", 2, 48, 30, false)}
	src, _ := trafficOver(t, ents, nil)
	if ff := src.Network().Segments[0].FreeFlowKmh; ff != 62 {
		t.Errorf("free flow %v km/h, want the fastest observed 61.5 rounded", ff)
	}
}

// TestSDMLanesAggregate: two lanes of one segment in one window make one
// observation: flows add up, speed is flow-weighted, occupancy averaged,
// congested if any lane is; each lane stays visible.
func TestSDMLanesAggregate(t *testing.T) {
	for _, form := range []string{"normalized", "keyvalues"} {
		t.Run(form, func(t *testing.T) {
			// 30 and 10 vehicles in the example's 5 minutes: 360 and 120 veh/h.
			ents := append(network(t, form), lane(t, form, 1, 9.5, 30, true), lane(t, form, 2, 12.0, 10, false))
			src, _ := trafficOver(t, ents, nil)
			o := observeOne(t, src, sdmNow)
			if o.FlowVehH != 480 || o.SpeedKmh != 10.1 || o.Occupancy != 0.76 || !o.Congested {
				t.Errorf("segment: flow %v veh/h, speed %v km/h, occupancy %v, congested %v; want 480, 10.1 (flow-weighted), 0.76, true",
					o.FlowVehH, o.SpeedKmh, o.Occupancy, o.Congested)
			}
			if len(o.Lanes) != 2 || o.Lanes[0].ID != "1" || o.Lanes[0].FlowVehH != 360 || o.Lanes[1].SpeedKmh != 12 || !o.Lanes[0].Congested {
				t.Errorf("lanes %+v", o.Lanes)
			}
		})
	}
}

// TestSDMIntervalOnly: a reading dated only by the interval dateObserved
// ("2016-12-07T11:10:00/2016-12-07T11:15:00", floating, read in the
// source's zone) is current at 11:16 and counts over five minutes: 197
// vehicles are 2,364 veh/h. The broker has no temporal API, so anything
// else would fail.
func TestSDMIntervalOnly(t *testing.T) {
	for _, form := range []string{"normalized", "keyvalues"} {
		t.Run(form, func(t *testing.T) {
			f := sdm(t, "TrafficFlowObserved", form)
			delete(f, "dateObservedFrom")
			delete(f, "dateObservedTo")
			if form == "normalized" {
				f["refRoadSegment"] = map[string]any{"type": "Relationship", "object": segID}
			} else {
				f["refRoadSegment"] = segID
			}
			src, b := trafficOver(t, append(network(t, form), f), nil)
			o := observeOne(t, src, sdmNow)
			if o.FlowVehH != 2364 || o.SpeedKmh != 52.6 || o.Note != "" {
				t.Errorf("flow %v veh/h (want 2364), speed %v, note %q", o.FlowVehH, o.SpeedKmh, o.Note)
			}
			for _, p := range b.Paths() {
				if strings.Contains(p, "temporal") {
					t.Errorf("asked the temporal API for a current reading: %v", b.Paths())
				}
			}
		})
	}
}

// TestSDMNoTemporalAPI: a question about now when the broker's readings are
// older than fresh needs the temporal API; a broker without one (501)
// still answers from its latest state, and the tool says so.
func TestSDMNoTemporalAPI(t *testing.T) {
	ents := append(network(t, "normalized"), lane(t, "normalized", 1, 20, 25, false))
	src, _ := trafficOver(t, ents, nil)
	later := sdmNow.Add(2 * time.Hour)
	o := observeOne(t, src, later)
	if o.SpeedKmh != 20 || o.FlowVehH != 300 || !strings.Contains(o.Note, "no temporal API") || !strings.Contains(o.Note, "2016-12-07 11:15") {
		t.Errorf("observation %+v", o)
	}
	ts := map[string]bool{}
	var res traffic.CongestionResult
	for _, tl := range traffic.Tools(src, func() time.Time { return later }) {
		ts[tl.Spec().Name] = true
		if tl.Spec().Name == traffic.NameCongestion {
			call(t, tl, `{}`, &res)
		}
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Summary, "no temporal API") || !strings.Contains(res.SummaryZh, "注：") {
		t.Errorf("congestion notes %q, summary %q", res.Notes, res.Summary)
	}
	if !ts[traffic.NameSegment] {
		t.Errorf("tools %v", ts)
	}
}

// TestSDMLaneHistory: the temporal API keeps each lane as its own entity;
// a segment's history merges the lanes of each window instead of
// alternating between them.
func TestSDMLaneHistory(t *testing.T) {
	ents := append(network(t, "normalized"), lane(t, "normalized", 1, 9.5, 30, false), lane(t, "normalized", 2, 12, 10, false))
	inst := func(v any, at time.Time) map[string]any {
		return map[string]any{"type": "Property", "value": v, "observedAt": at.Format(time.RFC3339)}
	}
	var temporal []map[string]any
	for i, l := range []struct{ speed, count float64 }{{9.5, 30}, {12, 10}} {
		e := map[string]any{"id": ents[2+i]["id"], "type": "TrafficFlowObserved",
			"refRoadSegment": []any{map[string]any{"type": "Relationship", "object": segID}},
			"laneId":         []any{inst(i+1, sdmNow.Add(-time.Hour))}}
		var speeds, counts, from, to []any
		for k := 0; k < 4; k++ {
			end := sdmNow.Add(-time.Minute - time.Duration(15*k)*time.Minute)
			speeds = append(speeds, inst(l.speed, end))
			counts = append(counts, inst(l.count, end))
			from = append(from, inst(end.Add(-5*time.Minute).Format(time.RFC3339), end))
			to = append(to, inst(end.Format(time.RFC3339), end))
		}
		e["averageVehicleSpeed"], e["intensity"], e["dateObservedFrom"], e["dateObservedTo"] = speeds, counts, from, to
		temporal = append(temporal, e)
	}
	src, _ := trafficOver(t, ents, temporal)
	hist, err := src.History(context.Background(), "Spain-RoadSegment-A62-osm-24702186", sdmNow.Add(-45*time.Minute), sdmNow, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 {
		t.Fatalf("%d points", len(hist))
	}
	for _, o := range hist {
		if o.FlowVehH != 480 || o.SpeedKmh != 10.1 || len(o.Lanes) != 2 {
			t.Errorf("at %s: flow %v, speed %v, lanes %d; want 480, 10.1, 2", o.At, o.FlowVehH, o.SpeedKmh, len(o.Lanes))
		}
	}
}

// building is the official Building example; meter is a meter example
// whose refDevice names that building.
func building(t *testing.T, form string) map[string]any {
	t.Helper()
	return sdm(t, "Building", form)
}

func meter(t *testing.T, model, form, buildingID string) map[string]any {
	t.Helper()
	m := sdm(t, model, form)
	if form == "normalized" && model != "ThreePhaseAcMeasurement" { // that example is key-values in shape
		m["refDevice"] = map[string]any{"type": "Relationship", "object": buildingID}
	} else {
		m["refDevice"] = buildingID
	}
	return m
}

// readings is a temporal meter entity with attr's values at the end of
// each 15-minute interval from start.
func readings(m map[string]any, attr string, start time.Time, vals ...float64) map[string]any {
	var inst []any
	for i, v := range vals {
		inst = append(inst, map[string]any{"type": "Property", "value": v, "observedAt": start.Add(time.Duration(i+1) * 15 * time.Minute).Format(time.RFC3339)})
	}
	return map[string]any{"id": m["id"], "type": m["type"], attr: inst}
}

func energyOver(t *testing.T, ents, temporal []map[string]any) *ngsild.Energy {
	t.Helper()
	b := ngsildtest.NewBroker(t, ents, temporal)
	src, err := ngsild.NewEnergy(context.Background(), sdmClient(t, b), ngsild.EnergyConfig{Location: time.UTC})
	if err != nil {
		t.Fatalf("NewEnergy over the official examples: %v", err)
	}
	return src
}

func kwOf(t *testing.T, src *ngsild.Energy, from time.Time, n int) []float64 {
	t.Helper()
	ss, err := src.Readings(context.Background(), energy.ReadingsQuery{From: from, To: from.Add(time.Duration(n) * 15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("series %+v", ss)
	}
	var out []float64
	for _, r := range ss[0].Readings {
		out = append(out, math.Round(r.KW*1000)/1000)
	}
	return out
}

// TestSDMPowerUnits: totalActivePower without a unitCode is in watts, as
// the models specify: the example's 31,700.27 W is 31.7 kW, not 31,700 kW;
// a unitCode (KWT, MAW) is honoured. Both meter models, both forms.
func TestSDMPowerUnits(t *testing.T) {
	start := time.Date(2020, 2, 24, 21, 0, 0, 0, time.UTC)
	for _, model := range []string{"ACMeasurement", "ThreePhaseAcMeasurement"} {
		for _, form := range []string{"normalized", "keyvalues"} {
			t.Run(model+"/"+form, func(t *testing.T) {
				b := building(t, form)
				m := meter(t, model, form, b["id"].(string))
				tm := readings(m, "totalActivePower", start, 31700.269531, 31700.269531)
				inst := tm["totalActivePower"].([]any)
				inst[1].(map[string]any)["unitCode"] = "MAW"
				inst[1].(map[string]any)["value"] = 0.0317
				src := energyOver(t, []map[string]any{b, m}, []map[string]any{tm})
				if got := kwOf(t, src, start, 2); len(got) != 2 || got[0] != 31.7 || got[1] != 31.7 {
					t.Errorf("kW %v, want [31.7 31.7]", got)
				}
				g := src.Grid()
				if len(g.Buildings) != 1 || g.Buildings[0].Type != energy.TypeOffice || g.Buildings[0].AddressEn != "25 Walbrook" {
					t.Errorf("grid %+v", g.Buildings)
				}
			})
		}
	}
}

// TestSDMEnergyCounter: a meter that reports only its import counter
// (totalActiveEnergyImport, kWh) reads the mean power of each interval by
// differencing; a counter that goes back starts afresh.
func TestSDMEnergyCounter(t *testing.T) {
	start := time.Date(2020, 2, 24, 21, 0, 0, 0, time.UTC)
	b := building(t, "keyvalues")
	m := meter(t, "ACMeasurement", "keyvalues", b["id"].(string))
	delete(m, "totalActivePower")
	// The counter at 21:00 (the example's value), then +10 kWh, +5 kWh, a reset, +2.5 kWh.
	tm := readings(m, "totalActiveEnergyImport", start.Add(-15*time.Minute), 150781.96448, 150791.96448, 150796.96448, 0, 2.5)
	src := energyOver(t, []map[string]any{b, m}, []map[string]any{tm})
	got := kwOf(t, src, start, 4)
	want := []float64{40, 20, 10}
	if len(got) != len(want) || !maps.Equal(index(got), index(want)) {
		t.Errorf("kW %v, want %v (10 kWh, 5 kWh, reset, 2.5 kWh per quarter hour)", got, want)
	}
}

func index(xs []float64) map[int]float64 {
	m := map[int]float64{}
	for i, x := range xs {
		m[i] = x
	}
	return m
}

// TestSDMConformance runs the traffic and energy suites over sources built
// from the official examples alone.
func TestSDMConformance(t *testing.T) {
	t.Run("traffic", func(t *testing.T) {
		ents := append(network(t, "keyvalues"), lane(t, "keyvalues", 1, 40, 50, false), lane(t, "keyvalues", 2, 55, 60, false))
		src, _ := trafficOver(t, ents, nil)
		traffictest.TestSource(t, src, sdmNow)
	})
	t.Run("energy", func(t *testing.T) {
		start := time.Date(2020, 2, 24, 21, 0, 0, 0, time.UTC)
		b := building(t, "normalized")
		m := meter(t, "ACMeasurement", "normalized", b["id"].(string))
		src := energyOver(t, []map[string]any{b, m}, []map[string]any{readings(m, "totalActivePower", start, 31700.269531, 30100, 29950.5)})
		energytest.TestSource(t, src, start.Add(50*time.Minute))
	})
}
