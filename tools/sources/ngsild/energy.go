package ngsild

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
)

// Default entity and attribute names of the energy adapter, after the Smart
// Data Models (dataModel.Building, dataModel.Energy). Mapping keys override
// them: meter_type DeviceMeasurement with power_attr numValue reads
// DeviceMeasurement meters instead of ACMeasurement ones.
var energyDefaults = map[string]string{
	"building_type": "Building",
	"meter_type":    "ACMeasurement",
	"power_attr":    "totalActivePower", // kW unless its unitCode says otherwise
	"building_ref":  "refTargetDevice",  // on the meter: the building it measures
	"district":      "areaServed",       // on Building
	"district_name": "address",          // its "district" sub-property
	"category":      "category",         // on Building: office, hospital, …
}

// EnergyConfig configures the energy adapter.
type EnergyConfig struct {
	Source   string // citation name; default "ngsild:energy"
	Location *time.Location
	Interval time.Duration // meter interval; default 15 minutes
	Mapping  map[string]string
	// Chunk bounds the time span of one temporal request; default 24h.
	Chunk time.Duration
}

// Energy is an energy.Source over a context broker: buildings from Building
// entities, meters from ACMeasurement (or DeviceMeasurement) entities whose
// reference names their building, readings from the temporal API, each
// instance's observedAt being the end of its interval.
type Energy struct {
	c        *Client
	cfg      EnergyConfig
	m        map[string]string
	grid     energy.Grid
	meters   map[string][]string // building id → meter entity ids
	building map[string]string   // meter entity id → building id
}

var _ energy.Source = (*Energy)(nil)

// buildingTypeOf maps a Smart Data Models building category to a type.
func buildingTypeOf(category string) string {
	c := strings.ToLower(category)
	for _, k := range []struct{ word, typ string }{
		{"data", energy.TypeDataCentre}, {"office", energy.TypeOffice}, {"government", energy.TypeGovernment}, {"civic", energy.TypeGovernment},
		{"hospital", energy.TypeHospital}, {"school", energy.TypeSchool}, {"university", energy.TypeSchool}, {"college", energy.TypeSchool},
		{"hotel", energy.TypeHotel}, {"mall", energy.TypeMall}, {"retail", energy.TypeMall}, {"shop", energy.TypeMall}, {"commercial", energy.TypeMall},
		{"residential", energy.TypeResidential}, {"apartment", energy.TypeResidential}, {"house", energy.TypeResidential},
		{"factory", energy.TypeFactory}, {"industrial", energy.TypeFactory}, {"warehouse", energy.TypeWarehouse},
	} {
		if strings.Contains(c, k.word) {
			return k.typ
		}
	}
	return energy.TypeOther
}

// NewEnergy loads buildings and meters from the broker.
func NewEnergy(ctx context.Context, c *Client, cfg EnergyConfig) (*Energy, error) {
	if cfg.Source == "" {
		cfg.Source = "ngsild:energy"
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Minute
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = 24 * time.Hour
	}
	e := &Energy{c: c, cfg: cfg, m: merged(energyDefaults, cfg.Mapping), meters: map[string][]string{}, building: map[string]string{}}
	bs, err := c.Entities(ctx, Query{Type: e.m["building_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: load buildings: %w", err)
	}
	ms, err := c.Entities(ctx, Query{Type: e.m["meter_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: load meters: %w", err)
	}
	g := energy.Grid{Source: cfg.Source, Location: cfg.Location, Interval: cfg.Interval}
	districts := map[string]energy.District{}
	byFull := map[string]string{}
	for _, b := range bs {
		id := ShortID(b.ID)
		zh, en := names(b)
		eb := energy.Building{ID: id, NameZh: zh, NameEn: en, Type: buildingTypeOf(b.Text(e.m["category"])),
			District: b.Text(e.m["district"]), AddressEn: b.Sub("address", "streetAddress")}
		if a, _, ok := b.Number("floorArea"); ok {
			eb.FloorAreaM2 = a
		}
		if eb.District != "" {
			if _, ok := districts[eb.District]; !ok {
				dzh, den := splitNames(b.Sub(e.m["district_name"], "district"))
				districts[eb.District] = energy.District{ID: eb.District, NameZh: orDefault(dzh, eb.District), NameEn: orDefault(den, eb.District)}
			}
		}
		g.Buildings = append(g.Buildings, eb)
		byFull[b.ID] = id
	}
	for _, m := range ms {
		ref := m.Object(e.m["building_ref"])
		id, ok := byFull[ref]
		if !ok {
			continue // a meter of something that is not a known building
		}
		e.meters[id] = append(e.meters[id], m.ID)
		e.building[m.ID] = id
	}
	if len(e.building) == 0 {
		return nil, fmt.Errorf("%w: no %s entity references a %s", ErrBroker, e.m["meter_type"], e.m["building_type"])
	}
	sort.Slice(g.Buildings, func(i, j int) bool { return g.Buildings[i].ID < g.Buildings[j].ID })
	for _, d := range districts {
		g.Districts = append(g.Districts, d)
	}
	sort.Slice(g.Districts, func(i, j int) bool { return g.Districts[i].ID < g.Districts[j].ID })
	e.grid = g
	return e, nil
}

// Grid implements energy.Source.
func (e *Energy) Grid() energy.Grid { return e.grid }

// Readings implements energy.Source, in chunks of the temporal API. A
// building with several meters reads their sum.
func (e *Energy) Readings(ctx context.Context, q energy.ReadingsQuery) ([]energy.Series, error) {
	var ids []string
	for _, b := range q.BuildingIDs {
		ms, ok := e.meters[b]
		if !ok {
			return nil, fmt.Errorf("ngsild: building %q: %w", b, energy.ErrNotFound)
		}
		ids = append(ids, ms...)
	}
	iv := e.cfg.Interval
	sums := map[string]map[int64]float64{}
	for from := q.From; from.Before(q.To); from = from.Add(e.cfg.Chunk) {
		to := from.Add(e.cfg.Chunk)
		if to.After(q.To) {
			to = q.To
		}
		// observedAt is an interval's end: intervals starting in [from, to)
		// are observed in [from+interval, to+interval).
		ents, err := e.c.Temporal(ctx, TemporalQuery{Query: Query{Type: e.m["meter_type"], IDs: ids, Attrs: []string{e.m["power_attr"]}},
			TimeRel: "between", TimeAt: from.Add(iv), EndTimeAt: to.Add(iv)})
		if err != nil {
			return nil, fmt.Errorf("ngsild: readings: %w", err)
		}
		for _, ent := range ents {
			b, ok := e.building[ent.ID]
			if !ok {
				continue
			}
			for _, in := range ent.Instances(e.m["power_attr"]) {
				v, ok := in.Float()
				start := in.ObservedAt.Add(-iv)
				if !ok || start.Before(from) || !start.Before(to) {
					continue
				}
				if sums[b] == nil {
					sums[b] = map[int64]float64{}
				}
				sums[b][start.Unix()] += kilowatts(v, in.UnitCode)
			}
		}
	}
	want := q.BuildingIDs
	if len(want) == 0 {
		for _, b := range e.grid.Buildings {
			want = append(want, b.ID)
		}
	}
	out := make([]energy.Series, 0, len(want))
	for _, b := range want {
		s := energy.Series{BuildingID: b, Readings: []energy.Reading{}}
		for ts, kw := range sums[b] {
			s.Readings = append(s.Readings, energy.Reading{Start: time.Unix(ts, 0).In(e.cfg.Location), KW: kw})
		}
		sort.Slice(s.Readings, func(i, j int) bool { return s.Readings[i].Start.Before(s.Readings[j].Start) })
		out = append(out, s)
	}
	return out, nil
}
