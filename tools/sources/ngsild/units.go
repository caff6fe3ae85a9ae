package ngsild

import "strings"

// Units are UN/CEFACT common codes, as unitCode carries them (NGSI-LD and
// the Smart Data Models); a few brokers write symbols instead, read too.

// kilowatts converts power v in unit to kW; an empty unit is def, the
// model's default unit for the attribute (totalActivePower: watts).
func kilowatts(v float64, unit, def string) float64 {
	if unit == "" {
		unit = def
	}
	switch strings.ToUpper(unit) {
	case "WTT", "W":
		return v / 1000
	case "MAW", "MW":
		return v * 1000
	case "GW", "A90":
		return v * 1e6
	}
	return v // KWT, kW
}

// kilowattHours converts energy v in unit to kWh; an empty unit is def
// (totalActiveEnergyImport: kWh).
func kilowattHours(v float64, unit, def string) float64 {
	if unit == "" {
		unit = def
	}
	switch strings.ToUpper(unit) {
	case "WHR", "WH":
		return v / 1000
	case "MWH":
		return v * 1000
	case "GWH":
		return v * 1e6
	}
	return v // KWH, kWh
}

// speedKmh converts a speed to km/h; an empty unit is km/h (KMH), the
// Smart Data Models' unit for averageVehicleSpeed and maximumAllowedSpeed.
func speedKmh(v float64, unit string) float64 {
	switch strings.ToUpper(unit) {
	case "HM", "MPH":
		return v * 1.609344
	case "MTS", "M/S":
		return v * 3.6
	}
	return v
}

// lengthKm converts a length to km; an empty unit is km (KMT), the
// RoadSegment model's unit for length.
func lengthKm(v float64, unit string) float64 {
	switch strings.ToUpper(unit) {
	case "MTR", "M":
		return v / 1000
	case "SMI", "MI":
		return v * 1.609344
	}
	return v
}
