package democity

import (
	"math"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// The link model. Demand is a share of a road's design capacity that follows
// its district's day; capacity falls with blocked lanes and rises with the
// green its signal plan gives the main road. Travel time is a BPR curve over
// the free-flow time plus Webster's uniform delay at the downstream signal.
const (
	satFlowPerLane  = 1800.0 // veh/h of green, signalised roads
	freewayCapacity = 2000.0 // veh/h per lane, expressways
	refGreenRatio   = 0.45   // the green share demand is scaled against
	bprAlpha        = 0.4    // urban BPR calibration: steeper than the 0.15 of highways
	bprPower        = 4
	maxVC           = 1.8 // beyond this queues, not speeds, grow
	coordinatedGain = 0.55
	// From 23:00 to 06:00 signals run actuated or flashing amber, so few
	// cars wait a full red.
	nightActuatedGain = 0.4
	occupancyPerVeh   = 0.0065 // detector occupancy per vehicle per km per lane
)

func gauss(h, center, width float64) float64 {
	d := (h - center) / width
	return math.Exp(-d * d / 2)
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// utcOffset is the city's offset from UTC; CST has no daylight saving.
const utcOffset = 8 * 60 * 60

func dayIndex(t time.Time) int64 { return floorDiv(t.Unix()+utcOffset, 24*60*60) }

func hourOfDay(lt time.Time) float64 {
	return float64(lt.Hour()) + float64(lt.Minute())/60 + float64(lt.Second())/3600
}

func isWeekend(lt time.Time) bool {
	return lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday
}

// classShape scales a profile by road class: expressways carry sharper peaks
// and night freight, side streets flatter days.
func classShape(class string) (peak, plateau, night float64) {
	switch class {
	case traffic.ClassExpressway:
		return 1.15, 1.0, 1.4
	case traffic.ClassSecondary:
		return 0.9, 0.95, 0.9
	case traffic.ClassBranch:
		return 0.8, 0.9, 0.8
	default:
		return 1, 1, 1
	}
}

// demandRatio is segment si's demand over its design capacity at local time lt.
func (c *City) demandRatio(si int, lt time.Time) float64 {
	s := &c.segments[si]
	p := c.districts[s.district].profile
	h := hourOfDay(lt)
	peak, plateau, night := classShape(s.Class)
	var v float64
	if isWeekend(lt) {
		day := 0.42 * sigmoid((h-8)/0.8) * sigmoid((22.5-h)/0.8)
		v = p.night*night + p.weekend*(day*plateau+
			peak*(0.2*gauss(h, 11, 1.3)+0.26*gauss(h, 16.5, 1.8))+
			p.eveningAmp*gauss(h, 20.5, 1.2))
	} else {
		day := 0.48 * sigmoid((h-6.3)/0.5) * sigmoid((22-h)/0.7)
		// Mornings flow into the centre, evenings out of it.
		am := p.amAmp * gauss(h, p.amCenter, p.amWidth) * (1 + 0.14*s.inbound)
		pm := p.pmAmp * gauss(h, p.pmCenter, p.pmWidth) * (1 - 0.12*s.inbound)
		switch lt.Weekday() {
		case time.Monday:
			am *= 1.08
		case time.Friday:
			pm *= p.fridayPM
		}
		v = p.night*night + day*plateau + 0.9*peak*(am+pm) +
			p.lunchAmp*gauss(h, 12.4, 0.6) + p.eveningAmp*gauss(h, 20.5, 1)
	}
	d := uint64(dayIndex(lt))
	v *= s.demand *
		c.rnd(0.9, 1.06, domDay, d) * // some days are busier city-wide
		c.rnd(0.97, 1.03, domDay, d, uint64(si)) *
		(1 + 0.06*c.noise(si, lt))
	return v
}

// noise is a smooth value in [-1, 1] with knots every 15 minutes.
func (c *City) noise(si int, t time.Time) float64 {
	const knot = 15 * 60
	u := t.Unix()
	k := floorDiv(u, knot)
	frac := float64(u-k*knot) / knot
	a := 2*unit(c.hash(domNoise, uint64(si), uint64(k))) - 1
	b := 2*unit(c.hash(domNoise, uint64(si), uint64(k+1))) - 1
	return a + (b-a)*frac
}

// period names the part of the day at local time lt, on the city's official
// windows: weekday peaks 07:00–09:00 and 17:00–19:30.
func period(lt time.Time) string {
	h := hourOfDay(lt)
	switch {
	case h < 6 || h >= 22:
		return traffic.PeriodNight
	case isWeekend(lt):
		return traffic.PeriodWeekend
	case h >= 7 && h < 9:
		return traffic.PeriodMorningPeak
	case h >= 17 && h < 19.5:
		return traffic.PeriodEveningPeak
	default:
		return traffic.PeriodOffPeak
	}
}

// incidentEffect is what an incident does to its segment: lanes it blocks,
// the capacity left on the open lanes (drivers slow to look) and a cap on
// the free-flow speed.
func incidentEffect(inc traffic.Incident) (lanesBlocked, capFactor, speedFactor float64) {
	capFactor = 1 - 0.07*float64(inc.Severity)
	speedFactor = 1
	switch inc.Type {
	case traffic.IncidentRoadworks:
		speedFactor = 0.75
	case traffic.IncidentFlooding:
		speedFactor = 0.55 - 0.1*float64(inc.Severity)
	case traffic.IncidentControl:
		speedFactor = 0.7
	case traffic.IncidentCrash:
		if inc.Severity >= 3 {
			speedFactor = 0.8
		}
	}
	return float64(inc.LanesBlocked), capFactor, speedFactor
}

// observe computes segment si at time t under plan (nil when unsignalised)
// with the incidents active on it.
func (c *City) observe(si int, t time.Time, plan *traffic.SignalPlan, incidents []traffic.Incident) traffic.Observation {
	s := &c.segments[si]
	lt := t.In(c.loc)
	ratio := c.demandRatio(si, lt)

	lanes := float64(s.Lanes)
	open, capFactor, speedFactor := lanes, 1.0, 1.0
	for _, inc := range incidents {
		b, cf, sf := incidentEffect(inc)
		open -= b
		capFactor *= cf
		speedFactor = min(speedFactor, sf)
	}
	// Even a blocked lane lets a trickle past on the shoulder.
	open = max(open, 0.3)

	var demand, capacity, delay float64
	if plan != nil {
		green := plan.MainGreenRatio()
		demand = ratio * lanes * satFlowPerLane * refGreenRatio
		capacity = open * satFlowPerLane * green * capFactor
		x := demand / capacity
		cycle := float64(plan.CycleSec)
		delay = 0.5 * cycle * (1 - green) * (1 - green) / (1 - min(x, 0.95)*green)
		if plan.Coordinated {
			delay *= coordinatedGain
		}
		if h := lt.Hour(); h >= 23 || h < 6 {
			delay *= nightActuatedGain
		}
	} else {
		demand = ratio * lanes * freewayCapacity
		capacity = open * freewayCapacity * capFactor
	}
	vc := demand / capacity

	freeTime := s.LengthKm / s.FreeFlowKmh * 3600
	link := s.LengthKm / (s.FreeFlowKmh * speedFactor) * 3600 * (1 + bprAlpha*math.Pow(min(vc, maxVC), bprPower))
	travel := link + delay
	speed := s.LengthKm / travel * 3600
	flow := min(demand, capacity)
	occupancy := min(max(flow/speed/open*occupancyPerVeh, 0.005), 0.95)

	index := round(travel/freeTime, 2)
	level := traffic.LevelOf(index)
	return traffic.Observation{
		SegmentID:       s.ID,
		At:              t,
		FlowVehH:        round(flow, 0),
		SpeedKmh:        round(speed, 1),
		Occupancy:       round(occupancy, 3),
		TravelTimeSec:   round(travel, 1),
		FreeFlowTimeSec: round(freeTime, 1),
		CongestionIndex: index,
		Level:           round(level, 3),
		Congested:       level >= traffic.CongestedLevel,
		VCRatio:         round(vc, 2),
		Period:          period(lt),
	}
}
