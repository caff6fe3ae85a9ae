// Package traffictest provides the conformance suite every traffic.Source
// runs: the demo city now, NGSI-LD and SODA sources as they are added.
package traffictest

import (
	"context"
	"errors"
	"math"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/traffic"
)

// TestSource checks src's network, its observations at at and, when src has
// them, its history, incidents and signal plans.
func TestSource(t *testing.T, src traffic.Source, at time.Time) {
	t.Helper()
	ctx := context.Background()
	net := src.Network()
	segs := checkNetwork(t, net)

	t.Run("observe", func(t *testing.T) {
		obs, err := src.Observe(ctx, at)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if len(obs) != len(net.Segments) {
			t.Fatalf("Observe returned %d observations for %d segments", len(obs), len(net.Segments))
		}
		seen := map[string]bool{}
		for _, o := range obs {
			checkObservation(t, o, segs, at)
			if seen[o.SegmentID] {
				t.Errorf("segment %s observed twice", o.SegmentID)
			}
			seen[o.SegmentID] = true
		}
		if ss, ok := src.(traffic.SeqSource); ok {
			seq, err := ss.ObserveSeq(ctx, at)
			if err != nil {
				t.Fatalf("ObserveSeq: %v", err)
			}
			if got := slices.Collect(seq); !reflect.DeepEqual(got, obs) {
				t.Errorf("ObserveSeq yields %d observations that differ from Observe's %d", len(got), len(obs))
			}
			for range seq {
				break // a consumer may stop early
			}
		}
	})

	t.Run("tools", func(t *testing.T) { checkTools(t, src, at) })

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := src.Observe(cctx, at); err == nil {
			t.Error("Observe with a cancelled context succeeded")
		}
		if ss, ok := src.(traffic.SeqSource); ok {
			if _, err := ss.ObserveSeq(cctx, at); err == nil {
				t.Error("ObserveSeq with a cancelled context succeeded")
			}
		}
	})

	if hs, ok := src.(traffic.HistorySource); ok {
		t.Run("history", func(t *testing.T) {
			id := net.Segments[0].ID
			hist, err := hs.History(ctx, id, at.Add(-time.Hour), at, 15*time.Minute)
			if errors.Is(err, traffic.ErrNoHistory) {
				return // a source without history says so; the tools then answer for now only
			}
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if len(hist) != 5 {
				t.Fatalf("History over 1 h every 15 min: %d points, want 5", len(hist))
			}
			for i, o := range hist {
				checkObservation(t, o, segs, at.Add(time.Duration(i-4)*15*time.Minute))
			}
			obs, err := src.Observe(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(obs, func(o traffic.Observation) bool { return o.SegmentID == id })
			if i < 0 || !reflect.DeepEqual(hist[4], obs[i]) {
				t.Errorf("History's last point differs from Observe at the same time:\n%+v\n%+v", hist[4], obs[max(i, 0)])
			}
			if _, err := hs.History(ctx, "no-such-segment", at, at, time.Minute); err == nil {
				t.Error("History of an unknown segment succeeded")
			}
		})
	}

	if is, ok := src.(traffic.IncidentSource); ok {
		t.Run("incidents", func(t *testing.T) {
			incs, err := is.Incidents(ctx, at)
			if err != nil {
				t.Fatalf("Incidents: %v", err)
			}
			for _, inc := range incs {
				s, ok := segs[inc.SegmentID]
				switch {
				case !ok:
					t.Errorf("%s: unknown segment %q", inc.ID, inc.SegmentID)
				case inc.District != s.District:
					t.Errorf("%s: district %q, its segment is in %q", inc.ID, inc.District, s.District)
				case !inc.ActiveAt(at):
					t.Errorf("%s: %s–%s is not active at %s", inc.ID, inc.Start, inc.End, at)
				case !slices.Contains(traffic.IncidentTypes(), inc.Type):
					t.Errorf("%s: unknown type %q", inc.ID, inc.Type)
				case inc.Severity < 1 || inc.Severity > 3 || inc.LanesBlocked < 0 || inc.LanesBlocked > s.Lanes:
					t.Errorf("%s: severity %d, %d of %d lanes blocked", inc.ID, inc.Severity, inc.LanesBlocked, s.Lanes)
				case inc.DescriptionZh == "" || inc.DescriptionEn == "":
					t.Errorf("%s: missing description", inc.ID)
				}
			}
		})
	}

	if ss, ok := src.(traffic.SignalSource); ok {
		t.Run("signal plans", func(t *testing.T) {
			done := map[string]bool{}
			for _, s := range net.Segments {
				if !s.Signalized || done[s.Road] {
					continue
				}
				done[s.Road] = true
				p, err := ss.SignalPlan(ctx, s.Road, at)
				if err != nil {
					t.Errorf("SignalPlan(%s): %v", s.Road, err)
					continue
				}
				if p.Corridor != s.Road || p.ID == "" || p.LastChanged.IsZero() {
					t.Errorf("SignalPlan(%s) = %+v", s.Road, p)
				}
				if err := p.Validate(); err != nil {
					t.Errorf("SignalPlan(%s): %v", s.Road, err)
				}
			}
			if _, err := ss.SignalPlan(ctx, "no-such-corridor", at); err == nil {
				t.Error("SignalPlan of an unknown corridor succeeded")
			}
		})
	}
}

func checkNetwork(t *testing.T, net traffic.Network) map[string]traffic.Segment {
	t.Helper()
	if net.Source == "" || net.Location == nil {
		t.Errorf("network needs a source name and a location: %q, %v", net.Source, net.Location)
	}
	if len(net.Segments) == 0 {
		t.Fatal("network has no segments")
	}
	var pattern *regexp.Regexp
	if net.SegmentIDPattern != "" {
		pattern = regexp.MustCompile(net.SegmentIDPattern)
	}
	districts := map[string]bool{}
	for _, d := range net.Districts {
		if d.ID == "" || d.NameZh == "" || d.NameEn == "" || districts[d.ID] {
			t.Errorf("bad or duplicate district %+v", d)
		}
		districts[d.ID] = true
	}
	segs := map[string]traffic.Segment{}
	for _, s := range net.Segments {
		if _, dup := segs[s.ID]; dup {
			t.Errorf("duplicate segment id %s", s.ID)
		}
		segs[s.ID] = s
		switch {
		case pattern != nil && !pattern.MatchString(s.ID):
			t.Errorf("segment id %q does not match %s", s.ID, net.SegmentIDPattern)
		case !districts[s.District]:
			t.Errorf("%s: unknown district %q", s.ID, s.District)
		case s.NameZh == "" || s.NameEn == "" || s.Road == "" || s.RoadZh == "" || s.RoadEn == "":
			t.Errorf("%s: missing names: %+v", s.ID, s)
		case s.LengthKm <= 0 || s.Lanes < 1 || s.FreeFlowKmh <= 0 || s.SpeedLimitKmh <= 0:
			t.Errorf("%s: bad geometry: %+v", s.ID, s)
		}
	}
	return segs
}

func checkObservation(t *testing.T, o traffic.Observation, segs map[string]traffic.Segment, at time.Time) {
	t.Helper()
	if _, ok := segs[o.SegmentID]; !ok {
		t.Errorf("observation of unknown segment %q", o.SegmentID)
		return
	}
	switch {
	case !o.At.Equal(at):
		t.Errorf("%s: observed at %s, asked for %s", o.SegmentID, o.At, at)
	case o.SpeedKmh <= 0 || o.FlowVehH < 0 || o.Occupancy < 0 || o.Occupancy > 1:
		t.Errorf("%s: speed %.1f, flow %.0f, occupancy %.3f", o.SegmentID, o.SpeedKmh, o.FlowVehH, o.Occupancy)
	case o.CongestionIndex <= 0 || o.TravelTimeSec <= 0 || o.FreeFlowTimeSec <= 0:
		t.Errorf("%s: index %.2f, travel %.1f s, free-flow %.1f s", o.SegmentID, o.CongestionIndex, o.TravelTimeSec, o.FreeFlowTimeSec)
	case math.Abs(o.Level-traffic.LevelOf(o.CongestionIndex)) > 0.01:
		t.Errorf("%s: level %.3f for index %.2f, want %.3f", o.SegmentID, o.Level, o.CongestionIndex, traffic.LevelOf(o.CongestionIndex))
	case o.Congested != (o.Level >= traffic.CongestedLevel || laneCongested(o)):
		t.Errorf("%s: congested=%v at level %.3f", o.SegmentID, o.Congested, o.Level)
	}
}

// laneCongested reports whether a lane of o says it is congested.
func laneCongested(o traffic.Observation) bool {
	return slices.ContainsFunc(o.Lanes, func(l traffic.Lane) bool { return l.Congested })
}

// checkTools asks the traffic tools over src the questions every source
// must answer alike and checks the typed results against the source.
func checkTools(t *testing.T, src traffic.Source, at time.Time) {
	t.Helper()
	net := src.Network()
	ts := citytooltest.ByName(traffic.Tools(src, func() time.Time { return at }))
	obs, err := src.Observe(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]traffic.Observation{}
	congested := 0
	for _, o := range obs {
		byID[o.SegmentID] = o
		if o.Congested {
			congested++
		}
	}
	var res traffic.CongestionResult
	citytooltest.Call(t, ts[traffic.NameCongestion], `{"limit":20}`, net.Source, at, &res)
	if res.SegmentsCounted != len(net.Segments) || res.CongestedSegments != congested || len(res.Segments) != min(20, len(net.Segments)) {
		t.Errorf("congestion: %d counted, %d congested, %d listed; want %d, %d", res.SegmentsCounted, res.CongestedSegments, len(res.Segments), len(net.Segments), congested)
	}
	for i, st := range res.Segments {
		o := byID[st.SegmentID]
		if st.Rank != i+1 || st.CongestionIndex != o.CongestionIndex || st.SpeedKmh != o.SpeedKmh || st.FlowVehH != o.FlowVehH {
			t.Errorf("congestion rank %d: %+v, observation %+v", i+1, st, o)
		}
		if i > 0 && st.CongestionIndex > res.Segments[i-1].CongestionIndex {
			t.Errorf("congestion ranking not sorted at %d", i+1)
		}
	}
	first := net.Segments[0]
	var seg traffic.SegmentResult
	citytooltest.Call(t, ts[traffic.NameSegment], `{"segment_id":"`+first.ID+`"}`, net.Source, at, &seg)
	if seg.Segment.ID != first.ID || seg.Now.SpeedKmh != byID[first.ID].SpeedKmh || seg.Now.CongestionIndex != byID[first.ID].CongestionIndex {
		t.Errorf("segment %s: %+v, observation %+v", first.ID, seg.Now, byID[first.ID])
	}
}
