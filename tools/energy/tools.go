package energy

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

// Tool names.
const (
	NameConsumption    = "energy_consumption"
	NamePeakLoad       = "energy_peak_load"
	NameAnomalies      = "energy_anomalies"
	NameDemandResponse = "energy_demand_response"
)

// Tools returns the energy tools over src: consumption, peak load and
// anomalies always, demand response when src is a DemandResponseSource.
// clock gives "now" (nil means time.Now); every result is cited as of that
// time and covers whole intervals up to the last one completed by then.
func Tools(src Source, clock func() time.Time) []tools.Tool {
	s := &service{src: src, cat: newCatalog(src.Grid())}
	s.clock = citytool.Clock(clock, s.cat.Loc)
	ts := []tools.Tool{s.consumptionTool(), s.peakTool(), s.anomaliesTool()}
	if _, ok := src.(DemandResponseSource); ok {
		ts = append(ts, s.drTool())
	}
	return ts
}

type service struct {
	src   Source
	clock func() time.Time
	cat   *catalog
}

// window holds readings of a set of buildings over consecutive intervals.
type window struct {
	from  time.Time
	n     int                  // intervals
	kw    map[string][]float64 // building → kW per interval (NaN: no reading)
	total []float64            // sum over buildings with a reading
	got   int                  // readings received
	// rejected counts readings the source dropped as bad data; notes
	// (notesZh in Chinese) are the source's notes on how it answered.
	rejected       int
	notes, notesZh []string
}

// fetch reads the buildings ids (nil: all) over n intervals from from.
func (s *service) fetch(ctx context.Context, ids []string, from time.Time, n int) (*window, error) {
	w := &window{from: from, n: n, kw: map[string][]float64{}, total: make([]float64, n)}
	q := ReadingsQuery{BuildingIDs: ids, From: from, To: from.Add(time.Duration(n) * s.cat.interval)}
	series, err := s.src.Readings(ctx, q)
	if err != nil {
		return nil, citytool.SourceFailed("energy", fmt.Errorf("energy: readings: %w", err))
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, sr := range series {
		if len(ids) > 0 && !want[sr.BuildingID] {
			continue
		}
		w.rejected += sr.Rejected
		if sr.Note != "" && !slices.Contains(w.notes, sr.Note) {
			w.notes, w.notesZh = append(w.notes, sr.Note), append(w.notesZh, cmp.Or(sr.NoteZh, sr.Note))
		}
		vals := w.kw[sr.BuildingID]
		if vals == nil {
			vals = make([]float64, n)
			for i := range vals {
				vals[i] = math.NaN()
			}
			w.kw[sr.BuildingID] = vals
		}
		for _, r := range sr.Readings {
			i := int(r.Start.Sub(from) / s.cat.interval)
			if i < 0 || i >= n || r.Start.Before(from) {
				continue
			}
			if math.IsNaN(r.KW) || math.IsInf(r.KW, 0) || r.KW < 0 {
				w.rejected++
				continue
			}
			if math.IsNaN(vals[i]) {
				w.got++
				w.total[i] += r.KW
			}
			vals[i] = r.KW
		}
	}
	return w, nil
}

func (w *window) at(i int, interval time.Duration) time.Time {
	return w.from.Add(time.Duration(i) * interval)
}

// kwh sums a building's (or, with id "", the total's) energy.
func (w *window) kwh(id string, interval time.Duration) float64 {
	vals := w.total
	if id != "" {
		vals = w.kw[id]
	}
	sum := 0.0
	for _, v := range vals {
		if !math.IsNaN(v) {
			sum += v
		}
	}
	return sum * interval.Hours()
}

// BuildingUse is one building's share of a scope's consumption or load.
type BuildingUse struct {
	BuildingID string  `json:"building_id"`
	Name       string  `json:"name"`
	NameZh     string  `json:"name_zh"`
	Type       string  `json:"type"`
	District   string  `json:"district"`
	KWh        float64 `json:"kwh,omitempty"`
	KW         float64 `json:"kw,omitempty"`
	SharePct   float64 `json:"share_pct"`
}

func (s *service) use(id string) BuildingUse {
	b := s.cat.buildings[id]
	return BuildingUse{BuildingID: id, Name: b.NameEn, NameZh: b.NameZh, Type: b.Type, District: b.District}
}

// top ranks buildings by value, largest first, keeping n.
func (s *service) top(vals map[string]float64, total float64, n int, asKW bool) []BuildingUse {
	ids := make([]string, 0, len(vals))
	for id := range vals {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if d := cmp.Compare(vals[b], vals[a]); d != 0 {
			return d
		}
		return cmp.Compare(a, b)
	})
	out := []BuildingUse{}
	for _, id := range ids[:min(n, len(ids))] {
		u := s.use(id)
		if asKW {
			u.KW = citytool.Round1(vals[id])
		} else {
			u.KWh = citytool.Round1(vals[id])
		}
		if total > 0 {
			u.SharePct = citytool.Round1(100 * vals[id] / total)
		}
		out = append(out, u)
	}
	return out
}

// ---- energy_consumption -----------------------------------------------------

// ConsumptionArgs are energy_consumption's arguments.
type ConsumptionArgs struct {
	BuildingID string `json:"building_id,omitempty" jsonschema:"Building id (楼宇编号), e.g. B012; omit for a district or the whole city."`
	District   string `json:"district,omitempty" jsonschema:"District (城区) whose metered buildings to add up; omit for the whole city (全市)."`
	Hours      int    `json:"hours,omitempty" jsonschema:"Window: the last N hours (最近N小时), up to 168 (a week)."`
}

// Point is the energy of one hour or day of a window.
type Point struct {
	Start time.Time `json:"start"`
	KWh   float64   `json:"kwh"`
}

// ConsumptionResult is energy_consumption's answer.
type ConsumptionResult struct {
	AsOf        time.Time     `json:"as_of"`
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	Hours       int           `json:"hours"`
	BuildingID  string        `json:"building_id,omitempty"`
	District    string        `json:"district,omitempty"`
	Buildings   int           `json:"buildings"`
	KWh         float64       `json:"kwh"`
	AverageKW   float64       `json:"average_kw"`
	PeakKW      float64       `json:"peak_kw"`
	PeakAt      time.Time     `json:"peak_at"`
	MinKW       float64       `json:"min_kw"`
	MinAt       time.Time     `json:"min_at"`
	LatestKW    float64       `json:"latest_kw"`
	LatestAt    time.Time     `json:"latest_at"`
	PrevWeekKWh float64       `json:"prev_week_kwh"`
	ChangePct   float64       `json:"change_pct"`
	CoveragePct float64       `json:"coverage_pct"` // readings received of those expected
	Series      []Point       `json:"series"`       // hourly up to 48 hours, daily beyond
	Top         []BuildingUse `json:"top,omitempty"`
	// DataNotes counts readings left out as bad data and carries the source's notes.
	DataNotes
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
}

func (s *service) consumptionTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameConsumption,
		Description: "Electricity use and the load now, from 15-minute interval meters: kWh used by one building, a district or the " +
			"whole city, average and lowest kW, the latest reading (the current load), the change against a week earlier, an hourly " +
			"series and the largest users. Use for: how much electricity a building or district used, the electricity load right now. " +
			"用电量和当前负荷：按楼宇、城区或全市统计用电量（千瓦时）、平均和最低负荷、最新15分钟读数（当前负荷）、与上周同期对比、逐时序列和用电大户。" +
			"关键词：用电量 耗电 电量 千瓦时 度电 当前负荷 电表读数。",
		Clearance: access.Public,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneBuilding(sc, "building_id")
		s.cat.TuneDistrict(sc, "district")
		citytool.IntRange(sc.Properties["hours"], 1, 168, 24)
	}, s.consumption)
}

func (s *service) consumption(ctx context.Context, in ConsumptionArgs) (tools.Result, error) {
	if err := s.cat.checkBuilding(NameConsumption, in.BuildingID); err != nil {
		return tools.Result{}, err
	}
	if in.BuildingID != "" {
		in.District = "" // a building names its own district
	}
	now := s.clock()
	end := s.cat.floor(now)
	n := int(time.Duration(in.Hours) * time.Hour / s.cat.interval)
	from := end.Add(-time.Duration(n) * s.cat.interval)
	ids := s.cat.ids(in.BuildingID, in.District)
	var fetchIDs []string
	if in.BuildingID != "" || in.District != "" {
		fetchIDs = ids
	}
	w, err := s.fetch(ctx, fetchIDs, from, n)
	if err != nil {
		return tools.Result{}, err
	}
	prev, err := s.fetch(ctx, fetchIDs, from.AddDate(0, 0, -7), n)
	if err != nil {
		return tools.Result{}, err
	}
	iv := s.cat.interval
	res := ConsumptionResult{AsOf: now, From: from, To: end, Hours: in.Hours, BuildingID: in.BuildingID, District: in.District,
		Buildings: len(ids), Series: []Point{}}
	res.KWh = citytool.Round1(w.kwh("", iv))
	res.AverageKW = citytool.Round1(w.kwh("", iv) / (float64(n) * iv.Hours()))
	res.PrevWeekKWh = citytool.Round1(prev.kwh("", iv))
	if res.PrevWeekKWh > 0 {
		res.ChangePct = citytool.Round1(100 * (res.KWh - res.PrevWeekKWh) / res.PrevWeekKWh)
	}
	if exp := n * len(ids); exp > 0 {
		res.CoveragePct = citytool.Round1(100 * float64(w.got) / float64(exp))
	}
	res.PeakKW, res.MinKW = math.Inf(-1), math.Inf(1)
	for i, v := range w.total {
		if v > res.PeakKW {
			res.PeakKW, res.PeakAt = v, w.at(i, iv)
		}
		if v < res.MinKW {
			res.MinKW, res.MinAt = v, w.at(i, iv)
		}
	}
	res.PeakKW, res.MinKW = citytool.Round1(res.PeakKW), citytool.Round1(res.MinKW)
	res.LatestKW, res.LatestAt = citytool.Round1(w.total[n-1]), w.at(n-1, iv)
	// Hourly series up to two days, daily beyond, in local time.
	bucket := time.Hour
	if in.Hours > 48 {
		bucket = 24 * time.Hour
	}
	for i, v := range w.total {
		t := w.at(i, iv).In(s.cat.Loc)
		var start time.Time
		if bucket == time.Hour {
			start = t.Truncate(time.Hour)
		} else {
			y, m, d := t.Date()
			start = time.Date(y, m, d, 0, 0, 0, 0, s.cat.Loc)
		}
		if k := len(res.Series); k == 0 || !res.Series[k-1].Start.Equal(start) {
			res.Series = append(res.Series, Point{Start: start})
		}
		res.Series[len(res.Series)-1].KWh += v * iv.Hours()
	}
	for i := range res.Series {
		res.Series[i].KWh = citytool.Round1(res.Series[i].KWh)
	}
	if in.BuildingID == "" {
		per := map[string]float64{}
		for id := range w.kw {
			per[id] = w.kwh(id, iv)
		}
		res.Top = s.top(per, w.kwh("", iv), 5, false)
	}
	res.add(w, prev)
	res.Summary, res.SummaryZh = s.consumptionSummary(res)
	res.Summary, res.SummaryZh = res.suffix(res.Summary, res.SummaryZh)
	return tools.JSONResult(res, s.cat.Cite("Electricity consumption 用电量", now))
}

func (s *service) consumptionSummary(r ConsumptionResult) (en, zh string) {
	scopeEn, scopeZh := s.cat.scope(r.BuildingID, r.District)
	fromEn, fromZh := s.cat.DayHM(r.From)
	toEn, toZh := s.cat.DayHM(r.To)
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Electricity use of %s in the last %d %s (%s to %s): %s kWh, average %s kW, peak %s kW at %s, lowest %s kW at %s; latest 15-minute reading %s kW (%s).",
		scopeEn, r.Hours, citytool.Plural(r.Hours, "hour"), fromEn, toEn, citytool.Num(r.KWh), citytool.Num(r.AverageKW), citytool.Num(r.PeakKW), s.cat.HM(r.PeakAt), citytool.Num(r.MinKW), s.cat.HM(r.MinAt), citytool.Num(r.LatestKW), s.cat.HM(r.LatestAt))
	fmt.Fprintf(&bz, "%s最近%d小时（%s至%s）用电量%s千瓦时，平均负荷%s千瓦，最高%s千瓦（%s），最低%s千瓦（%s）；最新15分钟读数%s千瓦（%s）。",
		scopeZh, r.Hours, fromZh, toZh, citytool.Num(r.KWh), citytool.Num(r.AverageKW), citytool.Num(r.PeakKW), s.cat.HM(r.PeakAt), citytool.Num(r.MinKW), s.cat.HM(r.MinAt), citytool.Num(r.LatestKW), s.cat.HM(r.LatestAt))
	if r.PrevWeekKWh > 0 {
		more, moreZh := "more", "增加"
		if r.ChangePct < 0 {
			more, moreZh = "less", "减少"
		}
		fmt.Fprintf(&be, " %.1f%% %s than the same hours a week earlier (%s kWh).", math.Abs(r.ChangePct), more, citytool.Num(r.PrevWeekKWh))
		fmt.Fprintf(&bz, "比上周同期（%s千瓦时）%s%.1f%%。", citytool.Num(r.PrevWeekKWh), moreZh, math.Abs(r.ChangePct))
	}
	if len(r.Top) > 0 {
		var te, tz []string
		for _, u := range r.Top[:min(3, len(r.Top))] {
			te = append(te, fmt.Sprintf("%s %s %s kWh (%.1f%%)", u.BuildingID, u.Name, citytool.Num(u.KWh), u.SharePct))
			tz = append(tz, fmt.Sprintf("%s %s %s千瓦时（%.1f%%）", u.BuildingID, u.NameZh, citytool.Num(u.KWh), u.SharePct))
		}
		fmt.Fprintf(&be, " Largest users: %s.", strings.Join(te, "; "))
		fmt.Fprintf(&bz, "用电大户：%s。", strings.Join(tz, "；"))
	}
	if r.CoveragePct < 99.5 {
		fmt.Fprintf(&be, " Readings received: %.1f%% of those expected.", r.CoveragePct)
		fmt.Fprintf(&bz, "读数完整率%.1f%%。", r.CoveragePct)
	}
	return be.String(), bz.String()
}
