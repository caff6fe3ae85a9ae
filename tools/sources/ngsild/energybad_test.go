package ngsild_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
)

func consumption(t *testing.T, src energy.Source, now time.Time) energy.ConsumptionResult {
	t.Helper()
	var res energy.ConsumptionResult
	for _, tl := range energy.Tools(src, func() time.Time { return now }) {
		if tl.Spec().Name == energy.NameConsumption {
			call(t, tl, `{"hours":1}`, &res)
		}
	}
	return res
}

// TestSDMImplausiblePower: totalActivePower -5e12 MAW (and the text "NaN")
// used to count as a real reading, making the city's use -9e15 kWh with
// "no anomalies"; now they are dropped, counted and noted.
func TestSDMImplausiblePower(t *testing.T) {
	start := time.Date(2020, 2, 24, 21, 0, 0, 0, time.UTC)
	b := building(t, "normalized")
	m := meter(t, "ACMeasurement", "normalized", b["id"].(string))
	tm := readings(m, "totalActivePower", start, 31700.269531, -5e12, 0, 31700.269531)
	inst := tm["totalActivePower"].([]any)
	inst[1].(map[string]any)["unitCode"] = "MAW"
	inst[2].(map[string]any)["value"] = "NaN"
	src := energyOver(t, []map[string]any{b, m}, []map[string]any{tm})
	ss, err := src.Readings(context.Background(), energy.ReadingsQuery{From: start, To: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || len(ss[0].Readings) != 2 || ss[0].Rejected != 2 {
		t.Fatalf("series %+v, want the two good readings and 2 rejected", ss)
	}
	res := consumption(t, src, start.Add(time.Hour))
	if res.KWh < 0 || res.RejectedReadings != 2 || !strings.Contains(res.Summary, "2 meter readings were unreadable or implausible") ||
		!strings.Contains(res.SummaryZh, "2个电表读数") {
		t.Errorf("consumption %v kWh, rejected %d, summary %q / %q", res.KWh, res.RejectedReadings, res.Summary, res.SummaryZh)
	}
}

// TestSDMEnergyNoTemporalAPI: a broker without a temporal API (501) used
// to fail every energy tool with "broker error: … no temporal API"; now
// they answer from each meter's latest reading, and say so in both
// languages.
func TestSDMEnergyNoTemporalAPI(t *testing.T) {
	b := building(t, "normalized")
	m := meter(t, "ACMeasurement", "normalized", b["id"].(string)) // totalActivePower 31,700.27 W observed at 22:00:00.173Z
	src := energyOver(t, []map[string]any{b, m}, nil)
	now := time.Date(2020, 2, 24, 22, 5, 0, 0, time.UTC)
	res := consumption(t, src, now)
	if want := 31.7 / 4; res.KWh < want-0.1 || res.KWh > want+0.1 {
		t.Errorf("consumption %v kWh, want the latest quarter hour's %.2f", res.KWh, want)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "no temporal API") || !strings.Contains(res.Summary, "2020-02-24 22:00") ||
		len(res.NotesZh) != 1 || !strings.Contains(res.SummaryZh, "数据源不提供历史数据接口") {
		t.Errorf("notes %q / %q, summary %q", res.Notes, res.NotesZh, res.Summary)
	}
}
