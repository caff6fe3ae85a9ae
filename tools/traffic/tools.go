package traffic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
	"github.com/google/jsonschema-go/jsonschema"
)

// Tool names.
const (
	NameCongestion = "traffic_congestion"
	NameSegment    = "traffic_segment"
	NameIncidents  = "traffic_incidents"
	NameSignalPlan = "traffic_signal_plan"
)

// Tools returns the traffic tools over src: congestion and segment detail
// always, incidents when src is an IncidentSource, signal plans when it is a
// SignalSource with signalised roads. clock gives "now" (nil means
// time.Now); every result is cited as of that time.
func Tools(src Source, clock func() time.Time) []tools.Tool {
	s := &service{src: src, cat: newCatalog(src.Network())}
	s.clock = citytool.Clock(clock, s.cat.Loc)
	ts := []tools.Tool{s.congestionTool(), s.segmentTool()}
	if _, ok := src.(IncidentSource); ok {
		ts = append(ts, s.incidentsTool())
	}
	if _, ok := src.(SignalSource); ok && len(s.cat.signalizedRoads()) > 0 {
		ts = append(ts, s.signalPlanTool())
	}
	return ts
}

type service struct {
	src   Source
	clock func() time.Time
	cat   *catalog
}

// SegmentState is one segment's observation with its names and causes.
type SegmentState struct {
	Rank            int     `json:"rank,omitempty"`
	SegmentID       string  `json:"segment_id"`
	Name            string  `json:"name"`
	NameZh          string  `json:"name_zh"`
	Road            string  `json:"road"`
	District        string  `json:"district"`
	DistrictName    string  `json:"district_name"`
	DistrictNameZh  string  `json:"district_name_zh"`
	CongestionIndex float64 `json:"congestion_index"`
	Level           float64 `json:"level"`
	LevelLabel      string  `json:"level_label"`
	LevelLabelZh    string  `json:"level_label_zh"`
	SpeedKmh        float64 `json:"speed_kmh"`
	FreeFlowKmh     float64 `json:"free_flow_kmh"`
	FlowVehH        float64 `json:"flow_veh_h"`
	Occupancy       float64 `json:"occupancy"`
	TravelTimeSec   float64 `json:"travel_time_s"`
	FreeFlowTimeSec float64 `json:"free_flow_time_s"`
	VCRatio         float64 `json:"vc_ratio,omitempty"`
	Period          string  `json:"period,omitempty"`
	Causes          []Cause `json:"causes,omitempty"`
	Lanes           []Lane  `json:"lanes,omitempty"`
	// Estimated marks a segment without a current measurement, shown at
	// free flow.
	Estimated bool `json:"estimated,omitempty"`
}

func (c *catalog) state(o Observation, causes []Cause) SegmentState {
	seg, _ := c.segment(o.SegmentID)
	den, dzh := c.DistrictNames(seg.District)
	lEn, lZh := LevelLabel(o.Level)
	if o.Congested && o.Level < CongestedLevel {
		lEn, lZh = "congested (reported by the source)", "拥堵（数据源报告）"
	}
	return SegmentState{
		SegmentID: o.SegmentID, Name: seg.NameEn, NameZh: seg.NameZh, Road: seg.Road,
		District: seg.District, DistrictName: den, DistrictNameZh: dzh,
		CongestionIndex: o.CongestionIndex, Level: o.Level, LevelLabel: lEn, LevelLabelZh: lZh,
		SpeedKmh: o.SpeedKmh, FreeFlowKmh: seg.FreeFlowKmh, FlowVehH: o.FlowVehH, Occupancy: o.Occupancy,
		TravelTimeSec: o.TravelTimeSec, FreeFlowTimeSec: o.FreeFlowTimeSec, VCRatio: o.VCRatio,
		Period: o.Period, Causes: causes, Lanes: o.Lanes, Estimated: o.Estimated,
	}
}

// headline is "Name (S012, District) congestion index 2.40 (label), 14.0 km/h vs 50 free-flow",
// speeds in the city's units.
// A segment without current data says so instead of a speed.
func (c *catalog) headline(st SegmentState) (en, zh string) {
	se, sz := c.Speed(st.SpeedKmh)
	ff := c.freeFlow(st.FreeFlowKmh)
	if st.Estimated {
		return fmt.Sprintf("%s (%s, %s) no current data (estimated at %s free-flow)", st.Name, st.SegmentID, st.DistrictName, ff),
			fmt.Sprintf("%s（%s，%s）无当前数据（按畅行车速%s估计）", st.NameZh, st.SegmentID, st.DistrictNameZh, ff)
	}
	en = fmt.Sprintf("%s (%s, %s) congestion index %.2f (%s), %s vs %s free-flow",
		st.Name, st.SegmentID, st.DistrictName, st.CongestionIndex, st.LevelLabel, se, ff)
	zh = fmt.Sprintf("%s（%s，%s）拥堵指数%.2f（%s），车速%s（畅行车速%s）",
		st.NameZh, st.SegmentID, st.DistrictNameZh, st.CongestionIndex, st.LevelLabelZh, sz, ff)
	return en, zh
}

// incidentsBySegment returns the incidents active at t by segment, or nil
// when the source does not know incidents.
func (s *service) incidentsBySegment(ctx context.Context, t time.Time) (map[string][]Incident, error) {
	is, ok := s.src.(IncidentSource)
	if !ok {
		return nil, nil
	}
	incs, err := is.Incidents(ctx, t)
	if err != nil {
		return nil, citytool.SourceFailed("traffic", fmt.Errorf("traffic: incidents: %w", err))
	}
	out := map[string][]Incident{}
	for _, inc := range incs {
		if inc.ActiveAt(t) {
			out[inc.SegmentID] = append(out[inc.SegmentID], inc)
		}
	}
	return out, nil
}

// planOf returns the plan on seg's corridor at t, or nil when the segment is
// unsignalised or the source knows no plans.
func (s *service) planOf(ctx context.Context, seg Segment, t time.Time) (*SignalPlan, error) {
	ss, ok := s.src.(SignalSource)
	if !ok || !seg.Signalized {
		return nil, nil
	}
	p, err := ss.SignalPlan(ctx, seg.Road, t)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("traffic: signal plan of %s: %w", seg.Road, err)
	}
	return &p, nil
}

// ---- traffic_congestion -----------------------------------------------------

// CongestionArgs are traffic_congestion's arguments.
type CongestionArgs struct {
	District string `json:"district,omitempty" jsonschema:"District (城区) to rank within; omit for the whole city (全市)."`
	Road     string `json:"road,omitempty" jsonschema:"Road (道路) whose segments to rank, for a question about one road's traffic (某条路堵不堵); omit for all roads."`
	Limit    int    `json:"limit,omitempty" jsonschema:"How many segments to list, most congested first (返回路段数，最堵的在前)."`
}

// CongestionResult is traffic_congestion's answer.
type CongestionResult struct {
	AsOf              time.Time `json:"as_of"`
	District          string    `json:"district,omitempty"`
	Road              string    `json:"road,omitempty"`
	SegmentsCounted   int       `json:"segments_counted"`
	CongestedSegments int       `json:"congested_segments"`
	AverageIndex      float64   `json:"average_index"` // mean over the counted segments
	// NetworkIndex is the city-wide network index: the length-weighted mean
	// index of all arterial segments, whatever the filter.
	NetworkIndex float64        `json:"network_index,omitempty"`
	Segments     []SegmentState `json:"segments"`
	// EstimatedSegments counts counted segments without a current
	// measurement (shown at free flow).
	EstimatedSegments int `json:"estimated_segments,omitempty"`
	// RejectedReadings counts readings the source dropped as unreadable or
	// implausible; SkippedInvalid counts observations left out because
	// their figures were not numbers.
	RejectedReadings int `json:"rejected_readings,omitempty"`
	SkippedInvalid   int `json:"skipped_invalid,omitempty"`
	// Notes say how the source answered when it could not answer as usual
	// and what data was left out; NotesZh says the same in Chinese.
	Notes     []string `json:"notes,omitempty"`
	NotesZh   []string `json:"notes_zh,omitempty"`
	Summary   string   `json:"summary"`
	SummaryZh string   `json:"summary_zh"`
}

func (s *service) congestionTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameCongestion,
		Description: "Live road congestion ranking: the most congested, slowest, most jammed road segments right now, " +
			"city-wide or in one district or along one road, with congestion index (travel time ÷ free-flow time), " +
			"speed km/h, flow, occupancy and the cause (incident, morning/evening peak, demand over capacity). " +
			"Use for: traffic jam, congestion, slow traffic, busiest roads, road conditions, how is traffic now. " +
			"实时路况拥堵排行：当前最拥堵、最堵、车速最慢的路段，可按城区或道路筛选；给出拥堵指数、车速、流量、占有率及原因（事故、早晚高峰、流量超饱和）。" +
			"关键词：拥堵 堵车 最堵 路况 车速 交通状况 堵不堵 交通拥堵指数。",
		Clearance: access.Public,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		roadCodes(s.cat.roads).Tune(sc, "road")
		citytool.IntRange(sc.Properties["limit"], 1, 20, 5)
	}, s.congestion)
}

func (s *service) congestion(ctx context.Context, in CongestionArgs) (tools.Result, error) {
	now := s.clock()
	obs, err := s.observations(ctx, now)
	if err != nil {
		return tools.Result{}, err
	}
	// One pass over the city: what is counted, the network index over every
	// usable observation, and the top in.Limit, selected rather than sorted.
	var notes, notesZh []string
	var q quality
	var ni networkIndex
	var newest time.Time // the newest ObservedAt of the counted segments
	top := newTopCongested(in.Limit)
	sum := 0.0
	counted, congested := 0, 0
	for o := range obs {
		if !q.use(o) {
			continue
		}
		ni.add(s.cat.arterialKm, o)
		seg, ok := s.cat.segmentRef(o.SegmentID)
		if !ok || (in.District != "" && seg.District != in.District) || (in.Road != "" && seg.Road != in.Road) {
			continue
		}
		counted++
		top.offer(o)
		notes, notesZh = addNote(notes, notesZh, o.Note, o.NoteZh)
		if o.Estimated {
			q.estimated++
		}
		sum += o.CongestionIndex
		if o.Congested {
			congested++
		}
		if o.ObservedAt.After(newest) {
			newest = o.ObservedAt
		}
	}

	bySeg, err := s.incidentsBySegment(ctx, now)
	if err != nil {
		return tools.Result{}, err
	}
	qe, qz := q.notes()
	res := CongestionResult{AsOf: now, District: in.District, Road: in.Road,
		SegmentsCounted: counted, CongestedSegments: congested, Segments: make([]SegmentState, 0, len(top.top)),
		EstimatedSegments: q.estimated, RejectedReadings: q.rejected, SkippedInvalid: q.skipped,
		Notes: append(notes, qe...), NotesZh: append(notesZh, qz...)}
	if counted > 0 {
		res.AverageIndex = citytool.Round2(sum / float64(counted))
	}
	res.NetworkIndex = citytool.Round2(ni.value())
	for i, o := range top.top {
		seg, _ := s.cat.segment(o.SegmentID)
		plan, err := s.planOf(ctx, seg, now)
		if err != nil {
			return tools.Result{}, err
		}
		st := s.cat.state(o, s.cat.causes(o, bySeg[o.SegmentID], plan))
		st.Rank = i + 1
		res.Segments = append(res.Segments, st)
	}
	res.AsOf = asOfNewest(newest, now)
	res.Summary, res.SummaryZh = s.congestionSummary(res)
	return tools.JSONResult(res, s.cat.Cite("Traffic congestion ranking 路况拥堵排行", res.AsOf))
}

// scope names the filter, e.g. "in Dongcheng District" / "东城区".
func (s *service) scope(district, road string) (en, zh string) {
	if road == "" && district == "" {
		return "city-wide", "全市"
	}
	var pe []string
	if road != "" {
		r := s.cat.roads[s.cat.roadIdx[road]]
		pe = append(pe, "on "+r.NameEn)
		zh = r.NameZh
	}
	if district != "" {
		de, dz := s.cat.DistrictNames(district)
		pe = append(pe, "in "+de)
		zh = dz + zh
	}
	return strings.Join(pe, " "), zh
}

func (s *service) congestionSummary(r CongestionResult) (en, zh string) {
	scopeEn, scopeZh := s.scope(r.District, r.Road)
	whenEn, whenZh := s.cat.When(r.AsOf)
	if len(r.Segments) == 0 {
		return fmt.Sprintf("No road segments %s at %s.", scopeEn, whenEn),
			fmt.Sprintf("%s%s没有符合条件的路段。", whenZh, scopeZh)
	}
	var be, bz strings.Builder
	if pe, pz := periodLabel(r.Segments[0].Period); pe != "" {
		whenEn += ", " + pe
		whenZh += "（" + pz + "）"
	}
	fmt.Fprintf(&be, "Most congested road segments %s at %s: ", scopeEn, whenEn)
	fmt.Fprintf(&bz, "%s，%s最拥堵路段：", whenZh, scopeZh)
	for i, st := range r.Segments[:min(3, len(r.Segments))] {
		he, hz := s.cat.headline(st)
		fmt.Fprintf(&be, "%d) %s", i+1, he)
		fmt.Fprintf(&bz, "%d）%s", i+1, hz)
		if ce, cz := joinCauses(st.Causes); ce != "" {
			fmt.Fprintf(&be, "; cause: %s", ce)
			fmt.Fprintf(&bz, "；原因：%s", cz)
		}
		be.WriteString(". ")
		bz.WriteString("。")
	}
	fmt.Fprintf(&be, "Average congestion index %.2f over %d segments, %d congested.", r.AverageIndex, r.SegmentsCounted, r.CongestedSegments)
	fmt.Fprintf(&bz, "共%d个路段，平均拥堵指数%.2f，%d个路段拥堵。", r.SegmentsCounted, r.AverageIndex, r.CongestedSegments)
	if r.NetworkIndex > 0 {
		fmt.Fprintf(&be, " City network index %.2f (arterials, length-weighted).", r.NetworkIndex)
		fmt.Fprintf(&bz, "全市路网拥堵指数%.2f（主干道按长度加权）。", r.NetworkIndex)
	}
	writeNotes(&be, &bz, r.Notes, r.NotesZh)
	return be.String(), bz.String()
}

// ---- traffic_segment --------------------------------------------------------

// SegmentArgs are traffic_segment's arguments.
type SegmentArgs struct {
	SegmentID    string `json:"segment_id" jsonschema:"Road segment id (路段编号), e.g. S012."`
	HistoryHours int    `json:"history_hours,omitempty" jsonschema:"Hours of history before now to include (历史时长，小时); 0 for the current state only."`
	StepMinutes  int    `json:"step_minutes,omitempty" jsonschema:"Minutes between history points (历史数据间隔，分钟)."`
}

// HistoryPoint is a segment's state at one time of its history.
type HistoryPoint struct {
	At              time.Time `json:"at"`
	CongestionIndex float64   `json:"congestion_index"`
	SpeedKmh        float64   `json:"speed_kmh"`
	FlowVehH        float64   `json:"flow_veh_h"`
	Occupancy       float64   `json:"occupancy"`
	TravelTimeSec   float64   `json:"travel_time_s"`
	Period          string    `json:"period,omitempty"`
}

// Trend sums up a history.
type Trend struct {
	Hours        int       `json:"hours"`
	StepMinutes  int       `json:"step_minutes"`
	MinIndex     float64   `json:"min_index"`
	MinAt        time.Time `json:"min_at"`
	MaxIndex     float64   `json:"max_index"`
	MaxAt        time.Time `json:"max_at"`
	MeanIndex    float64   `json:"mean_index"`
	MeanSpeedKmh float64   `json:"mean_speed_kmh"`
}

// PlanRef names a corridor's plan without its timings; traffic_signal_plan
// gives those.
type PlanRef struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	NameZh      string    `json:"name_zh"`
	Coordinated bool      `json:"coordinated"`
	LastChanged time.Time `json:"last_changed"`
}

// SegmentResult is traffic_segment's answer.
type SegmentResult struct {
	AsOf       time.Time      `json:"as_of"`
	Segment    Segment        `json:"segment"`
	Now        SegmentState   `json:"now"`
	History    []HistoryPoint `json:"history,omitempty"`
	Trend      *Trend         `json:"trend,omitempty"`
	Incidents  []Incident     `json:"incidents"`
	SignalPlan *PlanRef       `json:"signal_plan,omitempty"`
	// RejectedReadings counts readings the source dropped as unreadable or
	// implausible; SkippedInvalid counts history points left out because
	// their figures were not numbers.
	RejectedReadings int `json:"rejected_readings,omitempty"`
	SkippedInvalid   int `json:"skipped_invalid,omitempty"`
	// Notes say how the source answered when it could not answer as usual
	// and what data was left out; NotesZh says the same in Chinese.
	Notes     []string `json:"notes,omitempty"`
	NotesZh   []string `json:"notes_zh,omitempty"`
	Summary   string   `json:"summary"`
	SummaryZh string   `json:"summary_zh"`
}

func (s *service) segmentTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameSegment,
		Description: citytool.WithExample("One road segment in detail: current speed, congestion index, flow, occupancy and travel time, "+
			"its history and trend over the last hours (every 15 minutes by default), incidents on it and its signal plan. "+
			"Use when the question names a segment id (S012) or asks how a road section changed over time: history, trend, since this morning. "+
			"单个路段详情：当前车速、拥堵指数、流量、占有率、行程时间，过去几小时的变化趋势（默认每15分钟），路段上的事故和信号配时方案。"+
			"关键词：路段 详情 历史 趋势 变化 行程时间 通行时间。", "S012", s.cat.segmentIDs()),
		Clearance: access.Public,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.tuneSegmentID(sc, "segment_id")
		citytool.IntRange(sc.Properties["history_hours"], 0, 24, 3)
		step := sc.Properties["step_minutes"]
		step.Enum = []any{5, 15, 30, 60}
		step.Default = []byte("15")
	}, s.segment)
}

// observeSegment returns segment id's observations from from to to every
// step, by HistorySource when the source has it.
func (s *service) observeSegment(ctx context.Context, id string, from, to time.Time, step time.Duration) ([]Observation, error) {
	if hs, ok := s.src.(HistorySource); ok && from.Before(to) {
		obs, err := hs.History(ctx, id, from, to, step)
		if err != nil {
			return nil, citytool.SourceFailed("traffic", fmt.Errorf("traffic: history of %s: %w", id, err))
		}
		return obs, nil
	}
	var out []Observation
	for t := from; !t.After(to); t = t.Add(step) {
		all, err := s.src.Observe(ctx, t)
		if err != nil {
			return nil, citytool.SourceFailed("traffic", fmt.Errorf("traffic: observe: %w", err))
		}
		for _, o := range all {
			if o.SegmentID == id {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func (s *service) segment(ctx context.Context, in SegmentArgs) (tools.Result, error) {
	seg, ok := s.cat.segment(in.SegmentID)
	if !ok {
		return tools.Result{}, s.cat.unknownSegment(NameSegment, in.SegmentID)
	}
	now := s.clock()
	step := time.Duration(in.StepMinutes) * time.Minute
	points := in.HistoryHours * 60 / in.StepMinutes
	obs, err := s.observeSegment(ctx, seg.ID, now.Add(-time.Duration(points)*step), now, step)
	var notes, notesZh []string
	if errors.Is(err, ErrNoHistory) {
		points, notes, notesZh = 0, []string{"the source keeps no history, so only the current state is shown"}, []string{"数据源不保存历史数据，仅显示当前状态"}
		obs, err = s.observeSegment(ctx, seg.ID, now, now, time.Minute)
	}
	if err != nil {
		return tools.Result{}, err
	}
	var q quality
	if obs = q.usable(obs); len(obs) == 0 {
		return tools.Result{}, fmt.Errorf("traffic: no usable observation of %s at %s", seg.ID, now.Format(time.RFC3339))
	}
	cur := obs[len(obs)-1]
	notes, notesZh = addNote(notes, notesZh, cur.Note, cur.NoteZh)
	if cur.Estimated {
		q.estimated++
	}
	qe, qz := q.notes()
	notes, notesZh = append(notes, qe...), append(notesZh, qz...)

	bySeg, err := s.incidentsBySegment(ctx, now)
	if err != nil {
		return tools.Result{}, err
	}
	plan, err := s.planOf(ctx, seg, now)
	if err != nil {
		return tools.Result{}, err
	}
	res := SegmentResult{AsOf: now, Segment: seg, Incidents: bySeg[seg.ID], RejectedReadings: q.rejected, SkippedInvalid: q.skipped,
		Notes: notes, NotesZh: notesZh}
	if res.Incidents == nil {
		res.Incidents = []Incident{}
	}
	res.Now = s.cat.state(cur, s.cat.causes(cur, res.Incidents, plan))
	if plan != nil {
		res.SignalPlan = &PlanRef{ID: plan.ID, Name: plan.Name, NameZh: plan.NameZh, Coordinated: plan.Coordinated, LastChanged: plan.LastChanged}
	}
	if points > 0 {
		tr := Trend{Hours: in.HistoryHours, StepMinutes: in.StepMinutes, MinIndex: obs[0].CongestionIndex, MinAt: obs[0].At, MaxIndex: obs[0].CongestionIndex, MaxAt: obs[0].At}
		var sumIdx, sumSpeed float64
		for _, o := range obs {
			res.History = append(res.History, HistoryPoint{At: o.At, CongestionIndex: o.CongestionIndex, SpeedKmh: o.SpeedKmh,
				FlowVehH: o.FlowVehH, Occupancy: o.Occupancy, TravelTimeSec: o.TravelTimeSec, Period: o.Period})
			if o.CongestionIndex < tr.MinIndex {
				tr.MinIndex, tr.MinAt = o.CongestionIndex, o.At
			}
			if o.CongestionIndex > tr.MaxIndex {
				tr.MaxIndex, tr.MaxAt = o.CongestionIndex, o.At
			}
			sumIdx += o.CongestionIndex
			sumSpeed += o.SpeedKmh
		}
		tr.MeanIndex = citytool.Round2(sumIdx / float64(len(obs)))
		tr.MeanSpeedKmh = citytool.Round2(sumSpeed / float64(len(obs)))
		res.Trend = &tr
	}
	res.AsOf = observedAsOf([]Observation{cur}, now)
	res.Summary, res.SummaryZh = s.segmentSummary(res)
	return tools.JSONResult(res, s.cat.Cite("Road segment "+seg.ID+" 路段详情", res.AsOf))
}

func (s *service) segmentSummary(r SegmentResult) (en, zh string) {
	var be, bz strings.Builder
	whenEn, whenZh := s.cat.When(r.AsOf)
	st := r.Now
	tt, ttZh := duration(st.TravelTimeSec)
	ff, ffZh := duration(st.FreeFlowTimeSec)
	he, hz := s.cat.headline(st)
	fmt.Fprintf(&be, "At %s: %s, flow %.0f veh/h, occupancy %.0f%%, travel time %s vs %s free-flow.", whenEn, he, st.FlowVehH, st.Occupancy*100, tt, ff)
	fmt.Fprintf(&bz, "%s，%s，流量%.0f辆/小时，占有率%.0f%%，行程时间%s（畅行%s）。", whenZh, hz, st.FlowVehH, st.Occupancy*100, ttZh, ffZh)
	if ce, cz := joinCauses(st.Causes); ce != "" {
		fmt.Fprintf(&be, " Causes: %s.", ce)
		fmt.Fprintf(&bz, "原因：%s。", cz)
	}
	if tr := r.Trend; tr != nil {
		first := r.History[0]
		hm := func(t time.Time) string { return t.In(s.cat.Loc).Format("15:04") }
		fmt.Fprintf(&be, " Last %d h every %d min: index %.2f at %s → %.2f now; best %.2f at %s, worst %.2f at %s, mean %.2f.",
			tr.Hours, tr.StepMinutes, first.CongestionIndex, hm(first.At), st.CongestionIndex, tr.MinIndex, hm(tr.MinAt), tr.MaxIndex, hm(tr.MaxAt), tr.MeanIndex)
		fmt.Fprintf(&bz, "过去%d小时（每%d分钟）：拥堵指数由%s的%.2f变为现在的%.2f；最低%.2f（%s），最高%.2f（%s），平均%.2f。",
			tr.Hours, tr.StepMinutes, hm(first.At), first.CongestionIndex, st.CongestionIndex, tr.MinIndex, hm(tr.MinAt), tr.MaxIndex, hm(tr.MaxAt), tr.MeanIndex)
	}
	if len(r.Incidents) == 0 {
		be.WriteString(" No active incident on this segment.")
		bz.WriteString("该路段当前无交通事件。")
	}
	if p := r.SignalPlan; p != nil {
		fmt.Fprintf(&be, " Signal plan %s (%s), in effect since %s.", p.ID, p.Name, p.LastChanged.In(s.cat.Loc).Format("2006-01-02 15:04"))
		fmt.Fprintf(&bz, "信号配时方案%s（%s），%s起执行。", p.ID, p.NameZh, p.LastChanged.In(s.cat.Loc).Format("2006-01-02 15:04"))
	}
	writeNotes(&be, &bz, r.Notes, r.NotesZh)
	return be.String(), bz.String()
}

// ---- traffic_incidents ------------------------------------------------------

// IncidentsArgs are traffic_incidents' arguments.
type IncidentsArgs struct {
	District  string `json:"district,omitempty" jsonschema:"District (城区) to list incidents in; omit for the whole city (全市)."`
	Road      string `json:"road,omitempty" jsonschema:"Road (道路) to list incidents on; omit for all roads."`
	SegmentID string `json:"segment_id,omitempty" jsonschema:"Road segment id (路段编号), e.g. S012; omit for all segments."`
	Type      string `json:"type,omitempty" jsonschema:"Incident type (事件类型): crash = 交通事故 collision accident; breakdown = 车辆故障 broken-down vehicle; roadworks = 道路施工 construction; flooding = 道路积水 flooded road; debris = 路面遗撒; control = 交通管制 police control. Omit for all types."`
}

// IncidentReport is an incident with its place and its segment's state now.
type IncidentReport struct {
	Incident
	TypeLabel       string  `json:"type_label"`
	TypeLabelZh     string  `json:"type_label_zh"`
	SegmentName     string  `json:"segment_name"`
	SegmentNameZh   string  `json:"segment_name_zh"`
	DistrictName    string  `json:"district_name"`
	DistrictNameZh  string  `json:"district_name_zh"`
	CongestionIndex float64 `json:"congestion_index"`
	SpeedKmh        float64 `json:"speed_kmh"`
	FreeFlowKmh     float64 `json:"free_flow_kmh"`
}

// IncidentsResult is traffic_incidents' answer.
type IncidentsResult struct {
	AsOf      time.Time        `json:"as_of"`
	District  string           `json:"district,omitempty"`
	Road      string           `json:"road,omitempty"`
	SegmentID string           `json:"segment_id,omitempty"`
	Type      string           `json:"type,omitempty"`
	Count     int              `json:"count"`
	Incidents []IncidentReport `json:"incidents"`
	Summary   string           `json:"summary"`
	SummaryZh string           `json:"summary_zh"`
}

func (s *service) incidentsTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameIncidents,
		Description: "Active traffic incidents now: crashes and accidents, broken-down vehicles, roadworks and construction, flooding, debris, " +
			"police traffic control; with start time, expected clearance, severity, lanes blocked, description and the speed on the " +
			"affected segment; city-wide or by district, road or segment. Keywords: incident, accident, crash, collision, breakdown, " +
			"roadworks, construction, flooding, lane closure, road closed. " +
			"当前交通事件：交通事故、车辆故障、道路施工、积水、遗撒、交通管制；开始时间、预计解除时间、严重程度、占用车道及受影响路段车速。" +
			"关键词：事故 交通事故 车祸 追尾 故障车 抛锚 施工 占道 积水 封路 管制 交通事件。",
		Clearance: access.Public,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		s.cat.TuneDistrict(sc, "district")
		roadCodes(s.cat.roads).Tune(sc, "road")
		s.cat.tuneSegmentID(sc, "segment_id")
		for _, t := range IncidentTypes() {
			sc.Properties["type"].Enum = append(sc.Properties["type"].Enum, t)
		}
	}, s.incidents)
}

func (s *service) incidents(ctx context.Context, in IncidentsArgs) (tools.Result, error) {
	if in.SegmentID != "" {
		if _, ok := s.cat.segment(in.SegmentID); !ok {
			return tools.Result{}, s.cat.unknownSegment(NameIncidents, in.SegmentID)
		}
	}
	now := s.clock()
	all, err := s.src.(IncidentSource).Incidents(ctx, now)
	if err != nil {
		return tools.Result{}, citytool.SourceFailed("traffic", fmt.Errorf("traffic: incidents: %w", err))
	}
	obs, err := s.observations(ctx, now)
	if err != nil {
		return tools.Result{}, err
	}
	res := IncidentsResult{AsOf: now, District: in.District, Road: in.Road, SegmentID: in.SegmentID, Type: in.Type, Incidents: []IncidentReport{}}
	for _, inc := range all {
		seg, ok := s.cat.segment(inc.SegmentID)
		if !ok || !inc.ActiveAt(now) ||
			(in.District != "" && inc.District != in.District) || (in.Road != "" && seg.Road != in.Road) ||
			(in.SegmentID != "" && inc.SegmentID != in.SegmentID) || (in.Type != "" && inc.Type != in.Type) {
			continue
		}
		r := IncidentReport{Incident: inc, SegmentName: seg.NameEn, SegmentNameZh: seg.NameZh, FreeFlowKmh: seg.FreeFlowKmh}
		r.TypeLabel, r.TypeLabelZh = incidentLabel(inc.Type)
		r.DistrictName, r.DistrictNameZh = s.cat.DistrictNames(inc.District)
		res.Incidents = append(res.Incidents, r)
	}
	// Each report shows its segment's state: the last observation of it.
	if len(res.Incidents) > 0 {
		bySeg := make(map[string][]int, len(res.Incidents))
		for i, r := range res.Incidents {
			bySeg[r.SegmentID] = append(bySeg[r.SegmentID], i)
		}
		for o := range obs {
			for _, i := range bySeg[o.SegmentID] {
				res.Incidents[i].CongestionIndex, res.Incidents[i].SpeedKmh = o.CongestionIndex, o.SpeedKmh
			}
		}
	}
	slices.SortFunc(res.Incidents, func(a, b IncidentReport) int {
		if d := cmp.Compare(b.Severity, a.Severity); d != 0 {
			return d
		}
		if d := a.Start.Compare(b.Start); d != 0 {
			return d
		}
		return cmp.Compare(a.ID, b.ID)
	})
	res.Count = len(res.Incidents)
	res.Summary, res.SummaryZh = s.incidentsSummary(res)
	return tools.JSONResult(res, s.cat.Cite("Active traffic incidents 交通事件", now))
}

func (s *service) incidentsSummary(r IncidentsResult) (en, zh string) {
	scopeEn, scopeZh := s.scope(r.District, r.Road)
	if r.SegmentID != "" {
		scopeEn, scopeZh = "on segment "+r.SegmentID, "路段"+r.SegmentID
	}
	whenEn, whenZh := s.cat.When(r.AsOf)
	kind, kindZh := "traffic", "交通事件"
	if r.Type != "" {
		kind, kindZh = incidentLabel(r.Type)
	}
	if r.Count == 0 {
		return fmt.Sprintf("No active %s incidents %s at %s.", kind, scopeEn, whenEn),
			fmt.Sprintf("%s%s当前没有%s。", whenZh, scopeZh, kindZh)
	}
	var be, bz strings.Builder
	fmt.Fprintf(&be, "%d active %s %s %s at %s, most severe first: ", r.Count, kind, citytool.Plural(r.Count, "incident"), scopeEn, whenEn)
	fmt.Fprintf(&bz, "%s%s共有%d起%s（按严重程度排列）：", whenZh, scopeZh, r.Count, kindZh)
	hm := func(t time.Time) string { return t.In(s.cat.Loc).Format("15:04") }
	for i, inc := range r.Incidents[:min(5, len(r.Incidents))] {
		sev, sevZh := severityLabel(inc.Severity)
		se, sz := s.cat.Speed(inc.SpeedKmh)
		fmt.Fprintf(&be, "%d) %s on %s (%s, %s) since %s, %s, %d %s blocked, expected clear %s; segment now %s vs %.0f free-flow, index %.2f. ",
			i+1, inc.TypeLabel, inc.SegmentName, inc.SegmentID, inc.DistrictName, hm(inc.Start), sev, inc.LanesBlocked, citytool.Plural(inc.LanesBlocked, "lane"),
			hm(inc.End), se, s.cat.SpeedIn(inc.FreeFlowKmh), inc.CongestionIndex)
		fmt.Fprintf(&bz, "%d）%s（%s，%s）%s，%s起，%s，占用%d条车道，预计%s解除；该路段车速%s（畅行%.0f），拥堵指数%.2f。",
			i+1, inc.SegmentNameZh, inc.SegmentID, inc.DistrictNameZh, inc.TypeLabelZh, hm(inc.Start), sevZh, inc.LanesBlocked,
			hm(inc.End), sz, s.cat.SpeedIn(inc.FreeFlowKmh), inc.CongestionIndex)
	}
	if r.Count > 5 {
		fmt.Fprintf(&be, "…and %d more.", r.Count-5)
		fmt.Fprintf(&bz, "……另有%d起。", r.Count-5)
	}
	return strings.TrimSpace(be.String()), bz.String()
}

// ---- traffic_signal_plan ----------------------------------------------------

// SignalPlanArgs are traffic_signal_plan's arguments; give one of them.
type SignalPlanArgs struct {
	Corridor  string `json:"corridor,omitempty" jsonschema:"Signalised road (corridor, 干线/道路) whose plan to show."`
	SegmentID string `json:"segment_id,omitempty" jsonschema:"Or a road segment id (路段编号), e.g. S012: shows the plan of its road."`
}

// SignalPlanResult is traffic_signal_plan's answer.
type SignalPlanResult struct {
	AsOf             time.Time     `json:"as_of"`
	Corridor         string        `json:"corridor"`
	RoadName         string        `json:"road_name"`
	RoadNameZh       string        `json:"road_name_zh"`
	Plan             SignalPlan    `json:"plan"`
	MainGreenRatio   float64       `json:"main_green_ratio"`
	CorridorSegments int           `json:"corridor_segments"`
	AverageIndex     float64       `json:"average_index"`
	AverageSpeedKmh  float64       `json:"average_speed_kmh"`
	MaxVCRatio       float64       `json:"max_vc_ratio"`
	Worst            *SegmentState `json:"worst,omitempty"`
	Summary          string        `json:"summary"`
	SummaryZh        string        `json:"summary_zh"`
}

func (s *service) signalPlanTool() tools.Tool {
	return tools.MustTuned(tools.Spec{
		Name: NameSignalPlan,
		Description: "Traffic signal timing plan of a corridor (a signalised road) or of the road a segment belongs to: plan name, " +
			"cycle length in seconds, green time of each phase (green split), offset, coordination (green wave), when it was last changed " +
			"and by whom, and how congested the corridor is now under it. Keywords: signal timing, traffic lights, cycle, green time, split, " +
			"green wave, retiming. 信号配时方案：周期时长、各相位绿灯时间（绿信比）、相位差、绿波协调、最近调整时间及该干线当前拥堵情况。" +
			"关键词：信号灯 红绿灯 配时 周期 绿灯时间 绿信比 绿波 信号优化。",
		Clearance: access.Internal,
		Source:    s.cat.Source,
	}, func(sc *jsonschema.Schema) {
		roadCodes(s.cat.signalizedRoads()).Tune(sc, "corridor")
		s.cat.tuneSegmentID(sc, "segment_id")
		sc.AnyOf = []*jsonschema.Schema{{Required: []string{"corridor"}}, {Required: []string{"segment_id"}}}
	}, s.signalPlan)
}

func (s *service) signalPlan(ctx context.Context, in SignalPlanArgs) (tools.Result, error) {
	corridor := in.Corridor
	if in.SegmentID != "" {
		seg, ok := s.cat.segment(in.SegmentID)
		if !ok {
			return tools.Result{}, s.cat.unknownSegment(NameSignalPlan, in.SegmentID)
		}
		if !seg.Signalized {
			return tools.Result{}, &tools.ArgsError{Tool: NameSignalPlan, Reason: fmt.Sprintf("segment %s is on %s (%s), which has no traffic signals", seg.ID, seg.RoadEn, seg.RoadZh)}
		}
		if corridor != "" && corridor != seg.Road {
			return tools.Result{}, &tools.ArgsError{Tool: NameSignalPlan, Reason: fmt.Sprintf("segment %s is on corridor %s, not %s", seg.ID, seg.Road, corridor)}
		}
		corridor = seg.Road
	}
	if corridor == "" {
		return tools.Result{}, &tools.ArgsError{Tool: NameSignalPlan, Reason: "give corridor or segment_id"}
	}
	now := s.clock()
	plan, err := s.src.(SignalSource).SignalPlan(ctx, corridor, now)
	if err != nil {
		return tools.Result{}, fmt.Errorf("traffic: signal plan of %s: %w", corridor, err)
	}
	obs, err := s.observations(ctx, now)
	if err != nil {
		return tools.Result{}, err
	}
	r := s.cat.roads[s.cat.roadIdx[corridor]]
	res := SignalPlanResult{AsOf: now, Corridor: corridor, RoadName: r.NameEn, RoadNameZh: r.NameZh, Plan: plan,
		MainGreenRatio: citytool.Round2(plan.MainGreenRatio())}
	var sumIdx, sumSpeed float64
	var worst Observation
	for o := range obs {
		seg, ok := s.cat.segmentRef(o.SegmentID)
		if !ok || seg.Road != corridor {
			continue
		}
		res.CorridorSegments++
		sumIdx += o.CongestionIndex
		sumSpeed += o.SpeedKmh
		res.MaxVCRatio = max(res.MaxVCRatio, o.VCRatio)
		if res.CorridorSegments == 1 || o.CongestionIndex > worst.CongestionIndex {
			worst = o
		}
	}
	if res.CorridorSegments > 0 {
		res.AverageIndex = citytool.Round2(sumIdx / float64(res.CorridorSegments))
		res.AverageSpeedKmh = citytool.Round2(sumSpeed / float64(res.CorridorSegments))
		st := s.cat.state(worst, nil)
		res.Worst = &st
	}
	res.Summary, res.SummaryZh = s.signalSummary(res)
	return tools.JSONResult(res, s.cat.Cite("Signal timing plan "+plan.ID+" 信号配时方案", now))
}

func (s *service) signalSummary(r SignalPlanResult) (en, zh string) {
	p := r.Plan
	var pe, pz []string
	for _, ph := range p.Phases {
		pe = append(pe, fmt.Sprintf("%s %d s", strings.ToLower(ph.Name), ph.GreenSec))
		pz = append(pz, fmt.Sprintf("%s%d秒", ph.NameZh, ph.GreenSec))
	}
	since := p.LastChanged.In(s.cat.Loc).Format("2006-01-02 15:04")
	var be, bz strings.Builder
	fmt.Fprintf(&be, "Signal plan %s %q on %s (%d intersections): cycle %d s; greens: %s; main-road through green %d s (%.0f%% of the cycle); offset %d s",
		p.ID, p.Name, r.RoadName, p.Intersections, p.CycleSec, strings.Join(pe, ", "), p.MainGreenSec(), r.MainGreenRatio*100, p.OffsetSec)
	fmt.Fprintf(&bz, "%s信号配时方案%s“%s”（%d个路口）：周期%d秒；绿灯：%s；主路直行绿灯%d秒（占周期%.0f%%）；相位差%d秒",
		r.RoadNameZh, p.ID, p.NameZh, p.Intersections, p.CycleSec, strings.Join(pz, "，"), p.MainGreenSec(), r.MainGreenRatio*100, p.OffsetSec)
	if p.Coordinated {
		be.WriteString("; coordinated green wave")
		bz.WriteString("；绿波协调")
	}
	fmt.Fprintf(&be, "; in effect since %s, set by %s.", since, p.ChangedBy)
	fmt.Fprintf(&bz, "；%s起执行，调整人：%s。", since, p.ChangedBy)
	if r.Worst != nil {
		we, wz := s.cat.headline(*r.Worst)
		whenEn, whenZh := s.cat.When(r.AsOf)
		ae, az := s.cat.Speed(r.AverageSpeedKmh)
		fmt.Fprintf(&be, " Corridor at %s: average congestion index %.2f, %s over %d segments; worst %s.", whenEn, r.AverageIndex, ae, r.CorridorSegments, we)
		fmt.Fprintf(&bz, "%s该干线%d个路段平均拥堵指数%.2f，平均车速%s；最堵：%s。", whenZh, r.CorridorSegments, r.AverageIndex, az, wz)
		if r.MaxVCRatio > 1 && r.MainGreenRatio < 0.5 {
			fmt.Fprintf(&be, " Demand exceeds capacity (v/c up to %.2f) while the main road is green only %.0f%% of the cycle; more main-road green would add capacity.", r.MaxVCRatio, r.MainGreenRatio*100)
			fmt.Fprintf(&bz, "车流量超过通行能力（饱和度最高%.2f），而主路绿灯仅占周期%.0f%%，延长主路绿灯可提高通行能力。", r.MaxVCRatio, r.MainGreenRatio*100)
		}
	}
	return be.String(), bz.String()
}
