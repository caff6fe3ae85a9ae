// Package permitstest provides the conformance suite every permits.Source
// runs (the demo city, SODA datasets, CSV and JSON tables): the register's
// contract, then the same questions to the permit tools, whose typed
// results must agree with what the source itself returns.
package permitstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/permits"
)

// TestSource checks src at time at.
func TestSource(t *testing.T, src permits.Source, at time.Time) {
	t.Helper()
	ctx := context.Background()
	info := src.Info()
	checkInfo(t, info)
	district := info.Districts[0].ID

	t.Run("search", func(t *testing.T) {
		page, err := src.Search(ctx, permits.Query{District: district, Limit: 5, AsOf: at})
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		if page.Total < len(page.Permits)+page.Skipped || len(page.Permits) == 0 || len(page.Permits) > 5 {
			t.Fatalf("page of %d (+%d skipped) of %d", len(page.Permits), page.Skipped, page.Total)
		}
		for i, p := range page.Permits {
			if p.District != district || p.PermitNum == "" || p.AppliedDate.IsZero() {
				t.Errorf("permit %+v in a search of district %s", p, district)
			}
			if i > 0 && p.AppliedDate.After(page.Permits[i-1].AppliedDate) {
				t.Errorf("not newest first at %d", i)
			}
		}
		p, err := src.Permit(ctx, page.Permits[0].PermitNum)
		if err != nil || p.PermitNum != page.Permits[0].PermitNum || !p.AppliedDate.Equal(page.Permits[0].AppliedDate) {
			t.Errorf("Permit(%s) = %+v, %v", page.Permits[0].PermitNum, p, err)
		}
		if _, err := src.Permit(ctx, "no-such-permit-0"); !errors.Is(err, permits.ErrNotFound) {
			t.Errorf("Permit of an unknown number: %v", err)
		}
	})

	t.Run("tools", func(t *testing.T) { checkTools(t, src, district, at) })
}

func checkInfo(t *testing.T, info permits.Info) {
	t.Helper()
	if info.Source == "" || info.Location == nil || len(info.Districts) == 0 || len(info.Types) == 0 || len(info.Statuses) == 0 {
		t.Fatalf("info needs a source, a location, districts, types and statuses: %+v", info)
	}
	for _, d := range info.Districts {
		if d.ID == "" || d.NameEn == "" || d.NameZh == "" {
			t.Errorf("district %+v", d)
		}
	}
	for _, s := range info.Statuses {
		if s.Code == "" || s.Mapped == "" {
			t.Errorf("status %+v has no BLDS mapping", s)
		}
	}
}

// checkTools asks the permit tools what every register must answer alike.
func checkTools(t *testing.T, src permits.Source, district string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	ts := citytooltest.ByName(permits.Tools(src, func() time.Time { return at }))
	source := src.Info().Source
	want, err := src.Search(ctx, permits.Query{District: district, Limit: 5, AsOf: at})
	if err != nil {
		t.Fatal(err)
	}
	var res permits.SearchResult
	citytooltest.Call(t, ts[permits.NameSearch], fmt.Sprintf(`{"district":%q,"limit":5}`, district), source, at, &res)
	if res.Total != want.Total || len(res.Permits) != len(want.Permits) || res.Skipped != want.Skipped {
		t.Errorf("search: %d of %d (+%d skipped), source %d of %d (+%d)", len(res.Permits), res.Total, res.Skipped, len(want.Permits), want.Total, want.Skipped)
	}
	for i := range min(len(res.Permits), len(want.Permits)) {
		if res.Permits[i].PermitNum != want.Permits[i].PermitNum || res.Permits[i].DistrictName == "" {
			t.Errorf("search row %d: %+v, source %s", i, res.Permits[i], want.Permits[i].PermitNum)
		}
	}
	if len(want.Permits) > 0 {
		var d permits.DetailResult
		citytooltest.Call(t, ts[permits.NameDetail], fmt.Sprintf(`{"permit_id":%q}`, want.Permits[0].PermitNum), source, at, &d)
		if d.Permit.PermitNum != want.Permits[0].PermitNum || d.StatusName == "" || d.TypeName == "" {
			t.Errorf("detail %+v", d)
		}
	}
	// Processing times count the permits issued in the window, as a scan of the source finds them.
	from := at.AddDate(0, 0, -365)
	issued, skipped := 0, 0
	for q := (permits.Query{IssuedFrom: from, IssuedTo: at, Limit: 100, AsOf: at}); ; {
		page, err := src.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		issued += len(page.Permits)
		skipped += page.Skipped
		q.Offset += len(page.Permits) + page.Skipped
		if len(page.Permits)+page.Skipped < q.Limit || q.Offset >= page.Total || q.Offset >= 20000 {
			break
		}
	}
	var proc permits.ProcessingResult
	citytooltest.Call(t, ts[permits.NameProcessingTimes], `{"days":365}`, source, at, &proc)
	if !proc.Truncated && (proc.Overall.Count != issued || proc.Skipped != skipped) {
		t.Errorf("processing times over %d permits (+%d skipped), the source has %d (+%d) issued in the year", proc.Overall.Count, proc.Skipped, issued, skipped)
	}
	if proc.Overall.Count > 0 && (proc.Overall.MedianDays < 0 || proc.Overall.MaxDays < proc.Overall.MedianDays) {
		t.Errorf("processing stats %+v", proc.Overall)
	}
}
