package ngsild_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/energy/energytest"
	"github.com/cityagent/cityagent/tools/sources/ngsild"
	"github.com/cityagent/cityagent/tools/sources/ngsild/ngsildtest"
	"github.com/cityagent/cityagent/tools/traffic"
	"github.com/cityagent/cityagent/tools/traffic/traffictest"
)

var cst = time.FixedZone("CST", 8*60*60)

// now is a Tuesday in the morning peak, on the broker's 5-minute grid.
var now = time.Date(2025, 6, 3, 8, 15, 0, 0, cst)

func setup(t *testing.T) (*democity.City, *ngsildtest.Server, *ngsild.Client) {
	t.Helper()
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	srv := ngsildtest.New(t, city)
	c, err := ngsild.NewClient(ngsild.Config{BaseURL: srv.URL, Context: ngsildtest.Context, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return city, srv, c
}

func TestTrafficConformance(t *testing.T) {
	_, srv, c := setup(t)
	src, err := ngsild.NewTraffic(context.Background(), c, ngsild.TrafficConfig{Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	traffictest.TestSource(t, src, now)
	if links := srv.Links(); len(links) == 0 || !strings.Contains(links[0], ngsildtest.Context) || !strings.Contains(links[0], `rel="http://www.w3.org/ns/json-ld#context"`) {
		t.Errorf("Link headers %v", links)
	}
}

func call(t *testing.T, tl tools.Tool, args string, out any) tools.Citation {
	t.Helper()
	res, err := tl.Call(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s %s: %v", tl.Spec().Name, args, err)
	}
	if err := json.Unmarshal(res.Content, out); err != nil {
		t.Fatal(err)
	}
	return res.Citation
}

func byName(ts []tools.Tool) map[string]tools.Tool {
	m := map[string]tools.Tool{}
	for _, tl := range ts {
		m[tl.Spec().Name] = tl
	}
	return m
}

func TestTrafficToolsMatchTheCity(t *testing.T) {
	city, _, c := setup(t)
	src, err := ngsild.NewTraffic(context.Background(), c, ngsild.TrafficConfig{Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	viaBroker := byName(traffic.Tools(src, clock))
	direct := byName(traffic.Tools(city, clock))
	if _, ok := viaBroker[traffic.NameIncidents]; ok || len(viaBroker) != 2 {
		t.Errorf("tools over NGSI-LD: %v", viaBroker)
	}
	var got, want traffic.CongestionResult
	cite := call(t, viaBroker[traffic.NameCongestion], `{"district":"gaoxin","limit":5}`, &got)
	call(t, direct[traffic.NameCongestion], `{"district":"gaoxin","limit":5}`, &want)
	if cite.Source != "ngsild:traffic" || !cite.AsOf.Equal(now) {
		t.Errorf("citation %+v", cite)
	}
	if got.SegmentsCounted != want.SegmentsCounted || math.Abs(got.AverageIndex-want.AverageIndex) > 0.011 {
		t.Errorf("counted %d, average %.2f; city %d, %.2f", got.SegmentsCounted, got.AverageIndex, want.SegmentsCounted, want.AverageIndex)
	}
	for i := range got.Segments {
		g, w := got.Segments[i], want.Segments[i]
		if g.SpeedKmh != w.SpeedKmh || g.FlowVehH != w.FlowVehH || math.Abs(g.CongestionIndex-w.CongestionIndex) > 0.011 || g.NameZh != w.NameZh {
			t.Errorf("rank %d via the broker %+v\ncity %+v", i+1, g, w)
		}
	}
	var seg, segWant traffic.SegmentResult
	call(t, viaBroker[traffic.NameSegment], `{"segment_id":"S030","history_hours":2}`, &seg)
	call(t, direct[traffic.NameSegment], `{"segment_id":"S030","history_hours":2}`, &segWant)
	if len(seg.History) != 9 || len(seg.History) != len(segWant.History) {
		t.Fatalf("history %d points, city %d", len(seg.History), len(segWant.History))
	}
	for i := range seg.History {
		if seg.History[i].SpeedKmh != segWant.History[i].SpeedKmh || !seg.History[i].At.Equal(segWant.History[i].At) {
			t.Errorf("point %d %+v, city %+v", i, seg.History[i], segWant.History[i])
		}
	}
}

func TestEnergyToolsMatchTheCity(t *testing.T) {
	city, _, c := setup(t)
	src, err := ngsild.NewEnergy(context.Background(), c, ngsild.EnergyConfig{Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	g := src.Grid()
	if len(g.Buildings) != 320 || len(g.Districts) != 6 || g.Districts[2].NameZh != "东城区" || g.Buildings[0].NameZh == "" {
		t.Fatalf("grid: %d buildings, districts %+v", len(g.Buildings), g.Districts)
	}
	clock := func() time.Time { return now }
	viaBroker := byName(energy.Tools(src, clock))
	direct := byName(energy.Tools(city, clock))
	if len(viaBroker) != 3 {
		t.Errorf("%d energy tools over NGSI-LD", len(viaBroker))
	}
	for _, args := range []string{`{"district":"gaoxin","hours":24}`, `{"building_id":"B012","hours":6}`, `{"hours":2}`} {
		var got, want energy.ConsumptionResult
		cite := call(t, viaBroker[energy.NameConsumption], args, &got)
		call(t, direct[energy.NameConsumption], args, &want)
		if got.KWh != want.KWh || got.PeakKW != want.PeakKW || !got.PeakAt.Equal(want.PeakAt) || got.PrevWeekKWh != want.PrevWeekKWh || cite.Source != "ngsild:energy" {
			t.Errorf("%s: broker %.1f kWh, peak %.1f at %s, prev %.1f; city %.1f, %.1f at %s, %.1f", args,
				got.KWh, got.PeakKW, got.PeakAt, got.PrevWeekKWh, want.KWh, want.PeakKW, want.PeakAt, want.PrevWeekKWh)
		}
	}
	var peak, peakWant energy.PeakResult
	call(t, viaBroker[energy.NamePeakLoad], `{"district":"binjiang","period":"today"}`, &peak)
	call(t, direct[energy.NamePeakLoad], `{"district":"binjiang","period":"today"}`, &peakWant)
	if peak.PeakKW != peakWant.PeakKW || !peak.PeakAt.Equal(peakWant.PeakAt) {
		t.Errorf("peak via broker %.1f at %s, city %.1f at %s", peak.PeakKW, peak.PeakAt, peakWant.PeakKW, peakWant.PeakAt)
	}
}

func TestBrokerFaults(t *testing.T) {
	_, srv, c := setup(t)
	src, err := ngsild.NewTraffic(context.Background(), c, ngsild.TrafficConfig{Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDown(true)
	if _, err := src.Observe(context.Background(), now); !errors.Is(err, ngsild.ErrBroker) || !strings.Contains(err.Error(), "503") {
		t.Errorf("broker down: %v", err)
	}
	if _, err := ngsild.NewEnergy(context.Background(), c, ngsild.EnergyConfig{}); !errors.Is(err, ngsild.ErrBroker) {
		t.Errorf("loading from a broker that is down: %v", err)
	}

	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"not":"an array"}`))
	}))
	defer garbage.Close()
	gc, _ := ngsild.NewClient(ngsild.Config{BaseURL: garbage.URL})
	if _, err := ngsild.NewTraffic(context.Background(), gc, ngsild.TrafficConfig{}); !errors.Is(err, ngsild.ErrBroker) {
		t.Errorf("garbage payload: %v", err)
	}
	for _, bad := range []string{"", "ftp://x", "http://", "not a url"} {
		if _, err := ngsild.NewClient(ngsild.Config{BaseURL: bad}); err == nil {
			t.Errorf("NewClient(%q) succeeded", bad)
		}
	}
}

func TestEntityForms(t *testing.T) {
	var e ngsild.Entity
	raw := `{"id":"urn:ngsi-ld:RoadSegment:S1","type":"RoadSegment",
		"name":{"type":"LanguageProperty","languageMap":{"zh":"人民路","en":"Renmin Road"}},
		"length":{"type":"Property","value":1.5,"unitCode":"KMT"},
		"speed":3.5,
		"refRoad":{"type":"Relationship","object":"urn:ngsi-ld:Road:renmin"},
		"dateObserved":{"type":"Property","value":{"@type":"DateTime","@value":"2025-06-03T00:15:00Z"}},
		"power":[{"type":"Property","value":2,"observedAt":"2025-06-03T00:30:00Z"},{"type":"Property","value":1,"observedAt":"2025-06-03T00:15:00Z"}],
		"simplified":{"type":"Property","values":[[5,"2025-06-03T00:15:00Z"]]}}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	if e.Lang("name", "zh") != "人民路" || e.Text("name") != "Renmin Road" || ngsild.ShortID(e.ID) != "S1" || e.Object("refRoad") != "urn:ngsi-ld:Road:renmin" {
		t.Errorf("names/relationship: %+v", e)
	}
	if v, unit, ok := e.Number("length"); !ok || v != 1.5 || unit != "KMT" {
		t.Errorf("length %v %q %v", v, unit, ok)
	}
	if v, _, ok := e.Number("speed"); !ok || v != 3.5 {
		t.Errorf("keyValues number %v", v)
	}
	if ts, ok := e.Time("dateObserved"); !ok || ts.Hour() != 0 || ts.Minute() != 15 {
		t.Errorf("DateTime %v %v", ts, ok)
	}
	in := e.Instances("power")
	if len(in) != 2 || !in[0].ObservedAt.Before(in[1].ObservedAt) {
		t.Errorf("instances %+v", in)
	}
	if s := e.Instances("simplified"); len(s) != 1 {
		t.Errorf("simplified temporal form %+v", s)
	}
}

// TestDeviceMeasurementMeters reads the same meters as DeviceMeasurement
// entities (numValue in watts, refDevice), by mapping only.
func TestDeviceMeasurementMeters(t *testing.T) {
	city, _, c := setup(t)
	src, err := ngsild.NewEnergy(context.Background(), c, ngsild.EnergyConfig{Location: cst,
		Mapping: map[string]string{"meter_type": "DeviceMeasurement", "power_attr": "numValue", "building_ref": "refDevice"}})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	var got, want energy.ConsumptionResult
	call(t, byName(energy.Tools(src, clock))[energy.NameConsumption], `{"district":"beian","hours":3}`, &got)
	call(t, byName(energy.Tools(city, clock))[energy.NameConsumption], `{"district":"beian","hours":3}`, &want)
	if math.Abs(got.KWh-want.KWh) > 0.5 || math.Abs(got.PeakKW-want.PeakKW) > 0.5 {
		t.Errorf("DeviceMeasurement: %.1f kWh peak %.1f; city %.1f peak %.1f", got.KWh, got.PeakKW, want.KWh, want.PeakKW)
	}
}

func TestEnergyConformance(t *testing.T) {
	_, _, c := setup(t)
	src, err := ngsild.NewEnergy(context.Background(), c, ngsild.EnergyConfig{Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	energytest.TestSource(t, src, now)
}
