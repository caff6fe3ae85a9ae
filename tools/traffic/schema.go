package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools"
	"github.com/google/jsonschema-go/jsonschema"
)

// typedTool is a tool whose schema is generated from In, as tools.NewTyped
// does, and then tuned with what only the source knows at run time: its
// districts, roads and segment id pattern. A TuneSchema method on In could
// only add what is known at compile time.
type typedTool[In any] struct {
	spec tools.Spec
	rs   *jsonschema.Resolved
	fn   func(context.Context, In) (tools.Result, error)
}

var _ tools.Tool = (*typedTool[struct{}])(nil)

// newTool builds a typed tool; a schema that does not resolve is a
// programming error and panics.
func newTool[In any](spec tools.Spec, tune func(*jsonschema.Schema), fn func(context.Context, In) (tools.Result, error)) *typedTool[In] {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("traffic: %s: schema: %v", spec.Name, err))
	}
	tune(s)
	rs, err := s.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("traffic: %s: resolve schema: %v", spec.Name, err))
	}
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("traffic: %s: marshal schema: %v", spec.Name, err))
	}
	spec.Parameters = raw
	return &typedTool[In]{spec: spec, rs: rs, fn: fn}
}

// Spec implements tools.Tool.
func (t *typedTool[In]) Spec() tools.Spec { return t.spec }

// Call validates args against the schema, decodes them strictly and runs the tool.
func (t *typedTool[In]) Call(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	in, err := tools.DecodeArgs[In](t.spec.Name, t.rs, args)
	if err != nil {
		return tools.Result{}, err
	}
	return t.fn(ctx, in)
}

// catalog indexes a source's network for argument checks, enums and names.
type catalog struct {
	net       Network
	loc       *time.Location
	segIdx    map[string]int
	districts map[string]District
	roads     []road
	roadIdx   map[string]int
}

// road is a road of the network, gathered from its segments.
type road struct {
	ID, NameZh, NameEn string
	Signalized         bool
	Segments           []int // indexes into net.Segments
}

func newCatalog(net Network) *catalog {
	c := &catalog{net: net, loc: net.Location, segIdx: map[string]int{}, districts: map[string]District{}, roadIdx: map[string]int{}}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.net.Source == "" {
		c.net.Source = "traffic"
	}
	for _, d := range net.Districts {
		c.districts[d.ID] = d
	}
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

func (c *catalog) segment(id string) (Segment, bool) {
	i, ok := c.segIdx[id]
	if !ok {
		return Segment{}, false
	}
	return c.net.Segments[i], true
}

func (c *catalog) districtNames(id string) (en, zh string) {
	if d, ok := c.districts[id]; ok {
		return d.NameEn, d.NameZh
	}
	return id, id
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

// segmentRange describes the ids, e.g. "S001–S224".
func (c *catalog) segmentRange() string {
	if len(c.net.Segments) == 0 {
		return ""
	}
	return c.net.Segments[0].ID + "–" + c.net.Segments[len(c.net.Segments)-1].ID
}

// tuneDistrict makes prop an enum of district ids listing their names.
func (c *catalog) tuneDistrict(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	if len(c.net.Districts) == 0 {
		return
	}
	var codes []string
	for _, d := range c.net.Districts {
		p.Enum = append(p.Enum, d.ID)
		codes = append(codes, fmt.Sprintf("%s = %s %s", d.ID, d.NameZh, d.NameEn))
	}
	p.Description += " Codes 代码: " + strings.Join(codes, "; ") + "."
}

// tuneRoad makes prop an enum of road ids listing their names.
func tuneRoad(p *jsonschema.Schema, roads []road) {
	if len(roads) == 0 {
		return
	}
	var codes []string
	for _, r := range roads {
		p.Enum = append(p.Enum, r.ID)
		codes = append(codes, fmt.Sprintf("%s = %s %s", r.ID, r.NameZh, r.NameEn))
	}
	p.Description += " Codes 代码: " + strings.Join(codes, "; ") + "."
}

// tuneSegmentID adds the source's id pattern and range to prop.
func (c *catalog) tuneSegmentID(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	p.Pattern = c.net.SegmentIDPattern
	if r := c.segmentRange(); r != "" {
		p.Description += " Valid ids 有效编号: " + r + "."
	}
}

func intRange(p *jsonschema.Schema, lo, hi, def int) {
	p.Minimum = jsonschema.Ptr(float64(lo))
	p.Maximum = jsonschema.Ptr(float64(hi))
	p.Default = json.RawMessage(fmt.Sprint(def))
}

// unknownSegment is the argument error for an id that fits the pattern but
// names no segment; the model can correct it.
func (c *catalog) unknownSegment(tool, id string) error {
	return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("unknown segment_id %q (valid ids %s)", id, c.segmentRange())}
}
