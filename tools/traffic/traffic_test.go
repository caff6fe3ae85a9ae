package traffic_test

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
	"github.com/cityagent/cityagent/tools/traffic"
)

var _ traffic.Source = (*democity.City)(nil)

var cst = time.FixedZone("CST", 8*60*60)

// now is a Tuesday in the morning peak.
var now = time.Date(2025, 6, 3, 8, 15, 0, 0, cst)

func fixture(t *testing.T) (*democity.City, map[string]tools.Tool) {
	t.Helper()
	clock := func() time.Time { return now }
	c := democity.New(democity.DefaultSeed, clock)
	return c, citytooltest.ByName(traffic.Tools(c, clock))
}

// call runs a tool with JSON args, checks the citation and decodes the result into out.
func call(t *testing.T, tl tools.Tool, args string, out any) {
	t.Helper()
	citytooltest.Call(t, tl, args, democity.SourceName, now, out)
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.006 }

func TestSpecs(t *testing.T) {
	_, ts := fixture(t)
	citytooltest.CheckSpecs(t, ts, democity.SourceName, map[string]citytooltest.SpecWant{
		traffic.NameCongestion: {Clearance: access.Public, Keywords: []string{"congestion", "traffic jam", "拥堵", "堵车", "路况", "车速"}},
		traffic.NameSegment:    {Clearance: access.Public, Keywords: []string{"segment", "history", "trend", "路段", "趋势"}},
		traffic.NameIncidents:  {Clearance: access.Public, Keywords: []string{"accident", "roadworks", "事故", "施工", "积水"}},
		traffic.NameSignalPlan: {Clearance: access.Internal, Keywords: []string{"signal timing", "green wave", "信号灯", "配时", "绿信比"}},
	})

	schema := citytooltest.SchemaOf(t, ts[traffic.NameCongestion])
	d := schema.Properties["district"]
	if len(d.Enum) != 6 || !strings.Contains(d.Description, "dongcheng = 东城区 Dongcheng District") {
		t.Errorf("district: %+v", d)
	}
	if l := schema.Properties["limit"]; *l.Minimum != 1 || *l.Maximum != 20 || string(l.Default) != "5" {
		t.Errorf("limit: %+v", l)
	}
	if r := schema.Properties["road"]; !slices.Contains(r.Enum, any("zhongshan")) || !strings.Contains(r.Description, "中山路 Zhongshan Road") {
		t.Errorf("road: %+v", r)
	}
	schema = citytooltest.SchemaOf(t, ts[traffic.NameSegment])
	if p := schema.Properties["segment_id"]; p.Pattern != `^S\d{3}$` || !strings.Contains(p.Description, "S001–S224") {
		t.Errorf("segment_id: %+v", p)
	}
}

func TestCongestion(t *testing.T) {
	c, ts := fixture(t)
	all := c.TrafficAt(now)
	cases := map[string]struct {
		args     string
		district string
		road     string
		limit    int
	}{
		"city default limit": {`{}`, "", "", 5},
		"district":           {`{"district":"dongcheng","limit":3}`, "dongcheng", "", 3},
		"road":               {`{"road":"zhongshan","limit":20}`, "", "zhongshan", 14},
		"road in district":   {`{"road":"renmin","district":"gaoxin"}`, "gaoxin", "renmin", 4},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got traffic.CongestionResult
			call(t, ts[traffic.NameCongestion], tc.args, &got)

			// What the simulator says for the same filter.
			var want []traffic.Observation
			var sum float64
			congested := 0
			for _, o := range c.Congestion(now, tc.district, 0) {
				s, _ := c.Segment(o.SegmentID)
				if tc.road != "" && s.Road != tc.road {
					continue
				}
				want = append(want, o)
				sum += o.CongestionIndex
				if o.Congested {
					congested++
				}
			}
			if network := traffic.NetworkIndex(c.Segments(), all); !near(got.NetworkIndex, network) || network < 1 {
				t.Errorf("network index %.2f, simulator %.3f", got.NetworkIndex, network)
			}
			if got.SegmentsCounted != len(want) || got.CongestedSegments != congested || !near(got.AverageIndex, sum/float64(len(want))) {
				t.Errorf("counted %d, congested %d, average %.2f; simulator %d, %d, %.3f",
					got.SegmentsCounted, got.CongestedSegments, got.AverageIndex, len(want), congested, sum/float64(len(want)))
			}
			if len(got.Segments) != tc.limit {
				t.Fatalf("%d rows, want %d", len(got.Segments), tc.limit)
			}
			for i, row := range got.Segments {
				o := want[i]
				s, _ := c.Segment(o.SegmentID)
				if row.Rank != i+1 || row.SegmentID != o.SegmentID || row.CongestionIndex != o.CongestionIndex ||
					row.SpeedKmh != o.SpeedKmh || row.FlowVehH != o.FlowVehH || row.Occupancy != o.Occupancy ||
					row.TravelTimeSec != o.TravelTimeSec || row.FreeFlowKmh != s.FreeFlowKmh || row.Level != o.Level ||
					row.NameZh != s.NameZh || row.District != s.District {
					t.Errorf("row %d = %+v\nsimulator %+v %+v", i, row, o, s)
				}
			}
			top := got.Segments[0]
			if !strings.Contains(got.Summary, top.SegmentID) || !strings.Contains(got.Summary, fmt.Sprintf("%.2f", top.CongestionIndex)) ||
				!strings.Contains(got.Summary, fmt.Sprintf("%.1f km/h", top.SpeedKmh)) {
				t.Errorf("summary lacks the top row's numbers: %s", got.Summary)
			}
			if !strings.Contains(got.SummaryZh, top.NameZh) || !strings.Contains(got.SummaryZh, fmt.Sprintf("拥堵指数%.2f", top.CongestionIndex)) {
				t.Errorf("summary_zh lacks the top row: %s", got.SummaryZh)
			}
		})
	}
	if len(all) != 224 {
		t.Errorf("%d segments", len(all))
	}
}

func TestCongestionExplainsIncident(t *testing.T) {
	c, ts := fixture(t)
	var got traffic.CongestionResult
	call(t, ts[traffic.NameCongestion], `{"limit":20}`, &got)
	explained := 0
	for _, row := range got.Segments {
		incs := c.IncidentsAt(now, "", row.SegmentID)
		var ids []string
		for _, cause := range row.Causes {
			if cause.Kind == "incident" {
				ids = append(ids, cause.IncidentID)
			}
		}
		if len(ids) != len(incs) {
			t.Errorf("%s: incident causes %v, simulator %v", row.SegmentID, ids, incs)
		}
		for i, inc := range incs {
			explained++
			if ids[i] != inc.ID || !strings.Contains(row.Causes[i].Text, inc.Start.In(cst).Format("15:04")) {
				t.Errorf("%s: cause %+v for %+v", row.SegmentID, row.Causes[i], inc)
			}
		}
		if row.Period == traffic.PeriodMorningPeak && row.Level >= 0.25 && !slices.ContainsFunc(row.Causes, func(c traffic.Cause) bool { return c.Kind == "peak" }) {
			t.Errorf("%s: congested in the morning peak without the peak as a cause", row.SegmentID)
		}
	}
	if explained == 0 {
		t.Fatal("no incident among the 20 most congested segments at 08:15; pick another time")
	}
	if !strings.Contains(got.Summary, "cause: crash") || !strings.Contains(got.SummaryZh, "交通事故占用") {
		t.Errorf("summary does not give the crash as a cause:\n%s\n%s", got.Summary, got.SummaryZh)
	}
}

func TestSegment(t *testing.T) {
	c, ts := fixture(t)
	var got traffic.SegmentResult
	call(t, ts[traffic.NameSegment], `{"segment_id":"S030","history_hours":2,"step_minutes":30}`, &got)
	seg, _ := c.Segment("S030")
	if got.Segment != seg {
		t.Errorf("segment %+v, want %+v", got.Segment, seg)
	}
	hist, err := c.SegmentHistory("S030", now.Add(-2*time.Hour), now, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != len(hist) || len(hist) != 5 {
		t.Fatalf("%d history points, simulator %d", len(got.History), len(hist))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, h := range got.History {
		o := hist[i]
		if !h.At.Equal(o.At) || h.CongestionIndex != o.CongestionIndex || h.SpeedKmh != o.SpeedKmh || h.FlowVehH != o.FlowVehH || h.TravelTimeSec != o.TravelTimeSec {
			t.Errorf("point %d = %+v, simulator %+v", i, h, o)
		}
		lo, hi = min(lo, o.CongestionIndex), max(hi, o.CongestionIndex)
	}
	cur, _ := c.SegmentAt("S030", now)
	if got.Now.CongestionIndex != cur.CongestionIndex || got.Now.SpeedKmh != cur.SpeedKmh || got.Now.Occupancy != cur.Occupancy {
		t.Errorf("now %+v, simulator %+v", got.Now, cur)
	}
	if got.Trend == nil || got.Trend.MinIndex != lo || got.Trend.MaxIndex != hi {
		t.Errorf("trend %+v, want min %.2f max %.2f", got.Trend, lo, hi)
	}
	incs := c.IncidentsAt(now, "", "S030")
	if len(got.Incidents) != len(incs) || (len(incs) > 0 && got.Incidents[0].ID != incs[0].ID) {
		t.Errorf("incidents %+v, simulator %+v", got.Incidents, incs)
	}
	plan, _ := c.SignalPlanAt("S030", now)
	if got.SignalPlan == nil || got.SignalPlan.ID != plan.ID {
		t.Errorf("signal plan %+v, want %s", got.SignalPlan, plan.ID)
	}
	if !strings.Contains(got.Summary, fmt.Sprintf("congestion index %.2f", cur.CongestionIndex)) || !strings.Contains(got.SummaryZh, "过去2小时") {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}

	// Defaults: 3 hours every 15 minutes.
	var def traffic.SegmentResult
	call(t, ts[traffic.NameSegment], `{"segment_id":"S001"}`, &def)
	if len(def.History) != 13 || def.Trend.StepMinutes != 15 {
		t.Errorf("default history: %d points, trend %+v", len(def.History), def.Trend)
	}
	var bare traffic.SegmentResult
	call(t, ts[traffic.NameSegment], `{"segment_id":"S001","history_hours":0}`, &bare)
	if bare.History != nil || bare.Trend != nil || bare.Now.SegmentID != "S001" {
		t.Errorf("no-history result %+v", bare)
	}
}

func TestIncidents(t *testing.T) {
	c, ts := fixture(t)
	all := c.IncidentsAt(now, "", "")
	if len(all) == 0 {
		t.Fatal("no incidents at the fixture time")
	}
	var got traffic.IncidentsResult
	call(t, ts[traffic.NameIncidents], `{}`, &got)
	if got.Count != len(all) || len(got.Incidents) != len(all) {
		t.Fatalf("count %d, simulator %d", got.Count, len(all))
	}
	byID := map[string]traffic.Incident{}
	for _, inc := range all {
		byID[inc.ID] = inc
	}
	for i, r := range got.Incidents {
		want, ok := byID[r.ID]
		if !ok || utc(r.Incident) != utc(want) {
			t.Errorf("incident %+v, simulator %+v", r.Incident, want)
		}
		o, _ := c.SegmentAt(r.SegmentID, now)
		if r.SpeedKmh != o.SpeedKmh || r.CongestionIndex != o.CongestionIndex {
			t.Errorf("%s: segment speed %.1f index %.2f, simulator %.1f %.2f", r.ID, r.SpeedKmh, r.CongestionIndex, o.SpeedKmh, o.CongestionIndex)
		}
		if i > 0 && r.Severity > got.Incidents[i-1].Severity {
			t.Error("not most severe first")
		}
	}
	if !strings.Contains(got.Summary, fmt.Sprintf("%d active traffic incident", len(all))) || !strings.Contains(got.SummaryZh, fmt.Sprintf("共有%d起", len(all))) {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}

	first := all[0]
	var byDistrict traffic.IncidentsResult
	call(t, ts[traffic.NameIncidents], fmt.Sprintf(`{"district":%q,"type":%q}`, first.District, first.Type), &byDistrict)
	want := 0
	for _, inc := range c.IncidentsAt(now, first.District, "") {
		if inc.Type == first.Type {
			want++
		}
	}
	if byDistrict.Count != want || want == 0 {
		t.Errorf("district %s type %s: %d, simulator %d", first.District, first.Type, byDistrict.Count, want)
	}
	var bySeg traffic.IncidentsResult
	call(t, ts[traffic.NameIncidents], fmt.Sprintf(`{"segment_id":%q}`, first.SegmentID), &bySeg)
	if bySeg.Count == 0 || bySeg.Incidents[0].SegmentID != first.SegmentID {
		t.Errorf("by segment: %+v", bySeg)
	}

	// A quiet filter still answers, with zero.
	var none traffic.IncidentsResult
	call(t, ts[traffic.NameIncidents], `{"type":"control","district":"nanhu"}`, &none)
	if none.Count != len(filter(c.IncidentsAt(now, "nanhu", ""), traffic.IncidentControl)) || (none.Count == 0 && !strings.HasPrefix(none.Summary, "No active")) {
		t.Errorf("quiet filter: %+v", none)
	}
}

// utc drops the zone that a JSON round trip changes.
func utc(i traffic.Incident) traffic.Incident {
	i.Start, i.End = i.Start.UTC(), i.End.UTC()
	return i
}

func filter(incs []traffic.Incident, typ string) []traffic.Incident {
	return slices.DeleteFunc(incs, func(i traffic.Incident) bool { return i.Type != typ })
}

func TestSignalPlan(t *testing.T) {
	c, ts := fixture(t)
	var got traffic.SignalPlanResult
	call(t, ts[traffic.NameSignalPlan], `{"corridor":"renmin"}`, &got)
	plan, _ := c.SignalPlanAt("renmin", now)
	if got.Plan.ID != plan.ID || got.Plan.CycleSec != plan.CycleSec || got.Plan.MainGreenSec() != plan.MainGreenSec() || !got.Plan.LastChanged.Equal(plan.LastChanged) {
		t.Errorf("plan %+v, simulator %+v", got.Plan, plan)
	}
	var sum float64
	n := 0
	for _, o := range c.TrafficAt(now) {
		if s, _ := c.Segment(o.SegmentID); s.Road == "renmin" {
			sum += o.CongestionIndex
			n++
		}
	}
	if got.CorridorSegments != n || !near(got.AverageIndex, sum/float64(n)) || !near(got.MainGreenRatio, plan.MainGreenRatio()) {
		t.Errorf("corridor %d segments, average %.2f, green %.2f; simulator %d, %.3f, %.3f", got.CorridorSegments, got.AverageIndex, got.MainGreenRatio, n, sum/float64(n), plan.MainGreenRatio())
	}
	if !strings.Contains(got.Summary, fmt.Sprintf("cycle %d s", plan.CycleSec)) || !strings.Contains(got.SummaryZh, fmt.Sprintf("周期%d秒", plan.CycleSec)) {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}

	// An approved retiming shows up in the tools at once, and explains itself.
	p := plan
	p.Phases = append([]traffic.Phase(nil), plan.Phases...)
	p.Phases[0].GreenSec += 20
	p.Phases[len(p.Phases)-1].GreenSec -= 20
	applied, err := c.ApplySignalPlan("renmin", p)
	if err != nil {
		t.Fatal(err)
	}
	var after traffic.SignalPlanResult
	call(t, ts[traffic.NameSignalPlan], `{"segment_id":"S066"}`, &after)
	if after.Corridor != "renmin" || after.Plan.ID != applied.ID || after.AverageIndex >= got.AverageIndex {
		t.Errorf("after retiming: plan %s, average %.2f (was %.2f)", after.Plan.ID, after.AverageIndex, got.AverageIndex)
	}
	var seg traffic.SegmentResult
	call(t, ts[traffic.NameSegment], `{"segment_id":"S066","history_hours":0}`, &seg)
	if seg.SignalPlan.ID != applied.ID || !slices.ContainsFunc(seg.Now.Causes, func(c traffic.Cause) bool { return c.Kind == "signal_change" }) {
		t.Errorf("segment after retiming: plan %+v, causes %+v", seg.SignalPlan, seg.Now.Causes)
	}
}

func TestBadArguments(t *testing.T) {
	_, ts := fixture(t)
	cases := map[string]struct{ tool, args string }{
		"unknown district":       {traffic.NameCongestion, `{"district":"atlantis"}`},
		"district by name":       {traffic.NameCongestion, `{"district":"东城区"}`},
		"limit too small":        {traffic.NameCongestion, `{"limit":0}`},
		"limit too large":        {traffic.NameCongestion, `{"limit":21}`},
		"unknown field":          {traffic.NameCongestion, `{"city":"linjiang"}`},
		"unknown road":           {traffic.NameCongestion, `{"road":"broadway"}`},
		"not an object":          {traffic.NameCongestion, `["dongcheng"]`},
		"segment id missing":     {traffic.NameSegment, `{}`},
		"segment id pattern":     {traffic.NameSegment, `{"segment_id":"12"}`},
		"segment id long":        {traffic.NameSegment, `{"segment_id":"S0123"}`},
		"segment unknown":        {traffic.NameSegment, `{"segment_id":"S999"}`},
		"step not allowed":       {traffic.NameSegment, `{"segment_id":"S001","step_minutes":7}`},
		"history too long":       {traffic.NameSegment, `{"segment_id":"S001","history_hours":48}`},
		"incident type":          {traffic.NameIncidents, `{"type":"meteor"}`},
		"incident segment":       {traffic.NameIncidents, `{"segment_id":"s001"}`},
		"plan without target":    {traffic.NameSignalPlan, `{}`},
		"plan of expressway":     {traffic.NameSignalPlan, `{"corridor":"donghuan"}`},
		"plan expressway seg":    {traffic.NameSignalPlan, `{"segment_id":"S216"}`},
		"plan segment elsewhere": {traffic.NameSignalPlan, `{"corridor":"zhongshan","segment_id":"S066"}`},
	}
	for name, tc := range cases {
		_, err := ts[tc.tool].Call(context.Background(), json.RawMessage(tc.args))
		var ae *tools.ArgsError
		if !errors.Is(err, tools.ErrInvalidArgs) || !errors.As(err, &ae) || ae.Tool != tc.tool {
			t.Errorf("%s: %s %s: err = %v, want an ArgsError", name, tc.tool, tc.args, err)
		}
	}
}

func TestRegistryClearance(t *testing.T) {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	reg, err := tools.NewRegistry(traffic.Tools(c, func() time.Time { return now })...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Call(context.Background(), access.Public, traffic.NameSignalPlan, json.RawMessage(`{"corridor":"renmin"}`)); !errors.Is(err, tools.ErrForbidden) {
		t.Errorf("public caller reached signal plans: %v", err)
	}
	if _, err := reg.Call(context.Background(), access.Public, traffic.NameCongestion, nil); err != nil {
		t.Errorf("public caller and congestion: %v", err)
	}
}

// observeOnly hides the city's optional abilities, as a bare feed would.
type observeOnly struct{ traffic.Source }

var _ traffic.Source = observeOnly{}

func TestBareSource(t *testing.T) {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	ts := traffic.Tools(observeOnly{c}, func() time.Time { return now })
	if len(ts) != 2 || ts[0].Spec().Name != traffic.NameCongestion || ts[1].Spec().Name != traffic.NameSegment {
		t.Fatalf("bare source tools: %d", len(ts))
	}
	var got traffic.SegmentResult
	call(t, ts[1], `{"segment_id":"S030","history_hours":1}`, &got)
	hist, _ := c.SegmentHistory("S030", now.Add(-time.Hour), now, 15*time.Minute)
	for i, h := range got.History {
		if h.CongestionIndex != hist[i].CongestionIndex || !h.At.Equal(hist[i].At) {
			t.Errorf("point %d by Observe %+v, by History %+v", i, h, hist[i])
		}
	}
	if got.SignalPlan != nil || len(got.Incidents) != 0 {
		t.Errorf("bare source invented plans or incidents: %+v", got)
	}
}
