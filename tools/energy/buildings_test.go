package energy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/energy"
)

// otherGrid is the demo city's meter feed under another city's building
// register: ids with no pattern, names in English and, for some, Chinese.
type otherGrid struct {
	energy.Source
	g energy.Grid
}

func (o otherGrid) Grid() energy.Grid { return o.g }

func gridOf(n int) otherGrid {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	g := c.Grid()
	g.Source, g.BuildingIDPattern = "tabular:energy", ""
	g.Buildings = []energy.Building{
		{ID: "CHI-0042", NameEn: "Water Tower Offices", Type: energy.TypeOffice, District: g.Districts[0].ID},
		{ID: "CHI-0007", NameEn: "City Hall", NameZh: "市政厅", Type: energy.TypeGovernment, District: g.Districts[0].ID},
	}
	for i := len(g.Buildings); i < n; i++ {
		g.Buildings = append(g.Buildings, energy.Building{ID: fmt.Sprintf("CHI-%04d", 1000+i), NameEn: fmt.Sprintf("Depot %d", i),
			Type: energy.TypeWarehouse, District: g.Districts[0].ID})
	}
	return otherGrid{Source: c, g: g}
}

func TestEnergyBuildingEnumForOtherSource(t *testing.T) {
	ts := energy.Tools(gridOf(3), func() time.Time { return now })
	for _, tl := range ts {
		p, ok := citytooltest.SchemaOf(t, tl).Properties["building_id"]
		if !ok {
			continue
		}
		if !slices.Equal(p.Enum, []any{"CHI-0042", "CHI-0007", "CHI-1002"}) ||
			!strings.Contains(p.Description, "CHI-0007 = 市政厅 City Hall") || !strings.Contains(p.Description, "CHI-0042 = Water Tower Offices") ||
			!strings.Contains(p.Description, "e.g. CHI-0042") || strings.Contains(p.Description, "B012") {
			t.Errorf("%s building_id %+v", tl.Spec().Name, p)
		}
	}
	for _, q := range []string{"How much electricity did City Hall use today?", "市政厅今天的用电量是多少？"} {
		if _, args := citytooltest.Plan(t, ts, q); args["building_id"] != "CHI-0007" {
			t.Errorf("%q planned %v", q, args)
		}
	}
}

func TestEnergyBuildingExamplesBeyondEnumBound(t *testing.T) {
	ts := energy.Tools(gridOf(201), func() time.Time { return now })
	for _, tl := range ts {
		p, ok := citytooltest.SchemaOf(t, tl).Properties["building_id"]
		if !ok {
			continue
		}
		// Feed order is not sorted, so the ids are a sample, not a range.
		if p.Enum != nil || !slices.Equal(p.Examples, []string{"CHI-0042", "CHI-0007", "CHI-1002"}) ||
			!strings.Contains(p.Description, "Valid ids 有效编号: e.g. CHI-0042, CHI-0007, CHI-1002, …") || strings.Contains(p.Description, "–") {
			t.Errorf("%s building_id %+v", tl.Spec().Name, p)
		}
	}
}
