package traffic

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/citytool"
)

// Cause is one reason a segment is as slow as it is.
type Cause struct {
	Kind       string `json:"kind"` // incident, peak, over_capacity, signal_change
	Text       string `json:"text"`
	TextZh     string `json:"text_zh"`
	IncidentID string `json:"incident_id,omitempty"`
}

func periodLabel(p string) (en, zh string) {
	switch p {
	case PeriodMorningPeak:
		return "morning peak", "早高峰"
	case PeriodEveningPeak:
		return "evening peak", "晚高峰"
	case PeriodOffPeak:
		return "off-peak", "平峰"
	case PeriodNight:
		return "night", "夜间"
	case PeriodWeekend:
		return "weekend", "周末"
	}
	return "", ""
}

func incidentLabel(typ string) (en, zh string) {
	switch typ {
	case IncidentCrash:
		return "crash", "交通事故"
	case IncidentBreakdown:
		return "breakdown", "车辆故障"
	case IncidentRoadworks:
		return "roadworks", "道路施工"
	case IncidentFlooding:
		return "flooding", "道路积水"
	case IncidentDebris:
		return "debris", "路面遗撒"
	case IncidentControl:
		return "traffic control", "交通管制"
	}
	return typ, typ
}

func severityLabel(sev int) (en, zh string) {
	switch {
	case sev <= 1:
		return "minor", "轻微"
	case sev == 2:
		return "moderate", "一般"
	default:
		return "major", "严重"
	}
}

// incidentCause explains an incident's effect on its segment.
func (c *catalog) incidentCause(inc Incident) Cause {
	en, zh := incidentLabel(inc.Type)
	since := inc.Start.In(c.Loc).Format("15:04")
	until := inc.End.In(c.Loc).Format("15:04")
	cause := Cause{Kind: "incident", IncidentID: inc.ID}
	if inc.LanesBlocked > 0 {
		cause.Text = fmt.Sprintf("%s blocking %d %s since %s (expected clear %s)", en, inc.LanesBlocked, citytool.Plural(inc.LanesBlocked, "lane"), since, until)
		cause.TextZh = fmt.Sprintf("%s占用%d条车道（%s起，预计%s解除）", zh, inc.LanesBlocked, since, until)
	} else {
		cause.Text = fmt.Sprintf("%s since %s (expected clear %s)", en, since, until)
		cause.TextZh = fmt.Sprintf("%s（%s起，预计%s解除）", zh, since, until)
	}
	return cause
}

// causes explains observation o of segment seg from the incidents on it and
// the plan of its corridor (nil when unknown). Peaks and capacity explain
// only slowness, so they are given when the segment is not free flowing.
func (c *catalog) causes(o Observation, incidents []Incident, plan *SignalPlan) []Cause {
	var out []Cause
	for _, inc := range incidents {
		out = append(out, c.incidentCause(inc))
	}
	if o.Level < 0.25 {
		return out
	}
	if o.Period == PeriodMorningPeak || o.Period == PeriodEveningPeak {
		en, zh := periodLabel(o.Period)
		out = append(out, Cause{Kind: "peak", Text: en + " demand", TextZh: zh + "车流"})
	}
	if o.VCRatio > 1 {
		out = append(out, Cause{Kind: "over_capacity",
			Text:   fmt.Sprintf("demand exceeds capacity (v/c %.2f)", o.VCRatio),
			TextZh: fmt.Sprintf("车流量超过通行能力（饱和度%.2f）", o.VCRatio)})
	}
	if plan != nil && !plan.LastChanged.After(o.At) && o.At.Sub(plan.LastChanged) < 3*time.Hour {
		at := plan.LastChanged.In(c.Loc).Format("15:04")
		out = append(out, Cause{Kind: "signal_change",
			Text:   fmt.Sprintf("signal plan changed at %s (%s)", at, plan.Name),
			TextZh: fmt.Sprintf("%s信号配时调整（%s）", at, plan.NameZh)})
	}
	return out
}

func joinCauses(cs []Cause) (en, zh string) {
	var e, z []string
	for _, c := range cs {
		e = append(e, c.Text)
		z = append(z, c.TextZh)
	}
	return strings.Join(e, "; "), strings.Join(z, "；")
}

// duration formats seconds as "3m25s" and "3分25秒".
func duration(sec float64) (en, zh string) {
	s := int(math.Round(sec))
	if s < 60 {
		return fmt.Sprintf("%ds", s), fmt.Sprintf("%d秒", s)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60), fmt.Sprintf("%d分%02d秒", s/60, s%60)
}
