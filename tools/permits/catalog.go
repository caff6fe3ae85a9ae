package permits

import (
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool"
)

// catalog indexes a source's Info for argument checks, enums and names.
type catalog struct {
	citytool.City
	info                  Info
	types                 map[string]PermitType
	statuses              map[string]Status
	typeC, statusC, kindC citytool.Codes
}

func newCatalog(info Info) *catalog {
	c := &catalog{info: info, types: map[string]PermitType{}, statuses: map[string]Status{}}
	var ds, ts, ss, ks []citytool.Code
	for _, d := range info.Districts {
		ds = append(ds, citytool.Code{ID: d.ID, NameEn: d.NameEn, NameZh: d.NameZh})
	}
	for _, t := range info.Types {
		c.types[t.Code] = t
		ts = append(ts, citytool.Code{ID: t.Code, NameEn: t.NameEn, NameZh: t.NameZh})
	}
	for _, s := range info.Statuses {
		c.statuses[s.Code] = s
		ss = append(ss, citytool.Code{ID: s.Code, NameEn: s.NameEn, NameZh: s.NameZh})
	}
	for _, k := range info.InspectionKinds {
		ks = append(ks, citytool.Code{ID: k.Code, NameEn: k.NameEn, NameZh: k.NameZh})
	}
	c.City = citytool.NewCity(info.Source, "permits", info.Location, ds)
	c.Currency = info.Currency
	c.typeC, c.statusC, c.kindC = citytool.NewCodes(ts), citytool.NewCodes(ss), citytool.NewCodes(ks)
	return c
}

func (c *catalog) typeNames(code string) (en, zh string) { return c.typeC.Names(code) }

func (c *catalog) statusNames(code string) (en, zh string) { return c.statusC.Names(code) }

func (c *catalog) kindNames(code string) (en, zh string) { return c.kindC.Names(code) }

func (c *catalog) tuneType(s *jsonschema.Schema, prop string) { c.typeC.Tune(s, prop) }

func (c *catalog) tuneStatus(s *jsonschema.Schema, prop string) { c.statusC.Tune(s, prop) }

func (c *catalog) tuneKind(s *jsonschema.Schema, prop string) { c.kindC.Tune(s, prop) }

// unknownPermit is the argument error for a number that fits the pattern
// but names no permit; the model can correct it.
func unknownPermit(tool, id string) error {
	return &tools.ArgsError{Tool: tool, Reason: fmt.Sprintf("no permit %q in the register", id)}
}
