package ngsild

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// floatingLayouts are the DateTime forms without a zone that brokers carry
// (Smart Data Models examples write intervals so); they are read in the
// source's zone.
var floatingLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04"}

// parseDateTime reads an RFC 3339 time, or a floating one in loc.
func parseDateTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, l := range floatingLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// timeText returns a DateTime property's text: a plain string,
// {"@type":"DateTime","@value":…} or the {"type":"DateTime","value":…}
// some examples write.
func (e Entity) timeText(name string) (string, bool) {
	a, ok := e.value(name)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(a.Value, &s) == nil {
		return s, true
	}
	var dt struct {
		AtValue string `json:"@value"`
		Value   string `json:"value"`
	}
	if json.Unmarshal(a.Value, &dt) != nil {
		return "", false
	}
	if dt.AtValue != "" {
		return dt.AtValue, true
	}
	return dt.Value, dt.Value != ""
}

// IntervalIn reads a DateTime or an ISO 8601 interval "start/end" (a
// duration such as PT5M may stand for either end); floating times are read
// in loc. A single time is an interval of no length.
func (e Entity) IntervalIn(name string, loc *time.Location) (from, to time.Time, ok bool) {
	s, ok := e.timeText(name)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	a, b, isInterval := strings.Cut(s, "/")
	if !isInterval {
		t, ok := parseDateTime(s, loc)
		return t, t, ok
	}
	from, okA := parseDateTime(a, loc)
	to, okB := parseDateTime(b, loc)
	switch {
	case okA && okB:
	case okA:
		d, okD := isoDuration(b)
		to, okB = from.Add(d), okD
	case okB:
		d, okD := isoDuration(a)
		from, okA = to.Add(-d), okD
	}
	if !okA || !okB || to.Before(from) {
		return time.Time{}, time.Time{}, false
	}
	return from, to, true
}

// isoDuration reads the time part of an ISO 8601 duration: PT5M, PT1H30M, PT300S.
func isoDuration(s string) (time.Duration, bool) {
	s, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(s)), "PT")
	if !ok || s == "" {
		return 0, false
	}
	d, err := time.ParseDuration(strings.ToLower(s))
	return d, err == nil && d > 0
}

// LineString returns the [lon, lat] points of a GeoProperty LineString.
func (e Entity) LineString(name string) [][2]float64 {
	a, ok := e.value(name)
	if !ok {
		return nil
	}
	var g struct {
		Type        string       `json:"type"`
		Coordinates [][2]float64 `json:"coordinates"`
	}
	if json.Unmarshal(a.Value, &g) != nil || g.Type != "LineString" {
		return nil
	}
	return g.Coordinates
}

// earthRadiusKm is the mean Earth radius used by haversine.
const earthRadiusKm = 6371.0088

// pathKm is the haversine length of a path of [lon, lat] points.
func pathKm(pts [][2]float64) float64 {
	rad := math.Pi / 180
	km := 0.0
	for i := 1; i < len(pts); i++ {
		lon1, lat1, lon2, lat2 := pts[i-1][0]*rad, pts[i-1][1]*rad, pts[i][0]*rad, pts[i][1]*rad
		h := math.Pow(math.Sin((lat2-lat1)/2), 2) + math.Cos(lat1)*math.Cos(lat2)*math.Pow(math.Sin((lon2-lon1)/2), 2)
		km += 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
	}
	return km
}

// flow is one lane's (or a segment's) TrafficFlowObserved reading over the
// window ending at at; vehH is already per hour.
type flow struct {
	at                       time.Time
	lane                     string
	speed, vehH, occ         float64
	hasSpeed, hasVeh, hasOcc bool
	congested                bool
	lanes                    []traffic.Lane
	bad                      int // readings dropped as unreadable or implausible
}

// perHour converts a count over periodSec seconds to vehicles per hour; a
// count over an unknown period is taken as hourly already.
func perHour(count, periodSec float64) float64 {
	if periodSec > 0 {
		return count * 3600 / periodSec
	}
	return count
}

// aggregate merges lane readings of one segment and window: flows add up,
// speed is flow-weighted (a plain mean when no lane has flow), occupancy is
// the lanes' mean and the segment is congested if any lane says so. More
// than one lane keeps each lane's figures.
func aggregate(lanes []flow) flow {
	if len(lanes) == 1 {
		return lanes[0]
	}
	sort.Slice(lanes, func(i, j int) bool { return lanes[i].lane < lanes[j].lane })
	out := flow{at: lanes[0].at}
	var wSpeed, wFlow, plainSpeed, occ float64
	var nSpeed, nOcc int
	for _, l := range lanes {
		if l.at.After(out.at) {
			out.at = l.at
		}
		out.congested = out.congested || l.congested
		out.bad += l.bad
		if l.hasVeh {
			out.vehH += l.vehH
			out.hasVeh = true
		}
		if l.hasSpeed {
			plainSpeed += l.speed
			nSpeed++
			if l.hasVeh {
				wSpeed += l.speed * l.vehH
				wFlow += l.vehH
			}
		}
		if l.hasOcc {
			occ += l.occ
			nOcc++
		}
		out.lanes = append(out.lanes, traffic.Lane{ID: l.lane, FlowVehH: math.Round(l.vehH), SpeedKmh: round1(l.speed),
			Occupancy: math.Round(fraction(l.occ)*1000) / 1000, Congested: l.congested})
	}
	switch {
	case wFlow > 0:
		out.speed, out.hasSpeed = wSpeed/wFlow, true
	case nSpeed > 0:
		out.speed, out.hasSpeed = plainSpeed/float64(nSpeed), true
	}
	if nOcc > 0 {
		out.occ, out.hasOcc = occ/float64(nOcc), true
	}
	return out
}

// fraction reads an occupancy given as 0–1 or as a percentage.
func fraction(occ float64) float64 {
	if occ > 1 {
		return occ / 100
	}
	return occ
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// bySegmentWindow groups lane readings by segment and window end and
// aggregates each group.
func bySegmentWindow(lanes map[string][]flow) map[string][]flow {
	out := map[string][]flow{}
	for seg, fs := range lanes {
		byT := map[int64][]flow{}
		for _, f := range fs {
			byT[f.at.UnixNano()] = append(byT[f.at.UnixNano()], f)
		}
		for _, group := range byT {
			out[seg] = append(out[seg], aggregate(group))
		}
		sort.Slice(out[seg], func(i, j int) bool { return out[seg][i].at.Before(out[seg][j].at) })
	}
	return out
}
