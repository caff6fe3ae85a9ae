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
	if clock == nil {
		clock = time.Now
	}
	s := &service{src: src, clock: clock, cat: newCatalog(src.Grid())}
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

func (s *service) citation(title string, at time.Time) tools.Citation {
	return tools.Citation{Source: s.cat.grid.Source, Title: title, AsOf: at}
}

// window holds readings of a set of buildings over consecutive intervals.
type window struct {
	from  time.Time
	n     int                  // intervals
	kw    map[string][]float64 // building → kW per interval (NaN: no reading)
	total []float64            // sum over buildings with a reading
	got   int                  // readings received
}

// fetch reads the buildings ids (nil: all) over n intervals from from.
func (s *service) fetch(ctx context.Context, ids []string, from time.Time, n int) (*window, error) {
	w := &window{from: from, n: n, kw: map[string][]float64{}, total: make([]float64, n)}
	q := ReadingsQuery{BuildingIDs: ids, From: from, To: from.Add(time.Duration(n) * s.cat.interval)}
	series, err := s.src.Readings(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("energy: readings: %w", err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, sr := range series {
		if len(ids) > 0 && !want[sr.BuildingID] {
			continue
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
			u.KW = round1(vals[id])
		} else {
			u.KWh = round1(vals[id])
		}
		if total > 0 {
			u.SharePct = round1(100 * vals[id] / total)
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
	Summary     string        `json:"summary"`
	SummaryZh   string        `json:"summary_zh"`
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
		Source:    s.cat.grid.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneBuilding(sc, "building_id")
		s.cat.tuneDistrict(sc, "district")
		intRange(sc.Properties["hours"], 1, 168, 24)
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
	res.KWh = round1(w.kwh("", iv))
	res.AverageKW = round1(w.kwh("", iv) / (float64(n) * iv.Hours()))
	res.PrevWeekKWh = round1(prev.kwh("", iv))
	if res.PrevWeekKWh > 0 {
		res.ChangePct = round1(100 * (res.KWh - res.PrevWeekKWh) / res.PrevWeekKWh)
	}
	if exp := n * len(ids); exp > 0 {
		res.CoveragePct = round1(100 * float64(w.got) / float64(exp))
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
	res.PeakKW, res.MinKW = round1(res.PeakKW), round1(res.MinKW)
	res.LatestKW, res.LatestAt = round1(w.total[n-1]), w.at(n-1, iv)
	// Hourly series up to two days, daily beyond, in local time.
	bucket := time.Hour
	if in.Hours > 48 {
		bucket = 24 * time.Hour
	}
	for i, v := range w.total {
		t := w.at(i, iv).In(s.cat.loc)
		var start time.Time
		if bucket == time.Hour {
			start = t.Truncate(time.Hour)
		} else {
			y, m, d := t.Date()
			start = time.Date(y, m, d, 0, 0, 0, 0, s.cat.loc)
		}
		if k := len(res.Series); k == 0 || !res.Series[k-1].Start.Equal(start) {
			res.Series = append(res.Series, Point{Start: start})
		}
		res.Series[len(res.Series)-1].KWh += v * iv.Hours()
	}
	for i := range res.Series {
		res.Series[i].KWh = round1(res.Series[i].KWh)
	}
	if in.BuildingID == "" {
		per := map[string]float64{}
		for id := range w.kw {
			per[id] = w.kwh(id, iv)
		}
		res.Top = s.top(per, w.kwh("", iv), 5, false)
	}
	res.Summary, res.SummaryZh = s.consumptionSummary(res)
	return tools.JSONResult(res, s.citation("Electricity consumption 用电量", now))
}

func (s *service) consumptionSummary(r ConsumptionResult) (en, zh string) {
	scopeEn, scopeZh := s.cat.scope(r.BuildingID, r.District)
	fromEn, fromZh := s.cat.dayHM(r.From)
	toEn, toZh := s.cat.dayHM(r.To)
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Electricity use of %s in the last %d %s (%s to %s): %s kWh, average %s kW, peak %s kW at %s, lowest %s kW at %s; latest 15-minute reading %s kW (%s).",
		scopeEn, r.Hours, plural(r.Hours, "hour"), fromEn, toEn, num(r.KWh), num(r.AverageKW), num(r.PeakKW), s.cat.hm(r.PeakAt), num(r.MinKW), s.cat.hm(r.MinAt), num(r.LatestKW), s.cat.hm(r.LatestAt))
	fmt.Fprintf(&bz, "%s最近%d小时（%s至%s）用电量%s千瓦时，平均负荷%s千瓦，最高%s千瓦（%s），最低%s千瓦（%s）；最新15分钟读数%s千瓦（%s）。",
		scopeZh, r.Hours, fromZh, toZh, num(r.KWh), num(r.AverageKW), num(r.PeakKW), s.cat.hm(r.PeakAt), num(r.MinKW), s.cat.hm(r.MinAt), num(r.LatestKW), s.cat.hm(r.LatestAt))
	if r.PrevWeekKWh > 0 {
		more, moreZh := "more", "增加"
		if r.ChangePct < 0 {
			more, moreZh = "less", "减少"
		}
		fmt.Fprintf(&be, " %.1f%% %s than the same hours a week earlier (%s kWh).", math.Abs(r.ChangePct), more, num(r.PrevWeekKWh))
		fmt.Fprintf(&bz, "比上周同期（%s千瓦时）%s%.1f%%。", num(r.PrevWeekKWh), moreZh, math.Abs(r.ChangePct))
	}
	if len(r.Top) > 0 {
		var te, tz []string
		for _, u := range r.Top[:min(3, len(r.Top))] {
			te = append(te, fmt.Sprintf("%s %s %s kWh (%.1f%%)", u.BuildingID, u.Name, num(u.KWh), u.SharePct))
			tz = append(tz, fmt.Sprintf("%s %s %s千瓦时（%.1f%%）", u.BuildingID, u.NameZh, num(u.KWh), u.SharePct))
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

// ---- energy_peak_load -------------------------------------------------------

// Periods of energy_peak_load.
const (
	PeriodToday     = "today"
	PeriodYesterday = "yesterday"
	PeriodWeek      = "week"
	PeriodMonth     = "month"
)

// PeakArgs are energy_peak_load's arguments.
type PeakArgs struct {
	District string `json:"district,omitempty" jsonschema:"District (城区); omit for the whole city (全市) with each district's peak."`
	Period   string `json:"period,omitempty" jsonschema:"Which peak: today = 今天 今日 since midnight; yesterday = 昨天 昨日; week = 本周 最近7天 the past 7 days; month = 本月 最近30天 the past 30 days."`
}

// DayPeak is the peak of one local day.
type DayPeak struct {
	Date   string    `json:"date"`
	PeakKW float64   `json:"peak_kw"`
	At     time.Time `json:"at"`
}

// DistrictPeak is one district's peak within a city-wide answer.
type DistrictPeak struct {
	District   string    `json:"district"`
	Name       string    `json:"name"`
	NameZh     string    `json:"name_zh"`
	PeakKW     float64   `json:"peak_kw"`
	At         time.Time `json:"at"`
	CurrentKW  float64   `json:"current_kw"`
	CapacityKW float64   `json:"capacity_kw,omitempty"`
	LoadingPct float64   `json:"loading_pct,omitempty"` // peak ÷ capacity
}

// PeakResult is energy_peak_load's answer.
type PeakResult struct {
	AsOf       time.Time      `json:"as_of"`
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Period     string         `json:"period"`
	District   string         `json:"district,omitempty"`
	Buildings  int            `json:"buildings"`
	PeakKW     float64        `json:"peak_kw"`
	PeakAt     time.Time      `json:"peak_at"`
	CurrentKW  float64        `json:"current_kw"`
	CurrentAt  time.Time      `json:"current_at"`
	CapacityKW float64        `json:"capacity_kw,omitempty"`
	LoadingPct float64        `json:"loading_pct,omitempty"`
	AtPeak     []BuildingUse  `json:"at_peak"` // largest loads at the peak
	DailyPeaks []DayPeak      `json:"daily_peaks,omitempty"`
	Districts  []DistrictPeak `json:"districts,omitempty"`
	DREvents   []DREvent      `json:"dr_events,omitempty"` // demand-response events in the window
	Summary    string         `json:"summary"`
	SummaryZh  string         `json:"summary_zh"`
}

func (s *service) peakTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NamePeakLoad,
		Description: "Peak (maximum) demand in kW of a district or the whole city today, yesterday, this week or this month, from " +
			"15-minute meter readings: when the peak happened, loading against the supply capacity (%), the buildings drawing most " +
			"at the peak, daily peaks and each district's peak. Use for: the highest or maximum demand today or this week. " +
			"最高负荷：城区或全市今天、昨天、本周或本月的最高用电负荷（千瓦）及出现时间、负载率、峰值时最大的楼宇、逐日峰值及各城区峰值。" +
			"关键词：最高负荷 峰值 尖峰 最大需量 负载率。",
		Clearance: access.Public,
		Source:    s.cat.grid.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneDistrict(sc, "district")
		p := sc.Properties["period"]
		p.Enum = []any{PeriodToday, PeriodYesterday, PeriodWeek, PeriodMonth}
		p.Default = []byte(`"` + PeriodToday + `"`)
	}, s.peak)
}

// span returns the window of a period: from local midnight for today and
// yesterday, the last 7 or 30 days up to now otherwise.
func (s *service) span(now time.Time, period string) (from time.Time, n int) {
	end := s.cat.floor(now)
	lt := now.In(s.cat.loc)
	y, m, d := lt.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, s.cat.loc)
	switch period {
	case PeriodYesterday:
		from, end = midnight.AddDate(0, 0, -1), midnight
	case PeriodWeek:
		from = end.AddDate(0, 0, -7)
	case PeriodMonth:
		from = end.AddDate(0, 0, -30)
	default:
		from = midnight
	}
	n = int(end.Sub(from) / s.cat.interval)
	if n < 1 {
		n, from = 1, end.Add(-s.cat.interval)
	}
	return from, n
}

func peakOf(vals []float64) (float64, int) {
	best, at := math.Inf(-1), -1
	for i, v := range vals {
		if v > best {
			best, at = v, i
		}
	}
	return best, at
}

func (s *service) peak(ctx context.Context, in PeakArgs) (tools.Result, error) {
	now := s.clock()
	from, n := s.span(now, in.Period)
	ids := s.cat.ids("", in.District)
	var fetchIDs []string
	if in.District != "" {
		fetchIDs = ids
	}
	w, err := s.fetch(ctx, fetchIDs, from, n)
	if err != nil {
		return tools.Result{}, err
	}
	iv := s.cat.interval
	res := PeakResult{AsOf: now, From: from, To: from.Add(time.Duration(n) * iv), Period: in.Period, District: in.District, Buildings: len(ids), AtPeak: []BuildingUse{}}
	pk, pi := peakOf(w.total)
	res.PeakKW, res.PeakAt = round1(pk), w.at(pi, iv)
	res.CurrentKW, res.CurrentAt = round1(w.total[n-1]), w.at(n-1, iv)
	if in.Period == PeriodYesterday {
		res.CurrentKW, res.CurrentAt = 0, time.Time{}
	}
	if in.District != "" {
		res.CapacityKW = s.cat.districts[in.District].CapacityKW
	} else {
		for _, d := range s.cat.grid.Districts {
			res.CapacityKW += d.CapacityKW
		}
	}
	if res.CapacityKW > 0 {
		res.LoadingPct = round1(100 * pk / res.CapacityKW)
	}
	atPeak := map[string]float64{}
	for id, vals := range w.kw {
		if !math.IsNaN(vals[pi]) {
			atPeak[id] = vals[pi]
		}
	}
	res.AtPeak = s.top(atPeak, pk, 5, true)
	if in.Period == PeriodWeek || in.Period == PeriodMonth {
		for i, v := range w.total {
			date := w.at(i, iv).In(s.cat.loc).Format("2006-01-02")
			k := len(res.DailyPeaks)
			if k == 0 || res.DailyPeaks[k-1].Date != date {
				res.DailyPeaks = append(res.DailyPeaks, DayPeak{Date: date, PeakKW: math.Inf(-1)})
				k++
			}
			if v > res.DailyPeaks[k-1].PeakKW {
				res.DailyPeaks[k-1].PeakKW, res.DailyPeaks[k-1].At = v, w.at(i, iv)
			}
		}
		for i := range res.DailyPeaks {
			res.DailyPeaks[i].PeakKW = round1(res.DailyPeaks[i].PeakKW)
		}
	}
	if in.District == "" {
		for _, d := range s.cat.grid.Districts {
			vals := make([]float64, n)
			for _, id := range s.cat.inDist[d.ID] {
				for i, v := range w.kw[id] {
					if !math.IsNaN(v) {
						vals[i] += v
					}
				}
			}
			dp, di := peakOf(vals)
			row := DistrictPeak{District: d.ID, Name: d.NameEn, NameZh: d.NameZh, PeakKW: round1(dp), At: w.at(di, iv),
				CurrentKW: round1(vals[n-1]), CapacityKW: d.CapacityKW}
			if d.CapacityKW > 0 {
				row.LoadingPct = round1(100 * dp / d.CapacityKW)
			}
			res.Districts = append(res.Districts, row)
		}
	}
	if ds, ok := s.src.(DemandResponseSource); ok {
		st, err := ds.DemandResponse(ctx, now)
		if err != nil {
			return tools.Result{}, fmt.Errorf("energy: demand response: %w", err)
		}
		for _, e := range st.Events {
			if (in.District == "" || e.District == in.District) && e.Start.Before(res.To) && e.End.After(res.From) {
				res.DREvents = append(res.DREvents, e)
			}
		}
	}
	res.Summary, res.SummaryZh = s.peakSummary(res)
	return tools.JSONResult(res, s.citation("Peak load 负荷峰值", now))
}

func (s *service) peakSummary(r PeakResult) (en, zh string) {
	scopeEn, scopeZh := s.cat.scope("", r.District)
	period := map[string]string{PeriodToday: "today", PeriodYesterday: "yesterday", PeriodWeek: "in the last 7 days", PeriodMonth: "in the last 30 days"}[r.Period]
	periodZh := map[string]string{PeriodToday: "今天", PeriodYesterday: "昨天", PeriodWeek: "最近7天", PeriodMonth: "最近30天"}[r.Period]
	atEn, atZh := s.cat.dayHM(r.PeakAt)
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Peak load of %s %s: %s kW at %s", scopeEn, period, num(r.PeakKW), atEn)
	fmt.Fprintf(&bz, "%s%s最高负荷%s千瓦，出现在%s", scopeZh, periodZh, num(r.PeakKW), atZh)
	if r.CapacityKW > 0 {
		fmt.Fprintf(&be, ", %.1f%% of the %s kW supply capacity", r.LoadingPct, num(r.CapacityKW))
		fmt.Fprintf(&bz, "，为供电能力%s千瓦的%.1f%%", num(r.CapacityKW), r.LoadingPct)
	}
	be.WriteString(".")
	bz.WriteString("。")
	if !r.CurrentAt.IsZero() {
		fmt.Fprintf(&be, " Load now %s kW (%s).", num(r.CurrentKW), s.cat.hm(r.CurrentAt))
		fmt.Fprintf(&bz, "当前负荷%s千瓦（%s）。", num(r.CurrentKW), s.cat.hm(r.CurrentAt))
	}
	if len(r.AtPeak) > 0 {
		var te, tz []string
		for _, u := range r.AtPeak[:min(3, len(r.AtPeak))] {
			te = append(te, fmt.Sprintf("%s %s %s kW", u.BuildingID, u.Name, num(u.KW)))
			tz = append(tz, fmt.Sprintf("%s %s %s千瓦", u.BuildingID, u.NameZh, num(u.KW)))
		}
		fmt.Fprintf(&be, " Largest loads at the peak: %s.", strings.Join(te, "; "))
		fmt.Fprintf(&bz, "峰值时负荷最大的楼宇：%s。", strings.Join(tz, "；"))
	}
	if len(r.Districts) > 0 {
		ds := slices.Clone(r.Districts)
		slices.SortFunc(ds, func(a, b DistrictPeak) int { return cmp.Compare(b.PeakKW, a.PeakKW) })
		var te, tz []string
		for _, d := range ds {
			e := fmt.Sprintf("%s %s kW at %s", d.Name, num(d.PeakKW), s.cat.hm(d.At))
			z := fmt.Sprintf("%s %s千瓦（%s）", d.NameZh, num(d.PeakKW), s.cat.hm(d.At))
			if d.CapacityKW > 0 {
				e += fmt.Sprintf(" (%.1f%%)", d.LoadingPct)
				z += fmt.Sprintf("，负载率%.1f%%", d.LoadingPct)
			}
			te, tz = append(te, e), append(tz, z)
		}
		fmt.Fprintf(&be, " By district: %s.", strings.Join(te, "; "))
		fmt.Fprintf(&bz, "各城区峰值：%s。", strings.Join(tz, "；"))
	}
	if len(r.DailyPeaks) > 1 {
		var te []string
		for _, d := range r.DailyPeaks {
			te = append(te, fmt.Sprintf("%s %s", d.Date[5:], num(d.PeakKW)))
		}
		fmt.Fprintf(&be, " Daily peaks (kW): %s.", strings.Join(te, ", "))
		fmt.Fprintf(&bz, "逐日峰值（千瓦）：%s。", strings.Join(te, "，"))
	}
	for _, e := range r.DREvents {
		fmt.Fprintf(&be, " Demand-response event %s (%s kW, %s–%s) %s.", e.ID, num(e.ReductionKW), s.cat.hm(e.Start), s.cat.hm(e.End), e.Status)
		fmt.Fprintf(&bz, "需求响应事件%s（削减%s千瓦，%s至%s，%s）。", e.ID, num(e.ReductionKW), s.cat.hm(e.Start), s.cat.hm(e.End), eventStatusZh(e.Status))
	}
	return be.String(), bz.String()
}

func eventStatusZh(st string) string {
	switch st {
	case EventScheduled:
		return "待执行"
	case EventActive:
		return "执行中"
	case EventCompleted:
		return "已完成"
	}
	return st
}

// ---- energy_anomalies -------------------------------------------------------

// Anomaly kinds.
const (
	AnomalyHigh = "high" // load well above the building's usual
	AnomalyLow  = "low"  // load well below it, outside demand-response events
	AnomalyZero = "zero" // zero or missing readings where the building usually draws power
)

// Thresholds of the anomaly rule.
const (
	highRatio   = 1.5  // actual above 1.5 × baseline
	lowRatio    = 0.5  // actual below 0.5 × baseline
	minDeltaKW  = 20.0 // and at least this far from it
	minZeroBase = 5.0  // a zero reading counts where the baseline is at least this
	baselineN   = 4    // same weekday, 1 to 4 weeks back
)

// AnomaliesArgs are energy_anomalies' arguments.
type AnomaliesArgs struct {
	District   string `json:"district,omitempty" jsonschema:"District (城区) to check; omit for the whole city (全市)."`
	BuildingID string `json:"building_id,omitempty" jsonschema:"Building id (楼宇编号) to check, e.g. B012; omit for all buildings."`
	Hours      int    `json:"hours,omitempty" jsonschema:"Check the last N hours (最近N小时)."`
	Limit      int    `json:"limit,omitempty" jsonschema:"How many anomalies to list, largest first (返回条数)."`
}

// Anomaly is one episode of unusual readings of one building.
type Anomaly struct {
	BuildingID     string    `json:"building_id"`
	Name           string    `json:"name"`
	NameZh         string    `json:"name_zh"`
	Type           string    `json:"type"`
	District       string    `json:"district"`
	Kind           string    `json:"kind"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	Intervals      int       `json:"intervals"`
	MeanKW         float64   `json:"mean_kw"`
	BaselineKW     float64   `json:"baseline_kw"` // mean baseline over the episode
	Ratio          float64   `json:"ratio"`       // mean actual ÷ mean baseline
	DeviationKWh   float64   `json:"deviation_kwh"`
	Hint           string    `json:"hint"`
	HintZh         string    `json:"hint_zh"`
	DuringDREvent  bool      `json:"during_dr_event,omitempty"`
	sortMagnitudes float64
}

// AnomaliesResult is energy_anomalies' answer.
type AnomaliesResult struct {
	AsOf       time.Time `json:"as_of"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Hours      int       `json:"hours"`
	District   string    `json:"district,omitempty"`
	BuildingID string    `json:"building_id,omitempty"`
	Checked    int       `json:"buildings_checked"`
	Count      int       `json:"count"`
	Anomalies  []Anomaly `json:"anomalies"`
	Method     string    `json:"method"`
	Summary    string    `json:"summary"`
	SummaryZh  string    `json:"summary_zh"`
}

func (s *service) anomaliesTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameAnomalies,
		Description: "Anomalies in 15-minute meter readings: buildings whose readings are far above or below their usual values " +
			"for the same time on the previous four same weekdays (equipment left running overnight, spikes, faults), or whose meters " +
			"read zero or sent nothing (meter or communication failure), with when, how large and a hint. Use for: abnormal or " +
			"unusual readings, anomalies, spikes, waste, meter faults, missing data. " +
			"用电异常检测：读数明显高于或低于前四周同一时段的楼宇（夜间设备未关、突增、故障），以及读数为零或缺失的电表（计量或通信故障），给出时间、幅度和提示。" +
			"关键词：异常 用电异常 能耗异常 突增 浪费 电表故障 数据缺失 读数为零。",
		Clearance: access.Internal,
		Source:    s.cat.grid.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneDistrict(sc, "district")
		s.cat.tuneBuilding(sc, "building_id")
		intRange(sc.Properties["hours"], 1, 24, 6)
		intRange(sc.Properties["limit"], 1, 20, 10)
	}, s.anomalies)
}

func (s *service) anomalies(ctx context.Context, in AnomaliesArgs) (tools.Result, error) {
	if err := s.cat.checkBuilding(NameAnomalies, in.BuildingID); err != nil {
		return tools.Result{}, err
	}
	if in.BuildingID != "" {
		in.District = ""
	}
	now := s.clock()
	end := s.cat.floor(now)
	iv := s.cat.interval
	n := int(time.Duration(in.Hours) * time.Hour / iv)
	from := end.Add(-time.Duration(n) * iv)
	ids := s.cat.ids(in.BuildingID, in.District)
	var fetchIDs []string
	if in.BuildingID != "" || in.District != "" {
		fetchIDs = ids
	}
	cur, err := s.fetch(ctx, fetchIDs, from, n)
	if err != nil {
		return tools.Result{}, err
	}
	var past []*window
	for k := 1; k <= baselineN; k++ {
		w, err := s.fetch(ctx, fetchIDs, from.AddDate(0, 0, -7*k), n)
		if err != nil {
			return tools.Result{}, err
		}
		past = append(past, w)
	}
	var events []DREvent
	if ds, ok := s.src.(DemandResponseSource); ok {
		st, err := ds.DemandResponse(ctx, now)
		if err != nil {
			return tools.Result{}, fmt.Errorf("energy: demand response: %w", err)
		}
		events = st.Events
	}
	inEvent := func(district string, t time.Time) bool {
		for _, e := range events {
			if e.District == district && e.ActiveAt(t) {
				return true
			}
		}
		return false
	}
	res := AnomaliesResult{AsOf: now, From: from, To: end, Hours: in.Hours, District: in.District, BuildingID: in.BuildingID,
		Checked: len(ids), Anomalies: []Anomaly{},
		Method: fmt.Sprintf("each 15-minute reading against the median of the same interval on the previous %d same weekdays; "+
			"flagged above %.1f× or below %.1f× that baseline (and %.0f kW from it) for 30 minutes or more, or zero/missing where the baseline is %.0f kW or more",
			baselineN, highRatio, lowRatio, minDeltaKW, minZeroBase)}
	for _, id := range ids {
		b := s.cat.buildings[id]
		actual := cur.kw[id]
		var open *Anomaly
		var sumBase, sumAct float64
		flush := func() {
			if open == nil {
				return
			}
			if open.Kind == AnomalyZero || open.Intervals >= 2 {
				open.MeanKW = round1(sumAct / float64(open.Intervals))
				open.BaselineKW = round1(sumBase / float64(open.Intervals))
				if sumBase > 0 {
					open.Ratio = math.Round(100*sumAct/sumBase) / 100
				}
				open.DeviationKWh = round1((sumAct - sumBase) * iv.Hours())
				open.Hint, open.HintZh = hint(*open, s.cat.loc)
				open.sortMagnitudes = math.Abs(sumAct-sumBase) * iv.Hours()
				res.Anomalies = append(res.Anomalies, *open)
			}
			open, sumBase, sumAct = nil, 0, 0
		}
		for i := 0; i < n; i++ {
			var hist []float64
			for _, w := range past {
				if v := w.kw[id]; v != nil && !math.IsNaN(v[i]) {
					hist = append(hist, v[i])
				}
			}
			kind := ""
			a := math.NaN()
			if actual != nil {
				a = actual[i]
			}
			if len(hist) >= 2 {
				base := medianOf(hist)
				switch {
				case (math.IsNaN(a) || a == 0) && base >= minZeroBase:
					kind = AnomalyZero
				case math.IsNaN(a):
				case a > highRatio*base && a-base >= minDeltaKW:
					kind = AnomalyHigh
				case a < lowRatio*base && base-a >= minDeltaKW && !inEvent(b.District, cur.at(i, iv)):
					kind = AnomalyLow
				}
				if kind != "" {
					if open != nil && open.Kind != kind {
						flush()
					}
					if open == nil {
						open = &Anomaly{BuildingID: id, Name: b.NameEn, NameZh: b.NameZh, Type: b.Type, District: b.District, Kind: kind, Start: cur.at(i, iv)}
					}
					open.Intervals++
					open.End = cur.at(i+1, iv)
					if math.IsNaN(a) {
						a = 0
					}
					sumAct += a
					sumBase += base
					continue
				}
			}
			flush()
		}
		flush()
	}
	slices.SortFunc(res.Anomalies, func(a, b Anomaly) int {
		if d := cmp.Compare(b.sortMagnitudes, a.sortMagnitudes); d != 0 {
			return d
		}
		return cmp.Compare(a.BuildingID, b.BuildingID)
	})
	res.Count = len(res.Anomalies)
	res.Anomalies = res.Anomalies[:min(in.Limit, len(res.Anomalies))]
	res.Summary, res.SummaryZh = s.anomaliesSummary(res)
	return tools.JSONResult(res, s.citation("Meter reading anomalies 用电异常", now))
}

func medianOf(xs []float64) float64 {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	n := len(ys)
	if n%2 == 1 {
		return ys[n/2]
	}
	return (ys[n/2-1] + ys[n/2]) / 2
}

// hint suggests what an anomaly may be.
func hint(a Anomaly, loc *time.Location) (en, zh string) {
	switch a.Kind {
	case AnomalyZero:
		return "meter or communication fault: zero or missing readings", "计量或通信故障：读数为零或缺失"
	case AnomalyLow:
		return "equipment off, outage or meter fault", "设备停运、停电或计量故障"
	}
	h := a.Start.In(loc).Hour()
	if h < 6 || h >= 22 {
		return "equipment probably left running overnight", "疑似夜间设备未关闭"
	}
	if a.Intervals <= 12 {
		return "short load spike: check large equipment", "短时负荷突增：请检查大功率设备"
	}
	return "sustained excess load: possible equipment fault or waste", "持续超常负荷：疑似设备故障或浪费"
}

func kindLabel(k string) (en, zh string) {
	switch k {
	case AnomalyHigh:
		return "above usual load", "高于常规负荷"
	case AnomalyLow:
		return "below usual load", "低于常规负荷"
	}
	return "zero or missing readings", "读数为零或缺失"
}

func (s *service) anomaliesSummary(r AnomaliesResult) (en, zh string) {
	scopeEn, scopeZh := s.cat.scope(r.BuildingID, r.District)
	fromEn, fromZh := s.cat.dayHM(r.From)
	toEn, toZh := s.cat.dayHM(r.To)
	span := fmt.Sprintf("in the last %d %s (%s to %s)", r.Hours, plural(r.Hours, "hour"), fromEn, toEn)
	spanZh := fmt.Sprintf("最近%d小时（%s至%s）", r.Hours, fromZh, toZh)
	if r.Count == 0 {
		return fmt.Sprintf("No anomalies in the meter readings of %s %s: every building was within its usual range for the same hours of the previous %d weeks.", scopeEn, span, baselineN),
			fmt.Sprintf("%s%s电表读数无异常：各楼宇负荷均在前%d周同期的正常范围内。", scopeZh, spanZh, baselineN)
	}
	var be, bz strings.Builder
	word := "anomalies"
	if r.Count == 1 {
		word = "anomaly"
	}
	fmt.Fprintf(&be, "%d %s in the meter readings of %s %s, against the same hours on the previous %d same weekdays: ", r.Count, word, scopeEn, span, baselineN)
	fmt.Fprintf(&bz, "%s%s电表读数共发现%d处异常（与前%d周同一时段对比）：", scopeZh, spanZh, r.Count, baselineN)
	for i, a := range r.Anomalies[:min(5, len(r.Anomalies))] {
		if i > 0 {
			be.WriteString("; ")
			bz.WriteString("；")
		}
		ke, kz := kindLabel(a.Kind)
		te, tz := typeNames(a.Type)
		de, dz := s.cat.districtNames(a.District)
		fmt.Fprintf(&be, "%d) %s %s (%s, %s): %s %s–%s, %s kW vs usual %s kW", i+1, a.BuildingID, a.Name, te, de, ke, s.cat.hm(a.Start), s.cat.hm(a.End), num(a.MeanKW), num(a.BaselineKW))
		fmt.Fprintf(&bz, "%d）%s %s（%s，%s）：%s至%s%s，平均%s千瓦（常规%s千瓦）", i+1, a.BuildingID, a.NameZh, tz, dz, s.cat.hm(a.Start), s.cat.hm(a.End), kz, num(a.MeanKW), num(a.BaselineKW))
		if a.Kind != AnomalyZero {
			fmt.Fprintf(&be, " (%.2f×, %s kWh)", a.Ratio, signed(a.DeviationKWh))
			fmt.Fprintf(&bz, "（%.2f倍，%s千瓦时）", a.Ratio, signed(a.DeviationKWh))
		}
		fmt.Fprintf(&be, " — %s", a.Hint)
		fmt.Fprintf(&bz, "——%s", a.HintZh)
	}
	be.WriteString(".")
	bz.WriteString("。")
	return be.String(), bz.String()
}

// ---- energy_demand_response -------------------------------------------------

// Views of energy_demand_response.
const (
	ViewCapacity = "capacity"
	ViewStatus   = "status"
)

// DRArgs are energy_demand_response's arguments.
type DRArgs struct {
	District string `json:"district,omitempty" jsonschema:"District (城区); omit for every district (全市)."`
	// View says what the question is about; both views carry the whole
	// answer.
	View string `json:"view" jsonschema:"What the question is about: capacity = 可调用容量 可用容量 available capacity that can be called now; status = 执行中 已安排 执行情况 running, scheduled and recent activity and what it delivered."`
}

// DRDistrict is the demand-response position of one district.
type DRDistrict struct {
	District      string     `json:"district"`
	Name          string     `json:"name"`
	NameZh        string     `json:"name_zh"`
	Enrolled      int        `json:"enrolled_buildings"`
	ContractedKW  float64    `json:"contracted_kw"`
	AvailableKW   float64    `json:"available_kw"`
	CurrentLoadKW float64    `json:"current_load_kw"`
	CapacityKW    float64    `json:"capacity_kw,omitempty"`
	LoadingPct    float64    `json:"loading_pct,omitempty"`
	Events        []DRReport `json:"events"`
}

// DRReport is an event with its delivered reduction, when it has begun.
type DRReport struct {
	DREvent
	// BaselineKW is the participants' average load over the event's elapsed
	// intervals on the previous 5 days of the same kind (working or rest
	// days); DeliveredKW is baseline minus actual.
	BaselineKW     float64 `json:"baseline_kw,omitempty"`
	ActualKW       float64 `json:"actual_kw,omitempty"`
	DeliveredKW    float64 `json:"delivered_kw,omitempty"`
	PerformancePct float64 `json:"performance_pct,omitempty"`
}

// DRResult is energy_demand_response's answer.
type DRResult struct {
	AsOf          time.Time    `json:"as_of"`
	CurrentAt     time.Time    `json:"current_at"`
	District      string       `json:"district,omitempty"`
	Enrolled      int          `json:"enrolled_buildings"`
	ContractedKW  float64      `json:"contracted_kw"`
	AvailableKW   float64      `json:"available_kw"`
	CurrentLoadKW float64      `json:"current_load_kw"`
	Districts     []DRDistrict `json:"districts"`
	Summary       string       `json:"summary"`
	SummaryZh     string       `json:"summary_zh"`
}

func (s *service) drTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameDemandResponse,
		Description: "Demand-response capacity now: buildings enrolled per district, the contracted and the currently available " +
			"reduction (kW) that can be called, the district's load against its supply capacity, and the scheduled, running and " +
			"recent calls with what they delivered against the baseline. Use for: how much demand-response capacity is available, " +
			"flexibility that can be called now. " +
			"需求响应可调用容量：各城区参与楼宇、约定容量和当前可调用容量（千瓦）、当前负荷与供电能力，以及已安排、执行中和近期完成的响应及实际效果。" +
			"关键词：可调用容量 需求响应容量 可调负荷 可用容量。",
		Clearance: access.Internal,
		Source:    s.cat.grid.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneDistrict(sc, "district")
		sc.Properties["view"].Enum = []any{ViewCapacity, ViewStatus}
	}, s.dr)
}

func (s *service) dr(ctx context.Context, in DRArgs) (tools.Result, error) {
	now := s.clock()
	end := s.cat.floor(now)
	iv := s.cat.interval
	st, err := s.src.(DemandResponseSource).DemandResponse(ctx, now)
	if err != nil {
		return tools.Result{}, fmt.Errorf("energy: demand response: %w", err)
	}
	var fetchIDs []string
	if in.District != "" {
		fetchIDs = s.cat.ids("", in.District)
	}
	cur, err := s.fetch(ctx, fetchIDs, end.Add(-iv), 1)
	if err != nil {
		return tools.Result{}, err
	}
	res := DRResult{AsOf: now, CurrentAt: end.Add(-iv), District: in.District, Districts: []DRDistrict{}}
	enrolled := map[string][]DRBuilding{}
	for _, b := range st.Buildings {
		if bd, ok := s.cat.buildings[b.BuildingID]; ok {
			enrolled[bd.District] = append(enrolled[bd.District], b)
		}
	}
	for _, d := range s.cat.grid.Districts {
		if in.District != "" && d.ID != in.District {
			continue
		}
		row := DRDistrict{District: d.ID, Name: d.NameEn, NameZh: d.NameZh, CapacityKW: d.CapacityKW, Events: []DRReport{}}
		for _, b := range enrolled[d.ID] {
			row.Enrolled++
			row.ContractedKW += b.ContractedKW
			row.AvailableKW += b.AvailableKW
		}
		for _, id := range s.cat.inDist[d.ID] {
			if v := cur.kw[id]; v != nil && !math.IsNaN(v[0]) {
				row.CurrentLoadKW += v[0]
			}
		}
		row.ContractedKW, row.AvailableKW, row.CurrentLoadKW = round1(row.ContractedKW), round1(row.AvailableKW), round1(row.CurrentLoadKW)
		if d.CapacityKW > 0 {
			row.LoadingPct = round1(100 * row.CurrentLoadKW / d.CapacityKW)
		}
		for _, e := range st.Events {
			if e.District != d.ID || (e.Status == EventCompleted && now.Sub(e.End) > 24*time.Hour) {
				continue
			}
			rep := DRReport{DREvent: e}
			if e.Status != EventScheduled {
				if err := s.delivered(ctx, &rep, enrolled[d.ID], end); err != nil {
					return tools.Result{}, err
				}
			}
			row.Events = append(row.Events, rep)
		}
		res.Enrolled += row.Enrolled
		res.ContractedKW += row.ContractedKW
		res.AvailableKW += row.AvailableKW
		res.CurrentLoadKW += row.CurrentLoadKW
		res.Districts = append(res.Districts, row)
	}
	res.ContractedKW, res.AvailableKW, res.CurrentLoadKW = round1(res.ContractedKW), round1(res.AvailableKW), round1(res.CurrentLoadKW)
	res.Summary, res.SummaryZh = s.drSummary(res)
	return tools.JSONResult(res, s.citation("Demand response 需求响应", now))
}

// delivered estimates an event's reduction so far: the participants'
// baseline (the same intervals on the previous 5 days of the same kind)
// minus their actual load.
func (s *service) delivered(ctx context.Context, rep *DRReport, parts []DRBuilding, end time.Time) error {
	iv := s.cat.interval
	stop := rep.End
	if end.Before(stop) {
		stop = end
	}
	n := int(stop.Sub(rep.Start) / iv)
	if n < 1 || len(parts) == 0 {
		return nil
	}
	ids := make([]string, len(parts))
	for i, p := range parts {
		ids[i] = p.BuildingID
	}
	mean := func(w *window) float64 {
		return w.kwh("", iv) / (float64(n) * iv.Hours())
	}
	act, err := s.fetch(ctx, ids, rep.Start, n)
	if err != nil {
		return err
	}
	weekend := func(t time.Time) bool {
		wd := t.In(s.cat.loc).Weekday()
		return wd == time.Saturday || wd == time.Sunday
	}
	var base float64
	days := 0
	for back := 1; days < 5 && back <= 14; back++ {
		start := rep.Start.AddDate(0, 0, -back)
		if weekend(start) != weekend(rep.Start) {
			continue
		}
		w, err := s.fetch(ctx, ids, start, n)
		if err != nil {
			return err
		}
		base += mean(w)
		days++
	}
	if days == 0 {
		return nil
	}
	rep.BaselineKW = round1(base / float64(days))
	rep.ActualKW = round1(mean(act))
	rep.DeliveredKW = round1(rep.BaselineKW - rep.ActualKW)
	if rep.ReductionKW > 0 {
		rep.PerformancePct = round1(100 * rep.DeliveredKW / rep.ReductionKW)
	}
	return nil
}

func (s *service) drSummary(r DRResult) (en, zh string) {
	whenEn, whenZh := s.cat.when(r.AsOf)
	var be, bz strings.Builder
	if r.District == "" {
		fmt.Fprintf(&be, "Demand response city-wide at %s: %d enrolled buildings, %s kW contracted reduction, %s kW available now (metered load %s kW at %s). ",
			whenEn, r.Enrolled, num(r.ContractedKW), num(r.AvailableKW), num(r.CurrentLoadKW), s.cat.hm(r.CurrentAt))
		fmt.Fprintf(&bz, "截至%s，全市参与需求响应的楼宇%d栋，约定削减负荷%s千瓦，当前可削减%s千瓦（计量负荷%s千瓦，%s）。",
			whenZh, r.Enrolled, num(r.ContractedKW), num(r.AvailableKW), num(r.CurrentLoadKW), s.cat.hm(r.CurrentAt))
	}
	for i, d := range r.Districts {
		if r.District == "" {
			if i > 0 {
				be.WriteString("; ")
				bz.WriteString("；")
			}
			fmt.Fprintf(&be, "%s: %d buildings, %s kW available of %s kW contracted", d.Name, d.Enrolled, num(d.AvailableKW), num(d.ContractedKW))
			fmt.Fprintf(&bz, "%s：%d栋，可削减%s千瓦（约定%s千瓦）", d.NameZh, d.Enrolled, num(d.AvailableKW), num(d.ContractedKW))
			if d.CapacityKW > 0 {
				fmt.Fprintf(&be, ", loading %.1f%%", d.LoadingPct)
				fmt.Fprintf(&bz, "，负载率%.1f%%", d.LoadingPct)
			}
		} else {
			fmt.Fprintf(&be, "Demand response in %s at %s: %d enrolled buildings, %s kW contracted reduction, %s kW available now; the district's metered load is %s kW (%s)",
				d.Name, whenEn, d.Enrolled, num(d.ContractedKW), num(d.AvailableKW), num(d.CurrentLoadKW), s.cat.hm(r.CurrentAt))
			fmt.Fprintf(&bz, "截至%s，%s参与需求响应的楼宇%d栋，约定削减负荷%s千瓦，当前可削减%s千瓦；该区计量负荷%s千瓦（%s）",
				whenZh, d.NameZh, d.Enrolled, num(d.ContractedKW), num(d.AvailableKW), num(d.CurrentLoadKW), s.cat.hm(r.CurrentAt))
			if d.CapacityKW > 0 {
				fmt.Fprintf(&be, ", %.1f%% of its %s kW supply capacity", d.LoadingPct, num(d.CapacityKW))
				fmt.Fprintf(&bz, "，为供电能力%s千瓦的%.1f%%", num(d.CapacityKW), d.LoadingPct)
			}
			be.WriteString(".")
			bz.WriteString("。")
		}
		for _, e := range d.Events {
			sep, sepZh := " Event", ""
			if r.District == "" {
				sep, sepZh = ", event", "，"
			}
			fmt.Fprintf(&be, "%s %s (%s) %s–%s, %s kW committed", sep, e.ID, e.Status, s.cat.hm(e.Start), s.cat.hm(e.End), num(e.ReductionKW))
			fmt.Fprintf(&bz, "%s需求响应事件%s（%s）%s至%s，承诺削减%s千瓦", sepZh, e.ID, eventStatusZh(e.Status), s.cat.hm(e.Start), s.cat.hm(e.End), num(e.ReductionKW))
			if e.BaselineKW > 0 {
				fmt.Fprintf(&be, ", delivered %s kW (%.0f%%; baseline %s kW, actual %s kW)", num(e.DeliveredKW), e.PerformancePct, num(e.BaselineKW), num(e.ActualKW))
				fmt.Fprintf(&bz, "，实际削减%s千瓦（%.0f%%；基线%s千瓦，实际%s千瓦）", num(e.DeliveredKW), e.PerformancePct, num(e.BaselineKW), num(e.ActualKW))
			}
			if r.District != "" {
				be.WriteString(".")
				bz.WriteString("。")
			}
		}
	}
	if r.District == "" {
		be.WriteString(".")
		bz.WriteString("。")
	}
	return strings.TrimSpace(be.String()), bz.String()
}

func signed(x float64) string {
	if x >= 0 {
		return "+" + num(x)
	}
	return num(x)
}
