package ngsild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/sources/internal/cleantext"
)

// Default entity and attribute names of the energy adapter, after the Smart
// Data Models (dataModel.Building, dataModel.Energy). Mapping keys override
// them: meter_type DeviceMeasurement with power_attr numValue reads
// DeviceMeasurement meters instead. meter_type and building_ref may list
// several names, comma-separated.
var energyDefaults = map[string]string{
	"building_type": "Building",
	"meter_type":    "ACMeasurement,ThreePhaseAcMeasurement",
	"power_attr":    "totalActivePower",          // the meter's power
	"power_unit":    "WTT",                       // its unit without a unitCode: watts, as the models specify
	"energy_attr":   "totalActiveEnergyImport",   // an import counter, read by differencing when power is absent
	"energy_unit":   "KWH",                       // its unit without a unitCode
	"building_ref":  "refTargetDevice,refDevice", // on the meter: the building it measures
	"district":      "areaServed",                // on Building
	"district_name": "address",                   // its "district" sub-property
	"category":      "category",                  // on Building: office, hospital, …
}

// list splits a comma-separated mapping value.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// EnergyConfig configures the energy adapter.
type EnergyConfig struct {
	Source   string // citation name; default "ngsild:energy"
	Location *time.Location
	Interval time.Duration // meter interval; default 15 minutes
	Mapping  map[string]string
	// Chunk bounds the time span of one temporal request; default 24h.
	Chunk time.Duration
	// Log receives warnings about entities left out at load (nil: none).
	Log *slog.Logger
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
	typeOf   map[string]string   // meter entity id → its type
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
	e := &Energy{c: c, cfg: cfg, m: merged(energyDefaults, cfg.Mapping), meters: map[string][]string{}, building: map[string]string{}, typeOf: map[string]string{}}
	bs, err := c.Entities(ctx, Query{Type: e.m["building_type"]})
	if err != nil {
		return nil, fmt.Errorf("ngsild: load buildings: %w", err)
	}
	var ms []Entity
	for _, typ := range list(e.m["meter_type"]) {
		got, err := c.Entities(ctx, Query{Type: typ})
		if err != nil {
			return nil, fmt.Errorf("ngsild: load %s meters: %w", typ, err)
		}
		ms = append(ms, got...)
	}
	g := energy.Grid{Source: cfg.Source, Location: cfg.Location, Interval: cfg.Interval}
	districts := map[string]energy.District{}
	byFull := map[string]string{}
	for _, b := range bs {
		id := ShortID(b.ID)
		zh, en := names(b)
		if zh == "" && en == "" { // the official example has no name
			zh = orDefault(b.Text("description"), orDefault(b.Sub("address", "streetAddress"), id))
			en = zh
		}
		did, dzh, den := district(b, e.m)
		eb := energy.Building{ID: id, NameZh: zh, NameEn: en, Type: buildingTypeOf(b.Text(e.m["category"])),
			District: did, AddressEn: b.Sub("address", "streetAddress")}
		if a, present, ok := b.measure("floorArea", asIs, 1e7); ok {
			eb.FloorAreaM2 = a
		} else if present && cfg.Log != nil {
			cfg.Log.Warn("ngsild: implausible floorArea ignored", "entity", cleantext.Clean(b.ID, 200))
		}
		if _, ok := districts[did]; !ok {
			districts[did] = energy.District{ID: did, NameZh: dzh, NameEn: den}
		}
		g.Buildings = append(g.Buildings, eb)
		byFull[b.ID] = id
	}
	for _, m := range ms {
		id, ok := "", false
		for _, ref := range list(e.m["building_ref"]) {
			if id, ok = byFull[m.Object(ref)]; ok {
				break
			}
		}
		if !ok {
			continue // a meter of something that is not a known building
		}
		e.meters[id] = append(e.meters[id], m.ID)
		e.building[m.ID] = id
		e.typeOf[m.ID] = m.Type
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

// Readings implements energy.Source, in chunks of the temporal API, per
// meter type. A building with several meters reads their sum; a meter
// without power readings reads its import counter, differenced.
func (e *Energy) Readings(ctx context.Context, q energy.ReadingsQuery) ([]energy.Series, error) {
	byType := map[string][]string{}
	for _, b := range q.BuildingIDs {
		ms, ok := e.meters[b]
		if !ok {
			return nil, fmt.Errorf("ngsild: building %q: %w", b, energy.ErrNotFound)
		}
		for _, m := range ms {
			byType[e.typeOf[m]] = append(byType[e.typeOf[m]], m)
		}
	}
	if len(q.BuildingIDs) == 0 {
		for m, typ := range e.typeOf {
			byType[typ] = append(byType[typ], m)
		}
	}
	r := &readout{sums: map[string]map[int64]float64{}, bad: map[string]int{}}
	for from := q.From; from.Before(q.To); from = from.Add(e.cfg.Chunk) {
		to := from.Add(e.cfg.Chunk)
		if to.After(q.To) {
			to = q.To
		}
		for _, typ := range slices.Sorted(maps.Keys(byType)) {
			err := e.chunk(ctx, typ, byType[typ], from, to, r)
			if errors.Is(err, ErrNoTemporal) {
				err = e.latest(ctx, typ, byType[typ], q.From, q.To, r)
			}
			if err != nil {
				return nil, err
			}
		}
		if r.latest {
			break // the latest state covers the whole query
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
		s := energy.Series{BuildingID: b, Readings: []energy.Reading{}, Rejected: r.bad[b]}
		if r.latest {
			s.Note, s.NoteZh = latestMeterNote(r.newest.In(e.cfg.Location))
		}
		for ts, kw := range r.sums[b] {
			s.Readings = append(s.Readings, energy.Reading{Start: time.Unix(ts, 0).In(e.cfg.Location), KW: kw})
		}
		sort.Slice(s.Readings, func(i, j int) bool { return s.Readings[i].Start.Before(s.Readings[j].Start) })
		out = append(out, s)
	}
	return out, nil
}

// chunk adds the kW of meters ids (of type typ) per interval starting in
// [from, to) to sums. observedAt is an interval's end, so power instances
// are asked for in (from, to+interval]; a counter's instance at from is
// the start of the first difference.
func (e *Energy) chunk(ctx context.Context, typ string, ids []string, from, to time.Time, r *readout) error {
	iv := e.cfg.Interval
	ents, err := e.c.Temporal(ctx, TemporalQuery{Query: Query{Type: typ, IDs: ids, Attrs: []string{e.m["power_attr"], e.m["energy_attr"]}},
		TimeRel: "between", TimeAt: from, EndTimeAt: to.Add(iv)})
	if err != nil {
		return fmt.Errorf("ngsild: readings: %w", err)
	}
	for _, ent := range ents {
		b, ok := e.building[ent.ID]
		if !ok {
			continue
		}
		power := ent.Instances(e.m["power_attr"])
		for _, in := range power {
			if kw, ok := measureInstance(in, e.toKW, MaxBuildingKW); ok {
				r.add(b, in.ObservedAt.Add(-iv), kw, from, to)
			} else {
				r.bad[b]++
			}
		}
		if len(power) == 0 {
			e.difference(ent.Instances(e.m["energy_attr"]), func(start time.Time, kw float64) {
				if inRange(kw, 0, MaxBuildingKW) {
					r.add(b, start, kw, from, to)
				} else {
					r.bad[b]++
				}
			})
		}
	}
	return nil
}

// toKW converts a power reading to kW, watts without a unit code.
func (e *Energy) toKW(v float64, unit string) float64 { return kilowatts(v, unit, e.m["power_unit"]) }

// readout gathers a query's readings: kW by building and interval start,
// readings dropped as bad data by building, and whether (and up to when)
// the broker's latest state stood in for a history it lacks.
type readout struct {
	sums   map[string]map[int64]float64
	bad    map[string]int
	latest bool
	newest time.Time
}

// add adds kw to building b's interval starting at start, if in [from, to).
func (r *readout) add(b string, start time.Time, kw float64, from, to time.Time) {
	if start.Before(from) || !start.Before(to) {
		return
	}
	if r.sums[b] == nil {
		r.sums[b] = map[int64]float64{}
	}
	r.sums[b][start.Unix()] += kw
}

// latest reads meters ids (of type typ) from the broker's current state,
// for a broker without a temporal API (501): each meter's power reading
// counts for the interval ending at its observedAt (else dateObserved),
// if that interval lies in [from, to).
func (e *Energy) latest(ctx context.Context, typ string, ids []string, from, to time.Time, r *readout) error {
	ents, err := e.c.Entities(ctx, Query{Type: typ, IDs: ids})
	if err != nil {
		return fmt.Errorf("ngsild: latest readings: %w", err)
	}
	r.latest = true
	iv := e.cfg.Interval
	for _, ent := range ents {
		b, ok := e.building[ent.ID]
		if !ok {
			continue
		}
		kw, present, ok := ent.measure(e.m["power_attr"], e.toKW, MaxBuildingKW)
		if present && !ok {
			r.bad[b]++
		}
		at, okAt := ent.observedAt(e.m["power_attr"])
		if !ok || !okAt {
			continue
		}
		if at.After(r.newest) {
			r.newest = at
		}
		r.add(b, at.Add(-iv).Truncate(iv), kw, from, to)
	}
	return nil
}

// observedAt is when property name was observed: its observedAt, else the
// entity's dateObserved.
func (e Entity) observedAt(name string) (time.Time, bool) {
	if a, ok := e.value(name); ok && a.ObservedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, a.ObservedAt); err == nil {
			return t, true
		}
	}
	return e.Time("dateObserved")
}

// latestMeterNote says, in English and Chinese, that a broker without a
// temporal API answered with each meter's latest reading, up to newest.
func latestMeterNote(newest time.Time) (en, zh string) {
	if newest.IsZero() {
		return "the broker has no temporal API and holds no current meter reading in this period",
			"数据源不提供历史数据接口，本时段也没有当前电表读数"
	}
	ts := newest.Format("2006-01-02 15:04 MST")
	return fmt.Sprintf("the broker has no temporal API, so only each meter's latest reading (up to %s) is counted; totals cover that interval only", ts),
		fmt.Sprintf("数据源不提供历史数据接口，仅计入各电表最新读数（截至%s），合计只覆盖该时段", ts)
}

// difference turns an energy counter's readings into the mean power of
// each interval between them: a gap of several intervals spreads evenly,
// a counter that goes back (a reset or a new meter) starts afresh.
func (e *Energy) difference(ins []Instance, add func(start time.Time, kw float64)) {
	iv := e.cfg.Interval
	var prevAt time.Time
	var prev float64
	have := false
	for _, in := range ins {
		v, ok := in.Float()
		if !ok {
			continue
		}
		kwh := kilowattHours(v, in.UnitCode, e.m["energy_unit"])
		if have && kwh >= prev && in.ObservedAt.After(prevAt) {
			n := int(in.ObservedAt.Sub(prevAt) / iv)
			if n >= 1 && prevAt.Add(time.Duration(n)*iv).Equal(in.ObservedAt) {
				kw := (kwh - prev) / (float64(n) * iv.Hours())
				for k := 0; k < n; k++ {
					add(prevAt.Add(time.Duration(k)*iv), kw)
				}
			}
		}
		prevAt, prev, have = in.ObservedAt, kwh, true
	}
}
