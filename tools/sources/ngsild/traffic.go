package ngsild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cityagent/cityagent/tools/traffic"
)

// Default entity and attribute names of the traffic adapter, after the Smart
// Data Models (dataModel.Transportation). Mapping keys override them.
var trafficDefaults = map[string]string{
	"segment_type":  "RoadSegment",
	"road_type":     "Road",
	"flow_type":     "TrafficFlowObserved",
	"district":      "areaServed",     // on RoadSegment: the district id
	"district_name": "address",        // its "district" sub-property names the district
	"free_flow":     "freeFlowSpeed",  // km/h; else 85% of maximumAllowedSpeed
	"road_class":    "roadClass",      // on Road
	"direction":     "laneDirection",  // on RoadSegment, if any
	"segment_ref":   "refRoadSegment", // on TrafficFlowObserved
}

// TrafficConfig configures the traffic adapter.
type TrafficConfig struct {
	Source   string // citation name; default "ngsild:traffic"
	Location *time.Location
	Mapping  map[string]string
	// Fresh is how old the broker's current observations may be to answer
	// for a time; older ones send the question to the temporal API.
	Fresh time.Duration
	// Units is how the tools show speeds (citytool.UnitsMetric or UnitsImperial).
	Units string
}

// Traffic is a traffic.Source over a context broker: the network from
// RoadSegment (and Road) entities loaded at start, observations from
// TrafficFlowObserved entities, history from the temporal API.
type Traffic struct {
	c       *Client
	cfg     TrafficConfig
	m       map[string]string
	net     traffic.Network
	byID    map[string]traffic.Segment
	fullIDs map[string]string // short segment id → entity id
}

var (
	_ traffic.Source        = (*Traffic)(nil)
	_ traffic.HistorySource = (*Traffic)(nil)
)

func merged(defaults, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range defaults {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// NewTraffic loads the road network from the broker.
func NewTraffic(ctx context.Context, c *Client, cfg TrafficConfig) (*Traffic, error) {
	if cfg.Source == "" {
		cfg.Source = "ngsild:traffic"
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Fresh <= 0 {
		cfg.Fresh = 30 * time.Minute
	}
	t := &Traffic{c: c, cfg: cfg, m: merged(trafficDefaults, cfg.Mapping), byID: map[string]traffic.Segment{}, fullIDs: map[string]string{}}
	roads, err := c.Entities(ctx, Query{Type: t.m["road_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: load roads: %w", err)
	}
	type roadInfo struct{ zh, en, class string }
	roadBy := map[string]roadInfo{}
	for _, r := range roads {
		zh, en := names(r)
		roadBy[r.ID] = roadInfo{zh, en, r.Text(t.m["road_class"])}
	}
	segs, err := c.Entities(ctx, Query{Type: t.m["segment_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: load road segments: %w", err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no %s entities", ErrBroker, t.m["segment_type"])
	}
	districts := map[string]traffic.District{}
	net := traffic.Network{Source: cfg.Source, Location: cfg.Location, Units: cfg.Units}
	for _, e := range segs {
		s := traffic.Segment{ID: ShortID(e.ID)}
		s.NameZh, s.NameEn = names(e)
		ref := e.Object("refRoad")
		s.Road = ShortID(ref)
		ri := roadBy[ref]
		s.RoadZh, s.RoadEn, s.Class = orDefault(ri.zh, s.Road), orDefault(ri.en, s.Road), orDefault(ri.class, traffic.ClassArterial)
		if s.Road == "" {
			s.Road, s.RoadZh, s.RoadEn = s.ID, s.NameZh, s.NameEn
		}
		var dzh, den string
		s.District, dzh, den = district(e, t.m)
		if _, ok := districts[s.District]; !ok {
			districts[s.District] = traffic.District{ID: s.District, NameZh: dzh, NameEn: den}
		}
		s.Direction = e.Text(t.m["direction"])
		if n, _, ok := e.Number("totalLaneNumber"); ok {
			s.Lanes = int(n)
		}
		s.Lanes = max(s.Lanes, 1)
		if l, unit, ok := e.Number("length"); ok && l > 0 {
			s.LengthKm = lengthKm(l, unit)
		} else {
			s.LengthKm = math.Round(pathKm(e.LineString("location"))*1000) / 1000
		}
		s.SpeedLimitKmh, _ = e.speedKmh("maximumAllowedSpeed")
		if ff, ok := e.speedKmh(t.m["free_flow"]); ok && ff > 0 {
			s.FreeFlowKmh = ff
		} else {
			s.FreeFlowKmh = math.Round(0.85 * s.SpeedLimitKmh)
		}
		if s.LengthKm <= 0 {
			return nil, fmt.Errorf("%w: %s has neither a length nor a LineString location", ErrBroker, e.ID)
		}
		s.Signalized = s.Class != traffic.ClassExpressway
		net.Segments = append(net.Segments, s)
		t.fullIDs[s.ID] = e.ID
	}
	if err := t.observedSpeeds(ctx, net.Segments); err != nil {
		return nil, err
	}
	for _, s := range net.Segments {
		t.byID[s.ID] = s
	}
	sort.Slice(net.Segments, func(i, j int) bool { return net.Segments[i].ID < net.Segments[j].ID })
	for _, d := range districts {
		net.Districts = append(net.Districts, d)
	}
	sort.Slice(net.Districts, func(i, j int) bool { return net.Districts[i].ID < net.Districts[j].ID })
	t.net = net
	return t, nil
}

// observedSpeeds gives segments without a speed limit or free-flow speed
// the fastest speed observed on them now (a free-flow estimate), or fails.
func (t *Traffic) observedSpeeds(ctx context.Context, segs []traffic.Segment) error {
	var missing []int
	for i, s := range segs {
		if s.FreeFlowKmh <= 0 {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ents, err := t.c.Entities(ctx, Query{Type: t.m["flow_type"]})
	if err != nil {
		return fmt.Errorf("ngsild: observed speeds: %w", err)
	}
	fastest := map[string]float64{}
	for _, e := range ents {
		if v, ok := e.speedKmh("averageVehicleSpeed"); ok {
			seg := ShortID(e.Object(t.m["segment_ref"]))
			fastest[seg] = max(fastest[seg], v)
		}
	}
	for _, i := range missing {
		if fastest[segs[i].ID] <= 0 {
			return fmt.Errorf("%w: %s has no maximumAllowedSpeed, %s or observed speed", ErrBroker, t.fullIDs[segs[i].ID], t.m["free_flow"])
		}
		segs[i].FreeFlowKmh = math.Round(fastest[segs[i].ID])
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WholeCity is the district of entities that name none (the Smart Data
// Models examples have no areaServed and often no address).
const WholeCity = "city"

// district reads an entity's district and its names: areaServed (named by
// address.district), else the address's locality, else WholeCity.
func district(e Entity, m map[string]string) (id, zh, en string) {
	if id = e.Text(m["district"]); id != "" {
		zh, en = splitNames(e.Sub(m["district_name"], "district"))
		return id, orDefault(zh, id), orDefault(en, id)
	}
	if loc := e.Sub("address", "addressLocality"); loc != "" {
		return loc, loc, loc
	}
	return WholeCity, "全市", "whole city"
}

// names reads an entity's Chinese and English names: a LanguageProperty
// name, or name and alternateName, or one name with both scripts in it.
func names(e Entity) (zh, en string) {
	zh, en = e.Lang("name", "zh"), e.Lang("name", "en")
	if zh != "" || en != "" {
		return orDefault(zh, en), orDefault(en, zh)
	}
	n, alt := e.Text("name"), e.Text("alternateName")
	if alt != "" {
		if hasHan(n) {
			return n, alt
		}
		return alt, n
	}
	zh, en = splitNames(n)
	return orDefault(zh, n), orDefault(en, n)
}

// splitNames splits "东城区 Dongcheng District" into its Chinese and English parts.
func splitNames(s string) (zh, en string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < 128 && unicode.IsLetter(r) })
	if i <= 0 || !hasHan(s[:i]) {
		if hasHan(s) {
			return s, ""
		}
		return "", s
	}
	return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Network implements traffic.Source.
func (t *Traffic) Network() traffic.Network { return t.net }

// observation turns segment s's reading f into an Observation at at; a
// segment without a reading is at free flow.
func (t *Traffic) observation(s traffic.Segment, f flow, at time.Time) traffic.Observation {
	speed := f.speed
	if !f.hasSpeed || speed <= 0 {
		speed = s.FreeFlowKmh
	}
	travel := s.LengthKm / speed * 3600
	free := s.LengthKm / s.FreeFlowKmh * 3600
	idx := math.Round(travel/free*100) / 100
	level := traffic.LevelOf(idx)
	return traffic.Observation{SegmentID: s.ID, At: at, FlowVehH: math.Round(f.vehH), SpeedKmh: round1(speed),
		Occupancy: math.Round(fraction(f.occ)*1000) / 1000, TravelTimeSec: round1(travel), FreeFlowTimeSec: round1(free),
		CongestionIndex: idx, Level: math.Round(level*1000) / 1000, Congested: level >= traffic.CongestedLevel || f.congested,
		Lanes: f.lanes}
}

// laneOf names the lane an entity observes: its laneId, else the entity.
func laneOf(e Entity) string {
	if n, _, ok := e.Number("laneId"); ok {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	if s := e.Text("laneId"); s != "" {
		return s
	}
	return e.ID
}

// currentFlow reads a current-state TrafficFlowObserved entity: one lane's
// (or a whole segment's) counts over the window dateObservedFrom–To, or
// the interval dateObserved, ending at the window's end.
func (t *Traffic) currentFlow(e Entity) flow {
	f := flow{lane: laneOf(e)}
	f.speed, f.hasSpeed = e.speedKmh("averageVehicleSpeed")
	count, _, hasVeh := e.Number("intensity")
	f.occ, _, f.hasOcc = e.Number("occupancy")
	f.congested, _ = e.Bool("congested")
	from, to, ok := e.IntervalIn("dateObserved", t.cfg.Location)
	if a, _, okA := e.IntervalIn("dateObservedFrom", t.cfg.Location); okA {
		if _, b, okB := e.IntervalIn("dateObservedTo", t.cfg.Location); okB && b.After(a) {
			from, to, ok = a, b, true
		}
	}
	if ok {
		f.at = to
	}
	f.vehH, f.hasVeh = perHour(count, to.Sub(from).Seconds()), hasVeh
	return f
}

// latestBySegment aggregates, for each segment, the latest reading of each
// of its lanes.
func latestBySegment(lanes map[string][]flow) map[string]flow {
	out := map[string]flow{}
	for seg, fs := range lanes {
		last := map[string]flow{}
		for _, f := range fs {
			if l, ok := last[f.lane]; !ok || f.at.After(l.at) {
				last[f.lane] = f
			}
		}
		group := make([]flow, 0, len(last))
		for _, f := range last {
			group = append(group, f)
		}
		out[seg] = aggregate(group)
	}
	return out
}

// Observe implements traffic.Source. The broker's current observations
// answer when they are fresh for at; otherwise the temporal API gives the
// last observation of each segment at or before at, and a broker without
// one (501) answers with its latest state, said so in each observation's
// note. A segment the broker has no observation for is at free flow.
func (t *Traffic) Observe(ctx context.Context, at time.Time) ([]traffic.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := t.c.Entities(ctx, Query{Type: t.m["flow_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: observe: %w", err)
	}
	lanes := map[string][]flow{}
	fresh := len(ents) > 0
	var newest time.Time
	for _, e := range ents {
		f := t.currentFlow(e)
		if f.at.IsZero() || f.at.After(at.Add(time.Minute)) || at.Sub(f.at) > t.cfg.Fresh {
			fresh = false
		}
		if f.at.After(newest) {
			newest = f.at
		}
		seg := ShortID(e.Object(t.m["segment_ref"]))
		lanes[seg] = append(lanes[seg], f)
	}
	bySeg := latestBySegment(lanes)
	note := ""
	if !fresh {
		hist, err := t.flowsAt(ctx, at)
		switch {
		case errors.Is(err, ErrNoTemporal) && len(ents) > 0:
			note = fmt.Sprintf("the broker has no temporal API, so these are the latest observations it holds (up to %s)",
				newest.In(t.cfg.Location).Format("2006-01-02 15:04 MST"))
		case err != nil:
			return nil, err
		default:
			bySeg = hist
		}
	}
	out := make([]traffic.Observation, 0, len(t.net.Segments))
	for _, s := range t.net.Segments {
		o := t.observation(s, bySeg[s.ID], at)
		o.Note = note
		out = append(out, o)
	}
	return out, nil
}

// flowsAt reads each segment's last observation at or before at from the temporal API.
func (t *Traffic) flowsAt(ctx context.Context, at time.Time) (map[string]flow, error) {
	ents, err := t.c.Temporal(ctx, TemporalQuery{Query: Query{Type: t.m["flow_type"], Attrs: flowAttrs(t.m)}, TimeRel: "before", TimeAt: at.Add(time.Second), LastN: 1})
	if err != nil {
		return nil, fmt.Errorf("ngsild: observe at %s: %w", at.Format(time.RFC3339), err)
	}
	lanes := map[string][]flow{}
	for _, e := range ents {
		seg := ShortID(e.Object(t.m["segment_ref"]))
		lanes[seg] = append(lanes[seg], t.temporalFlows(e)...)
	}
	return latestBySegment(lanes), nil
}

func flowAttrs(m map[string]string) []string {
	return []string{"averageVehicleSpeed", "intensity", "occupancy", "congested", "dateObserved", "dateObservedFrom", "dateObservedTo", "laneId", m["segment_ref"]}
}

// temporalFlows merges a temporal entity's attribute instances by time:
// one lane's readings, each over the entity's observation period.
func (t *Traffic) temporalFlows(e Entity) []flow {
	lane := laneOf(e)
	byT := map[int64]*flow{}
	get := func(ts time.Time) *flow {
		k := ts.UnixNano()
		if f, ok := byT[k]; ok {
			return f
		}
		f := &flow{at: ts, lane: lane}
		byT[k] = f
		return f
	}
	for _, in := range e.Instances("averageVehicleSpeed") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.speed, f.hasSpeed = speedKmh(v, in.UnitCode), true
		}
	}
	period := t.period(e)
	for _, in := range e.Instances("intensity") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.vehH, f.hasVeh = perHour(v, period), true
		}
	}
	for _, in := range e.Instances("occupancy") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.occ, f.hasOcc = v, true
		}
	}
	for _, in := range e.Instances("congested") {
		var b bool
		if json.Unmarshal(in.Value, &b) == nil {
			get(in.ObservedAt).congested = b
		}
	}
	out := make([]flow, 0, len(byT))
	for _, f := range byT {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// period is what a temporal entity's intensity counts over, in seconds:
// its first dateObservedFrom–To pair, else its first dateObserved interval.
func (t *Traffic) period(e Entity) float64 {
	text := func(name string) (Entity, bool) {
		ins := e.Instances(name)
		if len(ins) == 0 {
			return Entity{}, false
		}
		return Entity{Attrs: map[string]json.RawMessage{name: ins[0].Value}}, true
	}
	if fe, ok := text("dateObservedFrom"); ok {
		if te, ok := text("dateObservedTo"); ok {
			a, _, okA := fe.IntervalIn("dateObservedFrom", t.cfg.Location)
			_, b, okB := te.IntervalIn("dateObservedTo", t.cfg.Location)
			if okA && okB && b.After(a) {
				return b.Sub(a).Seconds()
			}
		}
	}
	if de, ok := text("dateObserved"); ok {
		if a, b, ok := de.IntervalIn("dateObserved", t.cfg.Location); ok {
			return b.Sub(a).Seconds()
		}
	}
	return 0
}

// History implements traffic.HistorySource over the temporal API: at each
// step, the segment's last observation at or before it, its lanes merged.
func (t *Traffic) History(ctx context.Context, segmentID string, from, to time.Time, step time.Duration) ([]traffic.Observation, error) {
	s, ok := t.byID[segmentID]
	if !ok {
		return nil, fmt.Errorf("ngsild: segment %q: %w", segmentID, traffic.ErrNotFound)
	}
	if step <= 0 || to.Before(from) {
		return nil, fmt.Errorf("ngsild: history of %s: need step > 0 and from ≤ to", segmentID)
	}
	ents, err := t.c.Temporal(ctx, TemporalQuery{
		Query:   Query{Type: t.m["flow_type"], Q: fmt.Sprintf("%s==%q", t.m["segment_ref"], t.fullIDs[segmentID]), Attrs: flowAttrs(t.m)},
		TimeRel: "between", TimeAt: from.Add(-t.cfg.Fresh), EndTimeAt: to.Add(time.Second)})
	if errors.Is(err, ErrNoTemporal) {
		return nil, fmt.Errorf("ngsild: history of %s: %w: %w", segmentID, traffic.ErrNoHistory, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ngsild: history of %s: %w", segmentID, err)
	}
	var lanes []flow
	for _, e := range ents {
		if ShortID(e.Object(t.m["segment_ref"])) == segmentID || len(ents) == 1 {
			lanes = append(lanes, t.temporalFlows(e)...)
		}
	}
	hist := bySegmentWindow(map[string][]flow{segmentID: lanes})[segmentID]
	var out []traffic.Observation
	k := -1
	for at := from; !at.After(to); at = at.Add(step) {
		for k+1 < len(hist) && !hist[k+1].at.After(at) {
			k++
		}
		var f flow
		if k >= 0 && at.Sub(hist[k].at) <= t.cfg.Fresh {
			f = hist[k]
		}
		out = append(out, t.observation(s, f, at))
	}
	return out, nil
}
