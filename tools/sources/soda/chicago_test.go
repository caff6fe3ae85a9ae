package soda_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/Chicago, whatever the machine has

	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/permits/permitstest"
	"github.com/cityagent/cityagent/tools/sources/soda"
	"github.com/cityagent/cityagent/tools/sources/soda/sodatest"
	"github.com/cityagent/cityagent/tools/traffic"
	"github.com/cityagent/cityagent/tools/traffic/traffictest"
)

func chicago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// dataset serves a fixture of testdata as a SODA dataset; its columns are
// every column any row has, so the rows that lack one hold a null.
func dataset(t *testing.T, file, id string) *sodatest.Server {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	return datasetOf(t, rows, id)
}

// datasetOf serves rows as a SODA dataset whose columns are every column
// any row has.
func datasetOf(t *testing.T, rows []map[string]string, id string) *sodatest.Server {
	t.Helper()
	seen := map[string]bool{}
	var cols []string
	for _, r := range rows {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	return sodatest.NewDataset(t, id, rows, cols, "")
}

var communityAreas = map[string]string{"7": "Lincoln Park", "28": "Near West Side", "32": "Loop"}

func chicagoPermits(t *testing.T) (*soda.Source, time.Time) {
	t.Helper()
	loc := chicago(t)
	srv := dataset(t, "chicago-permits.json", sodatest.Dataset)
	src, err := soda.New(context.Background(), soda.Config{URL: srv.URL, Location: loc, Districts: communityAreas})
	if err != nil {
		t.Fatal(err)
	}
	return src, time.Date(2025, 6, 3, 10, 15, 0, 0, loc)
}

// TestChicagoIncompleteRow: one row without an application date must not
// fail the question; it is skipped, counted and reported.
func TestChicagoIncompleteRow(t *testing.T) {
	src, now := chicagoPermits(t)
	ts := citytooltest.ByName(permits.Tools(src, func() time.Time { return now }))
	var res permits.SearchResult
	citytooltest.Call(t, ts[permits.NameSearch], `{"district":"7","limit":10}`, src.Info().Source, now, &res)
	if res.Total != 4 || len(res.Permits) != 3 || res.Skipped != 1 {
		t.Errorf("total %d, permits %d, skipped %d; want 4 rows, 3 permits, 1 skipped", res.Total, len(res.Permits), res.Skipped)
	}
	if !strings.Contains(res.Summary, "1 incomplete record") || !strings.Contains(res.SummaryZh, "1条记录不完整") {
		t.Errorf("summary %q / %q", res.Summary, res.SummaryZh)
	}
	var proc permits.ProcessingResult
	citytooltest.Call(t, ts[permits.NameProcessingTimes], `{"days":90}`, src.Info().Source, now, &proc)
	if proc.Overall.Count != 3 || proc.Overall.MaxDays != 26 {
		t.Errorf("processing over the issued permits (14 Apr–20 May is 26 working days): %+v", proc.Overall)
	}
}

// TestChicagoDistrictNames: numeric community-area codes get their names
// from the configuration, in results and in the schema the model sees.
func TestChicagoDistrictNames(t *testing.T) {
	src, now := chicagoPermits(t)
	names := map[string]string{}
	for _, d := range src.Info().Districts {
		names[d.ID] = d.NameEn
	}
	if names["7"] != "Lincoln Park" || names["32"] != "Loop" || len(names) != 3 {
		t.Errorf("districts %v", names)
	}
	ts := citytooltest.ByName(permits.Tools(src, func() time.Time { return now }))
	schema := citytooltest.SchemaOf(t, ts[permits.NameSearch])
	if d := schema.Properties["district"].Description; !strings.Contains(d, "7 = Lincoln Park;") {
		t.Errorf("district description %q", d)
	}
	var res permits.DetailResult
	citytooltest.Call(t, ts[permits.NameDetail], `{"permit_id":"100998017"}`, src.Info().Source, now, &res)
	// The floating application date is midnight in Chicago (CDT, UTC−5).
	if _, off := res.Permit.AppliedDate.Zone(); res.DistrictName != "Lincoln Park" || res.Permit.Fee != 1250 || off != -5*3600 || res.Permit.AppliedDate.Hour() != 0 {
		t.Errorf("district %q, permit %+v", res.DistrictName, res.Permit)
	}
	// The register has no payment field: no answer may claim either way.
	if res.Permit.FeePaid != nil || strings.Contains(res.Summary, "not yet paid") || strings.Contains(res.SummaryZh, "尚未缴纳") ||
		!strings.Contains(res.Summary, "Fee 1,250") || !strings.Contains(res.Summary, "payment status not recorded") {
		t.Errorf("payment claimed without a payment field: %q / %q", res.Summary, res.SummaryZh)
	}
}

func chicagoTraffic(t *testing.T) (*soda.Traffic, time.Time) {
	t.Helper()
	loc := chicago(t)
	srv := dataset(t, "chicago-congestion.json", "n4j6-wkkf")
	src, err := soda.NewTraffic(context.Background(), soda.TrafficConfig{URL: srv.URL, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	return src, time.Date(2025, 6, 3, 10, 15, 0, 0, loc)
}

// TestChicagoCongestionSegments: a Chicago-style segment feed in mph, with
// -1 for no estimate and a stale row, answers traffic_congestion in km/h.
func TestChicagoCongestionSegments(t *testing.T) {
	src, now := chicagoTraffic(t)
	net := src.Network()
	if len(net.Segments) != 5 || net.Segments[0].ID != "1309" || net.Segments[0].LengthKm != 0.805 || net.Segments[0].FreeFlowKmh != 48.3 {
		t.Fatalf("segments %+v", net.Segments)
	}
	if n := net.Segments[0].NameEn; n != "Clark NB: Fullerton to Diversey" {
		t.Errorf("name %q", n)
	}
	ts := citytooltest.ByName(traffic.Tools(src, func() time.Time { return now }))
	var res traffic.CongestionResult
	citytooltest.Call(t, ts[traffic.NameCongestion], `{"limit":5}`, net.Source, now, &res)
	if len(res.Segments) != 5 || res.Segments[0].SegmentID != "402" || res.Segments[0].SpeedKmh != 14.5 || res.Segments[1].SegmentID != "1309" {
		t.Errorf("ranking %+v", res.Segments)
	}
	free := map[string]bool{}
	for _, s := range res.Segments {
		free[s.SegmentID] = s.SpeedKmh == s.FreeFlowKmh && s.Estimated
	}
	if !free["271"] || !free["88"] || free["1310"] || res.EstimatedSegments != 2 || res.RejectedReadings != 0 || len(res.Notes) != 2 ||
		!strings.Contains(res.Summary, "speed -1") || !strings.Contains(res.Summary, "no current data") || len(res.NotesZh) != 2 || strings.Contains(res.SummaryZh, "speed -1") {
		t.Errorf("no-estimate segments %v, notes %q / %q", free, res.Notes, res.NotesZh)
	}
}

// TestChicagoCongestionBadSpeeds: the text "fast", "NaN" and 900 mph in
// the feed's speed column used to show as a measured 30.0 mph (or break
// the answer); they are bad data now: counted, and the segments marked
// estimated, while the rest of the feed answers.
func TestChicagoCongestionBadSpeeds(t *testing.T) {
	raw, err := os.ReadFile("testdata/chicago-congestion.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"1309": "fast", "1310": "NaN", "402": "900"}
	for _, r := range rows {
		if v, ok := bad[r["segmentid"]]; ok {
			r["_traffic"] = v
		}
	}
	loc := chicago(t)
	srv := datasetOf(t, rows, "n4j6-wkkf")
	src, err := soda.NewTraffic(context.Background(), soda.TrafficConfig{URL: srv.URL, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 3, 10, 15, 0, 0, loc)
	var res traffic.CongestionResult
	citytooltest.Call(t, citytooltest.ByName(traffic.Tools(src, func() time.Time { return now }))[traffic.NameCongestion], `{"limit":5}`, src.Network().Source, now, &res)
	if res.SegmentsCounted != 5 || res.RejectedReadings != 3 || res.EstimatedSegments != 5 {
		t.Errorf("counted %d, rejected %d, estimated %d; want 5, 3, 5", res.SegmentsCounted, res.RejectedReadings, res.EstimatedSegments)
	}
	if !strings.Contains(res.Summary, "3 readings were unreadable or implausible") || !strings.Contains(res.SummaryZh, "3个读数无法识别或不合理") {
		t.Errorf("summary %q / %q", res.Summary, res.SummaryZh)
	}
}

func TestChicagoTrafficConformance(t *testing.T) {
	src, now := chicagoTraffic(t)
	traffictest.TestSource(t, src, now)
}

func TestPermitsConformance(t *testing.T) {
	t.Run("demo city as SODA", func(t *testing.T) {
		_, _, src := setup(t)
		permitstest.TestSource(t, src, now)
	})
	t.Run("Chicago-shaped rows", func(t *testing.T) {
		src, at := chicagoPermits(t)
		permitstest.TestSource(t, src, at)
	})
}
