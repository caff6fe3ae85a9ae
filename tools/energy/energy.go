// Package energy provides the energy tools an agent calls — consumption by
// building, district or city over a window, peak load, anomalies in meter
// readings and demand-response capacity — over a small Source interface that
// the demo city, NGSI-LD context brokers (ACMeasurement, DeviceMeasurement)
// and CSV/JSON meter feeds implement.
package energy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Source is where meter data comes from: buildings with interval meters.
type Source interface {
	// Grid describes the districts and metered buildings. It is loaded when
	// the source is built.
	Grid() Grid
	// Readings returns the interval readings of the buildings named in q
	// (all buildings when q.BuildingIDs is empty) whose interval starts in
	// [q.From, q.To), one series per building, oldest reading first. An
	// interval with no reading is left out of its series.
	Readings(ctx context.Context, q ReadingsQuery) ([]Series, error)
}

// DemandResponseSource is a Source that knows the demand-response
// programme: enrolled capacity and events.
type DemandResponseSource interface {
	// DemandResponse returns the programme as it stands at time at.
	DemandResponse(ctx context.Context, at time.Time) (DRStatus, error)
}

// Errors sources return for conditions callers branch on.
var ErrNotFound = errors.New("energy: not found")

// Grid is the static description of what a source meters.
type Grid struct {
	// Source names the data in citations, e.g. "democity:energy".
	Source string `json:"source"`
	CityZh string `json:"city_zh"`
	CityEn string `json:"city_en"`
	// Location is the city's time zone: days and peaks are local.
	Location *time.Location `json:"-"`
	// Interval is the meters' reading interval (15 minutes when zero).
	Interval time.Duration `json:"-"`
	// BuildingIDPattern is a regular expression every building id matches
	// ("" = none), given to models as the building_id parameter's pattern.
	BuildingIDPattern string     `json:"building_id_pattern,omitempty"`
	Districts         []District `json:"districts"`
	Buildings         []Building `json:"buildings"`
}

// District is an administrative district with the capacity of the supply
// that feeds its metered buildings.
type District struct {
	ID     string `json:"id"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
	// CapacityKW is the transformer capacity serving the district's metered
	// buildings; 0 when unknown.
	CapacityKW float64 `json:"capacity_kw,omitempty"`
}

// Building types a source may report.
const (
	TypeOffice      = "office"
	TypeGovernment  = "government"
	TypeMall        = "mall"
	TypeHotel       = "hotel"
	TypeHospital    = "hospital"
	TypeSchool      = "school"
	TypeResidential = "residential"
	TypeDataCentre  = "data_centre"
	TypeFactory     = "factory"
	TypeWarehouse   = "warehouse"
	TypeOther       = "other"
)

// Building is one metered building.
type Building struct {
	ID          string  `json:"id"`
	NameZh      string  `json:"name_zh"`
	NameEn      string  `json:"name_en"`
	Type        string  `json:"type"`
	District    string  `json:"district"`
	AddressZh   string  `json:"address_zh,omitempty"`
	AddressEn   string  `json:"address_en,omitempty"`
	FloorAreaM2 float64 `json:"floor_area_m2,omitempty"`
	// ContractKW is the contracted maximum demand; 0 when unknown.
	ContractKW float64 `json:"contract_kw,omitempty"`
}

// ReadingsQuery selects readings.
type ReadingsQuery struct {
	BuildingIDs []string
	From, To    time.Time
}

// Series is one building's readings.
type Series struct {
	BuildingID string    `json:"building_id"`
	Readings   []Reading `json:"readings"`
	// Rejected counts readings the source dropped as unreadable or
	// implausible (NaN, negative, beyond a building's possible load).
	Rejected int `json:"rejected_readings,omitempty"`
	// Note says how the readings were obtained when that is not the usual
	// way (e.g. a broker without history answered with its latest state);
	// NoteZh says it in Chinese.
	Note   string `json:"note,omitempty"`
	NoteZh string `json:"note_zh,omitempty"`
}

// Reading is a meter's average active power over one interval.
type Reading struct {
	Start time.Time `json:"start"`
	KW    float64   `json:"kw"`
}

// DR event statuses.
const (
	EventScheduled = "scheduled"
	EventActive    = "active"
	EventCompleted = "completed"
)

// DRStatus is the demand-response programme at one time.
type DRStatus struct {
	Buildings []DRBuilding `json:"buildings"` // enrolled buildings
	Events    []DREvent    `json:"events"`
}

// DRBuilding is a building enrolled in demand response.
type DRBuilding struct {
	BuildingID string `json:"building_id"`
	// ContractedKW is the load reduction the building committed to.
	ContractedKW float64 `json:"contracted_kw"`
	// AvailableKW is what it can shed at the time asked: its commitment,
	// limited by its current load.
	AvailableKW float64 `json:"available_kw"`
}

// DREvent is a demand-response event called on a district.
type DREvent struct {
	ID          string    `json:"id"`
	District    string    `json:"district"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	ReductionKW float64   `json:"reduction_kw"` // committed reduction
	Buildings   int       `json:"buildings"`    // enrolled buildings taking part
	Status      string    `json:"status"`       // scheduled, active or completed
	CreatedAt   time.Time `json:"created_at"`
}

// ActiveAt reports whether the event is in effect at t.
func (e DREvent) ActiveAt(t time.Time) bool { return !t.Before(e.Start) && t.Before(e.End) }

// KWh is the energy of a reading over interval.
func (r Reading) KWh(interval time.Duration) float64 { return r.KW * interval.Hours() }

// DataNotes says what a result's readings lacked: readings the source
// dropped as bad data, and how it answered when not as usual.
type DataNotes struct {
	RejectedReadings int      `json:"rejected_readings,omitempty"`
	Notes            []string `json:"notes,omitempty"`
	NotesZh          []string `json:"notes_zh,omitempty"`
}

// add takes in a window's counts and notes.
func (d *DataNotes) add(ws ...*window) {
	for _, w := range ws {
		if w == nil {
			continue
		}
		d.RejectedReadings += w.rejected
		for i, n := range w.notes {
			if !slices.Contains(d.Notes, n) {
				d.Notes = append(d.Notes, n)
				d.NotesZh = append(d.NotesZh, w.notesZh[i])
			}
		}
	}
}

// suffix ends a summary pair with the notes and the count of rejected readings.
func (d DataNotes) suffix(en, zh string) (string, string) {
	notes, notesZh := d.Notes, d.NotesZh
	if d.RejectedReadings > 0 {
		notes = append(slices.Clone(notes), fmt.Sprintf("%d meter readings were unreadable or implausible (negative, non-numeric or beyond any building's load) and were left out", d.RejectedReadings))
		notesZh = append(slices.Clone(notesZh), fmt.Sprintf("%d个电表读数无法识别或不合理（负值、非数字或超出建筑可能负荷），已剔除", d.RejectedReadings))
	}
	for _, n := range notes {
		en += " Note: " + n + "."
	}
	for _, n := range notesZh {
		zh += "注：" + n + "。"
	}
	return en, zh
}
