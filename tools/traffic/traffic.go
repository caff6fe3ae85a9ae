// Package traffic provides the traffic tools an agent calls — congestion
// ranking, segment detail with history, active incidents and signal plans —
// over a small Source interface that the demo city, and later NGSI-LD and SODA
// feeds, implement.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Source is where traffic data comes from. The network is static description
// loaded when the source is built; observations move with time.
type Source interface {
	// Network describes the districts and road segments the source covers.
	Network() Network
	// Observe returns the state of every segment at time at.
	Observe(ctx context.Context, at time.Time) ([]Observation, error)
}

// SeqSource is a Source that can hand out its observations one at a time
// without building a slice for the caller, e.g. from a snapshot it shares
// between callers (the demo city). The tools use it when a source has it.
type SeqSource interface {
	// ObserveSeq yields what Observe(ctx, at) returns, in the same order.
	ObserveSeq(ctx context.Context, at time.Time) (iter.Seq[Observation], error)
}

// HistorySource is a Source that can answer a segment's history in one call
// (an NGSI-LD temporal query, the simulator). Without it the tools call
// Observe once per step.
type HistorySource interface {
	// History returns observations of one segment from from to to, every step.
	History(ctx context.Context, segmentID string, from, to time.Time, step time.Duration) ([]Observation, error)
}

// IncidentSource is a Source that knows about incidents.
type IncidentSource interface {
	// Incidents returns the incidents active at time at.
	Incidents(ctx context.Context, at time.Time) ([]Incident, error)
}

// SignalSource is a Source that knows signal timing plans.
type SignalSource interface {
	// SignalPlan returns the plan in effect on a corridor at time at.
	SignalPlan(ctx context.Context, corridor string, at time.Time) (SignalPlan, error)
}

// Errors sources return for conditions callers branch on.
var (
	ErrNotFound    = errors.New("traffic: not found")
	ErrInvalidPlan = errors.New("traffic: invalid signal plan")
	// ErrNoHistory is a HistorySource's answer when the source behind it
	// keeps no history after all (an NGSI-LD broker without a temporal
	// API); the tools then answer with the current state and say so.
	ErrNoHistory = errors.New("traffic: the source keeps no history")
)

// Network is the static description of what a source covers.
type Network struct {
	// Source names the data source in citations, e.g. "democity:traffic".
	Source string `json:"source"`
	// Units is how summaries show speeds: citytool.UnitsMetric (km/h, the
	// default) or citytool.UnitsImperial (mph). Results stay in km/h.
	Units string `json:"units,omitempty"`
	// CityZh and CityEn name the city.
	CityZh string `json:"city_zh"`
	CityEn string `json:"city_en"`
	// Location is the city's time zone: peaks and summaries use local time.
	Location *time.Location `json:"-"`
	// SegmentIDPattern is a regular expression every segment id matches,
	// given to models as the segment_id parameter's pattern ("" = none).
	SegmentIDPattern string     `json:"segment_id_pattern,omitempty"`
	Districts        []District `json:"districts"`
	Segments         []Segment  `json:"segments"`
}

// District is an administrative district of the city.
type District struct {
	ID     string `json:"id"` // stable code used in tool arguments, e.g. "dongcheng"
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
}

// Road classes, fastest first.
const (
	ClassExpressway = "expressway"
	ClassArterial   = "arterial"
	ClassSecondary  = "secondary"
	ClassBranch     = "branch"
)

// Segment is one directed road section between two cross streets.
type Segment struct {
	ID     string `json:"id"` // e.g. "S012"
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
	// Road is the road's id; on a signalised road it is also the id of the
	// signal corridor.
	Road          string  `json:"road"`
	RoadZh        string  `json:"road_zh"`
	RoadEn        string  `json:"road_en"`
	FromZh        string  `json:"from_zh"`
	FromEn        string  `json:"from_en"`
	ToZh          string  `json:"to_zh"`
	ToEn          string  `json:"to_en"`
	Direction     string  `json:"direction"` // EB, WB, NB or SB
	District      string  `json:"district"`
	Class         string  `json:"class"`
	LengthKm      float64 `json:"length_km"`
	Lanes         int     `json:"lanes"`
	SpeedLimitKmh float64 `json:"speed_limit_kmh"`
	FreeFlowKmh   float64 `json:"free_flow_kmh"`
	Signalized    bool    `json:"signalized"` // a signal at the downstream end, timed by the road's corridor plan
}

// Periods of the day a source may attach to an observation.
const (
	PeriodMorningPeak = "morning_peak"
	PeriodEveningPeak = "evening_peak"
	PeriodOffPeak     = "off_peak"
	PeriodNight       = "night"
	PeriodWeekend     = "weekend"
)

// Observation is one segment's traffic state at one time; the fields follow
// NGSI-LD TrafficFlowObserved (intensity, occupancy, averageVehicleSpeed,
// congested) plus travel times.
type Observation struct {
	SegmentID string    `json:"segment_id"`
	At        time.Time `json:"at"`
	// ObservedAt is when the source measured the figures (the end of its
	// observation window), when it says; zero otherwise.
	ObservedAt      time.Time `json:"observed_at,omitzero"`
	FlowVehH        float64   `json:"flow_veh_h"` // vehicles per hour, all lanes
	SpeedKmh        float64   `json:"speed_kmh"`
	Occupancy       float64   `json:"occupancy"` // 0–1
	TravelTimeSec   float64   `json:"travel_time_s"`
	FreeFlowTimeSec float64   `json:"free_flow_time_s"`
	// CongestionIndex is travel time ÷ free-flow travel time (1 = free flow).
	CongestionIndex float64 `json:"congestion_index"`
	// Level is CongestionIndex mapped to 0–1 by LevelOf.
	Level     float64 `json:"level"`
	Congested bool    `json:"congested"`
	// VCRatio is demand ÷ capacity, when the source knows it.
	VCRatio float64 `json:"vc_ratio,omitempty"`
	// Period is one of the Period constants, when the source knows it.
	Period string `json:"period,omitempty"`
	// Lanes is the per-lane detail behind a segment's figures, when the
	// source observes lanes separately.
	Lanes []Lane `json:"lanes,omitempty"`
	// Note says how the figures were obtained when that is not the usual
	// way, e.g. the latest state standing in for a history the source lacks;
	// NoteZh says it in Chinese.
	Note   string `json:"note,omitempty"`
	NoteZh string `json:"note_zh,omitempty"`
	// Estimated marks figures that are not a current measurement: the
	// source had no usable reading, so the segment is shown at free flow.
	Estimated bool `json:"estimated,omitempty"`
	// Rejected counts readings behind this observation that the source
	// dropped as unreadable or implausible (NaN, negative, out of range).
	Rejected int `json:"rejected_readings,omitempty"`
}

// Lane is one lane's observation within a segment's.
type Lane struct {
	ID        string  `json:"id"`
	FlowVehH  float64 `json:"flow_veh_h"`
	SpeedKmh  float64 `json:"speed_kmh"`
	Occupancy float64 `json:"occupancy"`
	Congested bool    `json:"congested,omitempty"`
}

// Incident types.
const (
	IncidentCrash     = "crash"
	IncidentBreakdown = "breakdown"
	IncidentRoadworks = "roadworks"
	IncidentFlooding  = "flooding"
	IncidentDebris    = "debris"
	IncidentControl   = "control" // police traffic control
)

// IncidentTypes lists the incident types in a stable order.
func IncidentTypes() []string {
	return []string{IncidentCrash, IncidentBreakdown, IncidentRoadworks, IncidentFlooding, IncidentDebris, IncidentControl}
}

// Incident is an event that slows a segment.
type Incident struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	SegmentID string    `json:"segment_id"`
	District  string    `json:"district"`
	Start     time.Time `json:"start"`
	// End is when it clears: expected while active, actual once resolved.
	End           time.Time `json:"end"`
	Resolved      bool      `json:"resolved,omitempty"` // cleared early by an operator
	Severity      int       `json:"severity"`           // 1 minor, 2 moderate, 3 major
	LanesBlocked  int       `json:"lanes_blocked"`
	DescriptionZh string    `json:"description_zh"`
	DescriptionEn string    `json:"description_en"`
}

// ActiveAt reports whether the incident is in effect at time t.
func (i Incident) ActiveAt(t time.Time) bool { return !t.Before(i.Start) && t.Before(i.End) }

// Phase is one stage of a signal cycle.
type Phase struct {
	Name     string `json:"name"`
	NameZh   string `json:"name_zh"`
	GreenSec int    `json:"green_s"`
	// Main marks the corridor's through movement, the phase that sets the
	// corridor's capacity.
	Main bool `json:"main,omitempty"`
}

// LostTimePerPhaseSec is the amber (3 s) plus all-red (2 s) time each phase costs.
const LostTimePerPhaseSec = 5

// SignalPlan is a corridor's timing plan, applied at every signalised
// intersection along the corridor.
type SignalPlan struct {
	ID            string    `json:"id"`
	Corridor      string    `json:"corridor"`
	Name          string    `json:"name"`
	NameZh        string    `json:"name_zh"`
	CycleSec      int       `json:"cycle_s"`
	OffsetSec     int       `json:"offset_s"`
	Coordinated   bool      `json:"coordinated"` // green wave along the corridor
	Phases        []Phase   `json:"phases"`
	Intersections int       `json:"intersections"`
	LastChanged   time.Time `json:"last_changed"` // also when the plan took effect
	ChangedBy     string    `json:"changed_by"`
}

// MainGreenSec is the green time of the main through phase.
func (p SignalPlan) MainGreenSec() int {
	for _, ph := range p.Phases {
		if ph.Main {
			return ph.GreenSec
		}
	}
	return 0
}

// MainGreenRatio is the share of the cycle the main through movement is green.
func (p SignalPlan) MainGreenRatio() float64 {
	if p.CycleSec <= 0 {
		return 0
	}
	return float64(p.MainGreenSec()) / float64(p.CycleSec)
}

// Validate checks that the plan can run at all: a cycle of 30–300 s, one
// main phase, every green at least 5 s, greens plus lost time fitting the
// cycle. A city's own timing rules are stricter; its source enforces them.
func (p SignalPlan) Validate() error {
	if p.CycleSec < 30 || p.CycleSec > 300 {
		return fmt.Errorf("%w: cycle must be 30–300 s", ErrInvalidPlan)
	}
	mains, total := 0, 0
	for _, ph := range p.Phases {
		if ph.GreenSec < 5 {
			return fmt.Errorf("%w: every phase needs at least 5 s of green", ErrInvalidPlan)
		}
		if ph.Main {
			mains++
		}
		total += ph.GreenSec + LostTimePerPhaseSec
	}
	if mains != 1 {
		return fmt.Errorf("%w: exactly one phase must be the main through phase", ErrInvalidPlan)
	}
	if total > p.CycleSec {
		return fmt.Errorf("%w: greens plus 5 s lost time per phase exceed the cycle", ErrInvalidPlan)
	}
	if p.OffsetSec < 0 || p.OffsetSec >= p.CycleSec {
		return fmt.Errorf("%w: offset must be within the cycle", ErrInvalidPlan)
	}
	return nil
}

// LevelOf maps a congestion index to a 0–1 level: 1.0 → 0, 2.0 → 0.5,
// 3.0 and above → 1.
func LevelOf(index float64) float64 {
	l := (index - 1) / 2
	return min(max(l, 0), 1)
}

// CongestedLevel is the level from which an observation counts as congested
// (index 2.0).
const CongestedLevel = 0.5

// LevelLabel names a congestion level in English and Chinese on the city's
// four-step scale of the travel time index: below 1.5 畅通, 1.5–2.0 缓行,
// 2.0–3.0 拥堵, 3.0 and above 严重拥堵.
func LevelLabel(level float64) (en, zh string) {
	switch {
	case level < 0.25:
		return "smooth", "畅通"
	case level < 0.5:
		return "slow", "缓行"
	case level < 1:
		return "congested", "拥堵"
	default:
		return "severely congested", "严重拥堵"
	}
}

// NetworkIndex is the network congestion index: the length-weighted mean
// congestion index of the arterial segments among obs. It is 0 when obs
// holds no arterial segment.
func NetworkIndex(segments []Segment, obs []Observation) float64 {
	var ni networkIndex
	length := arterialLengths(segments)
	for _, o := range obs {
		ni.add(length, o)
	}
	return ni.value()
}

// arterialLengths maps each arterial segment's id to its length.
func arterialLengths(segments []Segment) map[string]float64 {
	length := make(map[string]float64, len(segments))
	for _, s := range segments {
		if s.Class == ClassArterial {
			length[s.ID] = s.LengthKm
		}
	}
	return length
}

// networkIndex sums up NetworkIndex one observation at a time.
type networkIndex struct{ sum, total float64 }

func (n *networkIndex) add(arterialKm map[string]float64, o Observation) {
	if l := arterialKm[o.SegmentID]; l > 0 {
		n.sum += l * o.CongestionIndex
		n.total += l
	}
}

func (n networkIndex) value() float64 {
	if n.total == 0 {
		return 0
	}
	return n.sum / n.total
}
