// Package democity provides the deterministic simulated city behind
// cityagent's embedded default: road segments whose flows follow the clock,
// incidents and signal plans; a permit register with status histories, fees
// and site inspections; metered buildings with 15-minute readings, district
// loads and demand-response capacity — with the state changes approved
// actions make (signal plans, crews, inspections, review flags,
// demand-response events). The same seed always builds the same city and
// the same history.
package democity

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityagent/cityagent/tools/traffic"
)

// DefaultSeed is the seed of the city the embedded default serves.
const DefaultSeed int64 = 2024

// The city's names. It is fictional, as in the demo knowledge base's
// documents; its street names are common Chinese ones.
const (
	CityZh = "示范城市"
	CityEn = "Demo City"
)

// City is the simulated city. Static description (districts, roads, segments)
// is built once by New and never changes; what approved actions change lives
// in the per-domain state fields. Each domain (traffic, permits, energy)
// keeps its data and methods in its own files.
// A City is safe for concurrent use.
type City struct {
	seed  uint64
	clock func() time.Time
	loc   *time.Location

	districts []district
	roads     []road
	segments  []segment
	segByID   map[string]int
	roadByID  map[string]int

	// incidentCum is the cumulative incident weight of segments, for picking
	// which segment an incident happens on.
	incidentCum []float64

	mu      sync.RWMutex
	traffic trafficState
	// snapshot is the latest traffic snapshot (snapshot.go), read under mu
	// but stored by readers too, hence atomic.
	snapshot atomic.Pointer[trafficSnapshot]
	// slotCache memoises the incidents drawn per hour (slotcache.go).
	slotCache slotCache

	// permits and energy guard themselves: each has its own lock.
	permits permitState
	energy  energyState
}

// New builds the city for seed. clock gives the simulated "now" (nil means
// time.Now); queries take explicit times, so tests can pin both.
func New(seed int64, clock func() time.Time) *City {
	if clock == nil {
		clock = time.Now
	}
	// China Standard Time has no daylight saving, so a fixed zone is exact
	// and needs no tzdata.
	c := &City{seed: uint64(seed), clock: clock, loc: time.FixedZone("CST", 8*60*60)}
	c.districts = newDistricts()
	c.buildTraffic()
	c.buildPermits()
	c.buildEnergy()
	return c
}

// Seed returns the seed the city was built from.
func (c *City) Seed() int64 { return int64(c.seed) }

// Now returns the simulated clock's time.
func (c *City) Now() time.Time { return c.clock() }

// Location is the city's time zone; time-of-day profiles run on local time.
func (c *City) Location() *time.Location { return c.loc }

// Districts lists the city's districts.
func (c *City) Districts() []traffic.District {
	out := make([]traffic.District, len(c.districts))
	for i, d := range c.districts {
		out[i] = d.District
	}
	return out
}

// district is a district and the shape of its traffic day.
type district struct {
	traffic.District
	central bool // old town: lower speed limits, denser signals
	profile profile
}

// profile shapes demand over a day, in hours of local time. Amplitudes add to
// a daytime plateau, relative to a road's design capacity.
type profile struct {
	amCenter, amWidth, amAmp float64
	pmCenter, pmWidth, pmAmp float64
	lunchAmp                 float64
	eveningAmp               float64 // shopping and night life around 20:30
	night                    float64 // demand floor at night
	weekend                  float64 // multiplier on the weekend curve
	fridayPM                 float64 // multiplier on Friday's evening peak
}

// newDistricts describes the six districts as the demo knowledge base's
// district profiles do: the old town (Dongcheng) and the station district
// (Xicheng) inside the inner ring, lakeside Nanhu, the port and logistics
// north bank (Beian), the Gaoxin high-tech zone with the heaviest morning
// inflow, and the riverside business district (Binjiang).
func newDistricts() []district {
	return []district{
		{District: traffic.District{ID: "dongcheng", NameZh: "东城区", NameEn: "Dongcheng District"}, central: true,
			profile: profile{amCenter: 8.1, amWidth: 0.75, amAmp: 0.42, pmCenter: 18.0, pmWidth: 0.95, pmAmp: 0.5, lunchAmp: 0.14, eveningAmp: 0.1, night: 0.1, weekend: 1.1, fridayPM: 1.1}},
		{District: traffic.District{ID: "xicheng", NameZh: "西城区", NameEn: "Xicheng District"}, central: true,
			profile: profile{amCenter: 8.0, amWidth: 0.7, amAmp: 0.48, pmCenter: 17.8, pmWidth: 0.9, pmAmp: 0.45, lunchAmp: 0.08, night: 0.09, weekend: 0.95, fridayPM: 1.3}},
		{District: traffic.District{ID: "nanhu", NameZh: "南湖区", NameEn: "Nanhu District"},
			profile: profile{amCenter: 7.7, amWidth: 0.7, amAmp: 0.52, pmCenter: 18.2, pmWidth: 0.9, pmAmp: 0.4, lunchAmp: 0.04, night: 0.07, weekend: 1.25, fridayPM: 1.1}},
		{District: traffic.District{ID: "beian", NameZh: "北岸区", NameEn: "Beian District"},
			profile: profile{amCenter: 7.5, amWidth: 0.65, amAmp: 0.48, pmCenter: 17.6, pmWidth: 0.8, pmAmp: 0.42, lunchAmp: 0.05, night: 0.16, weekend: 0.75, fridayPM: 1.05}},
		{District: traffic.District{ID: "gaoxin", NameZh: "高新区", NameEn: "Gaoxin High-tech Zone"},
			profile: profile{amCenter: 8.5, amWidth: 0.6, amAmp: 0.62, pmCenter: 18.7, pmWidth: 1.0, pmAmp: 0.55, lunchAmp: 0.06, night: 0.07, weekend: 0.6, fridayPM: 1.05}},
		{District: traffic.District{ID: "binjiang", NameZh: "滨江区", NameEn: "Binjiang District"},
			profile: profile{amCenter: 8.2, amWidth: 0.75, amAmp: 0.45, pmCenter: 18.0, pmWidth: 1.0, pmAmp: 0.52, lunchAmp: 0.1, eveningAmp: 0.18, night: 0.09, weekend: 1.15, fridayPM: 1.15}},
	}
}

// districtAt places a point of the 8×8 road grid (x west→east, y south→north,
// in grid steps) in a district: the riverside business district on the west,
// the north bank, the inner ring in the middle, Gaoxin in the east and Nanhu
// across the south.
func districtAt(x, y float64) string {
	switch {
	case x < 1.5:
		return "binjiang"
	case y >= 5:
		return "beian"
	case y < 2:
		return "nanhu"
	case x < 3.5:
		return "xicheng"
	case x < 5.5:
		return "dongcheng"
	default:
		return "gaoxin"
	}
}

func (c *City) districtIndex(id string) int {
	for i, d := range c.districts {
		if d.ID == id {
			return i
		}
	}
	panic(fmt.Sprintf("democity: unknown district %q", id))
}
