package tabular_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/energy/energytest"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/permits/permitstest"
	"github.com/cityagent/cityagent/tools/sources/tabular"
)

var cst = time.FixedZone("CST", 8*60*60)

var now = time.Date(2025, 6, 3, 14, 7, 0, 0, cst)

// writeReadings writes a CSV of the city's readings of a few buildings over
// the last nine days, with local times and a kWh column.
func writeReadings(t *testing.T, city *democity.City, ids []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meters.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"meter", "interval_start", "energy_kwh", "building", "area"})
	ss, err := city.Readings(context.Background(), energy.ReadingsQuery{BuildingIDs: ids, From: now.AddDate(0, 0, -9), To: now})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]energy.Building{}
	for _, b := range city.Buildings() {
		names[b.ID] = b
	}
	for _, s := range ss {
		for _, r := range s.Readings {
			_ = w.Write([]string{s.BuildingID, r.Start.In(cst).Format("2006-01-02 15:04"), fmt.Sprintf("%.3f", r.KW/4), names[s.BuildingID].NameEn, names[s.BuildingID].District})
		}
	}
	w.Flush()
	f.Close()
	return path
}

// csvEnergy writes three buildings' readings of the demo city as a CSV
// of kWh per interval and reads it.
func csvEnergy(t *testing.T) (*tabular.Energy, *democity.City) {
	t.Helper()
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	path := writeReadings(t, city, []string{"B010", "B011", "B200"})
	src, err := tabular.NewEnergy(context.Background(), tabular.Config{Kind: tabular.KindCSV, URL: path, Location: cst,
		Mapping: map[string]string{"building_id": "meter", "start": "interval_start", "kwh": "energy_kwh", "name": "building", "district": "area"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return src, city
}

func TestEnergyConformance(t *testing.T) {
	src, _ := csvEnergy(t)
	energytest.TestSource(t, src, now)
}

func TestEnergyFromCSV(t *testing.T) {
	src, city := csvEnergy(t)
	if g := src.Grid(); len(g.Buildings) != 3 || g.Buildings[0].NameEn == "" || len(g.Districts) == 0 {
		t.Fatalf("grid %+v", g)
	}
	clock := func() time.Time { return now }
	var got, want energy.ConsumptionResult
	callTool(t, energy.Tools(src, clock)[0], `{"building_id":"B200","hours":24}`, &got)
	callTool(t, energy.Tools(city, clock)[0], `{"building_id":"B200","hours":24}`, &want)
	if d := got.KWh - want.KWh; d > 0.5 || d < -0.5 || got.PeakKW-want.PeakKW > 0.05 || want.KWh == 0 {
		t.Errorf("CSV: %.1f kWh, peak %.1f; city %.1f, %.1f", got.KWh, got.PeakKW, want.KWh, want.PeakKW)
	}
}

func callTool(t *testing.T, tl tools.Tool, args string, out any) {
	t.Helper()
	res, err := tl.Call(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s %s: %v", tl.Spec().Name, args, err)
	}
	if err := json.Unmarshal(res.Content, out); err != nil {
		t.Fatal(err)
	}
}

// jsonPermits serves the demo city's register as a JSON feed behind a
// bearer token and reads it.
func jsonPermits(t *testing.T) (*tabular.Permits, *democity.City) {
	t.Helper()
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	ps := city.PermitsAt(now)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer feed-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"permits": ps}})
	}))
	t.Cleanup(srv.Close)
	src, err := tabular.NewPermits(context.Background(), tabular.Config{Kind: tabular.KindJSON, URL: srv.URL, Token: "feed-token",
		Mapping: map[string]string{"$records": "result.permits", "PermitNum": "PermitNum", "PermitType": "PermitType", "StatusCurrent": "StatusCurrent",
			"AppliedDate": "AppliedDate", "IssuedDate": "IssuedDate", "District": "district", "Description": "Description", "Fee": "Fee",
			"OriginalAddress1": "OriginalAddress1"}, Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	return src, city
}

func TestPermitsConformance(t *testing.T) {
	src, _ := jsonPermits(t)
	permitstest.TestSource(t, src, now)
}

func TestPermitsFromHTTPJSON(t *testing.T) {
	src, city := jsonPermits(t)
	if info := src.Info(); len(info.Types) != 5 || len(info.Districts) != 6 || len(info.Statuses) < 8 {
		t.Fatalf("info %+v", info)
	}
	page, err := src.Search(context.Background(), permits.Query{District: "nanhu", Status: democity.StatusUnderReview, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := city.Search(context.Background(), permits.Query{AsOf: now, District: "nanhu", Status: democity.StatusUnderReview, Limit: 5})
	if page.Total != want.Total || want.Total == 0 || page.Permits[0].PermitNum != want.Permits[0].PermitNum {
		t.Errorf("search over JSON %d, city %d", page.Total, want.Total)
	}
	p, err := src.Permit(context.Background(), want.Permits[0].PermitNum)
	if err != nil || p.Fee != want.Permits[0].Fee || p.Description == "" {
		t.Errorf("permit %+v, %v", p, err)
	}
	if _, err := src.Permit(context.Background(), "nope"); !errors.Is(err, permits.ErrNotFound) {
		t.Errorf("unknown permit: %v", err)
	}
}

func TestBadTables(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	_ = os.WriteFile(bad, []byte("building_id,start,kw\nB1,yesterday,3\n\"unclosed"), 0o600)
	empty := filepath.Join(dir, "empty.csv")
	_ = os.WriteFile(empty, nil, 0o600)
	notArray := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"a":1}`)) }))
	defer notArray.Close()
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"missing file": func() error {
			_, err := tabular.NewEnergy(ctx, tabular.Config{Kind: tabular.KindCSV, URL: filepath.Join(dir, "none.csv")}, 0)
			return err
		},
		"broken CSV": func() error {
			_, err := tabular.NewEnergy(ctx, tabular.Config{Kind: tabular.KindCSV, URL: bad}, 0)
			return err
		},
		"empty CSV": func() error {
			_, err := tabular.NewPermits(ctx, tabular.Config{Kind: tabular.KindCSV, URL: empty})
			return err
		},
		"JSON not an array": func() error {
			_, err := tabular.NewPermits(ctx, tabular.Config{Kind: tabular.KindJSON, URL: notArray.URL})
			return err
		},
		"unreachable": func() error {
			_, err := tabular.NewPermits(ctx, tabular.Config{Kind: tabular.KindJSON, URL: "http://127.0.0.1:1/x.json"})
			return err
		},
	} {
		if err := f(); !errors.Is(err, tabular.ErrTable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := tabular.NewEnergy(ctx, tabular.Config{Kind: "xml", URL: bad}, 0); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := tabular.NewEnergy(ctx, tabular.Config{Kind: tabular.KindCSV, URL: bad, Mapping: map[string]string{"colour": "c"}}, 0); err == nil {
		t.Error("unknown mapping key accepted")
	}
}
