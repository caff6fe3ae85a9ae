package permits_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/permits/permitstest"
)

var cst = time.FixedZone("CST", 8*60*60)

// now is a Tuesday morning.
var now = time.Date(2025, 6, 3, 10, 15, 0, 0, cst)

func fixture(t *testing.T) (*democity.City, map[string]tools.Tool) {
	t.Helper()
	clock := func() time.Time { return now }
	c := democity.New(democity.DefaultSeed, clock)
	return c, citytooltest.ByName(permits.Tools(c, clock))
}

// call runs a tool, checks its citation and common fields and decodes the result.
func call(t *testing.T, tl tools.Tool, args string, out any) {
	t.Helper()
	citytooltest.Call(t, tl, args, democity.PermitsSourceName, now, out)
}

func TestSpecs(t *testing.T) {
	_, ts := fixture(t)
	citytooltest.CheckSpecs(t, ts, democity.PermitsSourceName, map[string]citytooltest.SpecWant{
		permits.NameSearch:          {Clearance: access.Public, Keywords: []string{"permit", "under review", "how many", "审查中", "多少件"}},
		permits.NameDetail:          {Clearance: access.Public, Keywords: []string{"permit number", "history", "许可证号", "办理进度"}},
		permits.NameProcessingTimes: {Clearance: access.Public, Keywords: []string{"processing time", "limit", "平均办理时长", "超期"}},
		permits.NameInspectionsDue:  {Clearance: access.Internal, Keywords: []string{"inspection", "检查", "复查"}},
	})

	schema := citytooltest.SchemaOf(t, ts[permits.NameSearch])
	if p := schema.Properties["permit_type"]; len(p.Enum) != 5 || !strings.Contains(p.Description, "road_occupation = 临时占用道路许可 Road occupation permit") {
		t.Errorf("permit_type %+v", p)
	}
	if p := schema.Properties["status"]; len(p.Enum) != 10 || !strings.Contains(p.Description, "under_review = 审查中 under review") {
		t.Errorf("status %+v", p)
	}
	schema = citytooltest.SchemaOf(t, ts[permits.NameDetail])
	if p := schema.Properties["permit_id"]; p.Pattern != `^BP-\d{8}-\d{2}$` || !slices.Equal(schema.Required, []string{"permit_id"}) {
		t.Errorf("permit_id %+v required %v", p, schema.Required)
	}
}

func TestSearch(t *testing.T) {
	c, ts := fixture(t)
	cases := map[string]struct {
		args string
		q    permits.Query
	}{
		"two years":            {`{"applied_within_days":730}`, permits.Query{AppliedFrom: now.AddDate(0, 0, -730)}},
		"occupation dongcheng": {`{"district":"dongcheng","permit_type":"road_occupation","limit":3}`, permits.Query{District: "dongcheng", PermitType: "road_occupation"}},
		"under review":         {`{"status":"under_review","limit":20}`, permits.Query{Status: "under_review"}},
		"recent text":          {`{"q":"Renmin Road","applied_within_days":60}`, permits.Query{Text: "Renmin Road", AppliedFrom: now.AddDate(0, 0, -60)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got permits.SearchResult
			call(t, ts[permits.NameSearch], tc.args, &got)
			tc.q.AsOf, tc.q.Limit = now, 20
			want, err := c.Search(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != want.Total || want.Total == 0 {
				t.Fatalf("total %d, simulator %d", got.Total, want.Total)
			}
			for i, row := range got.Permits {
				w := want.Permits[i]
				if row.PermitNum != w.PermitNum || row.Status != w.StatusCurrent || row.Fee != w.Fee || row.AddressZh != w.AddressZh {
					t.Errorf("row %d %+v, simulator %+v", i, row, w)
				}
			}
			if !strings.Contains(got.Summary, fmt.Sprint(want.Total)) || !strings.Contains(got.SummaryZh, fmt.Sprintf("共%d件", want.Total)) ||
				!strings.Contains(got.Summary, want.Permits[0].PermitNum) {
				t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
			}
		})
	}
}

func TestDetail(t *testing.T) {
	c, ts := fixture(t)
	// A road occupation permit with a fee, issued, with inspections.
	page, _ := c.Search(context.Background(), permits.Query{AsOf: now, PermitType: democity.PermitOccupation, Status: democity.StatusUnderway, Limit: 1})
	id := page.Permits[0].PermitNum
	var got permits.DetailResult
	call(t, ts[permits.NameDetail], fmt.Sprintf(`{"permit_id":%q}`, id), &got)
	want, _ := c.PermitAt(id, now)
	if got.Permit.PermitNum != id || got.Permit.StatusCurrent != want.StatusCurrent || len(got.Permit.History) != len(want.History) ||
		len(got.Permit.Inspections) != len(want.Inspections) || got.Permit.Fee != want.Fee {
		t.Errorf("detail %+v\nsimulator %+v", got.Permit, want)
	}
	wd := permits.WorkingDaysBetween(want.AppliedDate, *want.IssuedDate, cst)
	if want.ProcessingDays != nil {
		wd = int(*want.ProcessingDays)
	}
	if got.TimeLimitDays != 5 || got.WorkingDays != wd || got.WithinLimit == nil || *got.WithinLimit != (wd <= 5) {
		t.Errorf("working days %d (limit %d, within %v), want %d", got.WorkingDays, got.TimeLimitDays, got.WithinLimit, wd)
	}
	fee := strings.ReplaceAll(fmt.Sprintf("%.0f", want.Fee), "", "")
	if !strings.Contains(strings.ReplaceAll(got.Summary, ",", ""), "Fee "+fee+" yuan") || !strings.Contains(got.SummaryZh, "施工中") ||
		!strings.Contains(got.SummaryZh, "办理历史") {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}
	if _, err := ts[permits.NameDetail].Call(context.Background(), json.RawMessage(`{"permit_id":"BP-20250603-99"}`)); !errors.Is(err, tools.ErrInvalidArgs) {
		t.Errorf("unknown permit: %v", err)
	}
}

func TestProcessingTimes(t *testing.T) {
	c, ts := fixture(t)
	var got permits.ProcessingResult
	call(t, ts[permits.NameProcessingTimes], `{"days":90}`, &got)
	from := now.AddDate(0, 0, -90)
	byType := map[string][]float64{}
	var all []float64
	within, over := 0, 0
	limits := map[string]int{}
	for _, pt := range c.Info().Types {
		limits[pt.Code] = pt.TimeLimitDays
	}
	for _, p := range c.PermitsAt(now) {
		if p.IssuedDate == nil || p.IssuedDate.Before(from) {
			continue
		}
		d, _ := p.ProcessingTime(cst)
		byType[p.PermitType] = append(byType[p.PermitType], d)
		all = append(all, d)
		if d <= float64(limits[p.PermitType]) {
			within++
		} else {
			over++
		}
	}
	mean := 0.0
	for _, d := range all {
		mean += d
	}
	mean /= float64(len(all))
	o := got.Overall
	if o.Count != len(all) || math.Abs(o.MeanDays-mean) > 0.051 || o.WithinLimit != within || o.OverLimit != over || len(got.Groups) != 5 {
		t.Errorf("overall %+v; simulator %d permits, mean %.2f, %d within, %d over", o, len(all), mean, within, over)
	}
	for _, g := range got.Groups {
		ds := byType[g.Key]
		slices.Sort(ds)
		if g.Count != len(ds) || g.MaxDays != ds[len(ds)-1] || g.TimeLimitDays != limits[g.Key] {
			t.Errorf("group %+v, simulator %d permits, max %.0f", g, len(ds), ds[len(ds)-1])
		}
	}
	if !strings.Contains(got.Summary, fmt.Sprintf("%d issued, mean %.1f", o.Count, o.MeanDays)) || !strings.Contains(got.SummaryZh, fmt.Sprintf("发证%d件", o.Count)) {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}
	var byDistrict permits.ProcessingResult
	call(t, ts[permits.NameProcessingTimes], `{"permit_type":"building","group_by":"district","days":365}`, &byDistrict)
	if len(byDistrict.Groups) != 6 || byDistrict.Groups[0].Name == "" || byDistrict.Overall.TimeLimitDays != 7 {
		t.Errorf("by district: %+v", byDistrict)
	}
}

func TestInspectionsDue(t *testing.T) {
	c, ts := fixture(t)
	var got permits.InspectionsResult
	call(t, ts[permits.NameInspectionsDue], `{"days":7,"district":"gaoxin","limit":5}`, &got)
	var want []permits.Inspection
	for _, in := range c.InspectionsBetween(now, now.AddDate(0, 0, 7), now) {
		if in.District == "gaoxin" && in.Status == permits.InspectionScheduled {
			want = append(want, in)
		}
	}
	if got.Count != len(want) || len(want) == 0 || len(got.Inspections) != min(5, len(want)) {
		t.Fatalf("count %d, simulator %d", got.Count, len(want))
	}
	for i, row := range got.Inspections {
		if row.ID != want[i].ID || !row.ScheduledAt.Equal(want[i].ScheduledAt) || row.Address == "" || row.KindNameZh == "" {
			t.Errorf("row %d %+v, simulator %+v", i, row, want[i])
		}
	}
	if !strings.Contains(got.Summary, fmt.Sprintf("%d site inspections due in Gaoxin", len(want))) || !strings.Contains(got.SummaryZh, fmt.Sprintf("共有%d次", len(want))) {
		t.Errorf("summary:\n%s\n%s", got.Summary, got.SummaryZh)
	}

	// An approved booking shows up at once.
	page, _ := c.Search(context.Background(), permits.Query{AsOf: now, District: "gaoxin", Status: democity.StatusUnderway, Limit: 1})
	booked, err := c.ScheduleInspection(page.Permits[0].PermitNum, time.Date(2025, 6, 4, 9, 0, 0, 0, cst), democity.InspectComplaint)
	if err != nil {
		t.Fatal(err)
	}
	var after permits.InspectionsResult
	call(t, ts[permits.NameInspectionsDue], `{"days":7,"district":"gaoxin","kind":"complaint"}`, &after)
	if after.Count == 0 || !slices.ContainsFunc(after.Inspections, func(r permits.InspectionRow) bool { return r.ID == booked.ID }) {
		t.Errorf("booked inspection missing: %+v", after)
	}
}

func TestBadArguments(t *testing.T) {
	_, ts := fixture(t)
	cases := map[string]struct{ tool, args string }{
		"unknown district":   {permits.NameSearch, `{"district":"atlantis"}`},
		"unknown type":       {permits.NameSearch, `{"permit_type":"moat"}`},
		"unknown status":     {permits.NameSearch, `{"status":"lost"}`},
		"limit":              {permits.NameSearch, `{"limit":50}`},
		"unknown field":      {permits.NameSearch, `{"city":"x"}`},
		"days":               {permits.NameSearch, `{"applied_within_days":-1}`},
		"no filter":          {permits.NameSearch, `{"limit":3}`},
		"zero window":        {permits.NameProcessingTimes, `{"permit_type":"building","days":0}`},
		"detail no id":       {permits.NameDetail, `{}`},
		"detail bad pattern": {permits.NameDetail, `{"permit_id":"12345"}`},
		"processing days":    {permits.NameProcessingTimes, `{"days":1}`},
		"group by":           {permits.NameProcessingTimes, `{"group_by":"mood"}`},
		"inspection days":    {permits.NameInspectionsDue, `{"days":90}`},
		"inspection kind":    {permits.NameInspectionsDue, `{"kind":"surprise"}`},
		"risk class":         {permits.NameInspectionsDue, `{"risk_class":"D"}`},
	}
	for name, tc := range cases {
		_, err := ts[tc.tool].Call(context.Background(), json.RawMessage(tc.args))
		var ae *tools.ArgsError
		if !errors.As(err, &ae) || ae.Tool != tc.tool {
			t.Errorf("%s: %s %s: %v, want an ArgsError", name, tc.tool, tc.args, err)
		}
	}
}

func TestWorkingDays(t *testing.T) {
	tue := time.Date(2025, 6, 3, 16, 0, 0, 0, cst)
	for name, tc := range map[string]struct {
		b    time.Time
		want int
	}{
		"same day":      {tue.Add(time.Hour), 0},
		"thursday":      {tue.AddDate(0, 0, 2), 2},
		"next tuesday":  {tue.AddDate(0, 0, 7), 5},
		"saturday":      {tue.AddDate(0, 0, 4), 3},
		"before":        {tue.AddDate(0, 0, -3), 0},
		"two weeks":     {tue.AddDate(0, 0, 14), 10},
		"utc late hour": {time.Date(2025, 6, 3, 23, 0, 0, 0, time.UTC), 1}, // 07:00 Wednesday in CST
	} {
		if got := permits.WorkingDaysBetween(tue, tc.b, cst); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
	if got := permits.AddWorkingDays(time.Date(2025, 6, 6, 9, 0, 0, 0, cst), 1); got.Weekday() != time.Monday {
		t.Errorf("a working day after Friday is %s", got.Weekday())
	}
}

// registerOnly hides the city's inspections, as a plain SODA dataset would.
type registerOnly struct{ permits.Source }

func TestBareSource(t *testing.T) {
	c := democity.New(democity.DefaultSeed, func() time.Time { return now })
	ts := permits.Tools(registerOnly{c}, func() time.Time { return now })
	var names []string
	for _, tl := range ts {
		names = append(names, tl.Spec().Name)
	}
	if !slices.Equal(names, []string{permits.NameSearch, permits.NameDetail, permits.NameProcessingTimes}) {
		t.Errorf("bare source tools %v", names)
	}
}

func TestDemoCityConformance(t *testing.T) {
	c, _ := fixture(t)
	permitstest.TestSource(t, c, now)
}
