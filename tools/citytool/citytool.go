// Package citytool provides what the city tools (traffic, permits, energy)
// share: code lists with bilingual names that become schema enums, the
// city's local-time formats, number formats and bilingual summaries.
package citytool

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools"
)

// Clock returns clock (time.Now when nil) reading in loc, so that every
// time a tool answers with, and cites, is in the city's zone.
func Clock(clock func() time.Time, loc *time.Location) func() time.Time {
	if clock == nil {
		clock = time.Now
	}
	if loc == nil {
		return clock
	}
	return func() time.Time { return clock().In(loc) }
}

// Cite is the citation of a result read from source as of at.
func Cite(source, title string, at time.Time) tools.Citation {
	return tools.Citation{Source: source, Title: title, AsOf: at}
}

// Code is one entry of a code list (districts, permit types, statuses…)
// with its English and Chinese names.
type Code struct {
	ID, NameEn, NameZh string
}

// Codes is a code list in the source's order, indexed by id.
type Codes struct {
	list []Code
	idx  map[string]int
}

// NewCodes indexes list; a later duplicate id shadows an earlier one.
func NewCodes(list []Code) Codes {
	c := Codes{list: list, idx: make(map[string]int, len(list))}
	for i, e := range list {
		c.idx[e.ID] = i
	}
	return c
}

// Has reports whether id is in the list.
func (c Codes) Has(id string) bool {
	_, ok := c.idx[id]
	return ok
}

// Len is the number of codes.
func (c Codes) Len() int { return len(c.list) }

// Names returns id's names, or id twice for a code the list lacks.
func (c Codes) Names(id string) (en, zh string) {
	if i, ok := c.idx[id]; ok {
		return c.list[i].NameEn, c.list[i].NameZh
	}
	return id, id
}

// Tune makes prop an enum of the codes and lists their names in its
// description, so that models (and the offline engine) can match names to
// codes. An absent prop or an empty list leaves the schema as it is.
func (c Codes) Tune(s *jsonschema.Schema, prop string) {
	p := s.Properties[prop]
	if p == nil || len(c.list) == 0 {
		return
	}
	parts := make([]string, 0, len(c.list))
	for _, e := range c.list {
		p.Enum = append(p.Enum, e.ID)
		parts = append(parts, e.described())
	}
	p.Description += " Codes 代码: " + strings.Join(parts, "; ") + "."
}

// described is "id = 中文名 English name", each name once and none that
// only repeats the id (an unknown code reads "99", not "99 = 99 99").
func (e Code) described() string {
	var names []string
	for _, n := range []string{e.NameZh, e.NameEn} {
		if n != "" && n != e.ID && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return e.ID
	}
	return e.ID + " = " + strings.Join(names, " ")
}

// IntRange bounds an integer property and sets its default.
func IntRange(p *jsonschema.Schema, lo, hi, def int) {
	p.Minimum = jsonschema.Ptr(float64(lo))
	p.Maximum = jsonschema.Ptr(float64(hi))
	p.Default = json.RawMessage(fmt.Sprint(def))
}

// Local formats moments in the city's time zone.
type Local struct {
	Loc *time.Location
}

// NewLocal is Local in loc; nil means UTC.
func NewLocal(loc *time.Location) Local {
	if loc == nil {
		loc = time.UTC
	}
	return Local{Loc: loc}
}

// When is a moment for summaries, labelled with the city's zone: "15:04
// CDT Tue 3 Jun 2025" and "2025年6月3日（周二）15:04 CDT".
func (l Local) When(t time.Time) (en, zh string) {
	lt := t.In(l.Loc)
	return lt.Format("15:04 MST Mon 2 Jan 2006"),
		fmt.Sprintf("%d年%d月%d日（%s）%s", lt.Year(), lt.Month(), lt.Day(), "周"+string([]rune("日一二三四五六")[lt.Weekday()]), lt.Format("15:04 MST"))
}

// HM is the local clock time, "15:04".
func (l Local) HM(t time.Time) string { return t.In(l.Loc).Format("15:04") }

// DayHM is a time in a multi-day window: "Tue 3 Jun 15:04" and "6月3日15:04".
func (l Local) DayHM(t time.Time) (en, zh string) {
	lt := t.In(l.Loc)
	return lt.Format("Mon 2 Jan 15:04"), fmt.Sprintf("%d月%d日%s", lt.Month(), lt.Day(), lt.Format("15:04"))
}

// Date is the local date, "2006-01-02".
func (l Local) Date(t time.Time) string { return t.In(l.Loc).Format("2006-01-02") }

// DateTime is the local date and time, "2006-01-02 15:04".
func (l Local) DateTime(t time.Time) string { return t.In(l.Loc).Format("2006-01-02 15:04") }

// Round1 rounds to one decimal.
func Round1(x float64) float64 { return math.Round(x*10) / 10 }

// Round2 rounds to two decimals.
func Round2(x float64) float64 { return math.Round(x*100) / 100 }

// Plural is word with an "s" unless n is 1.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Grouped rounds x to a whole number with thousands separators: 12,600.
func Grouped(x float64) string {
	n := int64(math.Round(math.Abs(x)))
	s := fmt.Sprint(n)
	var b strings.Builder
	if x < 0 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Num formats a quantity: one decimal below 1,000, whole and grouped from
// there.
func Num(x float64) string {
	if math.Abs(x) < 1000 {
		return fmt.Sprintf("%.1f", x)
	}
	return Grouped(x)
}

// Signed is Num with a "+" on values from zero up.
func Signed(x float64) string {
	if x >= 0 {
		return "+" + Num(x)
	}
	return Num(x)
}

// City is what every city tool knows of its city and source: the source
// it cites, the local time zone, the districts, and how amounts and speeds
// are shown.
type City struct {
	Local
	// Source names the source in citations.
	Source    string
	Districts Codes
	// Currency is the ISO 4217 code fees are in ("" = CNY).
	Currency string
	// Units is UnitsMetric ("" too) or UnitsImperial, for speeds shown in summaries.
	Units string
}

// Unit systems a city shows quantities in.
const (
	UnitsMetric   = "metric"   // km/h
	UnitsImperial = "imperial" // mph
)

// kmPerMile converts miles to kilometres.
const kmPerMile = 1.609344

// SpeedIn is a speed given in km/h in the city's units.
func (c City) SpeedIn(kmh float64) float64 {
	if c.Units == UnitsImperial {
		return kmh / kmPerMile
	}
	return kmh
}

// Speed shows a speed given in km/h in the city's units, one decimal:
// "14.0 km/h" / "14.0公里/小时", or "8.7 mph" / "8.7英里/小时".
func (c City) Speed(kmh float64) (en, zh string) {
	if v := c.SpeedIn(kmh); c.Units == UnitsImperial {
		return fmt.Sprintf("%.1f mph", v), fmt.Sprintf("%.1f英里/小时", v)
	}
	return fmt.Sprintf("%.1f km/h", kmh), fmt.Sprintf("%.1f公里/小时", kmh)
}

// CurrencyCode is the ISO 4217 code amounts are in.
func (c City) CurrencyCode() string {
	if c.Currency == "" {
		return "CNY"
	}
	return strings.ToUpper(c.Currency)
}

// Money shows an amount in the city's currency, whole and grouped:
// "12,600 yuan" / "12,600元", "$1,250" / "1,250美元", else "1,250 EUR".
// Cents show when there are any: "$1,100.50".
func (c City) Money(x float64) (en, zh string) {
	g := Grouped(x)
	if cents := int64(math.Round(math.Abs(x) * 100)); cents%100 != 0 {
		g = Grouped(float64(cents/100)) + fmt.Sprintf(".%02d", cents%100)
		if x < 0 {
			g = "-" + g
		}
	}
	switch strings.ToUpper(c.Currency) {
	case "", "CNY":
		return g + " yuan", g + "元"
	case "USD":
		return "$" + g, g + "美元"
	case "EUR":
		return "€" + g, g + "欧元"
	case "GBP":
		return "£" + g, g + "英镑"
	}
	return g + " " + c.Currency, g + c.Currency
}

// NewCity is a City citing source ("" means fallback) in loc (nil: UTC).
func NewCity(source, fallback string, loc *time.Location, districts []Code) City {
	if source == "" {
		source = fallback
	}
	return City{Local: NewLocal(loc), Source: source, Districts: NewCodes(districts)}
}

// Cite is the citation of a result titled title as of at.
func (c City) Cite(title string, at time.Time) tools.Citation { return Cite(c.Source, title, at) }

// DistrictNames names a district, or repeats an unknown id.
func (c City) DistrictNames(id string) (en, zh string) { return c.Districts.Names(id) }

// TuneDistrict makes prop an enum of the district codes.
func (c City) TuneDistrict(s *jsonschema.Schema, prop string) { c.Districts.Tune(s, prop) }

// WithExample replaces the demo city's example id demo ("S012") in desc by
// the first of ids, the configured source's own, unless ids holds demo.
func WithExample(desc, demo string, ids []string) string {
	if len(ids) == 0 || slices.Contains(ids, demo) {
		return desc
	}
	return strings.ReplaceAll(desc, demo, ids[0])
}

// IDHint describes ids for a description: "S001–S224" when they are sorted
// and of one length, so a range is what it reads as; otherwise a sample,
// "e.g. 1309, 88, 1024, …", since first and last in feed order are no range.
func IDHint(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	sameLen := !slices.ContainsFunc(ids, func(id string) bool { return len(id) != len(ids[0]) })
	if len(ids) > 1 && sameLen && slices.IsSorted(ids) {
		return ids[0] + "–" + ids[len(ids)-1]
	}
	const sample = 3
	if len(ids) <= sample {
		return "e.g. " + strings.Join(ids, ", ")
	}
	return "e.g. " + strings.Join(ids[:sample], ", ") + ", …"
}

// SetExamples gives p the schema examples ids (at most three), so that
// models and the offline engine learn the id's shape, and names the first
// in its description as "e.g. <id>" unless the description has one.
func SetExamples(p *jsonschema.Schema, ids []string) {
	if p == nil || len(ids) == 0 {
		return
	}
	p.Examples = nil
	for _, id := range ids[:min(3, len(ids))] {
		p.Examples = append(p.Examples, id)
	}
	if !strings.Contains(p.Description, "e.g.") {
		p.Description = strings.TrimSuffix(p.Description, ".") + ", e.g. " + ids[0] + "."
	}
}
