package democity

import (
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// Crew dispatch: an approved action sends a traffic crew (police, tow truck,
// road maintenance, drainage) to a segment. The crew arrives after a travel
// time and clears what it can of the incidents active there: crashes,
// breakdowns, debris and flooding end early; planned roadworks and police
// control keep their schedule.

// Dispatch is a crew sent to a segment.
type Dispatch struct {
	ID        string    `json:"id"`
	SegmentID string    `json:"segment_id"`
	Crew      string    `json:"crew"`
	Note      string    `json:"note,omitempty"`
	At        time.Time `json:"at"`         // when it was sent
	ArriveAt  time.Time `json:"arrive_at"`  // when it reaches the segment
	Shortened []Cleared `json:"shortened"`  // incidents it clears early
	Untouched []string  `json:"untouched"`  // active incidents it cannot clear
	SummaryEn string    `json:"summary"`    // what happens, in English
	SummaryZh string    `json:"summary_zh"` // and in Chinese
}

// Cleared is an incident a crew ends early.
type Cleared struct {
	IncidentID string    `json:"incident_id"`
	Type       string    `json:"type"`
	WasEnd     time.Time `json:"was_end"`
	NowEnd     time.Time `json:"now_end"`
}

// crewTravel is how long a crew takes to reach a segment.
const crewTravel = 12 * time.Minute

// clearingTime is how long a crew on site needs per incident type; 0 means
// the crew cannot end it early.
func clearingTime(typ string) time.Duration {
	switch typ {
	case traffic.IncidentCrash:
		return 20 * time.Minute
	case traffic.IncidentBreakdown:
		return 15 * time.Minute
	case traffic.IncidentDebris:
		return 8 * time.Minute
	case traffic.IncidentFlooding:
		return 40 * time.Minute
	}
	return 0
}

// DispatchCrew sends crew to segmentID at the simulated now, as an approved
// action does, with an operator's note. Incidents active on the segment that
// a crew can clear end crewTravel plus their clearing time from now, if that
// is earlier than they would have; the segment's speeds recover from then on
// in every traffic tool. A dispatch to a quiet segment is recorded all the same.
func (c *City) DispatchCrew(segmentID, crew, note string) (Dispatch, error) {
	crew, note = strings.TrimSpace(crew), strings.TrimSpace(note)
	if _, ok := c.segByID[segmentID]; !ok {
		return Dispatch{}, fmt.Errorf("democity: dispatch crew to %q: %w", segmentID, traffic.ErrNotFound)
	}
	if crew == "" || len([]rune(crew)) > 100 || len([]rune(note)) > 500 {
		return Dispatch{}, fmt.Errorf("democity: dispatch crew to %s: crew must be 1–100 characters and note at most 500: %w", segmentID, ErrInvalidRequest)
	}
	now := c.clock()
	arrive := now.Add(crewTravel)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.traffic.dispatches++
	d := Dispatch{ID: fmt.Sprintf("CREW-%s-%d", segmentID, c.traffic.dispatches), SegmentID: segmentID, Crew: crew, Note: note,
		At: now.In(c.loc), ArriveAt: arrive.In(c.loc), Shortened: []Cleared{}, Untouched: []string{}}
	for _, inc := range c.incidentsBetween(now, now) {
		if inc.SegmentID != segmentID || !inc.ActiveAt(now) {
			continue
		}
		ct := clearingTime(inc.Type)
		end := arrive.Add(ct)
		if ct == 0 || !end.Before(inc.End) {
			d.Untouched = append(d.Untouched, inc.ID)
			continue
		}
		if prev, ok := c.traffic.resolved[inc.ID]; ok && !end.Before(prev) {
			d.Untouched = append(d.Untouched, inc.ID)
			continue
		}
		c.traffic.resolved[inc.ID] = end
		c.traffic.version++
		d.Shortened = append(d.Shortened, Cleared{IncidentID: inc.ID, Type: inc.Type, WasEnd: inc.End, NowEnd: end.In(c.loc)})
	}
	seg := c.segments[c.segByID[segmentID]]
	d.SummaryEn = fmt.Sprintf("%s sent to %s (%s), arriving %s", crew, seg.NameEn, segmentID, d.ArriveAt.Format("15:04"))
	d.SummaryZh = fmt.Sprintf("已派%s前往%s（%s），预计%s到达", crew, seg.NameZh, segmentID, d.ArriveAt.Format("15:04"))
	for _, cl := range d.Shortened {
		d.SummaryEn += fmt.Sprintf("; %s expected clear %s instead of %s", cl.IncidentID, cl.NowEnd.Format("15:04"), cl.WasEnd.In(c.loc).Format("15:04"))
		d.SummaryZh += fmt.Sprintf("；%s预计%s解除（原%s）", cl.IncidentID, cl.NowEnd.Format("15:04"), cl.WasEnd.In(c.loc).Format("15:04"))
	}
	d.SummaryEn += "."
	d.SummaryZh += "。"
	return d, nil
}
