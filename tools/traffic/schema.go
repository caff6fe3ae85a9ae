package traffic

import (
	"fmt"

	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
	"github.com/google/jsonschema-go/jsonschema"
)

// catalog indexes a source's network for argument checks, enums and names.
type catalog struct {
	citytool.City
	net     Network
	segIdx  map[string]int
	roads   []road
	roadIdx map[string]int
	// arterialKm is the length of each arterial segment, for NetworkIndex.
	arterialKm map[string]float64
}

// road is a road of the network, gathered from its segments.
type road struct {
	ID, NameZh, NameEn string
	Signalized         bool
	Segments           []int // indexes into net.Segments
}

func newCatalog(net Network) *catalog {
	c := &catalog{net: net, segIdx: map[string]int{}, roadIdx: map[string]int{}, arterialKm: arterialLengths(net.Segments)}
	codes := make([]citytool.Code, len(net.Districts))
	for i, d := range net.Districts {
		codes[i] = citytool.Code{ID: d.ID, NameEn: d.NameEn, NameZh: d.NameZh}
	}
	c.City = citytool.NewCity(net.Source, "traffic", net.Location, codes)
	c.Units = net.Units
	for i, s := range net.Segments {
		c.segIdx[s.ID] = i
		ri, ok := c.roadIdx[s.Road]
		if !ok {
			ri = len(c.roads)
			c.roadIdx[s.Road] = ri
			c.roads = append(c.roads, road{ID: s.Road, NameZh: s.RoadZh, NameEn: s.RoadEn})
		}
		c.roads[ri].Segments = append(c.roads[ri].Segments, i)
		c.roads[ri].Signalized = c.roads[ri].Signalized || s.Signalized
	}
	return c
}

// segmentRef is segment without the copy, for hot loops; never write to it.
func (c *catalog) segmentRef(id string) (*Segment, bool) {
	i, ok := c.segIdx[id]
	if !ok {
		return nil, false
	}
	return &c.net.Segments[i], true
}

func (c *catalog) segment(id string) (Segment, bool) {
	i, ok := c.segIdx[id]
	if !ok {
		return Segment{}, false
	}
	return c.net.Segments[i], true
}

func (c *catalog) signalizedRoads() []road {
	var out []road
	for _, r := range c.roads {
		if r.Signalized {
			out = append(out, r)
		}
	}
	return out
}

// segmentRange describes the ids: "S001–S224" when sorted, else a sample
// "e.g. 1309, 88, …" (feed order is no range).
func (c *catalog) segmentRange() string { return citytool.IDHint(c.segmentIDs()) }

// roadCodes lists roads as codes, for enums.
func roadCodes(roads []road) citytool.Codes {
	codes := make([]citytool.Code, len(roads))
	for i, r := range roads {
		codes[i] = citytool.Code{ID: r.ID, NameEn: r.NameEn, NameZh: r.NameZh}
	}
	return citytool.NewCodes(codes)
}

// tuneSegmentID adds the source's id pattern and range to prop.
func (c *catalog) tuneSegmentID(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	p.Description = citytool.WithExample(p.Description, "S012", c.segmentIDs())
	p.Pattern = c.net.SegmentIDPattern
	if r := c.segmentRange(); r != "" {
		p.Description += " Valid ids 有效编号: " + r + "."
	}
}

// segmentIDs lists the network's segment ids in its order.
func (c *catalog) segmentIDs() []string {
	ids := make([]string, len(c.net.Segments))
	for i, s := range c.net.Segments {
		ids[i] = s.ID
	}
	return ids
}

// unknownSegment is the argument error for an id that fits the pattern but
// names no segment; the model can correct it.
func (c *catalog) unknownSegment(tool, id string) error {
	return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("unknown segment_id %q (valid ids %s)", id, c.segmentRange())}
}
