package democity

import (
	"fmt"
	"slices"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// Every signalised road is one corridor with one plan at all its
// intersections. A plan takes effect at its LastChanged time; the corridor
// keeps every plan it has had, so history before a change is unaffected.

// greenWave reports whether a corridor runs a coordinated green wave: the
// three arterials the city's signal timing rules name.
func greenWave(corridor string) bool {
	return corridor == "binjiang" || corridor == "renmin" || corridor == "gaoxin_ave"
}

// The city's timing rules: cycles of 60–180 s.
const (
	minCycleSec = 60
	maxCycleSec = 180
)

// corridorIntersections is how many signalised crossings a corridor has: one
// with each road of the other direction.
const corridorIntersections = 8

func (c *City) initialPlan(ri int) traffic.SignalPlan {
	r := c.roads[ri]
	id := uint64(ri)
	var cycle int
	var green float64
	left := false
	switch r.class {
	case traffic.ClassArterial:
		cycle = 120 + 10*c.pick(5, domSignal, id, 1)
		green = c.rnd(0.36, 0.48, domSignal, id, 2)
		left = true
	case traffic.ClassSecondary:
		cycle = 90 + 10*c.pick(4, domSignal, id, 1)
		green = c.rnd(0.4, 0.52, domSignal, id, 2)
		left = c.pick(2, domSignal, id, 3) == 0
	default:
		cycle = 60 + 10*c.pick(3, domSignal, id, 1)
		green = c.rnd(0.42, 0.55, domSignal, id, 2)
	}
	phases := []traffic.Phase{{Name: "Main through", NameZh: "主路直行", GreenSec: int(float64(cycle)*green + 0.5), Main: true}}
	if left {
		phases = append(phases, traffic.Phase{Name: "Main left turn", NameZh: "主路左转", GreenSec: int(float64(cycle)*0.12 + 0.5)})
	}
	used := traffic.LostTimePerPhaseSec * (len(phases) + 1)
	for _, ph := range phases {
		used += ph.GreenSec
	}
	phases = append(phases, traffic.Phase{Name: "Cross street", NameZh: "横向道路", GreenSec: cycle - used})

	p := traffic.SignalPlan{
		ID:            fmt.Sprintf("SP-%s-1", r.id),
		Corridor:      r.id,
		Name:          "Fixed-time plan",
		NameZh:        "定周期方案",
		CycleSec:      cycle,
		OffsetSec:     5 * c.pick(cycle/5, domSignal, id, 4),
		Phases:        phases,
		Intersections: corridorIntersections,
		LastChanged:   time.Date(2023, 1, 1, 2, 0, 0, 0, c.loc).AddDate(0, 0, c.pick(365, domSignal, id, 5)),
		ChangedBy:     "signal control centre 信号控制中心",
	}
	if greenWave(r.id) {
		p.Coordinated = true
		p.Name, p.NameZh = "Green-wave coordinated plan", "绿波协调方案"
	}
	return p
}

// planAt returns the plan in effect on corridor ri at t: the latest one that
// took effect by t, or the first one for times before any. Callers hold c.mu.
func (c *City) planAt(ri int, t time.Time) *traffic.SignalPlan {
	plans := c.traffic.plans[c.roads[ri].id]
	if len(plans) == 0 {
		return nil
	}
	i := len(plans) - 1
	for i > 0 && plans[i].LastChanged.After(t) {
		i--
	}
	return &plans[i]
}

func clonePlan(p traffic.SignalPlan) traffic.SignalPlan {
	p.Phases = slices.Clone(p.Phases)
	return p
}

// corridor resolves a corridor id, or a segment id to its road's corridor.
func (c *City) corridor(id string) (int, error) {
	ri, ok := c.roadByID[id]
	if !ok {
		si, isSeg := c.segByID[id]
		if !isSeg {
			return 0, fmt.Errorf("democity: corridor %q: %w", id, traffic.ErrNotFound)
		}
		ri = c.segments[si].road
	}
	if !c.roads[ri].signalized {
		return 0, fmt.Errorf("democity: %s is an expressway without signals: %w", c.roads[ri].id, traffic.ErrNotFound)
	}
	return ri, nil
}

// SignalPlanAt returns the plan in effect at t on a corridor, given by
// corridor (road) id or by the id of one of its segments.
func (c *City) SignalPlanAt(corridorOrSegment string, t time.Time) (traffic.SignalPlan, error) {
	ri, err := c.corridor(corridorOrSegment)
	if err != nil {
		return traffic.SignalPlan{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return clonePlan(*c.planAt(ri, t)), nil
}

// SignalPlanHistory returns every plan a corridor has had, oldest first.
func (c *City) SignalPlanHistory(corridor string) ([]traffic.SignalPlan, error) {
	ri, err := c.corridor(corridor)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	plans := c.traffic.plans[c.roads[ri].id]
	out := make([]traffic.SignalPlan, len(plans))
	for i, p := range plans {
		out[i] = clonePlan(p)
	}
	return out, nil
}

// ApplySignalPlan puts p into effect on corridor at the simulated now, as an
// approved retiming does. The city assigns the plan's id, corridor,
// intersection count and LastChanged; names and ChangedBy default when empty.
// Travel times on the corridor's segments follow the new plan from now on.
func (c *City) ApplySignalPlan(corridor string, p traffic.SignalPlan) (traffic.SignalPlan, error) {
	ri, ok := c.roadByID[corridor]
	if !ok || !c.roads[ri].signalized {
		return traffic.SignalPlan{}, fmt.Errorf("democity: apply signal plan to %q: %w", corridor, traffic.ErrNotFound)
	}
	if p.Corridor != "" && p.Corridor != corridor {
		return traffic.SignalPlan{}, fmt.Errorf("democity: apply signal plan: plan names corridor %q, not %q: %w", p.Corridor, corridor, traffic.ErrInvalidPlan)
	}
	if err := p.Validate(); err != nil {
		return traffic.SignalPlan{}, fmt.Errorf("democity: apply signal plan to %s: %w", corridor, err)
	}
	if p.CycleSec < minCycleSec || p.CycleSec > maxCycleSec {
		return traffic.SignalPlan{}, fmt.Errorf("democity: apply signal plan to %s: %w: the city's cycles run %d–%d s", corridor, traffic.ErrInvalidPlan, minCycleSec, maxCycleSec)
	}
	p = clonePlan(p)
	p.Corridor = corridor
	p.Intersections = corridorIntersections
	if p.Name == "" {
		p.Name = "Operator timing plan"
	}
	if p.NameZh == "" {
		p.NameZh = "人工调整方案"
	}
	if p.ChangedBy == "" {
		p.ChangedBy = "operator"
	}
	p.LastChanged = c.clock().In(c.loc)

	c.mu.Lock()
	defer c.mu.Unlock()
	plans := c.traffic.plans[corridor]
	p.ID = fmt.Sprintf("SP-%s-%d", corridor, len(plans)+1)
	plans = append(plans, p)
	slices.SortStableFunc(plans, func(a, b traffic.SignalPlan) int { return a.LastChanged.Compare(b.LastChanged) })
	c.traffic.plans[corridor] = plans
	c.traffic.version++
	return clonePlan(p), nil
}
