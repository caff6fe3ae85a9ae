package hotline

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions"
)

func TestDefaultTaxonomy(t *testing.T) {
	t.Parallel()
	tax := DefaultTaxonomy()
	wantTypes := []string{"inquiry", "help", "complaint", "report", "suggestion", "praise"}
	for i, id := range wantTypes {
		if tax.Types[i].ID != id {
			t.Errorf("type %d = %s, want %s", i, tax.Types[i].ID, id)
		}
	}
	if n := len(tax.Categories()); n < 40 {
		t.Errorf("%d categories; the demo city ships at least 40", n)
	}
	prev := ""
	for _, c := range tax.Categories() {
		if c.Code <= prev {
			t.Errorf("categories out of code order: %s after %s", c.Code, prev)
		}
		prev = c.Code
		if c.Domain != c.Code[:2] || c.Group != c.Code[:4] || !strings.Contains(c.Path, c.NameZh) {
			t.Errorf("category %s: domain %s group %s path %q", c.Code, c.Domain, c.Group, c.Path)
		}
		if len(c.Keywords) == 0 {
			t.Errorf("category %s has no keywords", c.Code)
		}
	}
	if _, ok := tax.Category("999999"); ok {
		t.Error("unknown category found")
	}
}

// The shipped departments must be ones the shipped dispatch action accepts,
// or their tickets could never be dispatched.
func TestDepartmentsMatchDispatchAction(t *testing.T) {
	t.Parallel()
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	typ, err := cat.Get(DispatchAction)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(typ.Parameters)
	var schema struct {
		Properties struct {
			Department struct{ Enum []string } `json:"department"`
			Urgency    struct{ Enum []string } `json:"urgency"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	tax := DefaultTaxonomy()
	for _, d := range tax.Departments {
		if !strings.Contains(" "+strings.Join(schema.Properties.Department.Enum, " ")+" ", " "+d.ID+" ") {
			t.Errorf("department %s is not accepted by %s", d.ID, DispatchAction)
		}
	}
	for _, u := range tax.Urgencies {
		if !strings.Contains(" "+strings.Join(schema.Properties.Urgency.Enum, " ")+" ", " "+u.ID+" ") {
			t.Errorf("urgency %s is not accepted by %s", u.ID, DispatchAction)
		}
	}
}

func TestDeadlineRules(t *testing.T) {
	t.Parallel()
	tax := DefaultTaxonomy()
	cat := func(code string) *Category {
		c, ok := tax.Category(code)
		if !ok {
			t.Fatalf("no category %s", code)
		}
		return c
	}
	cases := map[string]struct {
		typ, code, urgency string
		rule               string
		within             time.Duration
	}{
		"emergency gas leak":          {"help", "030301", "emergency", "emergency", 2 * time.Hour},
		"water outage":                {"help", "030101", "urgent", "utilities", 24 * time.Hour},
		"heating complaint":           {"complaint", "030401", "urgent", "utilities", 24 * time.Hour},
		"inquiry":                     {"inquiry", "070101", "normal", "inquiry", 24 * time.Hour},
		"complex property dispute":    {"complaint", "060201", "normal", "complex", 15 * 24 * time.Hour},
		"general pothole":             {"help", "020101", "normal", "general", 7 * 24 * time.Hour},
		"praise":                      {"praise", "010201", "normal", "general", 7 * 24 * time.Hour},
		"emergency beats complex":     {"help", "060201", "emergency", "emergency", 2 * time.Hour},
		"complex report of a builder": {"report", "050201", "normal", "complex", 15 * 24 * time.Hour},
	}
	for name, c := range cases {
		r := tax.Deadline(c.typ, cat(c.code), c.urgency)
		if r.Name != c.rule || r.Within != c.within {
			t.Errorf("%s: rule %s within %s, want %s within %s", name, r.Name, r.Within, c.rule, c.within)
		}
	}
}

func TestParseTaxonomyProblems(t *testing.T) {
	t.Parallel()
	good := string(builtinTaxonomy)
	cases := map[string]struct {
		edit func(string) string
		want string
	}{
		"unknown field":      {func(s string) string { return strings.Replace(s, "version:", "versoin:", 1) }, "versoin"},
		"bad category code":  {func(s string) string { return strings.Replace(s, `code: "020201"`, `code: "0202x1"`, 1) }, "0202x1"},
		"unknown department": {func(s string) string { return strings.Replace(s, "department: water\n", "department: waterworks\n", 1) }, "waterworks"},
		"duplicate category": {func(s string) string { return strings.Replace(s, `code: "030102"`, `code: "030101"`, 1) }, "defined twice"},
		"bad deadline":       {func(s string) string { return strings.Replace(s, "within: 2h", "within: 0s", 1) }, "within must be"},
		"conditional last": {func(s string) string {
			return strings.Replace(s, "{name: general, name_zh: 一般诉求, within: 168h, pause_for_citizen: true}", "{name: general, urgency: normal, within: 168h}", 1)
		}, "last rule"},
		"unknown type in rule": {func(s string) string { return strings.Replace(s, "types: [inquiry]", "types: [question]", 1) }, "question"},
		"no reply template":    {func(s string) string { return strings.Replace(s, "    reply:\n      zh:", "    reply:\n      xx:", 1) }, "field xx not found"},
		"reserved attribute":   {func(s string) string { return strings.Replace(s, "{code: pole_number,", "{code: media_url,", 1) }, "reserved"},
	}
	for name, c := range cases {
		edited := c.edit(good)
		if edited == good {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		_, err := ParseTaxonomy([]byte(edited), "test.yaml")
		if !errors.Is(err, ErrInvalidTaxonomy) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error = %v, want ErrInvalidTaxonomy mentioning %q", name, err, c.want)
		}
	}
}

func TestLoadTaxonomyFile(t *testing.T) {
	t.Parallel()
	if tax, err := LoadTaxonomy(""); err != nil || tax.Origin != "builtin:taxonomy.yaml" {
		t.Fatalf("LoadTaxonomy(\"\") = %v, %v", tax, err)
	}
	path := filepath.Join(t.TempDir(), "city.yaml")
	custom := strings.Replace(string(builtinTaxonomy), "version: democity-2026.1", "version: my-city-1", 1)
	if err := os.WriteFile(path, []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	tax, err := LoadTaxonomy(path)
	if err != nil || tax.Version != "my-city-1" || tax.Origin != path {
		t.Fatalf("LoadTaxonomy(file) = %+v, %v", tax, err)
	}
	if _, err := LoadTaxonomy(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}
