package monitors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// Vital-sign statuses.
const (
	StatusGreen   = "green"
	StatusAmber   = "amber"
	StatusRed     = "red"
	StatusUnknown = "unknown" // no tick yet, or the last tick failed
)

// Errors of the read side.
var (
	ErrAlertNotFound = usererr.New("monitors", "no such alert")
	// ErrAlertState: an acknowledgement of an alert already acknowledged or resolved.
	ErrAlertState = usererr.New("monitors", "the alert cannot be acknowledged")
)

// Service is what the HTTP routes read and change: monitors with their
// state, the vital signs, alerts and acknowledgements. Everything is
// filtered by the viewer's clearance.
type Service struct {
	Catalog *Catalog
	Store   Store
	Now     func() time.Time // nil: time.Now
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// MonitorView is a monitor with its scheduler state.
type MonitorView struct {
	Name       string           `json:"name"`
	Title      string           `json:"title"`
	TitleZh    string           `json:"title_zh"`
	Tool       string           `json:"tool"`
	Condition  string           `json:"condition"`
	Amber      string           `json:"amber,omitempty"`
	Unit       string           `json:"unit,omitempty"`
	For        string           `json:"for"`
	Clear      string           `json:"clear"`
	Every      string           `json:"every"`
	Severity   string           `json:"severity"`
	Clearance  access.Clearance `json:"clearance"`
	Propose    *Propose         `json:"propose,omitempty"`
	Version    string           `json:"version"`
	State      string           `json:"state"` // green | amber | red | unknown
	LastTick   *time.Time       `json:"last_tick"`
	LastStatus string           `json:"last_status,omitempty"`
	LastError  string           `json:"last_error,omitempty"`
	NextRun    *time.Time       `json:"next_run"`
	Ticks      int64            `json:"ticks"`
	Value      *float64         `json:"value"`
	AsOf       *time.Time       `json:"as_of"`
	Subjects   int              `json:"subjects"`
	Holding    int              `json:"holding"`
	OpenAlerts int              `json:"open_alerts"`
}

// Monitors lists the monitors the viewer's clearance covers, by name.
func (s *Service) Monitors(ctx context.Context, viewer access.Principal) ([]MonitorView, error) {
	states, err := s.Store.MonitorStates(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.MonitorState{}
	for _, st := range states {
		byName[st.Monitor] = st
	}
	out := []MonitorView{}
	for _, m := range s.Catalog.List() {
		if !viewer.Clearance.Covers(m.Clearance) {
			continue
		}
		v, err := s.view(ctx, m, byName)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, m Monitor, states map[string]store.MonitorState) (MonitorView, error) {
	v := MonitorView{Name: m.Name, Title: m.Title, TitleZh: m.TitleZh, Tool: m.Tool, Condition: m.cond.String(), Amber: m.Amber,
		Unit: m.Unit, For: m.For.String(), Clear: m.Clear.String(), Every: m.Every.String(), Severity: m.Severity,
		Clearance: m.Clearance, Propose: m.Propose, Version: m.Version, State: StatusUnknown}
	st, ok := states[m.Name]
	if !ok {
		return v, nil
	}
	open, err := s.Store.ListAlerts(ctx, store.AlertFilter{Monitor: m.Name, Statuses: []string{store.AlertFiring, store.AlertAcknowledged}, Limit: 1000})
	if err != nil {
		return v, err
	}
	next := st.NextRun
	v.LastTick, v.LastStatus, v.LastError, v.NextRun, v.Ticks = st.LastTick, st.LastStatus, st.LastError, &next, st.Seq
	v.Value, v.AsOf, v.Subjects, v.Holding, v.OpenAlerts = st.LastValue, st.LastAsOf, st.Subjects, st.Holding, len(open)
	v.State = m.status(st, len(open))
	return v, nil
}

// status is red with an open alert (also while the tool fails: an open
// alert is never hidden), unknown before the first tick and while the last
// tick failed (the values it would show are old), amber when the condition
// holds somewhere (not yet for long enough) or the headline value meets the
// amber condition, green otherwise.
func (m Monitor) status(st store.MonitorState, open int) string {
	switch {
	case open > 0:
		return StatusRed
	case st.LastTick == nil || st.LastStatus != "ok":
		return StatusUnknown
	case st.Holding > 0 || (m.amber != nil && st.LastValue != nil && m.amber.Holds(*st.LastValue)):
		return StatusAmber
	}
	return StatusGreen
}

// Trend is how an indicator moved over the last hour.
type Trend struct {
	Window    string                `json:"window"`
	Direction string                `json:"direction"` // rising | falling | steady | unknown
	Change    *float64              `json:"change"`    // last minus first value in the window
	Points    []store.MonitorSample `json:"points"`
}

// VitalSign is one indicator now: the city's 城市体征 at a glance.
type VitalSign struct {
	Monitor    string     `json:"monitor"`
	Title      string     `json:"title"`
	TitleZh    string     `json:"title_zh"`
	Status     string     `json:"status"`
	Value      *float64   `json:"value"`
	Unit       string     `json:"unit,omitempty"`
	Condition  string     `json:"condition"`
	Amber      string     `json:"amber,omitempty"`
	Severity   string     `json:"severity"`
	AsOf       *time.Time `json:"as_of"`
	Subjects   int        `json:"subjects"`
	Holding    int        `json:"holding"`
	OpenAlerts int        `json:"open_alerts"`
	Trend      Trend      `json:"trend"`
}

// trendWindow is the span of a vital sign's trend.
const trendWindow = time.Hour

// VitalSigns returns every indicator the viewer's clearance covers.
func (s *Service) VitalSigns(ctx context.Context, viewer access.Principal) ([]VitalSign, error) {
	views, err := s.Monitors(ctx, viewer)
	if err != nil {
		return nil, err
	}
	since := s.now().Add(-trendWindow)
	out := make([]VitalSign, 0, len(views))
	for _, v := range views {
		samples, err := s.Store.MonitorSamples(ctx, v.Name, since)
		if err != nil {
			return nil, err
		}
		out = append(out, VitalSign{Monitor: v.Name, Title: v.Title, TitleZh: v.TitleZh, Status: v.State, Value: v.Value, Unit: v.Unit,
			Condition: v.Condition, Amber: v.Amber, Severity: v.Severity, AsOf: v.AsOf, Subjects: v.Subjects, Holding: v.Holding,
			OpenAlerts: v.OpenAlerts, Trend: trend(samples)})
	}
	return out, nil
}

func trend(samples []store.MonitorSample) Trend {
	t := Trend{Window: trendWindow.String(), Direction: "unknown", Points: samples}
	var first, last *float64
	for _, p := range samples {
		if p.Value == nil {
			continue
		}
		if first == nil {
			first = p.Value
		}
		last = p.Value
	}
	if first == nil {
		return t
	}
	d := *last - *first
	t.Change = &d
	switch tol := 1e-9 * math.Max(1, math.Abs(*first)); {
	case d > tol:
		t.Direction = "rising"
	case d < -tol:
		t.Direction = "falling"
	default:
		t.Direction = "steady"
	}
	return t
}

// visible lists the clearance levels a viewer covers.
func visible(viewer access.Principal) []string {
	var out []string
	for _, c := range access.Clearances {
		if viewer.Clearance.Covers(c) {
			out = append(out, string(c))
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// Alerts pages through the alerts the viewer's clearance covers.
func (s *Service) Alerts(ctx context.Context, f store.AlertFilter, viewer access.Principal) ([]store.Alert, error) {
	f.Clearances = visible(viewer)
	list, err := s.Store.ListAlerts(ctx, f)
	if errors.Is(err, store.ErrNotFound) {
		return nil, usererr.Errorf("%w: the cursor %s names no alert", ErrAlertNotFound, f.Before)
	}
	return list, err
}

// Alert reads one alert; one above the viewer's clearance does not exist
// for them.
func (s *Service) Alert(ctx context.Context, id string, viewer access.Principal) (store.Alert, error) {
	a, err := s.Store.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !viewer.Clearance.Covers(access.Clearance(a.Clearance))) {
		return store.Alert{}, usererr.Errorf("%w: %s", ErrAlertNotFound, id)
	}
	return a, err
}

// Acknowledge moves a firing alert to acknowledged, audited in the same
// transaction.
func (s *Service) Acknowledge(ctx context.Context, id string, by access.Principal, comment string) (store.Alert, error) {
	a, err := s.Alert(ctx, id, by)
	if err != nil {
		return store.Alert{}, err
	}
	if a.Status != store.AlertFiring {
		return a, usererr.Errorf("%w: alert %s is %s already", ErrAlertState, id, a.Status)
	}
	at := s.now()
	a.Status, a.AcknowledgedAt, a.AcknowledgedBy = store.AlertAcknowledged, &at, by.KeyID
	entry := transition(KindAlertAcknowledge, by.KeyID, a, at)
	if comment != "" {
		entry.Payload.(map[string]any)["comment"] = comment
	}
	got, err := s.Store.AcknowledgeAlert(ctx, id, by.KeyID, comment, at, entry)
	if errors.Is(err, store.ErrAlertState) {
		return got, usererr.Errorf("%w: alert %s changed meanwhile (acknowledged or resolved)", ErrAlertState, id)
	}
	if err != nil {
		return got, fmt.Errorf("monitors: acknowledge %s: %w", id, err)
	}
	return got, nil
}
