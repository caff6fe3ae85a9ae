package energy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/energy/energytest"
)

var cst = time.FixedZone("CST", 8*60*60)

// now is a Tuesday afternoon in early summer.
var now = time.Date(2025, 6, 3, 14, 7, 0, 0, cst)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func fixture(t *testing.T) (*democity.City, map[string]tools.Tool, *clock) {
	t.Helper()
	clk := &clock{t: now}
	c := democity.New(democity.DefaultSeed, clk.now)
	return c, citytooltest.ByName(energy.Tools(c, clk.now)), clk
}

func call(t *testing.T, tl tools.Tool, args string, at time.Time, out any) {
	t.Helper()
	citytooltest.Call(t, tl, args, democity.EnergySourceName, at, out)
}

// loads returns each interval's total load of buildings ids from the simulator.
func loads(t *testing.T, c *democity.City, ids []string, from time.Time, n int) ([]float64, map[string]float64) {
	t.Helper()
	ss, err := c.Readings(context.Background(), energy.ReadingsQuery{BuildingIDs: ids, From: from, To: from.Add(time.Duration(n) * 15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	total := make([]float64, n)
	per := map[string]float64{}
	for _, s := range ss {
		for _, r := range s.Readings {
			total[int(r.Start.Sub(from)/(15*time.Minute))] += r.KW
			per[s.BuildingID] += r.KW / 4
		}
	}
	return total, per
}

func idsIn(c *democity.City, district string) []string {
	var out []string
	for _, b := range c.Buildings() {
		if district == "" || b.District == district {
			out = append(out, b.ID)
		}
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestSpecs(t *testing.T) {
	_, ts, _ := fixture(t)
	citytooltest.CheckSpecs(t, ts, democity.EnergySourceName, map[string]citytooltest.SpecWant{
		energy.NameConsumption:    {Clearance: access.Public, Keywords: []string{"kWh", "load right now", "用电量", "当前负荷"}},
		energy.NamePeakLoad:       {Clearance: access.Public, Keywords: []string{"peak", "capacity", "峰值", "负荷"}},
		energy.NameAnomalies:      {Clearance: access.Internal, Keywords: []string{"anomal", "overnight", "异常", "电表故障"}},
		energy.NameDemandResponse: {Clearance: access.Internal, Keywords: []string{"demand-response capacity", "called now", "需求响应", "可调用容量"}},
	})

	schema := citytooltest.SchemaOf(t, ts[energy.NameConsumption])
	if p := schema.Properties["building_id"]; p.Pattern != `^B\d{3}$` || !strings.Contains(p.Description, "B001–B320") {
		t.Errorf("building_id %+v", p)
	}
	if p := schema.Properties["district"]; len(p.Enum) != 6 || !strings.Contains(p.Description, "gaoxin = 高新区 Gaoxin High-tech Zone") {
		t.Errorf("district %+v", p)
	}
}

func TestConsumption(t *testing.T) {
	c, ts, _ := fixture(t)
	end := time.Date(2025, 6, 3, 14, 0, 0, 0, cst)
	cases := map[string]struct {
		args     string
		ids      []string
		hours    int
		topCount int
	}{
		"building":     {`{"building_id":"B045","hours":12}`, []string{"B045"}, 12, 0},
		"district":     {`{"district":"gaoxin"}`, idsIn(c, "gaoxin"), 24, 5},
		"city, a week": {`{"hours":168}`, idsIn(c, ""), 168, 5},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got energy.ConsumptionResult
			call(t, ts[energy.NameConsumption], tc.args, now, &got)
			n := tc.hours * 4
			from := end.Add(-time.Duration(tc.hours) * time.Hour)
			total, per := loads(t, c, tc.ids, from, n)
			prev, _ := loads(t, c, tc.ids, from.AddDate(0, 0, -7), n)
			var kwh, prevKWh float64
			peak, peakAt := math.Inf(-1), 0
			for i, v := range total {
				kwh += v / 4
				prevKWh += prev[i] / 4
				if v > peak {
					peak, peakAt = v, i
				}
			}
			if !near(got.KWh, kwh, 0.06) || !near(got.PeakKW, peak, 0.06) || !got.PeakAt.Equal(from.Add(time.Duration(peakAt)*15*time.Minute)) ||
				!near(got.PrevWeekKWh, prevKWh, 0.06) || !near(got.LatestKW, total[n-1], 0.06) || !got.To.Equal(end) || got.Buildings != len(tc.ids) {
				t.Errorf("got %.1f kWh, peak %.1f at %s, prev %.1f, latest %.1f; simulator %.1f, %.1f at %d, %.1f, %.1f",
					got.KWh, got.PeakKW, got.PeakAt, got.PrevWeekKWh, got.LatestKW, kwh, peak, peakAt, prevKWh, total[n-1])
			}
			if len(got.Top) != tc.topCount {
				t.Errorf("%d top users", len(got.Top))
			}
			if len(got.Top) > 0 {
				best := ""
				for id, v := range per {
					if best == "" || v > per[best] || (v == per[best] && id < best) {
						best = id
					}
				}
				if got.Top[0].BuildingID != best {
					t.Errorf("top user %s, simulator %s", got.Top[0].BuildingID, best)
				}
			}
			var sum float64
			for _, p := range got.Series {
				sum += p.KWh
			}
			if !near(sum, kwh, 0.1*float64(len(got.Series))) {
				t.Errorf("series sums to %.1f, total %.1f", sum, kwh)
			}
			if !strings.Contains(got.Summary, numFmt(got.KWh)+" kWh") || !strings.Contains(got.SummaryZh, numFmt(got.KWh)+"千瓦时") {
				t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
			}
		})
	}
}

// numFmt formats as the tools do.
func numFmt(x float64) string {
	if math.Abs(x) < 1000 {
		return fmt.Sprintf("%.1f", x)
	}
	s := fmt.Sprint(int64(math.Round(x)))
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestPeakLoad(t *testing.T) {
	c, ts, _ := fixture(t)
	midnight := time.Date(2025, 6, 3, 0, 0, 0, 0, cst)
	var got energy.PeakResult
	call(t, ts[energy.NamePeakLoad], `{"district":"binjiang","period":"today"}`, now, &got)
	total, _ := loads(t, c, idsIn(c, "binjiang"), midnight, 56) // 00:00 to 14:00
	peak, at := math.Inf(-1), 0
	for i, v := range total {
		if v > peak {
			peak, at = v, i
		}
	}
	capKW := c.Grid().Districts[5].CapacityKW
	if !near(got.PeakKW, peak, 0.06) || !got.PeakAt.Equal(midnight.Add(time.Duration(at)*15*time.Minute)) || !near(got.CurrentKW, total[55], 0.06) ||
		got.CapacityKW != capKW || !near(got.LoadingPct, 100*peak/capKW, 0.051) || len(got.AtPeak) != 5 {
		t.Errorf("peak %.1f at %s, now %.1f, capacity %.0f (%.1f%%); simulator %.1f at %d, %.1f, %.0f",
			got.PeakKW, got.PeakAt, got.CurrentKW, got.CapacityKW, got.LoadingPct, peak, at, total[55], capKW)
	}
	if !strings.Contains(got.Summary, numFmt(got.PeakKW)+" kW at") || !strings.Contains(got.SummaryZh, "最高负荷"+numFmt(got.PeakKW)+"千瓦") {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}
	var city energy.PeakResult
	call(t, ts[energy.NamePeakLoad], `{"period":"week"}`, now, &city)
	if len(city.Districts) != 6 || len(city.DailyPeaks) < 7 || city.PeakKW < city.Districts[0].PeakKW {
		t.Errorf("city-wide peak %+v", city)
	}
	for _, d := range city.DailyPeaks {
		if d.PeakKW > city.PeakKW {
			t.Errorf("daily peak %+v above the week's %.1f", d, city.PeakKW)
		}
	}
}

func TestAnomalies(t *testing.T) {
	c, ts, clk := fixture(t)
	// Find an injected spike or meter gap and ask just after it.
	var target democity.EnergyAnomaly
	for _, a := range c.EnergyAnomaliesBetween(now.AddDate(0, 0, -14), now) {
		if a.Kind == democity.AnomalySpike || a.Kind == democity.AnomalyMeterGap {
			target = a
		}
	}
	if target.BuildingID == "" {
		t.Fatal("no injected anomaly in two weeks")
	}
	clk.t = target.End.Add(20 * time.Minute)
	var got energy.AnomaliesResult
	call(t, ts[energy.NameAnomalies], `{"hours":12,"limit":20}`, clk.t, &got)
	want := map[string]string{democity.AnomalySpike: energy.AnomalyHigh, democity.AnomalyMeterGap: energy.AnomalyZero}[target.Kind]
	i := slices.IndexFunc(got.Anomalies, func(a energy.Anomaly) bool { return a.BuildingID == target.BuildingID && a.Kind == want })
	if i < 0 {
		t.Fatalf("injected %+v not found in %+v", target, got.Anomalies)
	}
	a := got.Anomalies[i]
	if a.Start.Before(target.Start.Add(-15*time.Minute)) || a.End.After(target.End.Add(15*time.Minute)) || a.Hint == "" || a.HintZh == "" {
		t.Errorf("anomaly %+v for injected %+v", a, target)
	}
	if !strings.Contains(got.Summary, target.BuildingID) || !strings.Contains(got.SummaryZh, target.BuildingID) {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}
	// False positives are rare: flagged buildings are mostly injected ones.
	injected := map[string]bool{}
	for _, x := range c.EnergyAnomaliesBetween(clk.t.Add(-12*time.Hour), clk.t) {
		injected[x.BuildingID] = true
	}
	for k := 1; k <= 4; k++ {
		for _, x := range c.EnergyAnomaliesBetween(clk.t.Add(-12*time.Hour).AddDate(0, 0, -7*k), clk.t.AddDate(0, 0, -7*k)) {
			injected[x.BuildingID] = true // an anomaly in the baseline can make today look low
		}
	}
	unexplained := 0
	for _, x := range got.Anomalies {
		if !injected[x.BuildingID] {
			unexplained++
		}
	}
	if unexplained > 1 {
		t.Errorf("%d of %d flagged buildings had no injected anomaly: %+v", unexplained, len(got.Anomalies), got.Anomalies)
	}
}

func TestDemandResponse(t *testing.T) {
	c, ts, clk := fixture(t)
	var before energy.DRResult
	call(t, ts[energy.NameDemandResponse], `{"district":"gaoxin","view":"capacity"}`, now, &before)
	st, _ := c.DemandResponse(context.Background(), now)
	var contracted float64
	enrolled := 0
	for _, b := range st.Buildings {
		for _, id := range idsIn(c, "gaoxin") {
			if id == b.BuildingID {
				contracted += b.ContractedKW
				enrolled++
			}
		}
	}
	d := before.Districts[0]
	if len(before.Districts) != 1 || d.Enrolled != enrolled || !near(d.ContractedKW, contracted, 0.06) || len(d.Events) != 0 ||
		!near(d.CurrentLoadKW, c.DistrictLoad("gaoxin", time.Date(2025, 6, 3, 13, 45, 0, 0, cst)), 0.06) {
		t.Errorf("before: %+v; simulator %d enrolled, %.1f kW", d, enrolled, contracted)
	}
	ev, err := c.DemandResponseEvent("gaoxin", now, 2*time.Hour, 3000)
	if err != nil {
		t.Fatal(err)
	}
	clk.t = time.Date(2025, 6, 3, 15, 10, 0, 0, cst)
	var during energy.DRResult
	call(t, ts[energy.NameDemandResponse], `{"district":"gaoxin","view":"status"}`, clk.t, &during)
	evs := during.Districts[0].Events
	if len(evs) != 1 || evs[0].ID != ev.ID || evs[0].Status != energy.EventActive || evs[0].DeliveredKW < 1500 || evs[0].PerformancePct <= 0 {
		t.Errorf("during the event: %+v", evs)
	}
	if !strings.Contains(during.Summary, ev.ID) || !strings.Contains(during.SummaryZh, "执行中") {
		t.Errorf("summary:\n%s\n%s", during.Summary, during.SummaryZh)
	}
	// The event shows in consumption and peak tools too: the district's load
	// in the event window is lower than the same city without it.
	var cons energy.ConsumptionResult
	call(t, ts[energy.NameConsumption], `{"district":"gaoxin","hours":1}`, clk.t, &cons)
	other := democity.New(democity.DefaultSeed, func() time.Time { return clk.t })
	var base energy.ConsumptionResult
	call(t, energy.Tools(other, func() time.Time { return clk.t })[0], `{"district":"gaoxin","hours":1}`, clk.t, &base)
	if base.KWh-cons.KWh < 1500 {
		t.Errorf("gaoxin used %.1f kWh in the event hour, %.1f without the event", cons.KWh, base.KWh)
	}
	var peak energy.PeakResult
	call(t, ts[energy.NamePeakLoad], `{"district":"gaoxin","period":"today"}`, clk.t, &peak)
	if len(peak.DREvents) != 1 {
		t.Errorf("peak tool does not show the event: %+v", peak.DREvents)
	}
}

func TestBadArguments(t *testing.T) {
	_, ts, _ := fixture(t)
	cases := map[string]struct{ tool, args string }{
		"unknown building": {energy.NameConsumption, `{"building_id":"B999"}`},
		"building pattern": {energy.NameConsumption, `{"building_id":"office 12"}`},
		"hours":            {energy.NameConsumption, `{"hours":500}`},
		"district":         {energy.NamePeakLoad, `{"district":"atlantis"}`},
		"period":           {energy.NamePeakLoad, `{"period":"decade"}`},
		"no view":          {energy.NameDemandResponse, `{}`},
		"anomaly hours":    {energy.NameAnomalies, `{"hours":0}`},
		"unknown field":    {energy.NameDemandResponse, `{"region":"north","view":"capacity"}`},
	}
	for name, tc := range cases {
		_, err := ts[tc.tool].Call(context.Background(), json.RawMessage(tc.args))
		var ae *tools.ArgsError
		if !errors.As(err, &ae) || ae.Tool != tc.tool {
			t.Errorf("%s: %v, want an ArgsError", name, err)
		}
	}
}

// metersOnly hides the demand-response programme, as a plain meter feed would.
type metersOnly struct{ energy.Source }

func TestBareSource(t *testing.T) {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	if n := len(energy.Tools(metersOnly{c}, func() time.Time { return now })); n != 3 {
		t.Errorf("%d tools over a bare meter feed", n)
	}
}

func TestDemoCityConformance(t *testing.T) {
	c, _, _ := fixture(t)
	energytest.TestSource(t, c, now)
}
