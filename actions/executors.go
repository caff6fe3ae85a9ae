package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/traffic"
)

// Execution is one request to carry out an approved proposal.
type Execution struct {
	// ProposalID is the idempotency key: an executor that is handed the
	// same proposal again (a retry after a crash) must not act twice.
	ProposalID string
	Action     string
	Arguments  json.RawMessage
	Attempt    int // 1 for the first claim; more after a crash or hang
	ApprovedBy string
	At         time.Time
}

// Executor carries out approved proposals of the action types that name it.
// It returns a JSON result to store, or an error that marks the proposal
// failed (it is not retried).
type Executor interface {
	Execute(ctx context.Context, x Execution) (json.RawMessage, error)
}

// ArgumentRefiner is an optional ability of an Executor: it adds what only
// the target system knows to an action's argument schema before models see
// it, such as enums of the city's corridors or districts.
type ArgumentRefiner interface {
	RefineArguments(action string, params map[string]any)
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, x Execution) (json.RawMessage, error)

// Execute implements Executor.
func (f ExecutorFunc) Execute(ctx context.Context, x Execution) (json.RawMessage, error) {
	return f(ctx, x)
}

// ErrBadArguments is wrapped by executors for arguments that pass the schema
// but that the target refuses.
var ErrBadArguments = errors.New("actions: arguments refused by the executor")

// Once wraps an executor whose target cannot deduplicate by itself (the
// in-memory demo city): it remembers each proposal's outcome for the life
// of the process, and a concurrent duplicate waits for the first.
func Once(ex Executor) Executor {
	o := &once{ex: ex, done: map[string]*onceEntry{}}
	if r, ok := ex.(ArgumentRefiner); ok {
		return onceRefiner{o, r}
	}
	return o
}

type once struct {
	ex   Executor
	mu   sync.Mutex
	done map[string]*onceEntry
}

type onceEntry struct {
	ready  chan struct{}
	result json.RawMessage
	err    error
}

type onceRefiner struct {
	*once
	ArgumentRefiner
}

var (
	_ Executor        = (*once)(nil)
	_ ArgumentRefiner = onceRefiner{}
)

func (o *once) Execute(ctx context.Context, x Execution) (json.RawMessage, error) {
	o.mu.Lock()
	e, seen := o.done[x.ProposalID]
	if !seen {
		e = &onceEntry{ready: make(chan struct{})}
		o.done[x.ProposalID] = e
	}
	o.mu.Unlock()
	if seen {
		select {
		case <-e.ready:
			return e.result, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.result, e.err = o.ex.Execute(ctx, x)
	close(e.ready)
	return e.result, e.err
}

// decode reads an execution's arguments strictly into v.
func decode(x Execution, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(x.Arguments)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	return nil
}

// result marshals what an executor returns together with bilingual summaries.
func result(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("actions: encode result: %w", err)
	}
	return b, nil
}

// ---- traffic.retime_signal --------------------------------------------------

// SignalPlans is the signal control system the retiming executor drives:
// the demo city's *City, or an adapter to a real one.
type SignalPlans interface {
	Network() traffic.Network
	SignalPlanAt(corridorOrSegment string, t time.Time) (traffic.SignalPlan, error)
	ApplySignalPlan(corridor string, p traffic.SignalPlan) (traffic.SignalPlan, error)
	Now() time.Time
}

// RetimeArgs are traffic.retime_signal's arguments.
type RetimeArgs struct {
	Corridor string `json:"corridor"`
	Strategy string `json:"strategy"`
	Seconds  int    `json:"seconds"`
}

// RetimeResult is what an executed retiming stores.
type RetimeResult struct {
	Corridor  string             `json:"corridor"`
	Previous  traffic.SignalPlan `json:"previous"`
	Plan      traffic.SignalPlan `json:"plan"`
	Summary   string             `json:"summary"`
	SummaryZh string             `json:"summary_zh"`
}

// NewSignalTiming returns the executor of traffic.retime_signal: it derives
// the new plan from the plan in effect and the strategy, and applies it.
func NewSignalTiming(sys SignalPlans) Executor { return &signalTiming{sys: sys} }

type signalTiming struct{ sys SignalPlans }

var (
	_ Executor        = (*signalTiming)(nil)
	_ ArgumentRefiner = (*signalTiming)(nil)
)

// RefineArguments makes corridor an enum of the signalised roads.
func (s *signalTiming) RefineArguments(_ string, params map[string]any) {
	type road struct{ id, zh, en string }
	seen := map[string]bool{}
	var roads []road
	for _, seg := range s.sys.Network().Segments {
		if seg.Signalized && !seen[seg.Road] {
			seen[seg.Road] = true
			roads = append(roads, road{seg.Road, seg.RoadZh, seg.RoadEn})
		}
	}
	sort.Slice(roads, func(i, j int) bool { return roads[i].id < roads[j].id })
	values := make([]string, len(roads))
	names := make([]string, len(roads))
	for i, r := range roads {
		values[i] = r.id
		names[i] = r.zh + " " + r.en
	}
	setEnum(params, "corridor", values, names)
}

// setEnum makes property prop an enum of values, each described by the
// matching name (in x-enumDescriptions and in the description, as the
// tools do).
func setEnum(params map[string]any, prop string, values, names []string) {
	props, _ := params["properties"].(map[string]any)
	p, _ := props[prop].(map[string]any)
	if p == nil || len(values) == 0 {
		return
	}
	enum := make([]any, len(values))
	desc := map[string]any{}
	codes := make([]string, len(values))
	for i, v := range values {
		enum[i] = v
		desc[v] = names[i]
		codes[i] = v + " = " + names[i]
	}
	p["enum"] = enum
	p["x-enumDescriptions"] = desc
	d, _ := p["description"].(string)
	p["description"] = strings.TrimSpace(d + " Codes 代码: " + strings.Join(codes, "; ") + ".")
}

func (s *signalTiming) Execute(_ context.Context, x Execution) (json.RawMessage, error) {
	var a RetimeArgs
	if err := decode(x, &a); err != nil {
		return nil, err
	}
	if a.Seconds == 0 {
		a.Seconds = 10
	}
	cur, err := s.sys.SignalPlanAt(a.Corridor, s.sys.Now())
	if err != nil {
		return nil, fmt.Errorf("signal plan of %s: %w", a.Corridor, err)
	}
	next, err := Retime(cur, a.Strategy, a.Seconds)
	if err != nil {
		return nil, err
	}
	next.ChangedBy = fmt.Sprintf("proposal %s, approved by %s", x.ProposalID, x.ApprovedBy)
	applied, err := s.sys.ApplySignalPlan(a.Corridor, next)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	res := RetimeResult{Corridor: a.Corridor, Previous: cur, Plan: applied}
	res.Summary = fmt.Sprintf("Signal plan %s is in effect on %s: cycle %d s (was %d s), main-road through green %d s (was %d s)%s.",
		applied.ID, a.Corridor, applied.CycleSec, cur.CycleSec, applied.MainGreenSec(), cur.MainGreenSec(), waveText(applied, cur, false))
	res.SummaryZh = fmt.Sprintf("信号配时方案%s已在%s生效：周期%d秒（原%d秒），主路直行绿灯%d秒（原%d秒）%s。",
		applied.ID, a.Corridor, applied.CycleSec, cur.CycleSec, applied.MainGreenSec(), cur.MainGreenSec(), waveText(applied, cur, true))
	return result(res)
}

func waveText(p, prev traffic.SignalPlan, zh bool) string {
	if p.Coordinated && !prev.Coordinated {
		if zh {
			return "，实行绿波协调"
		}
		return ", coordinated as a green wave"
	}
	return ""
}

// Retime derives a new plan from cur by a strategy: more_main_green and
// less_main_green move seconds of green between the main through phase and
// the longest other phase; longer_cycle and shorter_cycle change the cycle by
// seconds and every green in proportion; green_wave coordinates the corridor.
// The result still has to pass the target's own rules.
func Retime(cur traffic.SignalPlan, strategy string, seconds int) (traffic.SignalPlan, error) {
	p := cur
	p.Phases = append([]traffic.Phase(nil), cur.Phases...)
	p.ID, p.LastChanged = "", time.Time{}
	p.Name, p.NameZh = "Retimed plan", "调整后方案"
	main, other := -1, -1
	for i, ph := range p.Phases {
		switch {
		case ph.Main:
			main = i
		case other < 0 || ph.GreenSec > p.Phases[other].GreenSec:
			other = i
		}
	}
	if main < 0 {
		return traffic.SignalPlan{}, fmt.Errorf("%w: plan %s has no main through phase", ErrBadArguments, cur.ID)
	}
	shift := func(from, to int) error {
		if from < 0 || to < 0 {
			return fmt.Errorf("%w: plan %s has a single phase; green cannot move", ErrBadArguments, cur.ID)
		}
		if p.Phases[from].GreenSec-seconds < 5 {
			return fmt.Errorf("%w: taking %d s would leave %q under 5 s of green", ErrBadArguments, seconds, p.Phases[from].Name)
		}
		p.Phases[from].GreenSec -= seconds
		p.Phases[to].GreenSec += seconds
		return nil
	}
	var err error
	switch strategy {
	case "more_main_green":
		err = shift(other, main)
	case "less_main_green":
		err = shift(main, other)
	case "longer_cycle", "shorter_cycle":
		delta := seconds
		if strategy == "shorter_cycle" {
			delta = -seconds
		}
		err = scaleCycle(&p, delta, main)
	case "green_wave":
		if cur.Coordinated {
			err = fmt.Errorf("%w: %s already runs a green wave", ErrBadArguments, cur.Corridor)
		}
		p.Coordinated = true
	default:
		err = fmt.Errorf("%w: unknown strategy %q", ErrBadArguments, strategy)
	}
	if err != nil {
		return traffic.SignalPlan{}, err
	}
	if p.OffsetSec >= p.CycleSec {
		p.OffsetSec %= p.CycleSec
	}
	return p, nil
}

// scaleCycle changes the cycle by delta seconds and every green in
// proportion; rounding is settled on the main phase.
func scaleCycle(p *traffic.SignalPlan, delta, main int) error {
	lost := traffic.LostTimePerPhaseSec * len(p.Phases)
	greens := p.CycleSec - lost
	newGreens := greens + delta
	if newGreens < 5*len(p.Phases) {
		return fmt.Errorf("%w: a %d s cycle leaves too little green", ErrBadArguments, p.CycleSec+delta)
	}
	sum := 0
	for i := range p.Phases {
		if i == main {
			continue
		}
		g := max(5, (p.Phases[i].GreenSec*newGreens+greens/2)/greens)
		p.Phases[i].GreenSec = g
		sum += g
	}
	p.Phases[main].GreenSec = newGreens - sum
	p.CycleSec += delta
	if p.Phases[main].GreenSec < 5 {
		return fmt.Errorf("%w: a %d s cycle leaves the main road under 5 s of green", ErrBadArguments, p.CycleSec)
	}
	return nil
}

// ---- traffic.dispatch_crew, permits.*, energy.* ----------------------------
//
// The interfaces below have the shapes of the demo city's methods with the
// domain value returned as any, so that an adapter (cmd/cityagent) can wire
// a city whose methods return their own result types.

// CrewDispatcher sends a field crew to a road segment.
type CrewDispatcher interface {
	DispatchCrew(segmentID, crew, note string) (any, error)
}

// InspectionScheduler books a permit inspection.
type InspectionScheduler interface {
	ScheduleInspection(permitID string, at time.Time, kind string) (any, error)
}

// PermitFlagger flags a permit for review.
type PermitFlagger interface {
	FlagPermitForReview(permitID, reason string) (any, error)
}

// DemandResponder calls a demand-response event in a district.
type DemandResponder interface {
	DemandResponseEvent(district string, start time.Time, duration time.Duration, reductionKW float64) (any, error)
}

// targetResult is the stored result of an executor over one of the
// interfaces above.
type targetResult struct {
	Outcome   any    `json:"outcome"`
	Summary   string `json:"summary"`
	SummaryZh string `json:"summary_zh"`
}

// NewCrewDispatch returns the executor of traffic.dispatch_crew.
func NewCrewDispatch(d CrewDispatcher) Executor {
	return ExecutorFunc(func(_ context.Context, x Execution) (json.RawMessage, error) {
		var a struct {
			SegmentID string `json:"segment_id"`
			Crew      string `json:"crew"`
			Note      string `json:"note"`
		}
		if err := decode(x, &a); err != nil {
			return nil, err
		}
		out, err := d.DispatchCrew(a.SegmentID, a.Crew, a.Note)
		if err != nil {
			return nil, err
		}
		return result(targetResult{Outcome: out,
			Summary:   fmt.Sprintf("Crew %s dispatched to segment %s.", a.Crew, a.SegmentID),
			SummaryZh: fmt.Sprintf("已派遣%s前往路段%s。", a.Crew, a.SegmentID)})
	})
}

// NewInspectionScheduling returns the executor of permits.schedule_inspection;
// dates and times are read in loc (the city's zone), and an inspection
// without a date goes to the next working day after now.
func NewInspectionScheduling(s InspectionScheduler, now func() time.Time, loc *time.Location) Executor {
	return ExecutorFunc(func(_ context.Context, x Execution) (json.RawMessage, error) {
		var a struct {
			PermitID  string `json:"permit_id"`
			Kind      string `json:"kind"`
			Date      string `json:"date"`
			TimeOfDay string `json:"time_of_day"`
		}
		if err := decode(x, &a); err != nil {
			return nil, err
		}
		if a.TimeOfDay == "" {
			a.TimeOfDay = "09:00"
		}
		if a.Date == "" {
			a.Date = NextWorkingDay(now().In(loc)).Format(time.DateOnly)
		}
		at, err := time.ParseInLocation("2006-01-02 15:04", a.Date+" "+a.TimeOfDay, loc)
		if err != nil {
			return nil, fmt.Errorf("%w: date and time: %v", ErrBadArguments, err)
		}
		out, err := s.ScheduleInspection(a.PermitID, at, a.Kind)
		if err != nil {
			return nil, err
		}
		return result(targetResult{Outcome: out,
			Summary:   fmt.Sprintf("A %s inspection of permit %s is scheduled for %s.", a.Kind, a.PermitID, at.Format("2006-01-02 15:04")),
			SummaryZh: fmt.Sprintf("许可%s的%s检查已安排在%s。", a.PermitID, a.Kind, at.Format("2006-01-02 15:04"))})
	})
}

// NextWorkingDay is the first Monday-to-Friday day after t's.
func NextWorkingDay(t time.Time) time.Time {
	d := t.AddDate(0, 0, 1)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// NewPermitFlagging returns the executor of permits.flag_for_review.
func NewPermitFlagging(f PermitFlagger) Executor {
	return ExecutorFunc(func(_ context.Context, x Execution) (json.RawMessage, error) {
		var a struct {
			PermitID string `json:"permit_id"`
			Reason   string `json:"reason"`
			Note     string `json:"note"`
		}
		if err := decode(x, &a); err != nil {
			return nil, err
		}
		reason := a.Reason
		if a.Note != "" {
			reason += ": " + a.Note
		}
		out, err := f.FlagPermitForReview(a.PermitID, reason)
		if err != nil {
			return nil, err
		}
		return result(targetResult{Outcome: out,
			Summary:   fmt.Sprintf("Permit %s is flagged for review (%s).", a.PermitID, a.Reason),
			SummaryZh: fmt.Sprintf("许可%s已标记为需复核（%s）。", a.PermitID, a.Reason)})
	})
}

// NewDemandResponse returns the executor of energy.demand_response_event.
// districts (id → name) become the district enum; now and loc place a
// start the arguments leave out at the earliest time the notice allows.
func NewDemandResponse(d DemandResponder, districts map[string]string, now func() time.Time, loc *time.Location) Executor {
	return &demandResponse{d: d, districts: districts, now: now, loc: loc}
}

type demandResponse struct {
	d         DemandResponder
	districts map[string]string
	now       func() time.Time
	loc       *time.Location
}

var (
	_ Executor        = (*demandResponse)(nil)
	_ ArgumentRefiner = (*demandResponse)(nil)
)

func (e *demandResponse) RefineArguments(_ string, params map[string]any) {
	ids := make([]string, 0, len(e.districts))
	for id := range e.districts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = e.districts[id]
	}
	setEnum(params, "district", ids, names)
}

func (e *demandResponse) Execute(_ context.Context, x Execution) (json.RawMessage, error) {
	var a struct {
		District      string  `json:"district"`
		EventType     string  `json:"event_type"`
		DurationHours int     `json:"duration_hours"`
		ReductionKW   float64 `json:"reduction_kw"`
		Start         string  `json:"start"`
	}
	if err := decode(x, &a); err != nil {
		return nil, err
	}
	if a.DurationHours == 0 {
		a.DurationHours = 2
	}
	if a.ReductionKW == 0 {
		a.ReductionKW = 1000
	}
	now := e.now().In(e.loc)
	earliest := EarliestStart(a.EventType, now)
	start := earliest
	if a.Start != "" {
		t, err := time.Parse(time.RFC3339, a.Start)
		if err != nil {
			return nil, fmt.Errorf("%w: start: %v", ErrBadArguments, err)
		}
		if t.Before(earliest) {
			return nil, fmt.Errorf("%w: a %s event cannot start before %s", ErrBadArguments, a.EventType, earliest.Format(time.RFC3339))
		}
		start = t.In(e.loc)
	}
	out, err := e.d.DemandResponseEvent(a.District, start, time.Duration(a.DurationHours)*time.Hour, a.ReductionKW)
	if err != nil {
		return nil, err
	}
	return result(targetResult{Outcome: out,
		Summary: fmt.Sprintf("A %s demand-response event is called in %s from %s for %d h, asking for %.0f kW less load.",
			a.EventType, a.District, start.Format("2006-01-02 15:04"), a.DurationHours, a.ReductionKW),
		SummaryZh: fmt.Sprintf("已在%s启动%s需求响应：%s起持续%d小时，要求削减负荷%.0f千瓦。",
			a.District, a.EventType, start.Format("2006-01-02 15:04"), a.DurationHours, a.ReductionKW)})
}

// EarliestStart is the earliest start the programme's notice rules allow for
// an event type called at now: day-ahead events start tomorrow at 14:00
// (14:00 the day after when called after 16:00), hour-ahead events at the
// full hour at least 60 minutes away, emergencies 15 minutes from now.
func EarliestStart(eventType string, now time.Time) time.Time {
	switch eventType {
	case "day_ahead":
		day := now.AddDate(0, 0, 1)
		if now.Hour() >= 16 {
			day = now.AddDate(0, 0, 2)
		}
		return time.Date(day.Year(), day.Month(), day.Day(), 14, 0, 0, 0, now.Location())
	case "hour_ahead":
		return now.Add(time.Hour).Truncate(time.Hour).Add(time.Hour)
	}
	return now.Add(15 * time.Minute).Truncate(time.Minute)
}

// ---- hotline.dispatch_ticket -------------------------------------------------

// DispatchStore keeps dispatch records; *store.DB implements it.
type DispatchStore interface {
	CreateDispatch(ctx context.Context, d store.Dispatch) (store.Dispatch, bool, error)
}

// Deadlines by urgency, as the hotline rules set them.
var dispatchDeadlines = map[string]time.Duration{"emergency": 2 * time.Hour, "urgent": 24 * time.Hour, "normal": 7 * 24 * time.Hour}

// NewStoreDispatch returns the executor of hotline.dispatch_ticket: a
// dispatch record in the state store, one per proposal whatever the number
// of attempts.
func NewStoreDispatch(ds DispatchStore) Executor {
	return ExecutorFunc(func(ctx context.Context, x Execution) (json.RawMessage, error) {
		var a struct {
			Department  string `json:"department"`
			Handling    string `json:"handling"`
			Urgency     string `json:"urgency"`
			RequestText string `json:"request_text"`
			Location    string `json:"location"`
		}
		if err := decode(x, &a); err != nil {
			return nil, err
		}
		due, ok := dispatchDeadlines[a.Urgency]
		if !ok {
			return nil, fmt.Errorf("%w: urgency %q", ErrBadArguments, a.Urgency)
		}
		sum := sha256.Sum256([]byte(x.ProposalID))
		d, created, err := ds.CreateDispatch(ctx, store.Dispatch{ID: "dsp_" + hex.EncodeToString(sum[:8]), ProposalID: x.ProposalID,
			Department: a.Department, Category: x.Action, Urgency: a.Urgency, Summary: a.RequestText, Location: a.Location,
			DueAt: x.At.Add(due), CreatedAt: x.At})
		if err != nil {
			return nil, err
		}
		return result(map[string]any{"dispatch_id": d.ID, "department": d.Department, "handling": a.Handling, "urgency": d.Urgency, "due_at": d.DueAt,
			"first_dispatch": created,
			"summary":        fmt.Sprintf("Dispatched to %s as %s, due %s (dispatch %s).", d.Department, d.Urgency, d.DueAt.Format(time.RFC3339), d.ID),
			"summary_zh":     fmt.Sprintf("已派往%s，紧急程度%s，办理时限%s（派单号%s）。", d.Department, d.Urgency, d.DueAt.Format(time.RFC3339), d.ID)})
	})
}
