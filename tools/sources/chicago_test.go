package sources_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources"
	"github.com/cityagent/cityagent/tools/sources/soda/sodatest"
	"github.com/cityagent/cityagent/tools/traffic"
)

// chicagoDataset serves one of the soda package's Chicago-shaped fixtures.
func chicagoDataset(t *testing.T, file, id string) *sodatest.Server {
	t.Helper()
	raw, err := os.ReadFile("soda/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	cols := map[string]bool{}
	var names []string
	for _, r := range rows {
		for k := range r {
			if !cols[k] {
				cols[k] = true
				names = append(names, k)
			}
		}
	}
	return sodatest.NewDataset(t, id, rows, names, "")
}

// citation is a SODA dataset's default citation, "soda:<host>/<4x4>".
func citation(url string) string {
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/resource/")
	return "soda:" + host + "/" + strings.TrimSuffix(path, ".json")
}

// TestChicagoProfile: a Chicago-style configuration — SODA permits and a
// SODA segment-speed feed, the city profile America/Chicago, USD, imperial
// — answers a permits question and a traffic question in the city's zone,
// currency and mph.
func TestChicagoProfile(t *testing.T) {
	permitsDS := chicagoDataset(t, "chicago-permits.json", "ydr8-5enu")
	trafficDS := chicagoDataset(t, "chicago-congestion.json", "n4j6-wkkf")
	profile := config.CityConfig{Name: "Chicago", TimeZone: "America/Chicago", Currency: "USD", Units: config.UnitsImperial, Locale: "en-US", Language: "en"}
	loc, err := profile.Location()
	if err != nil {
		t.Fatal(err)
	}
	// The server's clock may be in any zone; 15:15 UTC is 10:15 in Chicago.
	at := time.Date(2025, 6, 3, 15, 15, 0, 0, time.UTC)
	ts, err := sources.Tools(t.Context(), config.SourcesConfig{
		Traffic: config.SourceConfig{Kind: config.SourceSODA, URL: trafficDS.URL},
		Permits: config.SourceConfig{Kind: config.SourceSODA, URL: permitsDS.URL, Districts: map[string]string{"7": "Lincoln Park"}},
	}, sources.Deps{City: democity.New(democity.DefaultSeed, func() time.Time { return at }), Clock: func() time.Time { return at }, Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	byName := citytooltest.ByName(ts)
	inChicago := at.In(loc)

	var d permits.DetailResult
	res := citytooltest.Call(t, byName[permits.NameDetail], `{"permit_id":"100998017"}`, citation(permitsDS.URL), inChicago, &d)
	if _, off := res.Citation.AsOf.Zone(); off != -5*3600 {
		t.Errorf("citation as of %s, want Chicago time", res.Citation.AsOf)
	}
	if !strings.Contains(d.Summary, "$1,250") || !strings.Contains(d.SummaryZh, "1,250美元") || d.DistrictName != "Lincoln Park" || d.Currency != "USD" {
		t.Errorf("permit summary %q / %q, district %q", d.Summary, d.SummaryZh, d.DistrictName)
	}
	if _, off := d.AsOf.Zone(); off != -5*3600 || d.Permit.AppliedDate.Hour() != 0 {
		t.Errorf("as_of %s, applied %s: want Chicago times", d.AsOf, d.Permit.AppliedDate)
	}

	var c traffic.CongestionResult
	citytooltest.Call(t, byName[traffic.NameCongestion], `{"limit":3}`, citation(trafficDS.URL), inChicago, &c)
	// Segment 402: 9 mph on the feed, shown as 9.0 mph and kept as 14.5 km/h in the typed result.
	if len(c.Segments) == 0 || c.Segments[0].SpeedKmh != 14.5 || !strings.Contains(c.Summary, "9.0 mph") || strings.Contains(c.Summary, "km/h") {
		t.Errorf("congestion %q, segments %+v", c.Summary, c.Segments)
	}
	if !strings.Contains(c.Summary, "10:15") {
		t.Errorf("congestion summary %q: want the Chicago time 10:15", c.Summary)
	}
}
