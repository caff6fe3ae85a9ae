package citytool_test

import (
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // the zone database, whatever the machine has

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools/citytool"
)

func ExampleNum() {
	fmt.Println(citytool.Num(12.345), citytool.Num(-1234.5), citytool.Grouped(1234567), citytool.Signed(3))
	// Output: 12.3 -1,235 1,234,567 +3.0
}

func TestCodesTune(t *testing.T) {
	c := citytool.NewCodes([]citytool.Code{{ID: "7", NameEn: "Edgewater", NameZh: "Edgewater"}, {ID: "dc", NameEn: "Dongcheng", NameZh: "东城区"}})
	s := &jsonschema.Schema{Properties: map[string]*jsonschema.Schema{"district": {Description: "District."}}}
	c.Tune(s, "district")
	c.Tune(s, "absent")
	p := s.Properties["district"]
	if len(p.Enum) != 2 || p.Description != "District. Codes 代码: 7 = Edgewater; dc = 东城区 Dongcheng." {
		t.Errorf("tuned %+v", p)
	}
	if en, zh := c.Names("nope"); en != "nope" || zh != "nope" || !c.Has("dc") || c.Has("nope") {
		t.Errorf("names of unknown: %s %s", en, zh)
	}
}

func TestLocal(t *testing.T) {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	l := citytool.NewLocal(loc)
	at := time.Date(2025, 6, 3, 19, 58, 0, 0, time.UTC)
	if en, _ := l.When(at); en != "14:58 CDT Tue 3 Jun 2025" || l.DateTime(at) != "2025-06-03 14:58" {
		t.Errorf("when %s, %s", en, l.DateTime(at))
	}
	if citytool.NewLocal(nil).Loc != time.UTC {
		t.Error("nil zone is not UTC")
	}
}

// TestCodesTuneUnknownCode: a code without names used to read "99 = 99 99".
func TestCodesTuneUnknownCode(t *testing.T) {
	c := citytool.NewCodes([]citytool.Code{{ID: "99", NameEn: "99", NameZh: "99"}})
	s := &jsonschema.Schema{Properties: map[string]*jsonschema.Schema{"district": {Description: "District."}}}
	c.Tune(s, "district")
	if d := s.Properties["district"].Description; d != "District. Codes 代码: 99." {
		t.Errorf("description %q", d)
	}
}

// TestMoneyCents: a fee of 1,100.50 used to show as "$1,101".
func TestMoneyCents(t *testing.T) {
	c := citytool.City{Currency: "USD"}
	for x, want := range map[float64]string{1100.5: "$1,100.50", 1250: "$1,250", 0.07: "$0.07", 1234.999: "$1,235", -12.5: "$-12.50"} {
		if en, _ := c.Money(x); en != want {
			t.Errorf("Money(%v) = %q, want %q", x, en, want)
		}
	}
	if _, zh := c.Money(1100.5); zh != "1,100.50美元" {
		t.Errorf("zh %q", zh)
	}
}
