package democity

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// Incidents are drawn per local hour ("slot"): how many start in the hour,
// and for each its segment, type, severity and duration, all hashed from the
// seed and the slot. Nothing is stored except which incidents an operator
// resolved early, so any moment of any day can be answered.

// maxIncidentHours bounds how long an incident lasts, so the incidents active
// at t all started in the slots of the preceding maxIncidentHours hours.
const maxIncidentHours = 8

// ErrIncidentNotActive is returned when resolving an incident that is not in
// effect at the simulated now (not started yet, already cleared or resolved).
var ErrIncidentNotActive = errors.New("democity: incident not active")

func slotOf(t time.Time) int64 { return floorDiv(t.Unix()+utcOffset, 60*60) }

func (c *City) slotStart(slot int64) time.Time {
	return time.Unix(slot*60*60-utcOffset, 0).In(c.loc)
}

// rainy reports whether day d has the heavy rain that floods low-lying roads.
func (c *City) rainy(d int64) bool { return unit(c.hash(domRain, uint64(d))) < 0.18 }

// slotIncidents generates the incidents that start in slot, before any
// operator resolution.
func (c *City) slotIncidents(slot int64) []traffic.Incident {
	start := c.slotStart(slot)
	h := start.Hour()
	night := h >= 22 || h < 6
	rain := c.rainy(dayIndex(start))

	rate := 1.4
	switch {
	case night:
		rate = 0.6
	case isWeekend(start):
		rate = 1.1
	case h == 7 || h == 8 || h == 17 || h == 18:
		rate = 2.4
	}
	if rain {
		rate *= 1.3
	}
	n := poisson(rate, unit(c.hash(domIncidentCount, uint64(slot))))

	out := make([]traffic.Incident, 0, n)
	for k := range n {
		r := func(field uint64) float64 { return unit(c.hash(domIncident, uint64(slot), uint64(k), field)) }
		si := sort.SearchFloat64s(c.incidentCum, r(1)*c.incidentCum[len(c.incidentCum)-1])
		si = min(si, len(c.segments)-1)
		s := &c.segments[si]

		typ := incidentType(night, r(2))
		if rain && s.lowLying && r(3) < 0.6 {
			typ = traffic.IncidentFlooding
		}
		// Planned works keep to the permitted hours; anything else on the
		// road is an emergency repair, which may start at any time.
		emergency := typ == traffic.IncidentRoadworks && !worksAllowed(s.Class, start)
		sev, blocked, minutes := incidentShape(typ, night, emergency, s.Lanes, r(4), r(5))
		begin := start.Add(time.Duration(int(r(6)*60)) * time.Minute)
		end := begin.Add(time.Duration(minutes) * time.Minute)
		if typ == traffic.IncidentRoadworks && !emergency {
			end = minTime(end, worksWindowEnd(begin))
		}
		variant := int(r(7) * 3)
		zh, en := describe(typ, sev, variant, emergency, s)
		if blocked > 0 {
			zh += fmt.Sprintf("，占用%d条车道", blocked)
			en += fmt.Sprintf("; %d of %d lanes blocked", blocked, s.Lanes)
		}
		out = append(out, traffic.Incident{
			ID:            fmt.Sprintf("INC-%s-%d", start.Format("2006010215"), k+1),
			Type:          typ,
			SegmentID:     s.ID,
			District:      s.District,
			Start:         begin,
			End:           end,
			Severity:      sev,
			LanesBlocked:  blocked,
			DescriptionZh: zh + "。",
			DescriptionEn: en + ".",
		})
	}
	return out
}

// poisson draws from a Poisson distribution of mean rate by inverting its
// CDF at u; capped at 6 per hour.
func poisson(rate, u float64) int {
	p := math.Exp(-rate)
	cum := p
	k := 0
	for u > cum && k < 6 {
		k++
		p *= rate / float64(k)
		cum += p
	}
	return k
}

func incidentType(night bool, u float64) string {
	type w struct {
		typ    string
		weight float64
	}
	table := []w{
		{traffic.IncidentCrash, 0.5}, {traffic.IncidentBreakdown, 0.27}, {traffic.IncidentRoadworks, 0.08},
		{traffic.IncidentDebris, 0.08}, {traffic.IncidentControl, 0.07},
	}
	if night {
		// Utility crews and resurfacing work at night.
		table = []w{
			{traffic.IncidentRoadworks, 0.45}, {traffic.IncidentCrash, 0.25},
			{traffic.IncidentBreakdown, 0.2}, {traffic.IncidentDebris, 0.1},
		}
	}
	for _, e := range table {
		if u < e.weight {
			return e.typ
		}
		u -= e.weight
	}
	return table[0].typ
}

// worksAllowed applies the roadworks rules to works starting in the hour
// from start: lane closures on arterials and expressways only 22:00–06:00,
// and no works on any road in the weekday peaks (07:00–09:30, 16:30–19:30).
func worksAllowed(class string, start time.Time) bool {
	h := start.Hour()
	switch {
	case h >= 22 || h < 6:
		return true
	case class == traffic.ClassArterial || class == traffic.ClassExpressway:
		return false
	case isWeekend(start):
		return true
	default:
		return h >= 10 && h < 16
	}
}

// worksWindowEnd is when planned works that began at begin must reopen the road.
func worksWindowEnd(begin time.Time) time.Time {
	y, m, d := begin.Date()
	switch h := begin.Hour(); {
	case h >= 22:
		return time.Date(y, m, d+1, 6, 0, 0, 0, begin.Location())
	case h < 6:
		return time.Date(y, m, d, 6, 0, 0, 0, begin.Location())
	default:
		return time.Date(y, m, d, 16, 30, 0, 0, begin.Location())
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// incidentShape draws severity, lanes blocked and duration in minutes.
// Incidents never close every lane of a multi-lane road. Minor crashes clear
// within 30 minutes, as the quick-settlement rule (快处快赔) requires.
func incidentShape(typ string, night, emergency bool, lanes int, u, v float64) (sev, blocked, minutes int) {
	capLanes := func(n int) int { return max(1, min(n, lanes-1)) }
	switch typ {
	case traffic.IncidentCrash:
		switch {
		case u >= 0.85:
			return 3, capLanes(3), 60 + int(v*90)
		case u >= 0.5:
			return 2, capLanes(2), 30 + int(v*45)
		default:
			return 1, capLanes(1), 15 + int(v*15)
		}
	case traffic.IncidentBreakdown:
		sev = 1
		if u >= 0.7 {
			sev = 2
		}
		return sev, 1, 15 + int(v*45)
	case traffic.IncidentRoadworks:
		sev = 2
		if u < 0.3 {
			sev = 1
		}
		if emergency {
			return sev, capLanes(sev), 60 + int(v*90)
		}
		if night {
			return sev, capLanes(sev), 120 + int(v*300)
		}
		return sev, capLanes(sev), 60 + int(v*120)
	case traffic.IncidentFlooding:
		sev = 2
		if u >= 0.5 {
			sev = 3
		}
		blocked = 0
		if sev == 3 {
			blocked = max(0, lanes-1)
		}
		return sev, blocked, 60 + int(v*180)
	case traffic.IncidentDebris:
		return 1, 1, 10 + int(v*30)
	default: // control
		return 2, capLanes(1), 30 + int(v*90)
	}
}

// describe writes an incident's description without its lane count.
func describe(typ string, sev, variant int, emergency bool, s *segment) (zh, en string) {
	where := s.NameZh
	whereEn := fmt.Sprintf("%s %s between %s and %s", s.RoadEn, s.Direction, s.FromEn, s.ToEn)
	switch typ {
	case traffic.IncidentCrash:
		what := [][2]string{{"两车剐蹭事故", "Minor two-vehicle collision"},
			{"多车追尾事故", "Multi-vehicle rear-end crash"},
			{"严重交通事故，有人员受伤", "Serious crash with injuries"}}[sev-1]
		return where + "发生" + what[0], what[1] + " on " + whereEn
	case traffic.IncidentBreakdown:
		what := [][2]string{{"小客车故障停驶", "Broken-down car"},
			{"大货车故障停驶", "Broken-down heavy truck"}}[sev-1]
		return where + what[0], what[1] + " on " + whereEn
	case traffic.IncidentRoadworks:
		if emergency {
			what := [][2]string{{"供水管道抢修", "Emergency water-main repair"},
				{"燃气管道抢修", "Emergency gas-pipe repair"},
				{"路面塌陷抢修", "Emergency repair of a road-surface collapse"}}[variant]
			return where + what[0], what[1] + " on " + whereEn
		}
		what := [][2]string{{"管线维修施工", "Roadworks (utility repair)"},
			{"路面修补施工", "Roadworks (resurfacing)"},
			{"标线施划作业", "Roadworks (lane marking)"}}[variant]
		return where + what[0], what[1] + " on " + whereEn
	case traffic.IncidentFlooding:
		return where + "暴雨后路面积水", "Flooding after heavy rain on " + whereEn
	case traffic.IncidentDebris:
		return where + "路面有遗撒物", "Debris on the carriageway on " + whereEn
	default:
		return where + "因大型活动实施交通管制", "Police traffic control for a public event on " + whereEn
	}
}

// incidentsBetween returns the incidents in effect at some moment of
// [from, to], with operator resolutions applied. Callers hold c.mu.
func (c *City) incidentsBetween(from, to time.Time) []traffic.Incident {
	var out []traffic.Incident
	for slot := slotOf(from) - maxIncidentHours; slot <= slotOf(to); slot++ {
		for _, inc := range c.cachedSlotIncidents(slot) { // slotcache.go
			inc = c.applyResolution(inc)
			if inc.End.After(from) && !inc.Start.After(to) {
				out = append(out, inc)
			}
		}
	}
	return out
}

func (c *City) applyResolution(inc traffic.Incident) traffic.Incident {
	if at, ok := c.traffic.resolved[inc.ID]; ok && at.Before(inc.End) {
		inc.End = at.In(c.loc)
		inc.Resolved = true
	}
	return inc
}

// IncidentsAt returns the incidents active at t, oldest first, optionally
// only those in district or on segment ("" matches all).
func (c *City) IncidentsAt(t time.Time, district, segmentID string) []traffic.Incident {
	c.mu.RLock()
	all := c.incidentsBetween(t, t)
	c.mu.RUnlock()
	out := make([]traffic.Incident, 0, len(all))
	for _, inc := range all {
		if !inc.ActiveAt(t) || (district != "" && inc.District != district) || (segmentID != "" && inc.SegmentID != segmentID) {
			continue
		}
		out = append(out, inc)
	}
	sortIncidents(out)
	return out
}

func sortIncidents(incs []traffic.Incident) {
	slices.SortFunc(incs, func(a, b traffic.Incident) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Incident returns the incident with id, as it stands now.
func (c *City) Incident(id string) (traffic.Incident, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	inc, err := c.findIncident(id)
	if err != nil {
		return traffic.Incident{}, err
	}
	return c.applyResolution(inc), nil
}

// findIncident regenerates the incident named by id, whose slot and index
// the id carries ("INC-2025060308-2").
func (c *City) findIncident(id string) (traffic.Incident, error) {
	notFound := fmt.Errorf("democity: incident %q: %w", id, traffic.ErrNotFound)
	rest, ok := strings.CutPrefix(id, "INC-")
	if !ok {
		return traffic.Incident{}, notFound
	}
	hour, num, ok := strings.Cut(rest, "-")
	if !ok {
		return traffic.Incident{}, notFound
	}
	start, err := time.ParseInLocation("2006010215", hour, c.loc)
	k, err2 := strconv.Atoi(num)
	if err != nil || err2 != nil || k < 1 {
		return traffic.Incident{}, notFound
	}
	incs := c.slotIncidents(slotOf(start))
	if k > len(incs) || incs[k-1].ID != id {
		return traffic.Incident{}, notFound
	}
	return incs[k-1], nil
}

// ResolveIncident clears an incident at the simulated now, as when an
// approved action sends a crew: its segment recovers from that moment on.
func (c *City) ResolveIncident(id string) (traffic.Incident, error) {
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	inc, err := c.findIncident(id)
	if err != nil {
		return traffic.Incident{}, err
	}
	inc = c.applyResolution(inc)
	if !inc.ActiveAt(now) {
		return inc, fmt.Errorf("democity: resolve incident %s at %s: %w", id, now.In(c.loc).Format("2006-01-02 15:04"), ErrIncidentNotActive)
	}
	c.traffic.resolved[id] = now
	c.traffic.version++
	return c.applyResolution(inc), nil
}
