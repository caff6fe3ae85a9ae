package democity

import "math"

// Every random-looking number in the city is a hash of the seed and of what it
// describes (a segment, a 15-minute knot, an hour slot), so any value can be
// computed on its own, in any order, without shared generator state.

// Hash domains keep the streams of different quantities apart.
const (
	domLayout uint64 = iota + 1
	domRoad
	domSegment
	domNoise
	domDay
	domRain
	domIncidentCount
	domIncident
	domSignal
)

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hash combines the city's seed with parts.
func (c *City) hash(parts ...uint64) uint64 {
	h := mix(c.seed)
	for _, p := range parts {
		h = mix(h ^ p)
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// rnd returns a number in [lo, hi) drawn from parts.
func (c *City) rnd(lo, hi float64, parts ...uint64) float64 {
	return lo + (hi-lo)*unit(c.hash(parts...))
}

// pick returns an index in [0, n) drawn from parts.
func (c *City) pick(n int, parts ...uint64) int {
	return int(c.hash(parts...) % uint64(n))
}

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
