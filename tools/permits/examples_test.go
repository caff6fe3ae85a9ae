package permits_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/tabular"
)

// csvRegister is a Chicago-shaped CSV register (numeric permit numbers, no
// id pattern) read by the tabular source.
func csvRegister(t *testing.T) *tabular.Permits {
	t.Helper()
	path := filepath.Join(t.TempDir(), "permits.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	rows := [][]string{
		{"PermitNum", "PermitType", "StatusCurrent", "AppliedDate", "IssuedDate", "District"},
		{"100912345", "PERMIT - RENOVATION", "ISSUED", "2025-05-02", "2025-05-20", "7"},
		{"100912346", "PERMIT - WRECKING", "ISSUED", "2025-04-11", "2025-05-01", "8"},
		{"100912347", "PERMIT - RENOVATION", "PENDING", "2025-03-01", "", "7"},
	}
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := tabular.NewPermits(context.Background(), tabular.Config{Kind: tabular.KindCSV, URL: path, Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestPermitsDetailExamplesFromSource(t *testing.T) {
	src := csvRegister(t)
	ts := permits.Tools(src, func() time.Time { return now })
	p := citytooltest.SchemaOf(t, citytooltest.ByName(ts)[permits.NameDetail]).Properties["permit_id"]
	// The source lists the latest application first: its number is the example.
	if p.Pattern != "" || len(p.Examples) == 0 || p.Examples[0] != "100912345" || !strings.Contains(p.Description, "e.g. 100912345") {
		t.Fatalf("permit_id %+v", p)
	}
	name, args := citytooltest.Plan(t, ts, "What is the status of permit 100912346?")
	if name != permits.NameDetail || args["permit_id"] != "100912346" {
		t.Errorf("planned %s %v", name, args)
	}
}

func TestPermitsDemoExamplesFitPattern(t *testing.T) {
	_, ts := fixture(t)
	p := citytooltest.SchemaOf(t, ts[permits.NameDetail]).Properties["permit_id"]
	if len(p.Examples) == 0 || !strings.HasPrefix(p.Examples[0], "BP-") || p.Pattern == "" {
		t.Errorf("permit_id %+v", p)
	}
}

func TestPermitsProcessingDaysDefault(t *testing.T) {
	_, ts := fixture(t)
	tl := ts[permits.NameProcessingTimes]
	s := citytooltest.SchemaOf(t, tl)
	if d := s.Properties["days"]; slices.Contains(s.Required, "days") || !strings.Contains(d.Description, "omit for the last 90 days") {
		t.Fatalf("days %+v required %v", d, s.Required)
	}
	var omitted, given, week permits.ProcessingResult
	call(t, tl, `{"district":"nanhu"}`, &omitted)
	call(t, tl, `{"district":"nanhu","days":90}`, &given)
	call(t, tl, `{"district":"nanhu","days":7}`, &week)
	if omitted.Days != 90 || omitted.Overall != given.Overall || omitted.Summary != given.Summary || omitted.Overall.Count == 0 {
		t.Errorf("omitted %+v\ngiven %+v", omitted, given)
	}
	if week.Days != 7 || week.Overall.Count >= given.Overall.Count {
		t.Errorf("a 7-day window counts %d of 90 days' %d", week.Overall.Count, given.Overall.Count)
	}
	all := permits.Tools(democity.New(democity.DefaultSeed, func() time.Time { return now }), func() time.Time { return now })
	name, args := citytooltest.Plan(t, all, "Which permits in Nanhu are overdue?")
	if name != permits.NameProcessingTimes || args["district"] != "nanhu" {
		t.Errorf("planned %s %v", name, args)
	}
	// A permit type alone is a rules question, not a statistics request.
	if name, _ := citytooltest.Plan(t, all, "What is the fee for a road occupation permit on an arterial road?"); name == permits.NameProcessingTimes {
		t.Errorf("a fee question planned %s", name)
	}
	var ae *tools.ArgsError
	if _, err := tl.Call(context.Background(), json.RawMessage(`{"permit_type":"building"}`)); !errors.As(err, &ae) {
		t.Errorf("type alone: %v, want an ArgsError", err)
	}
}
