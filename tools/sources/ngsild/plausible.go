package ngsild

import (
	"fmt"
	"math"
)

// Plausible ranges of the quantities the adapters read. A broker's value
// outside its range (NaN or ±Inf, a negative flow, speed or power, a
// "no data" marker such as -1, text where a number belongs) is bad data:
// it is dropped, counted, and the tools say how many were left out.
const (
	// MaxSpeedKmh bounds vehicle speeds and speed limits.
	MaxSpeedKmh = 300.0
	// MaxLaneFlowVehH bounds one lane's flow (a motorway lane carries
	// about 2,000 veh/h; ten times that is no measurement).
	MaxLaneFlowVehH = 20000.0
	// MaxBuildingKW bounds one building's (or meter's) active power: 2 GW,
	// more than the largest data centre draws.
	MaxBuildingKW = 2e6
	// MaxSegmentKm bounds a road segment's length.
	MaxSegmentKm = 500.0
	// maxOccupancy bounds occupancy, read as a fraction or a percentage.
	maxOccupancy = 100.0
)

// finite reports whether x is a number other than NaN and ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// inRange reports whether x is finite and within [lo, hi].
func inRange(x, lo, hi float64) bool { return finite(x) && x >= lo && x <= hi }

// measure reads number v of e's property name, converted by conv, and
// reports whether the property is there at all: a property that is there
// but unreadable or outside [0, hi] is bad (present and not ok).
func (e Entity) measure(name string, conv func(float64, string) float64, hi float64) (v float64, present, ok bool) {
	if _, present = e.value(name); !present {
		return 0, false, false
	}
	raw, unit, ok := e.Number(name)
	if !ok {
		return 0, true, false
	}
	v = conv(raw, unit)
	return v, true, inRange(v, 0, hi)
}

// measureInstance is measure for one temporal instance.
func measureInstance(in Instance, conv func(float64, string) float64, hi float64) (float64, bool) {
	raw, ok := in.Float()
	if !ok {
		return 0, false
	}
	v := conv(raw, in.UnitCode)
	return v, inRange(v, 0, hi)
}

func asIs(v float64, _ string) float64 { return v }

// badSpeed explains why a speed property is not plausible, for load warnings.
func badSpeed(e Entity, name string) string {
	raw, unit, ok := e.Number(name)
	if !ok {
		return fmt.Sprintf("%s is not a number", name)
	}
	return fmt.Sprintf("%s %v %s is outside the plausible 0–%.0f km/h", name, raw, orDefault(unit, "KMH"), MaxSpeedKmh)
}
