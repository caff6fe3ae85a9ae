package permits

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools"
)

// catalog indexes a source's Info for argument checks, enums and names.
type catalog struct {
	info      Info
	loc       *time.Location
	districts map[string]District
	types     map[string]PermitType
	statuses  map[string]Status
	kinds     map[string]Kind
}

func newCatalog(info Info) *catalog {
	c := &catalog{info: info, loc: info.Location, districts: map[string]District{}, types: map[string]PermitType{},
		statuses: map[string]Status{}, kinds: map[string]Kind{}}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.info.Source == "" {
		c.info.Source = "permits"
	}
	for _, d := range info.Districts {
		c.districts[d.ID] = d
	}
	for _, t := range info.Types {
		c.types[t.Code] = t
	}
	for _, s := range info.Statuses {
		c.statuses[s.Code] = s
	}
	for _, k := range info.InspectionKinds {
		c.kinds[k.Code] = k
	}
	return c
}

func (c *catalog) districtNames(id string) (en, zh string) {
	if d, ok := c.districts[id]; ok {
		return d.NameEn, d.NameZh
	}
	return id, id
}

func (c *catalog) typeNames(code string) (en, zh string) {
	if t, ok := c.types[code]; ok {
		return t.NameEn, t.NameZh
	}
	return code, code
}

func (c *catalog) statusNames(code string) (en, zh string) {
	if s, ok := c.statuses[code]; ok {
		return s.NameEn, s.NameZh
	}
	return code, code
}

func (c *catalog) kindNames(code string) (en, zh string) {
	if k, ok := c.kinds[code]; ok {
		return k.NameEn, k.NameZh
	}
	return code, code
}

// enum makes prop an enum of codes, listing their names in its description
// so that models (and the offline engine) can match names to codes.
func enum(s *jsonschema.Schema, prop string, codes, names []string) {
	p := s.Properties[prop]
	if p == nil || len(codes) == 0 {
		return
	}
	var parts []string
	for i, code := range codes {
		p.Enum = append(p.Enum, code)
		parts = append(parts, code+" = "+names[i])
	}
	p.Description += " Codes 代码: " + strings.Join(parts, "; ") + "."
}

func (c *catalog) tuneDistrict(s *jsonschema.Schema, prop string) {
	var codes, names []string
	for _, d := range c.info.Districts {
		codes = append(codes, d.ID)
		names = append(names, d.NameZh+" "+d.NameEn)
	}
	enum(s, prop, codes, names)
}

func (c *catalog) tuneType(s *jsonschema.Schema, prop string) {
	var codes, names []string
	for _, t := range c.info.Types {
		codes = append(codes, t.Code)
		names = append(names, t.NameZh+" "+t.NameEn)
	}
	enum(s, prop, codes, names)
}

func (c *catalog) tuneStatus(s *jsonschema.Schema, prop string) {
	var codes, names []string
	for _, st := range c.info.Statuses {
		codes = append(codes, st.Code)
		names = append(names, st.NameZh+" "+st.NameEn)
	}
	enum(s, prop, codes, names)
}

func (c *catalog) tuneKind(s *jsonschema.Schema, prop string) {
	var codes, names []string
	for _, k := range c.info.InspectionKinds {
		codes = append(codes, k.Code)
		names = append(names, k.NameZh+" "+k.NameEn)
	}
	enum(s, prop, codes, names)
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

func (c *catalog) date(t time.Time) string { return t.In(c.loc).Format("2006-01-02") }

func (c *catalog) dateTime(t time.Time) string { return t.In(c.loc).Format("2006-01-02 15:04") }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// money formats an amount with thousands separators: 12,600.
func money(x float64) string {
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

// unknownPermit is the argument error for a number that fits the pattern
// but names no permit; the model can correct it.
func unknownPermit(tool, id string) error {
	return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("no permit %q in the register", id)}
}
