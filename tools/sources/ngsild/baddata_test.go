package ngsild_test

// Bad and implausible values on the official Smart Data Models examples:
// one broken entity must not take a tool (or the server) down, and an
// impossible figure must not be trusted.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools/sources/ngsild"
	"github.com/cityagent/cityagent/tools/sources/ngsild/ngsildtest"
	"github.com/cityagent/cityagent/tools/traffic"
)

const seg2ID = segID + "-b"

// secondSegment is the RoadSegment example again under another id.
func secondSegment(t *testing.T) map[string]any {
	s := sdm(t, "RoadSegment", "keyvalues")
	s["id"] = seg2ID
	return s
}

// laneOn is lane moved to segment seg, with attribute overrides (keyValues).
func laneOn(t *testing.T, seg string, id int, speed, count float64, set map[string]any) map[string]any {
	f := lane(t, "keyvalues", id, speed, count, false)
	f["id"] = f["id"].(string) + "-" + seg[len(seg)-1:]
	f["refRoadSegment"] = seg
	for k, v := range set {
		f[k] = v
	}
	return f
}

func congestion(t *testing.T, src traffic.Source) traffic.CongestionResult {
	t.Helper()
	var res traffic.CongestionResult
	for _, tl := range traffic.Tools(src, func() time.Time { return sdmNow }) {
		if tl.Spec().Name == traffic.NameCongestion {
			call(t, tl, `{"limit":5}`, &res)
		}
	}
	return res
}

// TestSDMNonNumbersDoNotTakeTrafficDown: averageVehicleSpeed "NaN" (a
// string) on one segment and intensity 1e308 on another used to make
// traffic_congestion fail with "json: unsupported value: NaN" for every
// question; now both readings are dropped and counted, and the rest answers.
func TestSDMNonNumbersDoNotTakeTrafficDown(t *testing.T) {
	ents := append(network(t, "keyvalues"), secondSegment(t),
		laneOn(t, segID, 1, 0, 30, map[string]any{"averageVehicleSpeed": "NaN"}),
		laneOn(t, seg2ID, 1, 40, 0, map[string]any{"intensity": 1e308}))
	src, _ := trafficOver(t, ents, nil)
	res := congestion(t, src)
	if res.SegmentsCounted != 2 || res.RejectedReadings != 2 {
		t.Fatalf("counted %d segments, %d rejected readings; want 2 and 2 (%+v)", res.SegmentsCounted, res.RejectedReadings, res)
	}
	for _, st := range res.Segments {
		switch st.SegmentID {
		case "Spain-RoadSegment-A62-osm-24702186":
			if !st.Estimated || st.FlowVehH != 360 {
				t.Errorf("NaN speed: %+v, want estimated with its 360 veh/h", st)
			}
		default:
			if st.Estimated || st.SpeedKmh != 40 || st.FlowVehH != 0 {
				t.Errorf("1e308 intensity: %+v, want 40 km/h measured and no flow", st)
			}
		}
	}
	if !strings.Contains(res.Summary, "2 readings were unreadable or implausible") || !strings.Contains(res.SummaryZh, "2个读数无法识别或不合理") {
		t.Errorf("summaries do not say what was left out:\n%s\n%s", res.Summary, res.SummaryZh)
	}
}

// TestSDMBadRoadSegmentSkippedAtLoad: a RoadSegment with
// maximumAllowedSpeed -30 used to stop the server with "has no
// maximumAllowedSpeed…"; now it is left out with a warning naming it and
// the real reason, and the network loads.
func TestSDMBadRoadSegmentSkippedAtLoad(t *testing.T) {
	bad := secondSegment(t)
	bad["maximumAllowedSpeed"] = -30
	var logs bytes.Buffer
	b := ngsildtest.NewBroker(t, append(network(t, "keyvalues"), bad), nil)
	src, err := ngsild.NewTraffic(context.Background(), sdmClient(t, b), ngsild.TrafficConfig{Location: time.UTC, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("NewTraffic with one bad segment: %v", err)
	}
	if n := len(src.Network().Segments); n != 1 {
		t.Errorf("%d segments, want the good one", n)
	}
	sk := src.Skipped()
	if len(sk) != 1 || !strings.Contains(sk[0], seg2ID) || !strings.Contains(sk[0], "maximumAllowedSpeed -30") {
		t.Errorf("skipped %q", sk)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, seg2ID) || !strings.Contains(l, "-30") || strings.Contains(l, "has no maximumAllowedSpeed") {
		t.Errorf("log %q", l)
	}
	only := secondSegment(t)
	only["maximumAllowedSpeed"] = -30
	if _, err := ngsild.NewTraffic(context.Background(), sdmClient(t, ngsildtest.NewBroker(t, []map[string]any{sdm(t, "Road", "keyvalues"), only}, nil)), ngsild.TrafficConfig{}); err == nil ||
		!strings.Contains(err.Error(), "maximumAllowedSpeed -30") {
		t.Errorf("no usable segment: err %v", err)
	}
}

// TestSDMImplausibleFlows: a lane counting -60 vehicles (-720 veh/h) used
// to lower the segment's flow and push its flow-weighted speed past every
// lane's; 1e20 vehicles is no count either. Both are dropped and counted.
func TestSDMImplausibleFlows(t *testing.T) {
	ents := append(network(t, "keyvalues"),
		laneOn(t, segID, 1, 50, -60, nil), laneOn(t, segID, 2, 20, 30, nil), laneOn(t, segID, 3, 25, 1e20, nil))
	src, _ := trafficOver(t, ents, nil)
	o := observeOne(t, src, sdmNow)
	if o.FlowVehH != 360 || o.SpeedKmh != 20 || o.Rejected != 2 || o.Estimated {
		t.Errorf("flow %v veh/h, speed %v km/h, rejected %d; want 360 (lane 2 only), 20, 2", o.FlowVehH, o.SpeedKmh, o.Rejected)
	}
}

// TestSDMNoDataMarkers: a feed's -1, the text "fast" and no observation at
// all used to show as a measured free-flow speed; now the segment is
// marked estimated (and the first two count as bad data).
func TestSDMNoDataMarkers(t *testing.T) {
	for name, tc := range map[string]struct {
		speed    any
		rejected int
	}{"minus one": {-1, 1}, "text": {"fast", 1}, "none": {nil, 0}} {
		t.Run(name, func(t *testing.T) {
			ents := network(t, "keyvalues")
			if tc.speed != nil {
				ents = append(ents, laneOn(t, segID, 1, 0, 30, map[string]any{"averageVehicleSpeed": tc.speed}))
			}
			src, _ := trafficOver(t, ents, nil)
			if o := observeOne(t, src, sdmNow); !o.Estimated || o.Rejected != tc.rejected {
				t.Errorf("estimated %v, rejected %d; want true, %d", o.Estimated, o.Rejected, tc.rejected)
			}
			res := congestion(t, src)
			if res.EstimatedSegments != 1 || !strings.Contains(res.Summary, "no current data") || !strings.Contains(res.SummaryZh, "无当前数据") {
				t.Errorf("summary %q / %q", res.Summary, res.SummaryZh)
			}
		})
	}
}

// TestSDMUnreadableBodyShortMessage: a broker answering with JSON that is
// not JSON (a bare NaN) used to put "invalid character 'N'…" into the
// answer; the tool's public message is now short and says what happened,
// while Error keeps the cause for logs.
func TestSDMUnreadableBodyShortMessage(t *testing.T) {
	b := ngsildtest.NewBroker(t, network(t, "keyvalues"), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("type") == "TrafficFlowObserved" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `[{"id":"urn:ngsi-ld:TrafficFlowObserved:1","type":"TrafficFlowObserved","averageVehicleSpeed":NaN}]`)
			return
		}
		resp, err := http.Get(b.URL + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer srv.Close()
	c, err := ngsild.NewClient(ngsild.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ngsild.NewTraffic(context.Background(), c, ngsild.TrafficConfig{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range traffic.Tools(src, func() time.Time { return sdmNow }) {
		if tl.Spec().Name != traffic.NameCongestion {
			continue
		}
		_, err := tl.Call(context.Background(), json.RawMessage(`{}`))
		msg, ok := usererr.Message(err)
		if err == nil || !ok || strings.Contains(msg, "invalid character") || !strings.Contains(msg, "could not be read") || !strings.Contains(msg, "无法解析") {
			t.Errorf("public message %q (ok %v) of %v", msg, ok, err)
		}
		if !strings.Contains(err.Error(), "invalid character") {
			t.Errorf("the cause is lost for logs: %v", err)
		}
	}
}

// TestSDMAsOfIsObservationTime: results used to be as of the request
// (11:16); they are as of the end of the observation window the broker
// reports (11:15), and so is the citation.
func TestSDMAsOfIsObservationTime(t *testing.T) {
	src, _ := trafficOver(t, append(network(t, "keyvalues"), laneOn(t, segID, 1, 48, 30, nil)), nil)
	var res traffic.CongestionResult
	var cite time.Time
	for _, tl := range traffic.Tools(src, func() time.Time { return sdmNow }) {
		if tl.Spec().Name == traffic.NameCongestion {
			cite = call(t, tl, `{}`, &res).AsOf
		}
	}
	if want := sdmNow.Add(-time.Minute); !res.AsOf.Equal(want) || !cite.Equal(want) || !strings.Contains(res.Summary, "11:15") {
		t.Errorf("as_of %s, citation %s, want %s; summary %q", res.AsOf, cite, want, res.Summary)
	}
}

// TestSDMCongestedLabel: a segment the broker says is congested but whose
// index is low (1.29) used to be labelled "(smooth)" while counted
// congested; the label now says who called it congested.
func TestSDMCongestedLabel(t *testing.T) {
	src, _ := trafficOver(t, append(network(t, "keyvalues"), laneOn(t, segID, 1, 79, 30, map[string]any{"congested": true})), nil)
	res := congestion(t, src)
	if len(res.Segments) != 1 || res.CongestedSegments != 1 {
		t.Fatalf("%+v", res)
	}
	if st := res.Segments[0]; st.CongestionIndex != 1.29 || st.LevelLabel != "congested (reported by the source)" || st.LevelLabelZh != "拥堵（数据源报告）" {
		t.Errorf("index %v labelled %q / %q", st.CongestionIndex, st.LevelLabel, st.LevelLabelZh)
	}
}
