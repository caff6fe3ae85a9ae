package ngsild

import (
	"context"
	"fmt"
	"math"
	"sort"
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
	net := traffic.Network{Source: cfg.Source, Location: cfg.Location}
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
		s.District = e.Text(t.m["district"])
		if s.District != "" {
			if _, ok := districts[s.District]; !ok {
				zh, en := splitNames(e.Sub(t.m["district_name"], "district"))
				districts[s.District] = traffic.District{ID: s.District, NameZh: orDefault(zh, s.District), NameEn: orDefault(en, s.District)}
			}
		}
		s.Direction = e.Text(t.m["direction"])
		if n, _, ok := e.Number("totalLaneNumber"); ok {
			s.Lanes = int(n)
		}
		s.Lanes = max(s.Lanes, 1)
		s.LengthKm, _, _ = e.Number("length")
		s.SpeedLimitKmh, _, _ = e.Number("maximumAllowedSpeed")
		if ff, _, ok := e.Number(t.m["free_flow"]); ok && ff > 0 {
			s.FreeFlowKmh = ff
		} else {
			s.FreeFlowKmh = math.Round(0.85 * s.SpeedLimitKmh)
		}
		if s.FreeFlowKmh <= 0 || s.LengthKm <= 0 {
			return nil, fmt.Errorf("%w: %s lacks length or speeds", ErrBroker, e.ID)
		}
		s.Signalized = s.Class != traffic.ClassExpressway
		net.Segments = append(net.Segments, s)
		t.byID[s.ID] = s
		t.fullIDs[s.ID] = e.ID
	}
	sort.Slice(net.Segments, func(i, j int) bool { return net.Segments[i].ID < net.Segments[j].ID })
	for _, d := range districts {
		net.Districts = append(net.Districts, d)
	}
	sort.Slice(net.Districts, func(i, j int) bool { return net.Districts[i].ID < net.Districts[j].ID })
	t.net = net
	return t, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
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

// flow is one TrafficFlowObserved reading.
type flow struct {
	at                       time.Time
	speed, veh, occ          float64
	hasSpeed, hasVeh, hasOcc bool
	periodSec                float64
}

// observation turns a flow reading of segment s into an Observation at at.
func (t *Traffic) observation(s traffic.Segment, f flow, at time.Time) traffic.Observation {
	speed := f.speed
	if !f.hasSpeed || speed <= 0 {
		speed = s.FreeFlowKmh
	}
	travel := s.LengthKm / speed * 3600
	free := s.LengthKm / s.FreeFlowKmh * 3600
	idx := math.Round(travel/free*100) / 100
	level := traffic.LevelOf(idx)
	veh := f.veh
	if f.periodSec > 0 {
		veh = f.veh * 3600 / f.periodSec
	}
	occ := f.occ
	if occ > 1 { // percent
		occ /= 100
	}
	return traffic.Observation{SegmentID: s.ID, At: at, FlowVehH: math.Round(veh), SpeedKmh: math.Round(speed*10) / 10,
		Occupancy: math.Round(occ*1000) / 1000, TravelTimeSec: math.Round(travel*10) / 10, FreeFlowTimeSec: math.Round(free*10) / 10,
		CongestionIndex: idx, Level: math.Round(level*1000) / 1000, Congested: level >= traffic.CongestedLevel}
}

// currentFlow reads a current-state TrafficFlowObserved entity.
func currentFlow(e Entity) flow {
	var f flow
	f.speed, _, f.hasSpeed = e.Number("averageVehicleSpeed")
	f.veh, _, f.hasVeh = e.Number("intensity")
	f.occ, _, f.hasOcc = e.Number("occupancy")
	f.at, _ = e.Time("dateObserved")
	from, ok1 := e.Time("dateObservedFrom")
	to, ok2 := e.Time("dateObservedTo")
	if ok1 && ok2 && to.After(from) {
		f.periodSec = to.Sub(from).Seconds()
	}
	return f
}

// Observe implements traffic.Source. The broker's current observations
// answer when they are fresh for at; otherwise the temporal API gives the
// last observation of each segment at or before at. A segment the broker
// has no observation for is reported at free flow.
func (t *Traffic) Observe(ctx context.Context, at time.Time) ([]traffic.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := t.c.Entities(ctx, Query{Type: t.m["flow_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: observe: %w", err)
	}
	bySeg := map[string]flow{}
	fresh := len(ents) > 0
	for _, e := range ents {
		seg := ShortID(e.Object(t.m["segment_ref"]))
		f := currentFlow(e)
		if f.at.IsZero() || f.at.After(at.Add(time.Minute)) || at.Sub(f.at) > t.cfg.Fresh {
			fresh = false
			break
		}
		bySeg[seg] = f
	}
	if !fresh {
		bySeg, err = t.flowsAt(ctx, at)
		if err != nil {
			return nil, err
		}
	}
	out := make([]traffic.Observation, 0, len(t.net.Segments))
	for _, s := range t.net.Segments {
		out = append(out, t.observation(s, bySeg[s.ID], at))
	}
	return out, nil
}

// flowsAt reads each segment's last observation at or before at from the temporal API.
func (t *Traffic) flowsAt(ctx context.Context, at time.Time) (map[string]flow, error) {
	ents, err := t.c.Temporal(ctx, TemporalQuery{Query: Query{Type: t.m["flow_type"], Attrs: flowAttrs(t.m)}, TimeRel: "before", TimeAt: at.Add(time.Second), LastN: 1})
	if err != nil {
		return nil, fmt.Errorf("ngsild: observe at %s: %w", at.Format(time.RFC3339), err)
	}
	out := map[string]flow{}
	for _, e := range ents {
		hist := temporalFlows(e, t.m)
		if len(hist) > 0 {
			out[ShortID(e.Object(t.m["segment_ref"]))] = hist[len(hist)-1]
		}
	}
	return out, nil
}

func flowAttrs(m map[string]string) []string {
	return []string{"averageVehicleSpeed", "intensity", "occupancy", "dateObservedFrom", "dateObservedTo", m["segment_ref"]}
}

// temporalFlows merges a temporal entity's attribute instances by time.
func temporalFlows(e Entity, m map[string]string) []flow {
	byT := map[int64]*flow{}
	get := func(ts time.Time) *flow {
		k := ts.UnixNano()
		if f, ok := byT[k]; ok {
			return f
		}
		f := &flow{at: ts}
		byT[k] = f
		return f
	}
	for _, in := range e.Instances("averageVehicleSpeed") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.speed, f.hasSpeed = v, true
		}
	}
	for _, in := range e.Instances("intensity") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.veh, f.hasVeh = v, true
		}
	}
	for _, in := range e.Instances("occupancy") {
		if v, ok := in.Float(); ok {
			f := get(in.ObservedAt)
			f.occ, f.hasOcc = v, true
		}
	}
	// A period attribute, when kept, tells what intensity counts over.
	var period float64
	from, to := e.Instances("dateObservedFrom"), e.Instances("dateObservedTo")
	if len(from) > 0 && len(to) > 0 {
		var a, b string
		if jsonString(from[0].Value, &a) && jsonString(to[0].Value, &b) {
			ta, err1 := time.Parse(time.RFC3339Nano, a)
			tb, err2 := time.Parse(time.RFC3339Nano, b)
			if err1 == nil && err2 == nil && tb.After(ta) {
				period = tb.Sub(ta).Seconds()
			}
		}
	}
	out := make([]flow, 0, len(byT))
	for _, f := range byT {
		f.periodSec = period
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// History implements traffic.HistorySource over the temporal API: at each
// step, the segment's last observation at or before it.
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
	if err != nil {
		return nil, fmt.Errorf("ngsild: history of %s: %w", segmentID, err)
	}
	var hist []flow
	for _, e := range ents {
		if ShortID(e.Object(t.m["segment_ref"])) == segmentID || len(ents) == 1 {
			hist = append(hist, temporalFlows(e, t.m)...)
		}
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].at.Before(hist[j].at) })
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
