// Package permits provides the building-permit tools an agent calls — permit
// search, permit detail with its status history and inspections,
// processing-time statistics and inspections due — over a small Source
// interface that the demo city, Socrata SODA datasets and CSV/JSON feeds
// implement. Permit records use the field names of the BLDS building permit
// data standard (PermitNum, PermitType, WorkClass, StatusCurrent, AppliedDate,
// IssuedDate, …) so that open-data portals map onto them directly.
package permits

import (
	"context"
	"errors"
	"time"
)

// Source is where permit data comes from: a permit register that can be
// searched and read by permit number, as it stands now.
type Source interface {
	// Info describes the register: its name, districts, permit types and
	// statuses. It is loaded when the source is built and does not change.
	Info() Info
	// Search returns the permits matching q, ordered as q asks, with the
	// total number of matches.
	Search(ctx context.Context, q Query) (Page, error)
	// Permit returns one permit by number, with its history and inspections
	// when the source knows them.
	Permit(ctx context.Context, id string) (Permit, error)
}

// InspectionSource is a Source that knows site inspections.
type InspectionSource interface {
	// Inspections returns the inspections scheduled from from (inclusive)
	// to to (exclusive), done or not.
	Inspections(ctx context.Context, from, to time.Time) ([]Inspection, error)
}

// Errors sources return for conditions callers branch on.
var (
	ErrNotFound    = errors.New("permits: not found")
	ErrInvalidTime = errors.New("permits: invalid time")
)

// Info describes a permit register.
type Info struct {
	// Source names the register in citations, e.g. "democity:permits".
	Source string `json:"source"`
	// Currency is the ISO 4217 code of fees ("" = CNY).
	Currency string `json:"currency,omitempty"`
	CityZh   string `json:"city_zh"`
	CityEn   string `json:"city_en"`
	// Location is the city's time zone: dates and working days are local.
	Location *time.Location `json:"-"`
	// PermitIDPattern is a regular expression every permit number matches
	// ("" = none), given to models as the permit_id parameter's pattern.
	PermitIDPattern string       `json:"permit_id_pattern,omitempty"`
	Districts       []District   `json:"districts"`
	Types           []PermitType `json:"types"`
	Statuses        []Status     `json:"statuses"`
	InspectionKinds []Kind       `json:"inspection_kinds,omitempty"`
}

// District is an administrative district of the city.
type District struct {
	ID     string `json:"id"`
	NameZh string `json:"name_zh"`
	NameEn string `json:"name_en"`
}

// PermitType is one kind of permit the register holds.
type PermitType struct {
	Code   string `json:"code"`
	NameEn string `json:"name_en"`
	NameZh string `json:"name_zh"`
	// TimeLimitDays is the statutory processing time in working days from
	// acceptance to issue; 0 when the source does not know it.
	TimeLimitDays int `json:"time_limit_days,omitempty"`
}

// Status is one value of StatusCurrent, with its BLDS mapping.
type Status struct {
	Code   string `json:"code"`
	NameEn string `json:"name_en"`
	NameZh string `json:"name_zh"`
	// Mapped is the BLDS StatusCurrentMapped value: Application Accepted,
	// Fees/Payment, In Review, Permit Issued, Inspection Phase, Permit
	// Finaled or Permit Cancelled.
	Mapped string `json:"mapped"`
	// Open is true while the application is still being processed
	// (received, under review, waiting for documents or fees).
	Open bool `json:"open,omitempty"`
}

// Kind is an inspection kind.
type Kind struct {
	Code   string `json:"code"`
	NameEn string `json:"name_en"`
	NameZh string `json:"name_zh"`
}

// The BLDS StatusCurrentMapped values.
const (
	MappedAccepted  = "Application Accepted"
	MappedFees      = "Fees/Payment"
	MappedInReview  = "In Review"
	MappedIssued    = "Permit Issued"
	MappedInspect   = "Inspection Phase"
	MappedFinaled   = "Permit Finaled"
	MappedCancelled = "Permit Cancelled"
)

// Permit is one permit in BLDS-style fields, plus the register's own
// extensions in snake_case.
type Permit struct {
	PermitNum           string     `json:"PermitNum"`
	PermitType          string     `json:"PermitType"`
	PermitTypeDesc      string     `json:"PermitTypeDesc,omitempty"`
	PermitTypeDescZh    string     `json:"permit_type_desc_zh,omitempty"`
	PermitClass         string     `json:"PermitClass,omitempty"` // Residential, Commercial, Public, Utility
	WorkClass           string     `json:"WorkClass,omitempty"`   // New, Addition, Alteration, Repair, Demolition, Temporary
	Description         string     `json:"Description,omitempty"`
	DescriptionZh       string     `json:"description_zh,omitempty"`
	StatusCurrent       string     `json:"StatusCurrent"`
	StatusCurrentMapped string     `json:"StatusCurrentMapped,omitempty"`
	StatusDate          time.Time  `json:"StatusDate"`
	AppliedDate         time.Time  `json:"AppliedDate"`
	IssuedDate          *time.Time `json:"IssuedDate,omitempty"`
	CompletedDate       *time.Time `json:"CompletedDate,omitempty"`
	ExpiresDate         *time.Time `json:"ExpiresDate,omitempty"`
	OriginalAddress1    string     `json:"OriginalAddress1,omitempty"`
	AddressZh           string     `json:"address_zh,omitempty"`
	District            string     `json:"district,omitempty"`
	Latitude            float64    `json:"Latitude,omitempty"`
	Longitude           float64    `json:"Longitude,omitempty"`
	EstProjectCost      float64    `json:"EstProjectCost,omitempty"`
	// Fee is the total fee (or deposit) in the register's currency.
	Fee        float64 `json:"Fee"`
	FeeBasis   string  `json:"fee_basis,omitempty"`
	FeeBasisZh string  `json:"fee_basis_zh,omitempty"`
	// FeePaid says whether the fee is paid; nil when the source does not
	// say (a register without a payment field), and then no answer claims either.
	FeePaid               *bool  `json:"fee_paid,omitempty"`
	ContractorCompanyName string `json:"ContractorCompanyName,omitempty"`
	// ProcessingDays is the processing time the source reports (e.g. SODA's
	// processing_time); when absent it is the working days from AppliedDate
	// to IssuedDate.
	ProcessingDays *float64 `json:"processing_days,omitempty"`
	RiskClass      string   `json:"risk_class,omitempty"` // inspection risk class A, B or C
	SegmentID      string   `json:"segment_id,omitempty"` // road segment occupied or excavated
	AreaM2         float64  `json:"area_m2,omitempty"`
	Flagged        bool     `json:"flagged,omitempty"` // flagged for supervisory review
	FlagReason     string   `json:"flag_reason,omitempty"`
	// History is the permit's status history, oldest first; empty when the
	// source does not keep it.
	History     []StatusChange `json:"history,omitempty"`
	Inspections []Inspection   `json:"inspections,omitempty"`
}

// StatusChange is one entry of a permit's history: a new status, or a note
// (a flag, an inspection booked) under the same status.
type StatusChange struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Mapped string    `json:"mapped,omitempty"`
	Note   string    `json:"note,omitempty"`
	NoteZh string    `json:"note_zh,omitempty"`
}

// Inspection results.
const (
	ResultPassed  = "passed"
	ResultMinor   = "minor_issues"   // 一般问题: rectify within 7 days
	ResultMajor   = "major_hazard"   // 较大隐患: rectify within 3 days
	ResultSerious = "serious_hazard" // 重大隐患: works stopped
)

// Inspection statuses.
const (
	InspectionScheduled = "scheduled"
	InspectionDone      = "done"
)

// Inspection is a site inspection of a permit.
type Inspection struct {
	ID          string     `json:"id"`
	PermitNum   string     `json:"permit_num"`
	Kind        string     `json:"kind"`
	Status      string     `json:"status"` // scheduled or done
	ScheduledAt time.Time  `json:"scheduled_at"`
	DoneAt      *time.Time `json:"done_at,omitempty"`
	Result      string     `json:"result,omitempty"`
	District    string     `json:"district,omitempty"`
	RiskClass   string     `json:"risk_class,omitempty"`
	Notes       string     `json:"notes,omitempty"`
	NotesZh     string     `json:"notes_zh,omitempty"`
	// ScheduledBy is "plan" for the supervision plan, or who booked it.
	ScheduledBy string `json:"scheduled_by,omitempty"`
}

// Orders a Query may ask for.
const (
	OrderAppliedDesc = "applied_desc"
	OrderAppliedAsc  = "applied_asc"
	OrderIssuedDesc  = "issued_desc"
)

// Query filters a register. Empty fields match everything.
type Query struct {
	District   string
	PermitType string
	Status     string // a StatusCurrent code
	WorkClass  string
	// Open keeps only applications still being processed.
	Open bool
	// Flagged keeps only permits flagged for review.
	Flagged bool
	// Text matches permit number, description or address, case-insensitively.
	Text                   string
	AppliedFrom, AppliedTo time.Time // AppliedDate in [from, to); zero = open
	IssuedFrom, IssuedTo   time.Time // IssuedDate in [from, to); zero = open
	OrderBy                string    // one of the Order constants; default applied_desc
	Limit                  int       // 0 = the source's page size
	Offset                 int
	// AsOf is the moment the register is read at, for sources that can
	// answer for any time (the demo city); zero = now.
	AsOf time.Time
}

// Page is one page of search results.
type Page struct {
	Total   int      `json:"total"`
	Permits []Permit `json:"permits"`
	// Skipped counts the rows of the page the source could not read as
	// permits (incomplete records, e.g. without an application date); they
	// are left out of Permits, and the question is answered without them.
	Skipped int `json:"skipped,omitempty"`
}

// ProcessingTime returns p's processing time in working days: the source's
// own figure when it gives one, else the working days from AppliedDate to
// IssuedDate in loc. ok is false for permits not issued.
func (p Permit) ProcessingTime(loc *time.Location) (days float64, ok bool) {
	if p.ProcessingDays != nil {
		return *p.ProcessingDays, true
	}
	if p.IssuedDate == nil {
		return 0, false
	}
	return float64(WorkingDaysBetween(p.AppliedDate, *p.IssuedDate, loc)), true
}

// WorkingDaysBetween counts the working days (Monday to Friday) after a's
// local date up to and including b's: Tuesday to Thursday is 2. It is 0 when
// b is on or before a's date.
func WorkingDaysBetween(a, b time.Time, loc *time.Location) int {
	if loc == nil {
		loc = time.UTC
	}
	da := dateOf(a.In(loc))
	db := dateOf(b.In(loc))
	n := 0
	for d := da.AddDate(0, 0, 1); !d.After(db); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}

// AddWorkingDays returns the local date n working days after t's, at the
// same clock time.
func AddWorkingDays(t time.Time, n int) time.Time {
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
