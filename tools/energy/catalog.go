package energy

import (
	"fmt"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

// catalog indexes a source's Grid for argument checks, enums and names.
type catalog struct {
	citytool.City
	grid      Grid
	interval  time.Duration
	buildings map[string]Building
	inDist    map[string][]string // district → building ids, in grid order
}

func newCatalog(g Grid) *catalog {
	c := &catalog{grid: g, interval: g.Interval, buildings: map[string]Building{}, inDist: map[string][]string{}}
	if c.interval <= 0 {
		c.interval = 15 * time.Minute
	}
	codes := make([]citytool.Code, len(g.Districts))
	for i, d := range g.Districts {
		codes[i] = citytool.Code{ID: d.ID, NameEn: d.NameEn, NameZh: d.NameZh}
	}
	c.City = citytool.NewCity(g.Source, "energy", g.Location, codes)
	for _, b := range g.Buildings {
		c.buildings[b.ID] = b
		c.inDist[b.District] = append(c.inDist[b.District], b.ID)
	}
	return c
}

// typeNames names a building type.
func typeNames(t string) (en, zh string) {
	switch t {
	case TypeOffice:
		return "office", "办公楼"
	case TypeGovernment:
		return "government office", "政府机关"
	case TypeMall:
		return "shopping mall", "商业综合体"
	case TypeHotel:
		return "hotel", "酒店"
	case TypeHospital:
		return "hospital", "医院"
	case TypeSchool:
		return "school", "学校"
	case TypeResidential:
		return "residential complex", "居民小区"
	case TypeDataCentre:
		return "data centre", "数据中心"
	case TypeFactory:
		return "factory", "工厂"
	case TypeWarehouse:
		return "cold-storage warehouse", "冷库仓储"
	}
	return "building", "建筑"
}

// ids returns the building ids a scope covers: one building, a district's
// or every building.
func (c *catalog) ids(building, district string) []string {
	switch {
	case building != "":
		return []string{building}
	case district != "":
		return c.inDist[district]
	}
	out := make([]string, 0, len(c.grid.Buildings))
	for _, b := range c.grid.Buildings {
		out = append(out, b.ID)
	}
	return out
}

// scope names a scope, e.g. "B012 Gaoxin Data Centre (data centre, Gaoxin
// High-tech Zone)" / "高新区".
func (c *catalog) scope(building, district string) (en, zh string) {
	switch {
	case building != "":
		b := c.buildings[building]
		te, tz := typeNames(b.Type)
		de, dz := c.DistrictNames(b.District)
		return fmt.Sprintf("%s %s (%s, %s)", b.ID, b.NameEn, te, de), fmt.Sprintf("%s %s（%s，%s）", b.ID, b.NameZh, tz, dz)
	case district != "":
		de, dz := c.DistrictNames(district)
		n := len(c.inDist[district])
		return fmt.Sprintf("%s (%d metered %s)", de, n, citytool.Plural(n, "building")), fmt.Sprintf("%s（%d栋计量建筑）", dz, n)
	}
	n := len(c.grid.Buildings)
	return fmt.Sprintf("the whole city (%d metered buildings)", n), fmt.Sprintf("全市（%d栋计量建筑）", n)
}

// maxBuildingEnum bounds the buildings listed as an enum; a larger grid
// gets examples only.
const maxBuildingEnum = 200

// tuneBuilding gives prop the source's id pattern and, for a grid of at
// most maxBuildingEnum buildings, an enum naming each building, so that
// "City Hall" or "市政厅" maps to its id; larger grids get examples.
func (c *catalog) tuneBuilding(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	ids := c.buildingIDs()
	p.Description = citytool.WithExample(p.Description, "B012", ids)
	p.Pattern = c.grid.BuildingIDPattern
	p.MaxLength = jsonschema.Ptr(64)
	if len(ids) > 0 && len(ids) <= maxBuildingEnum {
		codes := make([]citytool.Code, len(ids))
		for i, b := range c.grid.Buildings {
			codes[i] = citytool.Code{ID: b.ID, NameEn: b.NameEn, NameZh: b.NameZh}
		}
		citytool.NewCodes(codes).Tune(s, prop)
		return
	}
	citytool.SetExamples(p, ids)
	if h := citytool.IDHint(ids); h != "" {
		p.Description += " Valid ids 有效编号: " + h + "."
	}
}

// buildingIDs lists the grid's building ids in its order.
func (c *catalog) buildingIDs() []string {
	ids := make([]string, len(c.grid.Buildings))
	for i, b := range c.grid.Buildings {
		ids[i] = b.ID
	}
	return ids
}

// checkBuilding returns an argument error for an id the grid does not hold.
func (c *catalog) checkBuilding(tool, id string) error {
	if id == "" {
		return nil
	}
	if _, ok := c.buildings[id]; !ok {
		rng := ""
		if h := citytool.IDHint(c.buildingIDs()); h != "" {
			rng = " (valid ids " + h + ")"
		}
		return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("unknown building_id %q%s", id, rng)}
	}
	return nil
}

// floor returns the start of the interval holding t.
func (c *catalog) floor(t time.Time) time.Time {
	return t.Truncate(c.interval)
}
