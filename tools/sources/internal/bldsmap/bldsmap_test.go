package bldsmap_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/internal/bldsmap"
)

func TestMapStatus(t *testing.T) {
	for in, want := range map[string]string{
		"ACTIVE": permits.MappedInspect, "COMPLETE": permits.MappedFinaled, "EXPIRED": permits.MappedCancelled,
		"PENDING REVIEW": permits.MappedInReview, "ISSUED": permits.MappedIssued, "Fees Due": permits.MappedFees,
		"Application Received": permits.MappedAccepted, "weird": "",
	} {
		if got := bldsmap.MapStatus(in); got != want {
			t.Errorf("MapStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPermit(t *testing.T) {
	m, err := bldsmap.New(map[string]string{"PermitNum": "num", "AppliedDate": "applied", "IssuedDate": "issued",
		"OriginalAddress1": "no street", "Fee": "fee", "ProcessingDays": "days"}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Permit(map[string]any{"num": "P1", "applied": "2025-06-03T10:00:00.000", "issued": "2025-06-05", "no": "12", "street": "Main St",
		"fee": "$1,250.50", "days": 2.0})
	if err != nil {
		t.Fatal(err)
	}
	if p.PermitNum != "P1" || p.OriginalAddress1 != "12 Main St" || p.Fee != 1250.5 || p.IssuedDate == nil || *p.ProcessingDays != 2 || !p.StatusDate.Equal(*p.IssuedDate) {
		t.Errorf("permit %+v", p)
	}
	for name, row := range map[string]map[string]any{
		"no number": {"applied": "2025-06-03"},
		"no date":   {"num": "P2"},
		"bad date":  {"num": "P3", "applied": "yesterday"},
	} {
		if _, err := m.Permit(row); !errors.Is(err, bldsmap.ErrRow) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := bldsmap.New(map[string]string{"PermitNum": "a", "AppliedDate": "b", "Colour": "c"}, nil); err == nil {
		t.Error("unknown field accepted")
	}
}
