// Package bldsmap maps rows of open-data permit registers (SODA datasets,
// CSV files, JSON feeds) onto BLDS-style permit fields: a mapping from BLDS
// field to column(s), value parsing, and BLDS status mapping.
package bldsmap

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/internal/cleantext"
)

// ErrRow wraps a row that cannot be read as a permit.
var ErrRow = errors.New("bldsmap: bad row")

// Fields are the BLDS fields a mapping may name.
var Fields = map[string]bool{"PermitNum": true, "PermitType": true, "StatusCurrent": true, "WorkClass": true, "PermitClass": true,
	"Description": true, "AppliedDate": true, "IssuedDate": true, "CompletedDate": true, "ExpiresDate": true, "StatusDate": true,
	"EstProjectCost": true, "Fee": true, "OriginalAddress1": true, "District": true, "Latitude": true, "Longitude": true,
	"ContractorCompanyName": true, "ProcessingDays": true, "FeePaid": true}

// Mapper maps rows with Cols (BLDS field → columns) in Location.
type Mapper struct {
	Cols     map[string][]string
	Location *time.Location
}

// New builds a mapper from a mapping of BLDS field to space-separated
// columns; PermitNum and AppliedDate must each name one column.
func New(mapping map[string]string, loc *time.Location) (*Mapper, error) {
	if loc == nil {
		loc = time.UTC
	}
	m := &Mapper{Cols: map[string][]string{}, Location: loc}
	var bad []string
	for f, c := range mapping {
		if !Fields[f] {
			bad = append(bad, f)
			continue
		}
		m.Cols[f] = strings.Fields(c)
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("bldsmap: mapping names unknown BLDS fields %v", bad)
	}
	for _, need := range []string{"PermitNum", "AppliedDate"} {
		if len(m.Cols[need]) != 1 {
			return nil, fmt.Errorf("bldsmap: mapping must name one column for %s", need)
		}
	}
	return m, nil
}

// Column is the single column a field maps to, or "".
func (s *Mapper) Column(field string) string {
	if c := s.Cols[field]; len(c) == 1 {
		return c[0]
	}
	return ""
}

// MapStatus maps a dataset's status to BLDS StatusCurrentMapped by its words.
func MapStatus(s string) string {
	l := strings.ToLower(s)
	for _, k := range []struct{ word, mapped string }{
		{"cancel", permits.MappedCancelled}, {"revok", permits.MappedCancelled}, {"withdr", permits.MappedCancelled},
		{"expir", permits.MappedCancelled}, {"denied", permits.MappedCancelled}, {"refus", permits.MappedCancelled}, {"void", permits.MappedCancelled},
		{"fee", permits.MappedFees}, {"payment", permits.MappedFees},
		{"review", permits.MappedInReview}, {"hold", permits.MappedInReview}, {"pending", permits.MappedInReview}, {"correction", permits.MappedInReview},
		{"document", permits.MappedInReview},
		{"complete", permits.MappedFinaled}, {"final", permits.MappedFinaled}, {"closed", permits.MappedFinaled},
		{"inspect", permits.MappedInspect}, {"active", permits.MappedInspect},
		{"construction", permits.MappedInspect}, {"underway", permits.MappedInspect}, {"under way", permits.MappedInspect},
		{"issued", permits.MappedIssued}, {"approved", permits.MappedIssued},
		{"receiv", permits.MappedAccepted}, {"applied", permits.MappedAccepted}, {"submitted", permits.MappedAccepted}, {"open", permits.MappedAccepted},
	} {
		if strings.Contains(l, k.word) {
			return k.mapped
		}
	}
	return ""
}

// Text reads a value (SODA and CSV send numbers as strings) as text.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// field reads a mapped field, joining several columns with spaces.
func (s *Mapper) field(r map[string]any, f string) string {
	var parts []string
	for _, c := range s.Cols[f] {
		if t := Text(r[c]); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " ")
}

func (s *Mapper) number(r map[string]any, f string) (float64, bool) {
	t := strings.ReplaceAll(strings.TrimPrefix(s.field(r, f), "$"), ",", "")
	if t == "" {
		return 0, false
	}
	x, err := strconv.ParseFloat(t, 64)
	return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) // "NaN" and "Inf" are text, not amounts
}

var layouts = []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02"}

func (s *Mapper) date(r map[string]any, f string) (time.Time, bool, error) {
	t := s.field(r, f)
	if t == "" {
		return time.Time{}, false, nil
	}
	if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
		return ts.In(s.Location), true, nil
	}
	for _, l := range layouts {
		if ts, err := time.ParseInLocation(l, t, s.Location); err == nil {
			return ts, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%w: %s %q is not a date", ErrRow, f, t)
}

// Permit maps a row to BLDS fields.
func (s *Mapper) Permit(r map[string]any) (permits.Permit, error) {
	p := permits.Permit{PermitNum: s.field(r, "PermitNum"), PermitType: s.field(r, "PermitType"), StatusCurrent: s.field(r, "StatusCurrent"),
		WorkClass: s.field(r, "WorkClass"), PermitClass: s.field(r, "PermitClass"), Description: s.field(r, "Description"),
		OriginalAddress1: s.field(r, "OriginalAddress1"), District: s.field(r, "District"), ContractorCompanyName: s.field(r, "ContractorCompanyName")}
	if p.PermitNum == "" {
		return permits.Permit{}, fmt.Errorf("%w: a row without %s", ErrRow, s.Cols["PermitNum"][0])
	}
	p.PermitTypeDesc = p.PermitType
	p.StatusCurrentMapped = MapStatus(p.StatusCurrent)
	var err error
	var ok bool
	if p.AppliedDate, ok, err = s.date(r, "AppliedDate"); err != nil {
		return permits.Permit{}, err
	} else if !ok {
		return permits.Permit{}, fmt.Errorf("%w: permit %s has no application date", ErrRow, p.PermitNum)
	}
	p.StatusDate = p.AppliedDate
	for _, d := range []struct {
		field string
		dst   **time.Time
	}{{"IssuedDate", &p.IssuedDate}, {"CompletedDate", &p.CompletedDate}, {"ExpiresDate", &p.ExpiresDate}} {
		ts, ok, err := s.date(r, d.field)
		if err != nil {
			return permits.Permit{}, err
		}
		if ok {
			*d.dst = &ts
			if ts.After(p.StatusDate) {
				p.StatusDate = ts
			}
		}
	}
	if ts, ok, err := s.date(r, "StatusDate"); err != nil {
		return permits.Permit{}, err
	} else if ok {
		p.StatusDate = ts
	}
	p.EstProjectCost, _ = s.number(r, "EstProjectCost")
	p.Fee, _ = s.number(r, "Fee")
	p.Latitude, _ = s.number(r, "Latitude")
	p.Longitude, _ = s.number(r, "Longitude")
	if d, ok := s.number(r, "ProcessingDays"); ok {
		p.ProcessingDays = &d
	}
	p.FeePaid = s.paid(r)
	return p, nil
}

// paid reads the FeePaid column as yes/no text; nil when the mapping has
// no such column or the row's value is neither.
func (s *Mapper) paid(r map[string]any) *bool {
	var v bool
	switch strings.ToLower(strings.TrimSpace(s.field(r, "FeePaid"))) {
	case "true", "yes", "y", "1", "paid":
		v = true
	case "false", "no", "n", "0", "unpaid", "not paid":
	default:
		return nil
	}
	return &v
}

// mappedZh names the BLDS mapped statuses in Chinese.
var mappedZh = map[string]string{
	permits.MappedAccepted: "已受理", permits.MappedFees: "待缴费", permits.MappedInReview: "审查中", permits.MappedIssued: "已发证",
	permits.MappedInspect: "检查阶段", permits.MappedFinaled: "已完工", permits.MappedCancelled: "已撤销",
}

// Status describes a dataset's status value v: mapped to BLDS by its
// words, named in English by the value and in Chinese by its BLDS status
// (the value in brackets), so that no answer shows a bare "ACTIVE".
func Status(v string) permits.Status {
	mapped := MapStatus(v)
	zh := v
	if z := mappedZh[mapped]; z != "" {
		zh = z + "（" + v + "）"
	}
	return permits.Status{Code: v, NameEn: strings.ToLower(v), NameZh: zh, Mapped: mapped,
		Open: mapped == permits.MappedAccepted || mapped == permits.MappedInReview || mapped == permits.MappedFees}
}

// Codes keeps the values that can be shown and offered as schema enum
// values as they are: no control characters or line breaks, at most 120
// characters. A value that fails is data a model must not see as a code.
func Codes(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v != "" && cleantext.Clean(v, cleantext.Name) == v {
			out = append(out, v)
		}
	}
	return out
}
