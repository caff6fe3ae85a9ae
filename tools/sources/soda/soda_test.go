package soda_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/soda"
	"github.com/cityagent/cityagent/tools/sources/soda/sodatest"
)

var cst = time.FixedZone("CST", 8*60*60)

var now = time.Date(2025, 6, 3, 10, 15, 0, 0, cst)

func setup(t *testing.T) (*democity.City, *sodatest.Server, *soda.Source) {
	t.Helper()
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	srv := sodatest.New(t, city, "app-token-123")
	src, err := soda.New(context.Background(), soda.Config{URL: srv.URL, AppToken: "app-token-123", Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	return city, srv, src
}

func TestDiscovery(t *testing.T) {
	_, srv, src := setup(t)
	info := src.Info()
	if len(info.Types) != 5 || len(info.Statuses) != 10 || len(info.Districts) != 6 || !strings.HasPrefix(info.Source, "soda:127.0.0.1:") {
		t.Fatalf("info %+v", info)
	}
	for _, st := range info.Statuses {
		if st.Mapped == "" {
			t.Errorf("status %q not mapped to BLDS", st.Code)
		}
	}
	for _, tok := range srv.Tokens() {
		if tok != "app-token-123" {
			t.Errorf("X-App-Token %q", tok)
		}
	}
	for _, q := range srv.Queries() {
		v, _ := url.ParseQuery(q)
		if v.Get("$group") == "" || !strings.HasSuffix(v.Get("$select"), "count(*) AS n") {
			t.Errorf("discovery query %q", q)
		}
	}
}

func call(t *testing.T, tl tools.Tool, args string, out any) {
	t.Helper()
	res, err := tl.Call(context.Background(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s %s: %v", tl.Spec().Name, args, err)
	}
	if err := json.Unmarshal(res.Content, out); err != nil {
		t.Fatal(err)
	}
}

func TestPermitToolsOverSODA(t *testing.T) {
	city, srv, src := setup(t)
	clock := func() time.Time { return now }
	ts := map[string]tools.Tool{}
	for _, tl := range permits.Tools(src, clock) {
		ts[tl.Spec().Name] = tl
	}
	if len(ts) != 3 {
		t.Fatalf("%d tools over SODA", len(ts))
	}
	var got permits.SearchResult
	call(t, ts[permits.NameSearch], `{"district":"dongcheng","status":"UNDER REVIEW","limit":3}`, &got)
	want, _ := city.Search(context.Background(), permits.Query{AsOf: now, District: "dongcheng", Status: democity.StatusUnderReview, Limit: 3})
	if got.Total != want.Total || want.Total == 0 || got.Permits[0].PermitNum != want.Permits[0].PermitNum {
		t.Errorf("search total %d first %+v; city %d %s", got.Total, got.Permits, want.Total, want.Permits[0].PermitNum)
	}
	var last url.Values
	for _, q := range srv.Queries() {
		v, _ := url.ParseQuery(q)
		if v.Get("$limit") == "3" {
			last = v
		}
	}
	if last.Get("$where") != "community_area = 'dongcheng' AND permit_status = 'UNDER REVIEW'" || last.Get("$order") != "application_start_date DESC, permit_ DESC" || last.Get("$offset") != "0" {
		t.Errorf("SoQL sent: %v", last)
	}

	var detail permits.DetailResult
	call(t, ts[permits.NameDetail], fmt.Sprintf(`{"permit_id":%q}`, want.Permits[0].PermitNum), &detail)
	if detail.Permit.Description != want.Permits[0].Description || detail.Permit.StatusCurrentMapped != permits.MappedInReview || detail.Permit.Fee != want.Permits[0].Fee {
		t.Errorf("detail %+v", detail.Permit)
	}

	var proc permits.ProcessingResult
	call(t, ts[permits.NameProcessingTimes], `{"days":90}`, &proc)
	from := now.AddDate(0, 0, -90)
	var days []float64
	for _, p := range city.PermitsAt(now) {
		if p.IssuedDate != nil && !p.IssuedDate.Before(from) {
			days = append(days, float64(permits.WorkingDaysBetween(p.AppliedDate, *p.IssuedDate, cst)))
		}
	}
	slices.Sort(days)
	mean := 0.0
	for _, d := range days {
		mean += d
	}
	mean /= float64(len(days))
	if proc.Overall.Count != len(days) || math.Abs(proc.Overall.MeanDays-mean) > 0.051 || proc.Overall.MaxDays != days[len(days)-1] {
		t.Errorf("processing over SODA %+v; city %d permits, mean %.2f", proc.Overall, len(days), mean)
	}

	// Text search goes out as $q.
	var text permits.SearchResult
	call(t, ts[permits.NameSearch], `{"q":"Renmin Road","applied_within_days":30}`, &text)
	if text.Total == 0 {
		t.Error("no permit on Renmin Road in 30 days")
	}
}

func TestFaults(t *testing.T) {
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	srv := sodatest.New(t, city, "right")
	if _, err := soda.New(context.Background(), soda.Config{URL: srv.URL, AppToken: "wrong", Location: cst}); !errors.Is(err, soda.ErrDataset) || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrong token: %v", err)
	}
	bad := soda.ChicagoMapping()
	bad["District"] = "ward_name"
	if _, err := soda.New(context.Background(), soda.Config{URL: srv.URL, AppToken: "right", Mapping: bad}); !errors.Is(err, soda.ErrDataset) || !strings.Contains(err.Error(), "no such column") {
		t.Errorf("unknown column: %v", err)
	}
	for name, cfg := range map[string]soda.Config{
		"not a resource URL": {URL: "http://127.0.0.1:1/data.json"},
		"unknown BLDS field": {URL: srv.URL, Mapping: map[string]string{"PermitNum": "permit_", "AppliedDate": "x", "Colour": "c"}},
		"no permit number":   {URL: srv.URL, Mapping: map[string]string{"AppliedDate": "x"}},
	} {
		if _, err := soda.New(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A dataset that went away.
	src, err := soda.New(context.Background(), soda.Config{URL: srv.URL, AppToken: "right", Location: cst})
	if err != nil {
		t.Fatal(err)
	}
	down := soda.Config{URL: "http://127.0.0.1:1" + sodatest.Path}
	if _, err := soda.New(context.Background(), down); !errors.Is(err, soda.ErrDataset) {
		t.Errorf("unreachable dataset: %v", err)
	}
	if _, err := src.Permit(context.Background(), "BP-19990101-01"); !errors.Is(err, permits.ErrNotFound) {
		t.Errorf("unknown permit: %v", err)
	}
}
