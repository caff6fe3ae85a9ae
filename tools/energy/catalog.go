package energy

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools"
)

// catalog indexes a source's Grid for argument checks, enums and names.
type catalog struct {
	grid      Grid
	loc       *time.Location
	interval  time.Duration
	districts map[string]District
	buildings map[string]Building
	inDist    map[string][]string // district → building ids, in grid order
}

func newCatalog(g Grid) *catalog {
	c := &catalog{grid: g, loc: g.Location, interval: g.Interval, districts: map[string]District{},
		buildings: map[string]Building{}, inDist: map[string][]string{}}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.interval <= 0 {
		c.interval = 15 * time.Minute
	}
	if c.grid.Source == "" {
		c.grid.Source = "energy"
	}
	for _, d := range g.Districts {
		c.districts[d.ID] = d
	}
	for _, b := range g.Buildings {
		c.buildings[b.ID] = b
		c.inDist[b.District] = append(c.inDist[b.District], b.ID)
	}
	return c
}

func (c *catalog) districtNames(id string) (en, zh string) {
	if d, ok := c.districts[id]; ok {
		return d.NameEn, d.NameZh
	}
	return id, id
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
		de, dz := c.districtNames(b.District)
		return fmt.Sprintf("%s %s (%s, %s)", b.ID, b.NameEn, te, de), fmt.Sprintf("%s %s（%s，%s）", b.ID, b.NameZh, tz, dz)
	case district != "":
		de, dz := c.districtNames(district)
		n := len(c.inDist[district])
		return fmt.Sprintf("%s (%d metered %s)", de, n, plural(n, "building")), fmt.Sprintf("%s（%d栋计量建筑）", dz, n)
	}
	n := len(c.grid.Buildings)
	return fmt.Sprintf("the whole city (%d metered buildings)", n), fmt.Sprintf("全市（%d栋计量建筑）", n)
}

func (c *catalog) tuneDistrict(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	if p == nil || len(c.grid.Districts) == 0 {
		return
	}
	var parts []string
	for _, d := range c.grid.Districts {
		p.Enum = append(p.Enum, d.ID)
		parts = append(parts, fmt.Sprintf("%s = %s %s", d.ID, d.NameZh, d.NameEn))
	}
	p.Description += " Codes 代码: " + strings.Join(parts, "; ") + "."
}

func (c *catalog) tuneBuilding(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	p.Pattern = c.grid.BuildingIDPattern
	if n := len(c.grid.Buildings); n > 0 {
		p.Description += fmt.Sprintf(" Valid ids 有效编号: %s–%s.", c.grid.Buildings[0].ID, c.grid.Buildings[n-1].ID)
	}
	p.MaxLength = jsonschema.Ptr(64)
}

// checkBuilding returns an argument error for an id the grid does not hold.
func (c *catalog) checkBuilding(tool, id string) error {
	if id == "" {
		return nil
	}
	if _, ok := c.buildings[id]; !ok {
		rng := ""
		if n := len(c.grid.Buildings); n > 0 {
			rng = fmt.Sprintf(" (valid ids %s–%s)", c.grid.Buildings[0].ID, c.grid.Buildings[n-1].ID)
		}
		return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("unknown building_id %q%s", id, rng)}
	}
	return nil
}

func intRange(p *jsonschema.Schema, lo, hi, def int) {
	p.Minimum = jsonschema.Ptr(float64(lo))
	p.Maximum = jsonschema.Ptr(float64(hi))
	p.Default = json.RawMessage(fmt.Sprint(def))
}

// when formats a moment for summaries, in English and Chinese.
func (c *catalog) when(t time.Time) (en, zh string) {
	lt := t.In(c.loc)
	return lt.Format("15:04 Mon 2 Jan 2006"),
		fmt.Sprintf("%d年%d月%d日（%s）%s", lt.Year(), lt.Month(), lt.Day(), "周"+string([]rune("日一二三四五六")[lt.Weekday()]), lt.Format("15:04"))
}

func (c *catalog) hm(t time.Time) string { return t.In(c.loc).Format("15:04") }

// dayHM is "Tue 15:04" for times in a multi-day window, in both languages.
func (c *catalog) dayHM(t time.Time) (en, zh string) {
	lt := t.In(c.loc)
	return lt.Format("Mon 2 Jan 15:04"), fmt.Sprintf("%d月%d日%s", lt.Month(), lt.Day(), lt.Format("15:04"))
}

// floor returns the start of the interval holding t.
func (c *catalog) floor(t time.Time) time.Time {
	return t.Truncate(c.interval)
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// num formats a quantity: thousands separators from 1,000, one decimal below.
func num(x float64) string {
	if math.Abs(x) < 1000 {
		return fmt.Sprintf("%.1f", x)
	}
	neg := x < 0
	n := int64(math.Round(math.Abs(x)))
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
