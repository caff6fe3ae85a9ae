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
	// DataNotes counts readings left out as bad data and carries the source's notes.
	DataNotes
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		p := sc.Properties["period"]
		p.Enum = []any{PeriodToday, PeriodYesterday, PeriodWeek, PeriodMonth}
		p.Default = []byte(`"` + PeriodToday + `"`)
	}, s.peak)
}

// span returns the window of a period: from local midnight for today and
// yesterday, the last 7 or 30 days up to now otherwise.
func (s *service) span(now time.Time, period string) (from time.Time, n int) {
	end := s.cat.floor(now)
	lt := now.In(s.cat.Loc)
	y, m, d := lt.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, s.cat.Loc)
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
	res.PeakKW, res.PeakAt = citytool.Round1(pk), w.at(pi, iv)
	res.CurrentKW, res.CurrentAt = citytool.Round1(w.total[n-1]), w.at(n-1, iv)
	if in.Period == PeriodYesterday {
		res.CurrentKW, res.CurrentAt = 0, time.Time{}
	}
	for _, d := range s.cat.grid.Districts {
		if in.District == "" || d.ID == in.District {
			res.CapacityKW += d.CapacityKW
		}
	}
	if res.CapacityKW > 0 {
		res.LoadingPct = citytool.Round1(100 * pk / res.CapacityKW)
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
			date := w.at(i, iv).In(s.cat.Loc).Format("2006-01-02")
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
			res.DailyPeaks[i].PeakKW = citytool.Round1(res.DailyPeaks[i].PeakKW)
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
			row := DistrictPeak{District: d.ID, Name: d.NameEn, NameZh: d.NameZh, PeakKW: citytool.Round1(dp), At: w.at(di, iv),
				CurrentKW: citytool.Round1(vals[n-1]), CapacityKW: d.CapacityKW}
			if d.CapacityKW > 0 {
				row.LoadingPct = citytool.Round1(100 * dp / d.CapacityKW)
			}
			res.Districts = append(res.Districts, row)
		}
	}
	if ds, ok := s.src.(DemandResponseSource); ok {
		st, err := ds.DemandResponse(ctx, now)
		if err != nil {
			return tools.Result{}, citytool.SourceFailed("energy", fmt.Errorf("energy: demand response: %w", err))
		}
		for _, e := range st.Events {
			if (in.District == "" || e.District == in.District) && e.Start.Before(res.To) && e.End.After(res.From) {
				res.DREvents = append(res.DREvents, e)
			}
		}
	}
	res.add(w)
	res.Summary, res.SummaryZh = s.peakSummary(res)
	res.Summary, res.SummaryZh = res.suffix(res.Summary, res.SummaryZh)
	return tools.JSONResult(res, s.cat.Cite("Peak load 负荷峰值", now))
}

func (s *service) peakSummary(r PeakResult) (en, zh string) {
	scopeEn, scopeZh := s.cat.scope("", r.District)
	period := map[string]string{PeriodToday: "today", PeriodYesterday: "yesterday", PeriodWeek: "in the last 7 days", PeriodMonth: "in the last 30 days"}[r.Period]
	periodZh := map[string]string{PeriodToday: "今天", PeriodYesterday: "昨天", PeriodWeek: "最近7天", PeriodMonth: "最近30天"}[r.Period]
	atEn, atZh := s.cat.DayHM(r.PeakAt)
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Peak load of %s %s: %s kW at %s", scopeEn, period, citytool.Num(r.PeakKW), atEn)
	fmt.Fprintf(&bz, "%s%s最高负荷%s千瓦，出现在%s", scopeZh, periodZh, citytool.Num(r.PeakKW), atZh)
	if r.CapacityKW > 0 {
		fmt.Fprintf(&be, ", %.1f%% of the %s kW supply capacity", r.LoadingPct, citytool.Num(r.CapacityKW))
		fmt.Fprintf(&bz, "，为供电能力%s千瓦的%.1f%%", citytool.Num(r.CapacityKW), r.LoadingPct)
	}
	be.WriteString(".")
	bz.WriteString("。")
	if !r.CurrentAt.IsZero() {
		fmt.Fprintf(&be, " Load now %s kW (%s).", citytool.Num(r.CurrentKW), s.cat.HM(r.CurrentAt))
		fmt.Fprintf(&bz, "当前负荷%s千瓦（%s）。", citytool.Num(r.CurrentKW), s.cat.HM(r.CurrentAt))
	}
	if len(r.AtPeak) > 0 {
		var te, tz []string
		for _, u := range r.AtPeak[:min(3, len(r.AtPeak))] {
			te = append(te, fmt.Sprintf("%s %s %s kW", u.BuildingID, u.Name, citytool.Num(u.KW)))
			tz = append(tz, fmt.Sprintf("%s %s %s千瓦", u.BuildingID, u.NameZh, citytool.Num(u.KW)))
		}
		fmt.Fprintf(&be, " Largest loads at the peak: %s.", strings.Join(te, "; "))
		fmt.Fprintf(&bz, "峰值时负荷最大的楼宇：%s。", strings.Join(tz, "；"))
	}
	if len(r.Districts) > 0 {
		ds := slices.Clone(r.Districts)
		slices.SortFunc(ds, func(a, b DistrictPeak) int { return cmp.Compare(b.PeakKW, a.PeakKW) })
		var te, tz []string
		for _, d := range ds {
			e := fmt.Sprintf("%s %s kW at %s", d.Name, citytool.Num(d.PeakKW), s.cat.HM(d.At))
			z := fmt.Sprintf("%s %s千瓦（%s）", d.NameZh, citytool.Num(d.PeakKW), s.cat.HM(d.At))
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
			te = append(te, fmt.Sprintf("%s %s", d.Date[5:], citytool.Num(d.PeakKW)))
		}
		fmt.Fprintf(&be, " Daily peaks (kW): %s.", strings.Join(te, ", "))
		fmt.Fprintf(&bz, "逐日峰值（千瓦）：%s。", strings.Join(te, "，"))
	}
	for _, e := range r.DREvents {
		fmt.Fprintf(&be, " Demand-response event %s (%s kW, %s–%s) %s.", e.ID, citytool.Num(e.ReductionKW), s.cat.HM(e.Start), s.cat.HM(e.End), e.Status)
		fmt.Fprintf(&bz, "需求响应事件%s（削减%s千瓦，%s至%s，%s）。", e.ID, citytool.Num(e.ReductionKW), s.cat.HM(e.Start), s.cat.HM(e.End), eventStatusZh(e.Status))
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
