package soda

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/sources/internal/bldsmap"
	"github.com/cityagent/cityagent/tools/sources/internal/cleantext"
	"github.com/cityagent/cityagent/tools/traffic"
)

// ChicagoTrafficMapping maps the traffic adapter's fields to the columns of
// Chicago's "Congestion Estimates by Segments" dataset (n4j6-wkkf): speeds
// in mph, -1 when a segment has no current estimate, lengths in miles.
func ChicagoTrafficMapping() map[string]string {
	return map[string]string{
		"segment_id": "segmentid",
		"street":     "street",
		"direction":  "_direction",
		"from":       "_fromst",
		"to":         "_tost",
		"length":     "_length",
		"speed":      "_traffic",
		"updated":    "_last_updt",
		"district":   "", // optional: a column naming the segment's district
	}
}

// TrafficConfig configures a Traffic source.
type TrafficConfig struct {
	URL      string // the dataset's resource URL
	AppToken string
	// Mapping maps fields to columns; missing keys take ChicagoTrafficMapping's.
	Mapping  map[string]string
	HTTP     *http.Client
	Source   string         // citation name; default "soda:<host>/<dataset>"
	Location *time.Location // zone of the dataset's floating timestamps
	MaxBytes int64
	// Metric says speeds are km/h and lengths km; by default they are mph
	// and miles, as US feeds publish them.
	Metric bool
	// FreeFlow is the free-flow speed in the dataset's unit; default 30
	// (Chicago's default speed limit, mph).
	FreeFlow float64
	// Districts names district codes of the district column, if mapped.
	Districts map[string]string
	// Units is how the tools show speeds (citytool.UnitsMetric or
	// UnitsImperial), whatever unit the feed is in.
	Units string
}

// WholeCity is the district of segments whose feed names none; name it
// in TrafficConfig.Districts.
const WholeCity = "city"

// Traffic is a traffic.Source over a SODA segment-speed dataset: the
// network from the segments, observations from their current speeds.
type Traffic struct {
	cfg   TrafficConfig
	url   string
	m     map[string]string
	net   traffic.Network
	scale float64 // dataset unit → km (and per hour)
}

var _ traffic.Source = (*Traffic)(nil)

// NewTraffic reads the segments of the dataset.
func NewTraffic(ctx context.Context, cfg TrafficConfig) (*Traffic, error) {
	u, err := resolve(cfg.URL, &cfg.HTTP, &cfg.Location, &cfg.Source)
	if err != nil {
		return nil, err
	}
	m := ChicagoTrafficMapping()
	for k, v := range cfg.Mapping {
		m[k] = v
	}
	if cfg.FreeFlow <= 0 {
		cfg.FreeFlow = 30
	}
	t := &Traffic{cfg: cfg, url: u.Scheme + "://" + u.Host + u.Path, m: m, scale: 1.609344}
	if cfg.Metric {
		t.scale = 1
	}
	rows, err := t.rows(ctx)
	if err != nil {
		return nil, err
	}
	t.net = traffic.Network{Source: cfg.Source, Location: cfg.Location, Units: cfg.Units}
	districts := map[string]bool{}
	for _, r := range rows {
		s, ok := t.segment(r)
		if !ok {
			continue // a row without an id or a length cannot be a segment
		}
		t.net.Segments = append(t.net.Segments, s)
		if s.District != "" && !districts[s.District] {
			districts[s.District] = true
			name := orCode(cleantext.Clean(cfg.Districts[s.District], 0), s.District)
			t.net.Districts = append(t.net.Districts, traffic.District{ID: s.District, NameEn: name, NameZh: name})
		}
	}
	if len(t.net.Segments) == 0 {
		return nil, fmt.Errorf("%w: no row has a %s and a %s", ErrDataset, m["segment_id"], m["length"])
	}
	sort.Slice(t.net.Segments, func(i, j int) bool { return t.net.Segments[i].ID < t.net.Segments[j].ID })
	sort.Slice(t.net.Districts, func(i, j int) bool { return t.net.Districts[i].ID < t.net.Districts[j].ID })
	return t, nil
}

// rows reads every row of the dataset (segment feeds hold a few thousand).
func (t *Traffic) rows(ctx context.Context) ([]map[string]any, error) {
	src := &Source{cfg: Config{AppToken: t.cfg.AppToken, HTTP: t.cfg.HTTP, MaxBytes: t.cfg.MaxBytes}, url: t.url}
	v := url.Values{}
	v.Set("$limit", "50000")
	v.Set("$order", t.m["segment_id"])
	rows, err := src.get(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("soda: traffic segments: %w", err)
	}
	return rows, nil
}

func (t *Traffic) text(r map[string]any, field string) string {
	if col := t.m[field]; col != "" {
		return strings.TrimSpace(bldsmap.Text(r[col]))
	}
	return ""
}

func (t *Traffic) number(r map[string]any, field string) (float64, bool) {
	f, err := strconv.ParseFloat(t.text(r, field), 64)
	return f, err == nil
}

// segment reads a row's segment: "Street Dir: From to To".
func (t *Traffic) segment(r map[string]any) (traffic.Segment, bool) {
	id := t.text(r, "segment_id")
	length, ok := t.number(r, "length")
	if id == "" || cleantext.Clean(id, 64) != id || !ok || !(length > 0) || math.IsInf(length, 0) {
		return traffic.Segment{}, false
	}
	street, dir := cleantext.Clean(t.text(r, "street"), 0), cleantext.Clean(t.text(r, "direction"), 16)
	name := strings.TrimSpace(street + " " + dir)
	if from, to := cleantext.Clean(t.text(r, "from"), 0), cleantext.Clean(t.text(r, "to"), 0); from != "" || to != "" {
		name += ": " + from + " to " + to
	}
	road := strings.ToLower(strings.Join(strings.Fields(street), "-"))
	s := traffic.Segment{ID: id, NameEn: name, NameZh: name, Road: orCode(road, id), RoadEn: orCode(street, id), RoadZh: orCode(street, id),
		District: orCode(cleantext.Clean(t.text(r, "district"), 64), WholeCity), Direction: dir, Class: traffic.ClassArterial, Lanes: 1,
		LengthKm: math.Round(length*t.scale*1000) / 1000, FreeFlowKmh: math.Round(t.cfg.FreeFlow*t.scale*10) / 10, Signalized: true}
	s.SpeedLimitKmh = s.FreeFlowKmh
	return s, true
}

// staleAfter is how old an estimate may be to stand for now.
const staleAfter = time.Hour

// updated reads a row's last-update time, a floating timestamp such as
// "2024-05-01 16:50:35.0" or "2024-05-01T16:50:35.000" in the dataset's zone.
func (t *Traffic) updated(r map[string]any) (time.Time, bool) {
	s := strings.Replace(t.text(r, "updated"), " ", "T", 1)
	for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if v, err := time.ParseInLocation(l, s, t.cfg.Location); err == nil {
			return v, true
		}
	}
	return time.Time{}, false
}

// noEstimate is the note on segments the feed has no current speed for,
// in English and Chinese.
const (
	noEstimate   = "segments without a current estimate (speed -1, unreadable or over an hour old) are shown at free flow"
	noEstimateZh = "无当前估计值的路段（车速为-1、无法识别或超过一小时未更新）按畅行车速显示"
)

// maxSpeedKmh bounds a plausible speed estimate.
const maxSpeedKmh = 300.0

// Observe implements traffic.Source with the feed's current estimates;
// the feed keeps no history, so every time reads the latest.
func (t *Traffic) Observe(ctx context.Context, at time.Time) ([]traffic.Observation, error) {
	rows, err := t.rows(ctx)
	if err != nil {
		return nil, err
	}
	speed, bad := t.speeds(rows, at)
	out := make([]traffic.Observation, 0, len(t.net.Segments))
	for _, s := range t.net.Segments {
		v, ok := speed[s.ID]
		o := traffic.Observation{SegmentID: s.ID, At: at, Rejected: bad[s.ID]}
		if !ok || v <= 0 {
			v, o.Note, o.NoteZh, o.Estimated = s.FreeFlowKmh, noEstimate, noEstimateZh, true
		}
		travel, free := s.LengthKm/v*3600, s.LengthKm/s.FreeFlowKmh*3600
		o.SpeedKmh = math.Round(v*10) / 10
		o.TravelTimeSec, o.FreeFlowTimeSec = math.Round(travel*10)/10, math.Round(free*10)/10
		o.CongestionIndex = math.Round(travel/free*100) / 100
		o.Level = math.Round(traffic.LevelOf(o.CongestionIndex)*1000) / 1000
		o.Congested = o.Level >= traffic.CongestedLevel
		out = append(out, o)
	}
	return out, nil
}

// speeds reads each segment's current estimate in km/h from rows, leaving
// out stale ones and the "no estimate" marker -1; a speed that is not a
// number (text such as "fast", NaN) or beyond maxSpeedKmh is bad data,
// counted by segment.
func (t *Traffic) speeds(rows []map[string]any, at time.Time) (speed map[string]float64, bad map[string]int) {
	speed, bad = map[string]float64{}, map[string]int{}
	for _, r := range rows {
		id := t.text(r, "segment_id")
		if up, ok := t.updated(r); ok && at.Sub(up) > staleAfter {
			continue // an estimate that old says nothing about now
		}
		raw := t.text(r, "speed")
		v, ok := t.number(r, "speed")
		switch {
		case raw == "" || (ok && v == -1):
		case !ok || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v*t.scale > maxSpeedKmh:
			bad[id]++
		default:
			speed[id] = v * t.scale
		}
	}
	return speed, bad
}

// Network implements traffic.Source.
func (t *Traffic) Network() traffic.Network { return t.net }
