package democity_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/permits"
)

func TestPermitRegister(t *testing.T) {
	at := tuesday(10, 15)
	c, _ := newCity(t, at)
	info := c.Info()
	statuses := map[string]permits.Status{}
	for _, s := range info.Statuses {
		statuses[s.Code] = s
		if s.NameZh == "" || s.NameEn == "" || s.Mapped == "" {
			t.Errorf("status %+v lacks names", s)
		}
	}
	types := map[string]permits.PermitType{}
	for _, pt := range info.Types {
		types[pt.Code] = pt
	}
	idRE := regexp.MustCompile(info.PermitIDPattern)
	ps := c.PermitsAt(at)
	if len(ps) < 2000 {
		t.Fatalf("%d permits in the register, want ≥ 2000", len(ps))
	}
	seen := map[string]bool{}
	byStatus := map[string]int{}
	for _, p := range ps {
		byStatus[p.StatusCurrent]++
		switch {
		case seen[p.PermitNum] || !idRE.MatchString(p.PermitNum):
			t.Errorf("bad or duplicate permit number %q", p.PermitNum)
		case p.Description == "" || p.DescriptionZh == "" || p.OriginalAddress1 == "" || p.AddressZh == "" || p.District == "":
			t.Errorf("%s lacks names: %+v", p.PermitNum, p)
		case types[p.PermitType].Code == "":
			t.Errorf("%s: unknown type %q", p.PermitNum, p.PermitType)
		case statuses[p.StatusCurrent].Mapped != p.StatusCurrentMapped:
			t.Errorf("%s: status %s mapped to %q", p.PermitNum, p.StatusCurrent, p.StatusCurrentMapped)
		case p.AppliedDate.After(at) || p.StatusDate.After(at) || p.StatusDate.Before(p.AppliedDate):
			t.Errorf("%s: applied %s, status date %s, now %s", p.PermitNum, p.AppliedDate, p.StatusDate, at)
		case p.IssuedDate != nil && (p.IssuedDate.Before(p.AppliedDate) || p.IssuedDate.After(at)):
			t.Errorf("%s: issued %s", p.PermitNum, p.IssuedDate)
		case p.History != nil || p.Inspections != nil:
			t.Errorf("%s: a register listing carries history", p.PermitNum)
		}
		seen[p.PermitNum] = true
		if p.PermitType == democity.PermitOccupation && p.Fee <= 0 {
			t.Errorf("%s: road occupation without a fee", p.PermitNum)
		}
	}
	for _, code := range []string{democity.StatusUnderReview, democity.StatusIssued, democity.StatusUnderway, democity.StatusCompleted, democity.StatusRefused} {
		if byStatus[code] == 0 {
			t.Errorf("no permit with status %s: %v", code, byStatus)
		}
	}

	// A permit's detail: history oldest first, from receipt to its status now.
	for _, p := range ps[len(ps)-200:] {
		d, err := c.PermitAt(p.PermitNum, at)
		if err != nil {
			t.Fatal(err)
		}
		h := d.History
		if len(h) == 0 || h[0].Status != democity.StatusReceived || h[len(h)-1].Status != d.StatusCurrent ||
			!slices.IsSortedFunc(h, func(a, b permits.StatusChange) int { return a.At.Compare(b.At) }) {
			t.Fatalf("%s history %+v", p.PermitNum, h)
		}
		for _, in := range d.Inspections {
			if (in.Status == permits.InspectionDone) != !in.ScheduledAt.After(at) || (in.Status == permits.InspectionDone && in.Result == "") {
				t.Errorf("%s inspection %+v at %s", p.PermitNum, in, at)
			}
		}
	}
}

func TestPermitsDeterministicAndMoving(t *testing.T) {
	at := tuesday(10, 15)
	a := democity.New(7, func() time.Time { return at }).PermitsAt(at)
	b := democity.New(7, func() time.Time { return at }).PermitsAt(at)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different registers")
	}
	if o := democity.New(8, func() time.Time { return at }).PermitsAt(at); reflect.DeepEqual(a, o) {
		t.Error("different seeds gave the same register")
	}

	// Thirty days on, new applications arrive and open ones move on.
	c, _ := newCity(t, at)
	later := at.AddDate(0, 0, 30)
	now := map[string]permits.Permit{}
	for _, p := range c.PermitsAt(at) {
		now[p.PermitNum] = p
	}
	moved, added := 0, 0
	for _, p := range c.PermitsAt(later) {
		was, ok := now[p.PermitNum]
		switch {
		case !ok:
			added++
		case was.StatusCurrent != p.StatusCurrent:
			moved++
		}
	}
	if added < 100 || moved < 20 {
		t.Errorf("30 days later: %d new permits, %d changed status", added, moved)
	}
}

func TestPermitSearch(t *testing.T) {
	at := tuesday(10, 15)
	c, _ := newCity(t, at)
	all := c.PermitsAt(at)
	ctx := context.Background()
	cases := map[string]struct {
		q    permits.Query
		keep func(p permits.Permit) bool
	}{
		"district and type": {permits.Query{District: "dongcheng", PermitType: democity.PermitOccupation},
			func(p permits.Permit) bool {
				return p.District == "dongcheng" && p.PermitType == democity.PermitOccupation
			}},
		"status": {permits.Query{Status: democity.StatusUnderReview},
			func(p permits.Permit) bool { return p.StatusCurrent == democity.StatusUnderReview }},
		"open": {permits.Query{Open: true}, func(p permits.Permit) bool {
			return slices.Contains([]string{democity.StatusReceived, democity.StatusUnderReview, democity.StatusDocsRequired, democity.StatusApproved}, p.StatusCurrent)
		}},
		"text": {permits.Query{Text: "renmin road"}, func(p permits.Permit) bool {
			return strings.Contains(strings.ToLower(p.OriginalAddress1+" "+p.Description), "renmin road")
		}},
		"issued last 30 days": {permits.Query{IssuedFrom: at.AddDate(0, 0, -30), IssuedTo: at},
			func(p permits.Permit) bool { return p.IssuedDate != nil && !p.IssuedDate.Before(at.AddDate(0, 0, -30)) }},
		"applied since": {permits.Query{AppliedFrom: at.AddDate(0, 0, -7)},
			func(p permits.Permit) bool { return !p.AppliedDate.Before(at.AddDate(0, 0, -7)) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want []string
			for _, p := range all {
				if tc.keep(p) {
					want = append(want, p.PermitNum)
				}
			}
			tc.q.AsOf, tc.q.Limit = at, 100000
			page, err := c.Search(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range page.Permits {
				got = append(got, p.PermitNum)
			}
			slices.Sort(want)
			slices.Sort(got)
			if page.Total != len(want) || !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("total %d, %d permits; brute force %d", page.Total, len(got), len(want))
			}
		})
	}
	// Paging and order: newest applications first, pages join up.
	p1, _ := c.Search(ctx, permits.Query{AsOf: at, Limit: 10})
	p2, _ := c.Search(ctx, permits.Query{AsOf: at, Limit: 10, Offset: 10})
	joined := append(p1.Permits, p2.Permits...)
	if len(joined) != 20 || !slices.IsSortedFunc(joined, func(a, b permits.Permit) int { return b.AppliedDate.Compare(a.AppliedDate) }) {
		t.Error("pages are not newest first")
	}
}

func TestPermitNotFound(t *testing.T) {
	at := tuesday(10, 15)
	c, _ := newCity(t, at)
	future := fmt.Sprintf("BP-%s-01", at.AddDate(0, 0, 7).Format("20060102"))
	for _, id := range []string{"BP-20250603-99", "BP-2025", "nope", future, "BP-20200106-01"} {
		if _, err := c.Permit(context.Background(), id); !errors.Is(err, permits.ErrNotFound) {
			t.Errorf("Permit(%s): %v", id, err)
		}
	}
}

// issuedPermit finds a permit under works at the clock's time.
func issuedPermit(t *testing.T, c *democity.City, at time.Time) permits.Permit {
	t.Helper()
	page, err := c.Search(context.Background(), permits.Query{AsOf: at, Status: democity.StatusUnderway, PermitType: democity.PermitBuilding, Limit: 1})
	if err != nil || len(page.Permits) == 0 {
		t.Fatalf("no building permit under works: %v", err)
	}
	return page.Permits[0]
}

func TestScheduleInspection(t *testing.T) {
	at := tuesday(10, 15)
	c, clk := newCity(t, at)
	p := issuedPermit(t, c, at)
	when := time.Date(2025, 6, 5, 14, 0, 0, 0, cst) // Thursday
	before := c.InspectionsBetween(at, at.AddDate(0, 0, 7), at)
	in, err := c.ScheduleInspection(p.PermitNum, when, democity.InspectComplaint)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != permits.InspectionScheduled || !in.ScheduledAt.Equal(when) || in.PermitNum != p.PermitNum || in.ScheduledBy != "operator" {
		t.Errorf("booked %+v", in)
	}
	after := c.InspectionsBetween(at, at.AddDate(0, 0, 7), at)
	if len(after) != len(before)+1 || !slices.ContainsFunc(after, func(x permits.Inspection) bool { return x.ID == in.ID }) {
		t.Errorf("inspections due %d → %d, booked one missing", len(before), len(after))
	}
	d, _ := c.PermitAt(p.PermitNum, at)
	if !slices.ContainsFunc(d.History, func(h permits.StatusChange) bool { return strings.Contains(h.Note, in.ID) }) {
		t.Errorf("history lacks the booking: %+v", d.History)
	}
	// After its time it is done, awaiting its record.
	clk.Set(when.Add(time.Hour))
	d, _ = c.PermitAt(p.PermitNum, when.Add(time.Hour))
	i := slices.IndexFunc(d.Inspections, func(x permits.Inspection) bool { return x.ID == in.ID })
	if i < 0 || d.Inspections[i].Status != permits.InspectionDone {
		t.Errorf("booked inspection after its time: %+v", d.Inspections)
	}
	clk.Set(at)

	refused := c.PermitsAt(at)
	var refusedID string
	for _, x := range refused {
		if x.StatusCurrent == democity.StatusRefused {
			refusedID = x.PermitNum
		}
	}
	for name, tc := range map[string]struct {
		id   string
		when time.Time
		kind string
		want error
	}{
		"unknown permit": {"BP-20250603-99", when, democity.InspectRoutine, permits.ErrNotFound},
		"unknown kind":   {p.PermitNum, when, "vibes", democity.ErrInvalidRequest},
		"in the past":    {p.PermitNum, at.Add(-time.Hour), democity.InspectRoutine, democity.ErrInvalidRequest},
		"on a Sunday":    {p.PermitNum, time.Date(2025, 6, 8, 10, 0, 0, 0, cst), democity.InspectRoutine, democity.ErrInvalidRequest},
		"at night":       {p.PermitNum, time.Date(2025, 6, 5, 22, 0, 0, 0, cst), democity.InspectRoutine, democity.ErrInvalidRequest},
		"too far":        {p.PermitNum, at.AddDate(0, 4, 0), democity.InspectRoutine, democity.ErrInvalidRequest},
		"refused permit": {refusedID, when, democity.InspectRoutine, democity.ErrInvalidRequest},
	} {
		if _, err := c.ScheduleInspection(tc.id, tc.when, tc.kind); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestFlagPermitForReview(t *testing.T) {
	at := tuesday(10, 15)
	c, _ := newCity(t, at)
	p := c.PermitsAt(at)[100]
	flagged, err := c.FlagPermitForReview(p.PermitNum, "fee below the published rate 收费低于标准")
	if err != nil {
		t.Fatal(err)
	}
	if !flagged.Flagged || flagged.FlagReason == "" || !strings.Contains(flagged.History[len(flagged.History)-1].Note, "flagged for review") {
		t.Errorf("flagged permit %+v", flagged)
	}
	page, _ := c.Search(context.Background(), permits.Query{AsOf: at, Flagged: true})
	if page.Total != 1 || page.Permits[0].PermitNum != p.PermitNum {
		t.Errorf("flagged search: %+v", page)
	}
	if _, err := c.FlagPermitForReview(p.PermitNum, "  "); !errors.Is(err, democity.ErrInvalidRequest) {
		t.Errorf("empty reason: %v", err)
	}
	if _, err := c.FlagPermitForReview("BP-19990101-01", "x"); !errors.Is(err, permits.ErrNotFound) {
		t.Errorf("unknown permit: %v", err)
	}
}
