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
	// DataNotes counts readings left out as bad data and carries the source's notes.
	DataNotes
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		s.cat.tuneBuilding(sc, "building_id")
		citytool.IntRange(sc.Properties["hours"], 1, 24, 6)
		citytool.IntRange(sc.Properties["limit"], 1, 20, 10)
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
			return tools.Result{}, citytool.SourceFailed("energy", fmt.Errorf("energy: demand response: %w", err))
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
				open.MeanKW = citytool.Round1(sumAct / float64(open.Intervals))
				open.BaselineKW = citytool.Round1(sumBase / float64(open.Intervals))
				if sumBase > 0 {
					open.Ratio = math.Round(100*sumAct/sumBase) / 100
				}
				open.DeviationKWh = citytool.Round1((sumAct - sumBase) * iv.Hours())
				open.Hint, open.HintZh = hint(*open, s.cat.Loc)
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
	res.add(append([]*window{cur}, past...)...)
	res.Summary, res.SummaryZh = s.anomaliesSummary(res)
	res.Summary, res.SummaryZh = res.suffix(res.Summary, res.SummaryZh)
	return tools.JSONResult(res, s.cat.Cite("Meter reading anomalies 用电异常", now))
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
	fromEn, fromZh := s.cat.DayHM(r.From)
	toEn, toZh := s.cat.DayHM(r.To)
	span := fmt.Sprintf("in the last %d %s (%s to %s)", r.Hours, citytool.Plural(r.Hours, "hour"), fromEn, toEn)
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
		de, dz := s.cat.DistrictNames(a.District)
		fmt.Fprintf(&be, "%d) %s %s (%s, %s): %s %s–%s, %s kW vs usual %s kW", i+1, a.BuildingID, a.Name, te, de, ke, s.cat.HM(a.Start), s.cat.HM(a.End), citytool.Num(a.MeanKW), citytool.Num(a.BaselineKW))
		fmt.Fprintf(&bz, "%d）%s %s（%s，%s）：%s至%s%s，平均%s千瓦（常规%s千瓦）", i+1, a.BuildingID, a.NameZh, tz, dz, s.cat.HM(a.Start), s.cat.HM(a.End), kz, citytool.Num(a.MeanKW), citytool.Num(a.BaselineKW))
		if a.Kind != AnomalyZero {
			fmt.Fprintf(&be, " (%.2f×, %s kWh)", a.Ratio, citytool.Signed(a.DeviationKWh))
			fmt.Fprintf(&bz, "（%.2f倍，%s千瓦时）", a.Ratio, citytool.Signed(a.DeviationKWh))
		}
		fmt.Fprintf(&be, " — %s", a.Hint)
		fmt.Fprintf(&bz, "——%s", a.HintZh)
	}
	be.WriteString(".")
	bz.WriteString("。")
	return be.String(), bz.String()
}
