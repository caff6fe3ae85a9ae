package democity

import (
	"fmt"

	"github.com/cityagent/cityagent/tools/traffic"
)

// The road grid: eight east–west roads (south to north) crossing eight
// north–south roads (west to east), ringed by the Ring Expressway on three
// sides. Names and classes are fixed, and match the demo knowledge base
// (Renmin Road, Binjiang Avenue and Gaoxin Avenue are the green-wave
// corridors), so that documents and evals can name them; lengths, lanes,
// speeds and demand come from the seed.
type roadName struct {
	id, zh, en, class string
}

func ewRoadNames() [8]roadName {
	return [8]roadName{
		{"ring_south", "环城高速南段", "Ring Expressway South", traffic.ClassExpressway},
		{"binhu", "滨湖路", "Binhu Road", traffic.ClassSecondary},
		{"jiefang", "解放大道", "Jiefang Avenue", traffic.ClassArterial},
		{"zhongshan", "中山路", "Zhongshan Road", traffic.ClassArterial},
		{"renmin", "人民路", "Renmin Road", traffic.ClassArterial},
		{"jianshe", "建设路", "Jianshe Road", traffic.ClassSecondary},
		{"heping", "和平街", "Heping Street", traffic.ClassBranch},
		{"ring_north", "环城高速北段", "Ring Expressway North", traffic.ClassExpressway},
	}
}

func nsRoadNames() [8]roadName {
	return [8]roadName{
		{"binjiang", "滨江大道", "Binjiang Avenue", traffic.ClassArterial},
		{"changjiang", "长江路", "Changjiang Road", traffic.ClassSecondary},
		{"huanghe", "黄河路", "Huanghe Road", traffic.ClassSecondary},
		{"wenhua", "文化街", "Wenhua Street", traffic.ClassBranch},
		{"xinhua", "新华路", "Xinhua Road", traffic.ClassArterial},
		{"shengli", "胜利路", "Shengli Road", traffic.ClassSecondary},
		{"gaoxin_ave", "高新大道", "Gaoxin Avenue", traffic.ClassArterial},
		{"ring_east", "环城高速东段", "Ring Expressway East", traffic.ClassExpressway},
	}
}

// road is one road of the grid; a signalised road is also a signal corridor.
type road struct {
	roadName
	ns         bool // runs north–south
	signalized bool
	segments   []int // indexes into City.segments, forward then backward
}

// segment is a traffic.Segment plus what the simulator needs about it.
type segment struct {
	traffic.Segment
	road     int
	district int
	inbound  float64 // +1 towards the centre, -1 away from it, 0 across it
	demand   float64 // this segment's share of its district's demand
	lowLying bool    // floods in heavy rain
}

// directionZh names a direction of travel in Chinese.
func directionZh(dir string) string {
	switch dir {
	case "EB":
		return "东向"
	case "WB":
		return "西向"
	case "NB":
		return "北向"
	default:
		return "南向"
	}
}

// gridPositions returns the km position of each of the eight roads across an
// axis: blocks are short in the old town and long in the suburbs.
func (c *City) gridPositions(axis uint64) [8]float64 {
	var pos [8]float64
	for i := 1; i < 8; i++ {
		lo, hi := 1.0, 1.7
		if i >= 3 && i <= 5 {
			lo, hi = 0.55, 0.95
		}
		pos[i] = pos[i-1] + c.rnd(lo, hi, domLayout, axis, uint64(i))
	}
	return pos
}

// buildTraffic lays out roads and segments and the initial signal plans.
func (c *City) buildTraffic() {
	xs, ys := c.gridPositions(1), c.gridPositions(2)
	ew, ns := ewRoadNames(), nsRoadNames()
	c.segByID = map[string]int{}
	c.roadByID = map[string]int{}

	addRoad := func(n roadName, isNS bool, at int) {
		ri := len(c.roads)
		c.roads = append(c.roads, road{roadName: n, ns: isNS, signalized: n.class != traffic.ClassExpressway})
		c.roadByID[n.id] = ri
		lanes := c.baseLanes(n.class, ri)
		for _, forward := range []bool{true, false} {
			for k := range 7 {
				// from/to are grid indexes of the cross streets, in travel order.
				from, to := k, k+1
				if !forward {
					from, to = 7-k, 6-k
				}
				var s segment
				s.road = ri
				var length float64
				var mx, my float64
				var cross [8]roadName
				if isNS {
					cross = ew
					length = ys[max(from, to)] - ys[min(from, to)]
					mx, my = float64(at), float64(from+to)/2
					s.Direction = "NB"
					if !forward {
						s.Direction = "SB"
					}
					s.inbound = inboundSign(my, forward)
				} else {
					cross = ns
					length = xs[max(from, to)] - xs[min(from, to)]
					mx, my = float64(from+to)/2, float64(at)
					s.Direction = "EB"
					if !forward {
						s.Direction = "WB"
					}
					s.inbound = inboundSign(mx, forward)
				}
				c.fillSegment(&s, n, cross[from], cross[to], length, lanes, mx, my)
				c.roads[ri].segments = append(c.roads[ri].segments, len(c.segments))
				c.segByID[s.ID] = len(c.segments)
				c.segments = append(c.segments, s)
			}
		}
	}
	for i, n := range ew {
		addRoad(n, false, i)
	}
	for i, n := range ns {
		addRoad(n, true, i)
	}

	c.incidentCum = make([]float64, len(c.segments))
	total := 0.0
	for i, s := range c.segments {
		w := s.LengthKm * s.demand
		switch s.Class {
		case traffic.ClassExpressway, traffic.ClassArterial:
			w *= 2
		case traffic.ClassBranch:
			w *= 0.6
		}
		total += w
		c.incidentCum[i] = total
	}
	c.traffic = c.initialTrafficState()
}

// inboundSign says whether travelling forward (east or north) at grid
// coordinate pos heads towards the centre (3.5).
func inboundSign(pos float64, forward bool) float64 {
	switch {
	case pos == 3.5:
		return 0
	case (pos < 3.5) == forward:
		return 1
	default:
		return -1
	}
}

func (c *City) baseLanes(class string, road int) int {
	extra := c.pick(2, domRoad, uint64(road), 1)
	switch class {
	case traffic.ClassExpressway, traffic.ClassArterial:
		return 3 + extra
	case traffic.ClassSecondary:
		return 2 + extra
	default:
		return 1 + extra
	}
}

func (c *City) fillSegment(s *segment, n, from, to roadName, length float64, lanes int, mx, my float64) {
	i := uint64(len(c.segments))
	s.ID = fmt.Sprintf("S%03d", len(c.segments)+1)
	s.Road, s.RoadZh, s.RoadEn = n.id, n.zh, n.en
	s.FromZh, s.FromEn, s.ToZh, s.ToEn = from.zh, from.en, to.zh, to.en
	s.NameZh = fmt.Sprintf("%s（%s至%s，%s）", n.zh, from.zh, to.zh, directionZh(s.Direction))
	s.NameEn = fmt.Sprintf("%s %s, %s to %s", n.en, s.Direction, from.en, to.en)
	s.District = districtAt(mx, my)
	s.district = c.districtIndex(s.District)
	s.Class = n.class
	s.Signalized = n.class != traffic.ClassExpressway
	// Roads bend a little, so a segment is a bit longer than its block.
	s.LengthKm = round(length*c.rnd(1.0, 1.08, domSegment, i, 1), 2)

	s.Lanes = lanes
	if c.rnd(0, 1, domSegment, i, 2) < 0.15 {
		s.Lanes = max(1, lanes+[]int{-1, 1}[c.pick(2, domSegment, i, 3)])
	}

	central := c.districts[s.district].central
	var limit, lo, hi float64
	switch n.class {
	case traffic.ClassExpressway:
		limit, lo, hi = 80, 0.9, 0.97
	case traffic.ClassArterial:
		limit, lo, hi = 60, 0.82, 0.92
		if central {
			limit = 50
		}
	case traffic.ClassSecondary:
		limit, lo, hi = 50, 0.8, 0.9
		if central {
			limit = 40
		}
	default:
		limit, lo, hi = 40, 0.75, 0.85
		if central {
			limit = 30
		}
	}
	s.SpeedLimitKmh = limit
	s.FreeFlowKmh = round(limit*c.rnd(lo, hi, domSegment, i, 4), 0)

	// Most segments carry their district's typical demand; one in ten is a
	// bottleneck that jams first at every peak.
	s.demand = c.rnd(0.82, 1.08, domSegment, i, 5)
	if c.rnd(0, 1, domSegment, i, 6) < 0.1 {
		s.demand = c.rnd(1.12, 1.28, domSegment, i, 7)
	}
	if n.id == "gaoxin_ave" {
		s.demand *= 1.08 // the heaviest morning inflow in the city
	}
	s.lowLying = c.rnd(0, 1, domSegment, i, 8) < 0.15
}
