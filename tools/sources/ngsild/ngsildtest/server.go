// Package ngsildtest provides an NGSI-LD context broker for tests: a real
// HTTP server on 127.0.0.1 that serves a demo city as Smart Data Models
// entities — Road, RoadSegment and TrafficFlowObserved for traffic, Building
// and ACMeasurement for energy — through /ngsi-ld/v1/entities and the
// temporal API /ngsi-ld/v1/temporal/entities, with pagination, q filters,
// NGSI-LD error bodies, and a record of the Link headers it received.
package ngsildtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/energy"
)

// meterModels says how each meter type carries power: ACMeasurement's
// totalActivePower in kW (KWT), DeviceMeasurement's numValue in watts (WTT),
// and which relationship names the building.
var meterModels = map[string]struct {
	attr, unit, ref string
	scale           float64
}{
	"ACMeasurement":     {"totalActivePower", "KWT", "refTargetDevice", 1},
	"DeviceMeasurement": {"numValue", "WTT", "refDevice", 1000},
}

// Context is the @context the server answers with.
const Context = "https://smartdatamodels.org/context.jsonld"

// flowStep is the spacing of TrafficFlowObserved history.
const flowStep = 5 * time.Minute

// Server is a context broker over a demo city.
type Server struct {
	URL  string
	city *democity.City
	srv  *httptest.Server

	mu       sync.Mutex
	links    []string
	requests int
	down     bool
}

// New starts a broker over city; it stops when the test ends.
func New(t testing.TB, city *democity.City) *Server {
	t.Helper()
	s := &Server{city: city}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ngsi-ld/v1/entities", s.entities)
	mux.HandleFunc("GET /ngsi-ld/v1/temporal/entities", s.temporal)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetDown makes every request fail with 503, as a broker that is down.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Links returns the Link headers received so far.
func (s *Server) Links() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.links)
}

// Requests counts requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func problem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://uri.etsi.org/ngsi-ld/errors/" + typ, "title": typ, "detail": detail})
}

// begin records the request and checks what every request needs.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	s.mu.Lock()
	s.requests++
	s.links = append(s.links, r.Header.Get("Link"))
	down := s.down
	s.mu.Unlock()
	if down {
		problem(w, http.StatusServiceUnavailable, "InternalError", "broker unavailable")
		return 0, 0, false
	}
	q := r.URL.Query()
	limit, offset = 20, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			problem(w, http.StatusBadRequest, "BadRequestData", "limit must be 1 to 1000")
			return 0, 0, false
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			problem(w, http.StatusBadRequest, "BadRequestData", "bad offset")
			return 0, 0, false
		}
	}
	if q.Get("type") == "" && q.Get("id") == "" {
		problem(w, http.StatusBadRequest, "BadRequestData", "type or id is required")
		return 0, 0, false
	}
	return limit, offset, true
}

func (s *Server) reply(w http.ResponseWriter, ents []map[string]any, limit, offset int) {
	page := ents[min(offset, len(ents)):min(offset+limit, len(ents))]
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`, Context))
	_ = json.NewEncoder(w).Encode(page)
}

var qRE = regexp.MustCompile(`^([A-Za-z]+)=="([^"]*)"$`)

// filter keeps entities whose ids are listed and that match a simple
// attr=="value" query on a Relationship or Property.
func filter(ents []map[string]any, ids, q string) ([]map[string]any, error) {
	var want map[string]bool
	if ids != "" {
		want = map[string]bool{}
		for _, id := range strings.Split(ids, ",") {
			want[id] = true
		}
	}
	var attr, val string
	if q != "" {
		m := qRE.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("unsupported q %q", q)
		}
		attr, val = m[1], m[2]
	}
	var out []map[string]any
	for _, e := range ents {
		if want != nil && !want[e["id"].(string)] {
			continue
		}
		if attr != "" && !matches(e[attr], val) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// matches reports whether an attribute (normalized, a temporal list of
// instances, or a key-values string) holds val.
func matches(attr any, val string) bool {
	switch a := attr.(type) {
	case string:
		return a == val
	case map[string]any:
		return a["object"] == val || a["value"] == val
	case []any:
		for _, x := range a {
			if matches(x, val) {
				return true
			}
		}
	}
	return false
}

func prop(v any) map[string]any { return map[string]any{"type": "Property", "value": v} }

func lang(zh, en string) map[string]any {
	return map[string]any{"type": "LanguageProperty", "languageMap": map[string]string{"zh": zh, "en": en}}
}

func rel(id string) map[string]any { return map[string]any{"type": "Relationship", "object": id} }

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// districtNames is "东城区 Dongcheng District" by district id.
func (s *Server) districtNames() map[string]string {
	out := map[string]string{}
	for _, d := range s.city.Districts() {
		out[d.ID] = d.NameZh + " " + d.NameEn
	}
	return out
}

func (s *Server) current(ctx context.Context, typ string) []map[string]any {
	c := s.city
	now := c.Now()
	dn := s.districtNames()
	var out []map[string]any
	switch typ {
	case "Road":
		seen := map[string]bool{}
		for _, seg := range c.Segments() {
			if seen[seg.Road] {
				continue
			}
			seen[seg.Road] = true
			out = append(out, map[string]any{"id": "urn:ngsi-ld:Road:" + seg.Road, "type": "Road",
				"name": lang(seg.RoadZh, seg.RoadEn), "roadClass": prop(seg.Class)})
		}
	case "RoadSegment":
		for _, seg := range c.Segments() {
			out = append(out, map[string]any{"id": "urn:ngsi-ld:RoadSegment:" + seg.ID, "type": "RoadSegment",
				"name": lang(seg.NameZh, seg.NameEn), "refRoad": rel("urn:ngsi-ld:Road:" + seg.Road),
				"areaServed": prop(seg.District), "address": prop(map[string]any{"addressLocality": democity.CityEn, "district": dn[seg.District]}),
				"totalLaneNumber": prop(seg.Lanes), "maximumAllowedSpeed": prop(seg.SpeedLimitKmh), "length": prop(seg.LengthKm),
				"freeFlowSpeed": prop(seg.FreeFlowKmh)})
		}
	case "TrafficFlowObserved":
		at := now.Truncate(flowStep)
		for _, o := range c.TrafficAt(at) {
			out = append(out, map[string]any{"id": "urn:ngsi-ld:TrafficFlowObserved:" + o.SegmentID, "type": "TrafficFlowObserved",
				"refRoadSegment": rel("urn:ngsi-ld:RoadSegment:" + o.SegmentID), "dateObserved": prop(utc(at)),
				"dateObservedFrom": prop(utc(at.Add(-time.Hour))), "dateObservedTo": prop(utc(at)),
				"intensity": prop(o.FlowVehH), "occupancy": prop(o.Occupancy), "averageVehicleSpeed": prop(o.SpeedKmh), "congested": prop(o.Congested)})
		}
	case "Building":
		for _, b := range c.Buildings() {
			out = append(out, map[string]any{"id": "urn:ngsi-ld:Building:" + b.ID, "type": "Building", "name": lang(b.NameZh, b.NameEn),
				"category": prop([]string{b.Type}), "areaServed": prop(b.District), "floorArea": prop(b.FloorAreaM2),
				"address": prop(map[string]any{"streetAddress": b.AddressEn, "addressLocality": democity.CityEn, "district": dn[b.District]})})
		}
	case "ACMeasurement", "DeviceMeasurement":
		m := meterModels[typ]
		last := now.Truncate(democity.MeterInterval).Add(-democity.MeterInterval)
		kw := s.readings(ctx, nil, last, last.Add(democity.MeterInterval))
		for _, b := range c.Buildings() {
			e := map[string]any{"id": "urn:ngsi-ld:" + typ + ":" + b.ID, "type": typ,
				m.ref: rel("urn:ngsi-ld:Building:" + b.ID), "name": prop("Main meter of " + b.NameEn)}
			if typ == "ACMeasurement" {
				e["phaseType"] = prop("threePhase")
			} else {
				e["controlledProperty"] = prop([]string{"electricityConsumption"})
			}
			if rs := kw[b.ID]; len(rs) > 0 {
				e[m.attr] = map[string]any{"type": "Property", "value": rs[0].KW * m.scale, "unitCode": m.unit, "observedAt": utc(rs[0].Start.Add(democity.MeterInterval))}
			}
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) readings(ctx context.Context, ids []string, from, to time.Time) map[string][]energy.Reading {
	series, err := s.city.Readings(ctx, energy.ReadingsQuery{BuildingIDs: ids, From: from, To: to})
	if err != nil {
		return nil
	}
	out := map[string][]energy.Reading{}
	for _, sr := range series {
		out[sr.BuildingID] = sr.Readings
	}
	return out
}

func (s *Server) entities(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := s.begin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	ents, err := filter(s.current(r.Context(), q.Get("type")), q.Get("id"), q.Get("q"))
	if err != nil {
		problem(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	s.reply(w, ents, limit, offset)
}

// marks lists the times a temporal query asks for on a grid of step: in
// [timeAt, endTimeAt) for between, the last lastN before timeAt for before.
func marks(q map[string][]string, step time.Duration) ([]time.Time, error) {
	get, at, err := timeAt(q)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	switch get("timerel") {
	case "between":
		end, err := time.Parse(time.RFC3339, get("endTimeAt"))
		if err != nil || !end.After(at) {
			return nil, fmt.Errorf("endTimeAt must be an RFC 3339 time after timeAt")
		}
		if end.Sub(at) > 32*24*time.Hour {
			return nil, fmt.Errorf("the time span is too long")
		}
		first := at.Truncate(step)
		if first.Before(at) {
			first = first.Add(step)
		}
		for t := first; t.Before(end); t = t.Add(step) {
			out = append(out, t)
		}
	case "before":
		n := 1
		if v := get("lastN"); v != "" {
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				return nil, fmt.Errorf("bad lastN")
			}
		}
		last := at.Add(-time.Nanosecond).Truncate(step)
		for i := n - 1; i >= 0; i-- {
			out = append(out, last.Add(-time.Duration(i)*step))
		}
	default:
		return nil, fmt.Errorf("timerel must be between or before")
	}
	return out, nil
}

// timeAt reads a temporal query's timeAt, with a getter for its other parameters.
func timeAt(q map[string][]string) (get func(string) string, at time.Time, err error) {
	get = func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	at, err = time.Parse(time.RFC3339, get("timeAt"))
	if err != nil {
		return nil, at, fmt.Errorf("timeAt must be an RFC 3339 time")
	}
	return get, at, nil
}

func instance(v any, at time.Time) map[string]any {
	return map[string]any{"type": "Property", "value": v, "observedAt": utc(at)}
}

func (s *Server) temporal(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := s.begin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	c := s.city
	var ents []map[string]any
	switch typ := q.Get("type"); typ {
	case "TrafficFlowObserved":
		ms, err := marks(q, flowStep)
		if err != nil {
			problem(w, http.StatusBadRequest, "BadRequestData", err.Error())
			return
		}
		base, err := filter(s.current(r.Context(), "RoadSegment"), "", "")
		if err != nil {
			problem(w, http.StatusBadRequest, "InvalidRequest", err.Error())
			return
		}
		segs := map[string]bool{}
		if m := qRE.FindStringSubmatch(q.Get("q")); m != nil && m[1] == "refRoadSegment" {
			segs[m[2]] = true
		} else if q.Get("q") != "" {
			problem(w, http.StatusBadRequest, "InvalidRequest", "unsupported q")
			return
		}
		attrs := map[string][]map[string]any{}
		for _, at := range ms {
			for _, o := range c.TrafficAt(at) {
				full := "urn:ngsi-ld:RoadSegment:" + o.SegmentID
				if len(segs) > 0 && !segs[full] {
					continue
				}
				k := o.SegmentID
				attrs[k+"|averageVehicleSpeed"] = append(attrs[k+"|averageVehicleSpeed"], instance(o.SpeedKmh, at))
				attrs[k+"|intensity"] = append(attrs[k+"|intensity"], instance(o.FlowVehH, at))
				attrs[k+"|occupancy"] = append(attrs[k+"|occupancy"], instance(o.Occupancy, at))
				attrs[k+"|dateObservedFrom"] = append(attrs[k+"|dateObservedFrom"], instance(utc(at.Add(-time.Hour)), at))
				attrs[k+"|dateObservedTo"] = append(attrs[k+"|dateObservedTo"], instance(utc(at), at))
			}
		}
		for _, seg := range base {
			id := seg["id"].(string)
			if len(segs) > 0 && !segs[id] {
				continue
			}
			short := strings.TrimPrefix(id, "urn:ngsi-ld:RoadSegment:")
			e := map[string]any{"id": "urn:ngsi-ld:TrafficFlowObserved:" + short, "type": "TrafficFlowObserved",
				"refRoadSegment": []any{rel(id)}}
			for _, a := range []string{"averageVehicleSpeed", "intensity", "occupancy", "dateObservedFrom", "dateObservedTo"} {
				if v := attrs[short+"|"+a]; len(v) > 0 {
					e[a] = v
				}
			}
			ents = append(ents, e)
		}
	case "ACMeasurement", "DeviceMeasurement":
		mm := meterModels[typ]
		ms, err := marks(q, democity.MeterInterval)
		if err != nil || len(ms) == 0 {
			problem(w, http.StatusBadRequest, "BadRequestData", fmt.Sprint("bad time query: ", err))
			return
		}
		var ids []string
		if v := q.Get("id"); v != "" {
			for _, id := range strings.Split(v, ",") {
				ids = append(ids, strings.TrimPrefix(id, "urn:ngsi-ld:"+typ+":"))
			}
		}
		// observedAt is the end of each interval.
		kw := s.readings(r.Context(), ids, ms[0].Add(-democity.MeterInterval), ms[len(ms)-1])
		for _, b := range c.Buildings() {
			rs, ok := kw[b.ID]
			if !ok {
				continue
			}
			inst := []map[string]any{}
			for _, rd := range rs {
				x := instance(rd.KW*mm.scale, rd.Start.Add(democity.MeterInterval))
				x["unitCode"] = mm.unit
				inst = append(inst, x)
			}
			ents = append(ents, map[string]any{"id": "urn:ngsi-ld:" + typ + ":" + b.ID, "type": typ, mm.attr: inst})
		}
	}
	s.reply(w, ents, limit, offset)
}
