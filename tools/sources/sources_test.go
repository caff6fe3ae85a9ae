package sources_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources"
	"github.com/cityagent/cityagent/tools/sources/ngsild/ngsildtest"
	"github.com/cityagent/cityagent/tools/sources/soda/sodatest"
	"github.com/cityagent/cityagent/tools/traffic"
)

var cst = time.FixedZone("CST", 8*60*60)

var now = time.Date(2025, 6, 3, 8, 15, 0, 0, cst)

func build(t *testing.T, cfg config.SourcesConfig, city *democity.City) map[string]tools.Tool {
	t.Helper()
	ts, err := sources.Tools(context.Background(), cfg, sources.Deps{City: city, Clock: func() time.Time { return now },
		Getenv: func(k string) string { return map[string]string{"SODA_TOKEN": "app-token-123"}[k] }})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]tools.Tool{}
	for _, tl := range ts {
		m[tl.Spec().Name] = tl
	}
	return m
}

func call(t *testing.T, tl tools.Tool, args string, out any) tools.Citation {
	t.Helper()
	res, err := tl.Call(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s: %v", tl.Spec().Name, err)
	}
	if err := json.Unmarshal(res.Content, out); err != nil {
		t.Fatal(err)
	}
	return res.Citation
}

// TestSameToolsByConfigOnly builds the tools twice, from the demo city and
// from an NGSI-LD broker and a SODA dataset serving that city, changing
// nothing but the configuration, and asks both the same questions.
func TestSameToolsByConfigOnly(t *testing.T) {
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	broker := ngsildtest.New(t, city)
	dataset := sodatest.New(t, city, "app-token-123")

	demo := build(t, config.SourcesConfig{}, city)
	if len(demo) != 12 {
		t.Fatalf("%d tools from the demo city", len(demo))
	}
	remote := build(t, config.SourcesConfig{
		Traffic: config.SourceConfig{Kind: config.SourceNGSILD, URL: broker.URL, Context: ngsildtest.Context},
		Energy:  config.SourceConfig{Kind: config.SourceNGSILD, URL: broker.URL},
		Permits: config.SourceConfig{Kind: config.SourceSODA, URL: dataset.URL, AppTokenEnv: "SODA_TOKEN"},
	}, city)
	for _, name := range []string{traffic.NameCongestion, traffic.NameSegment, permits.NameSearch, permits.NameDetail, permits.NameProcessingTimes,
		energy.NameConsumption, energy.NamePeakLoad, energy.NameAnomalies} {
		if remote[name] == nil {
			t.Errorf("%s missing over NGSI-LD/SODA", name)
		}
	}

	var c1, c2 traffic.CongestionResult
	call(t, demo[traffic.NameCongestion], `{"limit":3}`, &c1)
	cite := call(t, remote[traffic.NameCongestion], `{"limit":3}`, &c2)
	if cite.Source != "ngsild:traffic" || c1.Segments[0].SegmentID != c2.Segments[0].SegmentID || math.Abs(c1.NetworkIndex-c2.NetworkIndex) > 0.011 {
		t.Errorf("congestion: demo %s %.2f, broker %s %.2f (%s)", c1.Segments[0].SegmentID, c1.NetworkIndex, c2.Segments[0].SegmentID, c2.NetworkIndex, cite.Source)
	}

	var e1, e2 energy.ConsumptionResult
	call(t, demo[energy.NameConsumption], `{"district":"nanhu","hours":12}`, &e1)
	call(t, remote[energy.NameConsumption], `{"district":"nanhu","hours":12}`, &e2)
	if e1.KWh != e2.KWh || e1.PeakKW != e2.PeakKW {
		t.Errorf("consumption: demo %.1f kWh peak %.1f, broker %.1f peak %.1f", e1.KWh, e1.PeakKW, e2.KWh, e2.PeakKW)
	}

	var p1, p2 permits.SearchResult
	call(t, demo[permits.NameSearch], `{"district":"xicheng","applied_within_days":30}`, &p1)
	cite = call(t, remote[permits.NameSearch], `{"district":"xicheng","applied_within_days":30}`, &p2)
	if p1.Total != p2.Total || p1.Total == 0 || p1.Permits[0].PermitNum != p2.Permits[0].PermitNum || !strings.HasPrefix(cite.Source, "soda:") {
		t.Errorf("permits: demo %d, SODA %d (%s)", p1.Total, p2.Total, cite.Source)
	}
}

func TestBadSourceConfig(t *testing.T) {
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	for name, cfg := range map[string]config.SourcesConfig{
		"broker down":      {Traffic: config.SourceConfig{Kind: config.SourceNGSILD, URL: "http://127.0.0.1:1"}},
		"soda for traffic": {Traffic: config.SourceConfig{Kind: config.SourceSODA, URL: "http://127.0.0.1:1/resource/x.json"}},
		"missing csv":      {Energy: config.SourceConfig{Kind: config.SourceCSV, URL: "/nonexistent/meters.csv"}},
		"dataset down":     {Permits: config.SourceConfig{Kind: config.SourceSODA, URL: "http://127.0.0.1:1/resource/ydr8-5enu.json"}},
	} {
		_, err := sources.Tools(context.Background(), cfg, sources.Deps{City: city})
		if err == nil || !strings.HasPrefix(err.Error(), "sources.") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
