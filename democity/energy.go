package democity

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
)

// The energy side: 320 metered buildings with 15-minute interval meters.
// A building's load follows its type's day (offices, malls, schools…), the
// weather of the day (cooling in summer, electric heating in winter) and a
// little noise per interval; now and then a building has an anomaly (left
// running overnight, a spike, a step after a fault, a meter gap). Everything
// is a hash of the seed, the building and the interval, so any moment can be
// read. Demand-response events called by approved actions lower the loads
// of the district's enrolled buildings during their window.

// EnergySourceName is how the city's meter data is cited.
const EnergySourceName = "democity:energy"

// MeterInterval is the meters' reading interval.
const MeterInterval = 15 * time.Minute

// Hash domains of the energy model.
const (
	domBuilding uint64 = 201 + iota
	domWeather
	domMeter
	domMeterDay
	domAnomaly
)

// Limits on demand-response events, from the programme rules: day-ahead
// events run 1 to 4 hours, emergency events at least 15 minutes.
const (
	minDREvent = 15 * time.Minute
	maxDREvent = 4 * time.Hour
	// maxShed is the share of its current load a building can shed.
	maxShed = 0.6
)

type buildingType struct {
	code                 string
	areaLo, areaHi       float64 // floor area, m²
	wPerM2               float64 // nominal peak load per m²
	base                 float64 // share of the peak that never switches off
	hvac                 float64 // weather-sensitive share
	drShare, drEnrolment float64
	stemsZh, stemsEn     []string
	occupancy            func(h float64, weekend, holiday bool) float64
}

func sig(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func buildingTypes() map[string]buildingType {
	window := func(h, on, off, rampOn, rampOff float64) float64 {
		return sig((h-on)/rampOn) * sig((off-h)/rampOff)
	}
	return map[string]buildingType{
		energy.TypeOffice: {code: energy.TypeOffice, areaLo: 8000, areaHi: 80000, wPerM2: 55, base: 0.25, hvac: 0.45, drShare: 0.2, drEnrolment: 0.7,
			stemsZh: []string{"国际金融中心", "科技大厦", "中心广场", "创新大厦", "商务中心", "世纪大厦", "财富中心", "汇通大厦"},
			stemsEn: []string{"International Finance Centre", "Technology Tower", "Central Plaza", "Innovation Tower", "Business Centre", "Century Tower", "Fortune Centre", "Huitong Tower"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				if weekend {
					return 0.1 + 0.1*window(h, 9, 17, 0.5, 0.5)
				}
				return window(h, 7.6, 19.2, 0.45, 0.6) * (1 - 0.1*gauss(h, 12.5, 0.5))
			}},
		energy.TypeGovernment: {code: energy.TypeGovernment, areaLo: 5000, areaHi: 40000, wPerM2: 45, base: 0.2, hvac: 0.45, drShare: 0.22, drEnrolment: 0.95,
			stemsZh: []string{"政务服务中心", "区政府办公楼", "市民中心", "行政办公中心"},
			stemsEn: []string{"Government Services Centre", "District Government Offices", "Citizens' Centre", "Administrative Centre"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				if weekend {
					return 0.05
				}
				return window(h, 8.2, 17.8, 0.35, 0.4) * (1 - 0.15*gauss(h, 12.3, 0.5))
			}},
		energy.TypeMall: {code: energy.TypeMall, areaLo: 20000, areaHi: 150000, wPerM2: 80, base: 0.18, hvac: 0.5, drShare: 0.15, drEnrolment: 0.7,
			stemsZh: []string{"万象城", "购物中心", "天街", "百货大楼", "时代广场"},
			stemsEn: []string{"MixC Mall", "Shopping Centre", "Sky Street Mall", "Department Store", "Times Square"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				v := window(h, 9.6, 22.2, 0.4, 0.4) * (0.85 + 0.15*gauss(h, 15, 3))
				if weekend {
					v = min(1, v*1.1)
				}
				return v
			}},
		energy.TypeHotel: {code: energy.TypeHotel, areaLo: 10000, areaHi: 60000, wPerM2: 45, base: 0.45, hvac: 0.4, drShare: 0.1, drEnrolment: 0.4,
			stemsZh: []string{"大酒店", "国际酒店", "宾馆", "度假酒店"},
			stemsEn: []string{"Grand Hotel", "International Hotel", "Guesthouse", "Resort Hotel"},
			occupancy: func(h float64, _, _ bool) float64 {
				return min(1, 0.35+0.35*gauss(h, 7.5, 1.2)+0.55*gauss(h, 20, 2.2))
			}},
		energy.TypeHospital: {code: energy.TypeHospital, areaLo: 20000, areaHi: 120000, wPerM2: 70, base: 0.6, hvac: 0.3, drShare: 0.05, drEnrolment: 0.5,
			stemsZh: []string{"人民医院", "中医院", "妇幼保健院", "中心医院"},
			stemsEn: []string{"People's Hospital", "Hospital of Traditional Chinese Medicine", "Maternity and Child Hospital", "Central Hospital"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				if weekend {
					return 0.35 + 0.3*window(h, 8, 17, 0.5, 0.8)
				}
				return 0.25 + 0.75*window(h, 7.8, 17.5, 0.5, 0.8)
			}},
		energy.TypeSchool: {code: energy.TypeSchool, areaLo: 8000, areaHi: 40000, wPerM2: 30, base: 0.1, hvac: 0.35, drShare: 0.2, drEnrolment: 0.8,
			stemsZh: []string{"实验小学", "第一中学", "外国语学校", "职业技术学院"},
			stemsEn: []string{"Experimental Primary School", "No. 1 Middle School", "Foreign Languages School", "Vocational College"},
			occupancy: func(h float64, weekend, holiday bool) float64 {
				if weekend || holiday {
					return 0.06
				}
				return window(h, 7.3, 17.2, 0.3, 0.4)
			}},
		energy.TypeResidential: {code: energy.TypeResidential, areaLo: 30000, areaHi: 200000, wPerM2: 18, base: 0.3, hvac: 0.45, drShare: 0.05, drEnrolment: 0.3,
			stemsZh: []string{"花园小区", "家园", "新村", "名苑", "公寓"},
			stemsEn: []string{"Garden Estate", "Homes", "New Village", "Residences", "Apartments"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				mid := 0.2
				if weekend {
					mid = 0.4
				}
				return min(1, 0.15+0.35*gauss(h, 7.3, 1)+0.85*gauss(h, 20.3, 1.8)+mid*gauss(h, 12, 1.5))
			}},
		energy.TypeDataCentre: {code: energy.TypeDataCentre, areaLo: 3000, areaHi: 15000, wPerM2: 500, base: 0.85, hvac: 0.15, drShare: 0.08, drEnrolment: 0.6,
			stemsZh:   []string{"云计算数据中心", "大数据中心", "算力中心"},
			stemsEn:   []string{"Cloud Data Centre", "Big Data Centre", "Computing Centre"},
			occupancy: func(h float64, _, _ bool) float64 { return 0.95 + 0.05*gauss(h, 15, 3) }},
		energy.TypeFactory: {code: energy.TypeFactory, areaLo: 10000, areaHi: 80000, wPerM2: 60, base: 0.2, hvac: 0.15, drShare: 0.3, drEnrolment: 0.6,
			stemsZh: []string{"电子厂", "机械制造厂", "食品加工厂", "精密仪器厂"},
			stemsEn: []string{"Electronics Plant", "Machinery Works", "Food Processing Plant", "Precision Instruments Factory"},
			occupancy: func(h float64, weekend, _ bool) float64 {
				v := 0.05 + 0.95*window(h, 7.2, 23, 0.3, 0.3)
				if weekend {
					v *= 0.35
				}
				return v
			}},
		energy.TypeWarehouse: {code: energy.TypeWarehouse, areaLo: 10000, areaHi: 60000, wPerM2: 40, base: 0.6, hvac: 0.35, drShare: 0.25, drEnrolment: 0.7,
			stemsZh:   []string{"冷链物流中心", "港口冷库", "物流园仓库"},
			stemsEn:   []string{"Cold-Chain Logistics Centre", "Port Cold Store", "Logistics Park Warehouse"},
			occupancy: func(h float64, _, _ bool) float64 { return 0.55 + 0.45*window(h, 6, 20, 0.5, 0.5) }},
	}
}

// buildingMix is how many buildings of each type each district meters, in
// newDistricts order: the old town's offices and schools, the station
// district's shops and hotels, lakeside homes, the port's cold stores and
// factories, Gaoxin's data centres and the riverside business district.
func buildingMix() [6][]struct {
	typ string
	n   int
} {
	type tn = struct {
		typ string
		n   int
	}
	return [6][]tn{
		{{energy.TypeGovernment, 10}, {energy.TypeSchool, 10}, {energy.TypeHospital, 5}, {energy.TypeResidential, 14}, {energy.TypeOffice, 8}, {energy.TypeMall, 5}, {energy.TypeHotel, 4}},
		{{energy.TypeOffice, 12}, {energy.TypeMall, 8}, {energy.TypeHotel, 8}, {energy.TypeResidential, 10}, {energy.TypeSchool, 6}, {energy.TypeHospital, 3}, {energy.TypeGovernment, 4}},
		{{energy.TypeResidential, 24}, {energy.TypeSchool, 10}, {energy.TypeHotel, 6}, {energy.TypeMall, 5}, {energy.TypeHospital, 3}, {energy.TypeOffice, 4}},
		{{energy.TypeWarehouse, 14}, {energy.TypeFactory, 14}, {energy.TypeOffice, 5}, {energy.TypeResidential, 10}, {energy.TypeSchool, 4}, {energy.TypeHospital, 2}},
		{{energy.TypeDataCentre, 8}, {energy.TypeOffice, 20}, {energy.TypeFactory, 10}, {energy.TypeResidential, 8}, {energy.TypeSchool, 4}, {energy.TypeHospital, 2}, {energy.TypeMall, 3}},
		{{energy.TypeOffice, 18}, {energy.TypeMall, 10}, {energy.TypeHotel, 10}, {energy.TypeResidential, 10}, {energy.TypeGovernment, 3}, {energy.TypeHospital, 2}, {energy.TypeSchool, 4}},
	}
}

// building is an energy.Building plus what the load model needs.
type building struct {
	energy.Building
	typ          buildingType
	district     int
	peakKW       float64
	enrolled     bool
	contractedKW float64
}

// energyState holds the buildings and the demand-response events.
type energyState struct {
	buildings []building
	byID      map[string]int
	capacity  []float64 // per district, kW

	mu     sync.RWMutex
	events []energy.DREvent // by start
}

func (c *City) buildEnergy() {
	st := &c.energy
	st.byID = map[string]int{}
	st.capacity = make([]float64, len(c.districts))
	types := buildingTypes()
	used := map[string]int{}
	for di, mix := range buildingMix() {
		segs := c.permits.segsByDistrict[di]
		for _, m := range mix {
			bt := types[m.typ]
			for range m.n {
				i := uint64(len(st.buildings))
				r := func(f uint64) float64 { return unit(c.hash(domBuilding, i, f)) }
				seg := &c.segments[segs[int(r(1)*float64(len(segs)))]]
				stem := int(r(2) * float64(len(bt.stemsZh)))
				zh := seg.RoadZh + bt.stemsZh[stem]
				en := seg.RoadEn + " " + bt.stemsEn[stem]
				if n := used[zh]; n > 0 {
					used[zh]++
					zh += fmt.Sprintf("%d号楼", n+1)
					en += fmt.Sprintf(" Building %d", n+1)
				} else {
					used[zh] = 1
				}
				area := math.Round(bt.areaLo*math.Pow(bt.areaHi/bt.areaLo, r(3))/100) * 100
				num := 1 + int(r(4)*388)
				b := building{typ: bt, district: di, peakKW: area * bt.wPerM2 / 1000 * c.rnd(0.85, 1.15, domBuilding, i, 5)}
				b.Building = energy.Building{ID: fmt.Sprintf("B%03d", i+1), NameZh: zh, NameEn: en, Type: bt.code, District: c.districts[di].ID,
					AddressZh: fmt.Sprintf("%s%d号", seg.RoadZh, num), AddressEn: fmt.Sprintf("%d %s", num, seg.RoadEn),
					FloorAreaM2: area, ContractKW: math.Ceil(b.peakKW*1.3/50) * 50}
				if r(6) < bt.drEnrolment {
					b.enrolled = true
					b.contractedKW = math.Round(b.peakKW*bt.drShare/10) * 10
					if b.contractedKW < 10 {
						b.enrolled, b.contractedKW = false, 0
					}
				}
				st.byID[b.ID] = len(st.buildings)
				st.capacity[di] += b.ContractKW
				st.buildings = append(st.buildings, b)
			}
		}
	}
	for i := range st.capacity {
		st.capacity[i] = math.Round(st.capacity[i]/100) * 100
	}
}

var (
	_ energy.Source               = (*City)(nil)
	_ energy.DemandResponseSource = (*City)(nil)
)

// Grid implements energy.Source.
func (c *City) Grid() energy.Grid {
	st := &c.energy
	g := energy.Grid{Source: EnergySourceName, CityZh: CityZh, CityEn: CityEn, Location: c.loc, Interval: MeterInterval,
		BuildingIDPattern: `^B\d{3}$`}
	for i, d := range c.districts {
		g.Districts = append(g.Districts, energy.District{ID: d.ID, NameZh: d.NameZh, NameEn: d.NameEn, CapacityKW: st.capacity[i]})
	}
	for _, b := range st.buildings {
		g.Buildings = append(g.Buildings, b.Building)
	}
	return g
}

// Buildings lists the metered buildings in id order.
func (c *City) Buildings() []energy.Building { return c.Grid().Buildings }

// Temperature is the simulated air temperature (°C) at t: a seasonal swing
// around 16.5 °C (summer days above 35 °C, winter nights near freezing), a
// daily one, and a random offset per day.
func (c *City) Temperature(t time.Time) float64 {
	lt := t.In(c.loc)
	doy := float64(lt.YearDay())
	h := hourOfDay(lt)
	d := uint64(dayIndex(lt))
	return 16.5 + 12.5*math.Sin(2*math.Pi*(doy-105)/365) + 4.5*math.Sin(2*math.Pi*(h-9)/24) + c.rnd(-3, 3, domWeather, d)
}

// schoolHoliday reports the summer (10 July – 31 August) and winter
// (20 January – 20 February) school holidays.
func schoolHoliday(lt time.Time) bool {
	m, d := lt.Month(), lt.Day()
	return (m == time.July && d >= 10) || m == time.August || (m == time.January && d >= 20) || (m == time.February && d <= 20)
}

// Anomaly kinds the simulator injects.
const (
	AnomalyOvernight = "overnight" // left running from midnight to 06:00
	AnomalySpike     = "spike"     // 2.2–3× load for 1–3 hours
	AnomalyStep      = "step"      // +40–70% from a fault until midnight
	AnomalyMeterGap  = "meter_gap" // no readings for 1–4 hours
)

// EnergyAnomaly is an anomaly the simulator put into a building's readings.
type EnergyAnomaly struct {
	BuildingID string    `json:"building_id"`
	Kind       string    `json:"kind"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Factor     float64   `json:"factor,omitempty"`
}

// anomalyOn returns the anomaly of building bi on local day d, if any.
func (c *City) anomalyOn(bi int, d int64) (EnergyAnomaly, bool) {
	r := func(f uint64) float64 { return unit(c.hash(domAnomaly, uint64(bi), uint64(d), f)) }
	if r(1) >= 0.03 {
		return EnergyAnomaly{}, false
	}
	day := c.dayStart(d)
	a := EnergyAnomaly{BuildingID: c.energy.buildings[bi].ID}
	hour := func(h float64) time.Time {
		return day.Add(time.Duration(h * float64(time.Hour))).Truncate(MeterInterval)
	}
	switch u := r(2); {
	case u < 0.35:
		a.Kind, a.Start, a.End = AnomalyOvernight, day, hour(6)
	case u < 0.6:
		s := 8 + r(3)*12
		a.Kind, a.Start, a.End, a.Factor = AnomalySpike, hour(s), hour(s+1+r(4)*2), 2.2+0.8*r(5)
	case u < 0.8:
		s := r(3) * 22
		a.Kind, a.Start, a.End = AnomalyMeterGap, hour(s), hour(s+1+r(4)*3)
	default:
		s := 6 + r(3)*12
		a.Kind, a.Start, a.End, a.Factor = AnomalyStep, hour(s), day.AddDate(0, 0, 1), 1.4+0.3*r(5)
	}
	return a, true
}

// EnergyAnomaliesBetween lists the anomalies the simulator put into the
// readings of [from, to), by start.
func (c *City) EnergyAnomaliesBetween(from, to time.Time) []EnergyAnomaly {
	var out []EnergyAnomaly
	for d := dayIndex(from); d <= dayIndex(to); d++ {
		for bi := range c.energy.buildings {
			if a, ok := c.anomalyOn(bi, d); ok && a.Start.Before(to) && a.End.After(from) {
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b EnergyAnomaly) int {
		if d := a.Start.Compare(b.Start); d != 0 {
			return d
		}
		return cmp.Compare(a.BuildingID, b.BuildingID)
	})
	return out
}

// baseKW is building bi's average load over the interval starting at start,
// before anomalies and demand response.
func (c *City) baseKW(bi int, start time.Time) float64 {
	b := &c.energy.buildings[bi]
	mid := start.Add(MeterInterval / 2)
	lt := mid.In(c.loc)
	h := hourOfDay(lt)
	occ := b.typ.occupancy(h, isWeekend(lt), schoolHoliday(lt))
	temp := c.Temperature(mid)
	weather := 0.5 + max(0, temp-20)/10 + max(0, 10-temp)/15
	d := uint64(dayIndex(lt))
	v := b.peakKW * (b.typ.base + (1-b.typ.base)*occ) * (1 - b.typ.hvac + b.typ.hvac*weather)
	v *= c.rnd(0.95, 1.05, domMeterDay, uint64(bi), d)
	v *= 1 + 0.03*(2*unit(c.hash(domMeter, uint64(bi), uint64(floorDiv(start.Unix(), int64(MeterInterval/time.Second)))))-1)
	return v
}

// meterKW is what building bi's meter reads for the interval starting at
// start; ok is false when the meter sent nothing.
func (c *City) meterKW(bi int, start time.Time, events []energy.DREvent) (float64, bool) {
	v := c.baseKW(bi, start)
	if a, ok := c.anomalyOn(bi, dayIndex(start)); ok && !start.Before(a.Start) && start.Before(a.End) {
		switch a.Kind {
		case AnomalyOvernight:
			b := &c.energy.buildings[bi]
			v = max(v, b.peakKW*(b.typ.base+(1-b.typ.base)*0.8))
		case AnomalySpike, AnomalyStep:
			v *= a.Factor
		case AnomalyMeterGap:
			return 0, false
		}
	}
	b := &c.energy.buildings[bi]
	if b.enrolled {
		for _, e := range events {
			if e.District == b.District && e.ActiveAt(start) {
				v -= min(e.ReductionKW*b.contractedKW/c.contracted(b.district), maxShed*v)
			}
		}
	}
	return round(max(v, 0), 1), true
}

// contracted is the demand-response capacity enrolled in district di.
func (c *City) contracted(di int) float64 {
	sum := 0.0
	for _, b := range c.energy.buildings {
		if b.district == di && b.enrolled {
			sum += b.contractedKW
		}
	}
	return sum
}

func (c *City) drEvents() []energy.DREvent {
	c.energy.mu.RLock()
	defer c.energy.mu.RUnlock()
	return slices.Clone(c.energy.events)
}

// Readings implements energy.Source.
func (c *City) Readings(ctx context.Context, q energy.ReadingsQuery) ([]energy.Series, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := &c.energy
	idx := make([]int, 0, len(st.buildings))
	if len(q.BuildingIDs) == 0 {
		for i := range st.buildings {
			idx = append(idx, i)
		}
	} else {
		for _, id := range q.BuildingIDs {
			bi, ok := st.byID[id]
			if !ok {
				return nil, fmt.Errorf("democity: building %q: %w", id, energy.ErrNotFound)
			}
			idx = append(idx, bi)
		}
	}
	first := q.From.Truncate(MeterInterval)
	if first.Before(q.From) {
		first = first.Add(MeterInterval)
	}
	if n := q.To.Sub(first) / MeterInterval; n*time.Duration(len(idx)) > 4_000_000 {
		return nil, fmt.Errorf("democity: readings: %d intervals of %d buildings is too many", n, len(idx))
	}
	events := c.drEvents()
	out := make([]energy.Series, 0, len(idx))
	for _, bi := range idx {
		s := energy.Series{BuildingID: st.buildings[bi].ID, Readings: []energy.Reading{}}
		for t := first; t.Before(q.To); t = t.Add(MeterInterval) {
			if kw, ok := c.meterKW(bi, t, events); ok {
				s.Readings = append(s.Readings, energy.Reading{Start: t, KW: kw})
			}
		}
		out = append(out, s)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DistrictLoad is the sum of a district's metered loads over the interval
// starting at start ("" for the whole city).
func (c *City) DistrictLoad(district string, start time.Time) float64 {
	events := c.drEvents()
	sum := 0.0
	for bi, b := range c.energy.buildings {
		if district == "" || b.District == district {
			if kw, ok := c.meterKW(bi, start, events); ok {
				sum += kw
			}
		}
	}
	return sum
}

// DemandResponse implements energy.DemandResponseSource: the enrolled
// buildings with what they could shed at the last complete interval before
// at, and every event with its status at at.
func (c *City) DemandResponse(ctx context.Context, at time.Time) (energy.DRStatus, error) {
	if err := ctx.Err(); err != nil {
		return energy.DRStatus{}, err
	}
	last := at.Truncate(MeterInterval).Add(-MeterInterval)
	events := c.drEvents()
	out := energy.DRStatus{Buildings: []energy.DRBuilding{}, Events: []energy.DREvent{}}
	for bi, b := range c.energy.buildings {
		if !b.enrolled {
			continue
		}
		kw, _ := c.meterKW(bi, last, events)
		out.Buildings = append(out.Buildings, energy.DRBuilding{BuildingID: b.ID, ContractedKW: b.contractedKW, AvailableKW: round(min(b.contractedKW, maxShed*kw), 1)})
	}
	for _, e := range events {
		e.Status = eventStatus(e, at)
		out.Events = append(out.Events, e)
	}
	return out, nil
}

func eventStatus(e energy.DREvent, at time.Time) string {
	switch {
	case at.Before(e.Start):
		return energy.EventScheduled
	case at.Before(e.End):
		return energy.EventActive
	}
	return energy.EventCompleted
}

// DemandResponseEvent calls a demand-response event on district, as an
// approved action does: from start (the simulated now when zero; moved up
// to the next 15-minute boundary) for duration (15 minutes to 4 hours,
// rounded up to whole intervals), the district's enrolled buildings shed
// reductionKW between them, each in proportion to its commitment and at
// most 60% of its load. The lower loads show in every energy reading and
// tool from then on. start may lie up to 7 days ahead; events on a district
// may not overlap, and reductionKW may not exceed its enrolled capacity.
func (c *City) DemandResponseEvent(district string, start time.Time, duration time.Duration, reductionKW float64) (energy.DREvent, error) {
	now := c.clock()
	di := -1
	for i, d := range c.districts {
		if d.ID == district {
			di = i
		}
	}
	if di < 0 {
		return energy.DREvent{}, fmt.Errorf("democity: demand response in %q: %w", district, energy.ErrNotFound)
	}
	if start.IsZero() {
		start = now
	}
	if start.Before(now.Add(-5*time.Minute)) || start.After(now.AddDate(0, 0, 7)) {
		return energy.DREvent{}, fmt.Errorf("democity: demand response in %s: start %s must be from now to 7 days ahead: %w", district, start.In(c.loc).Format("2006-01-02 15:04"), ErrInvalidRequest)
	}
	if duration < minDREvent || duration > maxDREvent {
		return energy.DREvent{}, fmt.Errorf("democity: demand response in %s: duration %s must be 15m to 4h: %w", district, duration, ErrInvalidRequest)
	}
	capKW := c.contracted(di)
	if !(reductionKW > 0) || reductionKW > capKW {
		return energy.DREvent{}, fmt.Errorf("democity: demand response in %s: reduction %.0f kW must be above 0 and at most the %.0f kW enrolled: %w", district, reductionKW, capKW, ErrInvalidRequest)
	}
	s := start.Truncate(MeterInterval)
	if s.Before(start) {
		s = s.Add(MeterInterval)
	}
	e := s.Add(duration).Truncate(MeterInterval)
	if e.Before(s.Add(duration)) {
		e = e.Add(MeterInterval)
	}
	n := 0
	for _, b := range c.energy.buildings {
		if b.district == di && b.enrolled {
			n++
		}
	}
	ev := energy.DREvent{ID: fmt.Sprintf("DR-%s-%s", district, s.In(c.loc).Format("200601021504")), District: district,
		Start: s.In(c.loc), End: e.In(c.loc), ReductionKW: reductionKW, Buildings: n, CreatedAt: now}
	st := &c.energy
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, o := range st.events {
		if o.District == district && o.Start.Before(ev.End) && ev.Start.Before(o.End) {
			return energy.DREvent{}, fmt.Errorf("democity: demand response in %s: overlaps event %s (%s–%s): %w", district, o.ID,
				o.Start.Format("15:04"), o.End.Format("15:04"), ErrInvalidRequest)
		}
	}
	st.events = append(st.events, ev)
	slices.SortStableFunc(st.events, func(a, b energy.DREvent) int { return a.Start.Compare(b.Start) })
	ev.Status = eventStatus(ev, now)
	return ev, nil
}
