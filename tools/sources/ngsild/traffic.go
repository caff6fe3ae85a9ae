package ngsild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cityagent/cityagent/tools/sources/internal/cleantext"
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
	// Log receives a warning for each entity left out at load (nil: none).
	Log *slog.Logger
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
	skipped []string          // entities left out at load, with the reason
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
		roadBy[r.ID] = roadInfo{zh, en, cleantext.Clean(r.Text(t.m["road_class"]), 0)}
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
		if s.ID == "" || cleantext.Clean(s.ID, 64) != s.ID {
			t.skip(e.ID, "its id is empty, longer than 64 characters or holds spaces or control characters")
			continue
		}
		s.NameZh, s.NameEn = names(e)
		ref := e.Object("refRoad")
		s.Road = cleantext.Clean(ShortID(ref), 64)
		ri := roadBy[ref]
		s.RoadZh, s.RoadEn, s.Class = orDefault(ri.zh, s.Road), orDefault(ri.en, s.Road), orDefault(ri.class, traffic.ClassArterial)
		if s.Road == "" {
			s.Road, s.RoadZh, s.RoadEn = s.ID, s.NameZh, s.NameEn
		}
		var dzh, den string
		s.District, dzh, den = district(e, t.m)
		s.Direction = cleantext.Clean(e.Text(t.m["direction"]), 0)
		if why := t.measureSegment(e, &s); why != "" {
			t.skip(e.ID, why)
			continue
		}
		if _, ok := districts[s.District]; !ok {
			districts[s.District] = traffic.District{ID: s.District, NameZh: dzh, NameEn: den}
		}
		s.Signalized = s.Class != traffic.ClassExpressway
		net.Segments = append(net.Segments, s)
		t.fullIDs[s.ID] = e.ID
	}
	if err := t.observedSpeeds(ctx, &net); err != nil {
		return nil, err
	}
	if len(net.Segments) == 0 {
		return nil, fmt.Errorf("%w: none of the %d %s entities is usable (first: %s)", ErrBroker, len(segs), t.m["segment_type"], t.skipped[0])
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

// measureSegment reads a RoadSegment's lanes, length, speed limit and
// free-flow speed into s, or says why the entity is unusable.
func (t *Traffic) measureSegment(e Entity, s *traffic.Segment) string {
	n, present, ok := e.measure("totalLaneNumber", asIs, 50)
	if present && !ok {
		return "totalLaneNumber is not a plausible lane count (0–50)"
	}
	s.Lanes = max(int(n), 1)
	if l, present, ok := e.measure("length", lengthKm, MaxSegmentKm); present && !ok {
		return fmt.Sprintf("length is not a plausible length (0–%.0f km)", MaxSegmentKm)
	} else if ok && l > 0 {
		s.LengthKm = l
	} else {
		s.LengthKm = math.Round(pathKm(e.LineString("location"))*1000) / 1000
	}
	if !inRange(s.LengthKm, 0, MaxSegmentKm) || s.LengthKm <= 0 {
		return "it has neither a length nor a LineString location"
	}
	if v, present, ok := e.measure("maximumAllowedSpeed", speedKmh, MaxSpeedKmh); present && !ok {
		return badSpeed(e, "maximumAllowedSpeed")
	} else {
		s.SpeedLimitKmh = v
	}
	ff, present, ok := e.measure(t.m["free_flow"], speedKmh, MaxSpeedKmh)
	switch {
	case present && !ok:
		return badSpeed(e, t.m["free_flow"])
	case ok && ff > 0:
		s.FreeFlowKmh = ff
	default:
		s.FreeFlowKmh = math.Round(0.85 * s.SpeedLimitKmh)
	}
	return ""
}

// skip leaves a RoadSegment out of the network, with a warning naming it
// and why.
func (t *Traffic) skip(id, why string) {
	id, why = cleantext.Clean(id, 200), cleantext.Clean(why, 300)
	t.skipped = append(t.skipped, id+": "+why)
	if t.cfg.Log != nil {
		t.cfg.Log.Warn("ngsild: road segment left out of the network", "entity", id, "reason", why)
	}
}

// Skipped lists the RoadSegment entities left out of the network at load,
// each with the reason.
func (t *Traffic) Skipped() []string { return slices.Clone(t.skipped) }

// observedSpeeds gives segments without a speed limit or free-flow speed
// the fastest plausible speed observed on them now (a free-flow estimate);
// a segment without one is left out of the network.
func (t *Traffic) observedSpeeds(ctx context.Context, net *traffic.Network) error {
	missing := slices.ContainsFunc(net.Segments, func(s traffic.Segment) bool { return s.FreeFlowKmh <= 0 })
	if !missing {
		return nil
	}
	ents, err := t.c.Entities(ctx, Query{Type: t.m["flow_type"]})
	if err != nil {
		return fmt.Errorf("ngsild: observed speeds: %w", err)
	}
	fastest := map[string]float64{}
	for _, e := range ents {
		if v, _, ok := e.measure("averageVehicleSpeed", speedKmh, MaxSpeedKmh); ok {
			seg := ShortID(e.Object(t.m["segment_ref"]))
			fastest[seg] = max(fastest[seg], v)
		}
	}
	kept := net.Segments[:0]
	for _, s := range net.Segments {
		if s.FreeFlowKmh <= 0 {
			if fastest[s.ID] <= 0 {
				t.skip(t.fullIDs[s.ID], fmt.Sprintf("it has no usable maximumAllowedSpeed, %s or observed speed", t.m["free_flow"]))
				delete(t.fullIDs, s.ID)
				continue
			}
			s.FreeFlowKmh = math.Round(fastest[s.ID])
		}
		kept = append(kept, s)
	}
	net.Segments = kept
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
	id, zh, en = rawDistrict(e, m)
	return cleantext.Clean(id, 0), cleantext.Clean(zh, 0), cleantext.Clean(en, 0)
}

func rawDistrict(e Entity, m map[string]string) (id, zh, en string) {
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
	zh, en = rawNames(e)
	return cleantext.Clean(zh, 0), cleantext.Clean(en, 0)
}

func rawNames(e Entity) (zh, en string) {
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
	estimated := !f.hasSpeed || speed <= 0
	if estimated {
		speed = s.FreeFlowKmh
	}
	travel := s.LengthKm / speed * 3600
	free := s.LengthKm / s.FreeFlowKmh * 3600
	idx := math.Round(travel/free*100) / 100
	level := traffic.LevelOf(idx)
	return traffic.Observation{SegmentID: s.ID, At: at, FlowVehH: math.Round(f.vehH), SpeedKmh: round1(speed),
		Occupancy: math.Round(fraction(f.occ)*1000) / 1000, TravelTimeSec: round1(travel), FreeFlowTimeSec: round1(free),
		CongestionIndex: idx, Level: math.Round(level*1000) / 1000, Congested: level >= traffic.CongestedLevel || f.congested,
		Lanes: f.lanes, Estimated: estimated, Rejected: f.bad, ObservedAt: observedAt(f, estimated, t.cfg.Location)}
}

// observedAt is when f was measured, in loc; zero for an estimate.
func observedAt(f flow, estimated bool, loc *time.Location) time.Time {
	if estimated || f.at.IsZero() {
		return time.Time{}
	}
	return f.at.In(loc)
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
// Unreadable or implausible figures are dropped and counted in f.bad; the
// flow cap is per lane, times lanes for an entity that observes the whole
// segment.
func (t *Traffic) currentFlow(e Entity, lanes int) flow {
	f := flow{lane: laneOf(e)}
	var present bool
	f.speed, present, f.hasSpeed = e.measure("averageVehicleSpeed", speedKmh, MaxSpeedKmh)
	f.bad += badIf(present && !f.hasSpeed)
	count, present, hasVeh := e.measure("intensity", asIs, math.MaxFloat64)
	f.bad += badIf(present && !hasVeh)
	f.occ, present, f.hasOcc = e.measure("occupancy", asIs, maxOccupancy)
	f.bad += badIf(present && !f.hasOcc)
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
	if _, perLane := e.value("laneId"); !perLane {
		lanes = max(lanes, 1)
	} else {
		lanes = 1
	}
	if f.hasVeh && !inRange(f.vehH, 0, MaxLaneFlowVehH*float64(lanes)) {
		f.vehH, f.hasVeh = 0, false
		f.bad++
	}
	if !f.hasSpeed {
		f.speed = 0
	}
	if !f.hasOcc {
		f.occ = 0
	}
	return f
}

// badIf is 1 for a reading dropped as bad data, else 0.
func badIf(bad bool) int {
	if bad {
		return 1
	}
	return 0
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
		seg := ShortID(e.Object(t.m["segment_ref"]))
		f := t.currentFlow(e, t.byID[seg].Lanes)
		if f.at.IsZero() || f.at.After(at.Add(time.Minute)) || at.Sub(f.at) > t.cfg.Fresh {
			fresh = false
		}
		if f.at.After(newest) {
			newest = f.at
		}
		lanes[seg] = append(lanes[seg], f)
	}
	bySeg := latestBySegment(lanes)
	note, noteZh := "", ""
	if !fresh {
		hist, err := t.flowsAt(ctx, at)
		switch {
		case errors.Is(err, ErrNoTemporal) && len(ents) > 0:
			note, noteZh = latestNote(newest.In(t.cfg.Location))
		case errors.Is(err, ErrNoTemporal):
			note, noteZh = "the broker holds no observations and has no temporal API", "数据源当前没有观测数据，也不提供历史数据接口"
		case err != nil:
			return nil, err
		default:
			bySeg = hist
		}
	}
	out := make([]traffic.Observation, 0, len(t.net.Segments))
	for _, s := range t.net.Segments {
		o := t.observation(s, bySeg[s.ID], at)
		o.Note, o.NoteZh = note, noteZh
		out = append(out, o)
	}
	return out, nil
}

// latestNote says, in English and Chinese, that a broker without a
// temporal API answered with its latest state, observed up to newest.
func latestNote(newest time.Time) (en, zh string) {
	ts := newest.Format("2006-01-02 15:04 MST")
	return fmt.Sprintf("the broker has no temporal API, so these are the latest observations it holds (up to %s)", ts),
		fmt.Sprintf("数据源不提供历史数据接口，以下为其最新观测（截至%s）", ts)
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
		f := get(in.ObservedAt)
		if v, ok := measureInstance(in, speedKmh, MaxSpeedKmh); ok {
			f.speed, f.hasSpeed = v, true
		} else {
			f.bad++
		}
	}
	period, limit := t.period(e), t.flowCap(e)
	for _, in := range e.Instances("intensity") {
		f := get(in.ObservedAt)
		v, ok := measureInstance(in, asIs, math.MaxFloat64)
		if vh := perHour(v, period); ok && inRange(vh, 0, limit) {
			f.vehH, f.hasVeh = vh, true
		} else {
			f.bad++
		}
	}
	for _, in := range e.Instances("occupancy") {
		f := get(in.ObservedAt)
		if v, ok := measureInstance(in, asIs, maxOccupancy); ok {
			f.occ, f.hasOcc = v, true
		} else {
			f.bad++
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

// flowCap is the most vehicles per hour entity e can plausibly observe:
// one lane's cap, times the segment's lanes for an entity without laneId.
func (t *Traffic) flowCap(e Entity) float64 {
	if _, perLane := e.Attrs["laneId"]; perLane {
		return MaxLaneFlowVehH
	}
	return MaxLaneFlowVehH * float64(max(t.byID[ShortID(e.Object(t.m["segment_ref"]))].Lanes, 1))
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
