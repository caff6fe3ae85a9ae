package energy

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

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
	// DataNotes counts readings left out as bad data and carries the source's notes.
	DataNotes
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
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
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		sc.Properties["view"].Enum = []any{ViewCapacity, ViewStatus}
	}, s.dr)
}

func (s *service) dr(ctx context.Context, in DRArgs) (tools.Result, error) {
	now := s.clock()
	end := s.cat.floor(now)
	iv := s.cat.interval
	st, err := s.src.(DemandResponseSource).DemandResponse(ctx, now)
	if err != nil {
		return tools.Result{}, citytool.SourceFailed("energy", fmt.Errorf("energy: demand response: %w", err))
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
		row.ContractedKW, row.AvailableKW, row.CurrentLoadKW = citytool.Round1(row.ContractedKW), citytool.Round1(row.AvailableKW), citytool.Round1(row.CurrentLoadKW)
		if d.CapacityKW > 0 {
			row.LoadingPct = citytool.Round1(100 * row.CurrentLoadKW / d.CapacityKW)
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
	res.ContractedKW, res.AvailableKW, res.CurrentLoadKW = citytool.Round1(res.ContractedKW), citytool.Round1(res.AvailableKW), citytool.Round1(res.CurrentLoadKW)
	res.add(cur)
	res.Summary, res.SummaryZh = s.drSummary(res)
	res.Summary, res.SummaryZh = res.suffix(res.Summary, res.SummaryZh)
	return tools.JSONResult(res, s.cat.Cite("Demand response 需求响应", now))
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
		wd := t.In(s.cat.Loc).Weekday()
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
	rep.BaselineKW = citytool.Round1(base / float64(days))
	rep.ActualKW = citytool.Round1(mean(act))
	rep.DeliveredKW = citytool.Round1(rep.BaselineKW - rep.ActualKW)
	if rep.ReductionKW > 0 {
		rep.PerformancePct = citytool.Round1(100 * rep.DeliveredKW / rep.ReductionKW)
	}
	return nil
}

func (s *service) drSummary(r DRResult) (en, zh string) {
	whenEn, whenZh := s.cat.When(r.AsOf)
	var be, bz strings.Builder
	if r.District == "" {
		fmt.Fprintf(&be, "Demand response city-wide at %s: %d enrolled buildings, %s kW contracted reduction, %s kW available now (metered load %s kW at %s). ",
			whenEn, r.Enrolled, citytool.Num(r.ContractedKW), citytool.Num(r.AvailableKW), citytool.Num(r.CurrentLoadKW), s.cat.HM(r.CurrentAt))
		fmt.Fprintf(&bz, "截至%s，全市参与需求响应的楼宇%d栋，约定削减负荷%s千瓦，当前可削减%s千瓦（计量负荷%s千瓦，%s）。",
			whenZh, r.Enrolled, citytool.Num(r.ContractedKW), citytool.Num(r.AvailableKW), citytool.Num(r.CurrentLoadKW), s.cat.HM(r.CurrentAt))
	}
	for i, d := range r.Districts {
		if r.District == "" {
			if i > 0 {
				be.WriteString("; ")
				bz.WriteString("；")
			}
			fmt.Fprintf(&be, "%s: %d buildings, %s kW available of %s kW contracted", d.Name, d.Enrolled, citytool.Num(d.AvailableKW), citytool.Num(d.ContractedKW))
			fmt.Fprintf(&bz, "%s：%d栋，可削减%s千瓦（约定%s千瓦）", d.NameZh, d.Enrolled, citytool.Num(d.AvailableKW), citytool.Num(d.ContractedKW))
			if d.CapacityKW > 0 {
				fmt.Fprintf(&be, ", loading %.1f%%", d.LoadingPct)
				fmt.Fprintf(&bz, "，负载率%.1f%%", d.LoadingPct)
			}
		} else {
			fmt.Fprintf(&be, "Demand response in %s at %s: %d enrolled buildings, %s kW contracted reduction, %s kW available now; the district's metered load is %s kW (%s)",
				d.Name, whenEn, d.Enrolled, citytool.Num(d.ContractedKW), citytool.Num(d.AvailableKW), citytool.Num(d.CurrentLoadKW), s.cat.HM(r.CurrentAt))
			fmt.Fprintf(&bz, "截至%s，%s参与需求响应的楼宇%d栋，约定削减负荷%s千瓦，当前可削减%s千瓦；该区计量负荷%s千瓦（%s）",
				whenZh, d.NameZh, d.Enrolled, citytool.Num(d.ContractedKW), citytool.Num(d.AvailableKW), citytool.Num(d.CurrentLoadKW), s.cat.HM(r.CurrentAt))
			if d.CapacityKW > 0 {
				fmt.Fprintf(&be, ", %.1f%% of its %s kW supply capacity", d.LoadingPct, citytool.Num(d.CapacityKW))
				fmt.Fprintf(&bz, "，为供电能力%s千瓦的%.1f%%", citytool.Num(d.CapacityKW), d.LoadingPct)
			}
			be.WriteString(".")
			bz.WriteString("。")
		}
		for _, e := range d.Events {
			sep, sepZh := " Event", ""
			if r.District == "" {
				sep, sepZh = ", event", "，"
			}
			fmt.Fprintf(&be, "%s %s (%s) %s–%s, %s kW committed", sep, e.ID, e.Status, s.cat.HM(e.Start), s.cat.HM(e.End), citytool.Num(e.ReductionKW))
			fmt.Fprintf(&bz, "%s需求响应事件%s（%s）%s至%s，承诺削减%s千瓦", sepZh, e.ID, eventStatusZh(e.Status), s.cat.HM(e.Start), s.cat.HM(e.End), citytool.Num(e.ReductionKW))
			if e.BaselineKW > 0 {
				fmt.Fprintf(&be, ", delivered %s kW (%.0f%%; baseline %s kW, actual %s kW)", citytool.Num(e.DeliveredKW), e.PerformancePct, citytool.Num(e.BaselineKW), citytool.Num(e.ActualKW))
				fmt.Fprintf(&bz, "，实际削减%s千瓦（%.0f%%；基线%s千瓦，实际%s千瓦）", citytool.Num(e.DeliveredKW), e.PerformancePct, citytool.Num(e.BaselineKW), citytool.Num(e.ActualKW))
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
