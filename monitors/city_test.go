package monitors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/monitors"
	"github.com/cityagent/cityagent/server"
	"github.com/cityagent/cityagent/store"
)

// apiRig is the HTTP API over a real listener with keys of several roles.
type apiRig struct {
	base string
	keys map[string]string // name → secret
}

func startAPI(t *testing.T, db *store.DB, svc *monitors.Service, now func() time.Time) *apiRig {
	t.Helper()
	ctx := context.Background()
	rig := &apiRig{keys: map[string]string{}}
	for name, kr := range map[string]server.KeyRequest{
		"operator":        {Name: "op", Role: "operator", Clearance: "internal"},
		"public-operator": {Name: "pub", Role: "operator", Clearance: "public"},
		"supervisor":      {Name: "sup", Role: "supervisor", Clearance: "internal"},
		"hotline":         {Name: "hot", Role: "hotline", Clearance: "internal"},
	} {
		_, secret, err := server.IssueKey(ctx, db, kr, "test", now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		rig.keys[name] = secret
	}
	srv := server.New(server.Deps{Keys: db, Sessions: db, Monitors: svc, Now: now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, server.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	rig.base = "http://" + ln.Addr().String()
	return rig
}

func (r *apiRig) do(t *testing.T, key, method, path, body string) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.keys[key])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

type alertList struct {
	Alerts     []store.Alert `json:"alerts"`
	NextBefore string        `json:"next_before"`
}

// The shipped corridor-congestion monitor on the demo city: quiet at 06:00;
// from 07:20 (an incident on Heping Road) it holds for ten minutes and
// fires; the traffic agent proposes a retiming that waits for a person; a
// supervisor acknowledges; from 10:50 the road is clear and the alert
// resolves five minutes later. Every step is visible in the API and audited.
func TestCorridorCongestionOnTheDemoCity(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	day := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, cst) }
	f := newCityFixture(t, db, day(6, 0))
	shipped, err := monitors.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	corridor, err := shipped.Get("corridor-congestion")
	if err != nil {
		t.Fatal(err)
	}
	cat := mustCatalog(t, corridor)
	sched := f.scheduler(cat, "replica-a")
	svc := &monitors.Service{Catalog: cat, Store: db, Now: f.clk.Now}
	api := startAPI(t, db, svc, f.clk.Now)

	if got := sched.RunDue(ctx); len(got) != 1 {
		t.Fatalf("06:00: ticked %v", got)
	}
	if n := len(alerts(t, db, "corridor-congestion")); n != 0 {
		t.Fatalf("06:00: %d alerts on a quiet network", n)
	}
	for m := 20; m <= 30; m++ {
		f.clk.Set(day(7, m))
		sched.RunDue(ctx)
		firing := alerts(t, db, "corridor-congestion")
		if m < 30 && len(firing) != 0 {
			t.Fatalf("07:%d: fired before the 10 minutes of for: %+v", m, firing)
		}
	}
	// At most three agent turns follow a tick; the rest of the alerts that
	// fired together get theirs at the next ticks, and a proposal the agent
	// did not make is retried after 1 and 2 more periods (3 attempts), then
	// failed. Within a quarter of an hour no alert still waits.
	for m := 31; m <= 45; m++ {
		f.clk.Set(day(7, m))
		sched.RunDue(ctx)
		waiting := 0
		for _, a := range alerts(t, db, "corridor-congestion") {
			if a.ProposalState == monitors.ProposalPending {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
	}
	var heping store.Alert
	for _, a := range alerts(t, db, "corridor-congestion") {
		if a.ProposalState == monitors.ProposalPending {
			t.Errorf("alert %s (%s) still waits for its proposal", a.ID, a.Subject)
		}
		if a.Subject == "heping" {
			heping = a
		}
	}
	if heping.ID == "" || !heping.StartedAt.Equal(day(7, 20)) || !heping.FiredAt.Equal(day(7, 30)) || heping.Value <= 2 {
		t.Fatalf("want heping fired at 07:30 after holding from 07:20: %+v", heping)
	}
	if heping.Source != "democity:traffic" || heping.AsOf.IsZero() {
		t.Errorf("citation %q %s", heping.Source, heping.AsOf)
	}

	// The proposal waits for a person, with the alert as its first evidence.
	if heping.ProposalState != monitors.ProposalCreated || heping.ProposalID == "" {
		t.Fatalf("proposal state %q (%s), id %q", heping.ProposalState, heping.ProposalError, heping.ProposalID)
	}
	p, err := f.actions.Get(ctx, heping.ProposalID, access.Principal{KeyID: "k", Role: access.RoleSupervisor, Clearance: access.Restricted})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != actions.StatusProposed || p.Action != "traffic.retime_signal" || len(p.Evidence) == 0 ||
		p.Evidence[0].Kind != "alert" || p.Evidence[0].Ref != heping.ID {
		t.Fatalf("proposal %+v", p)
	}
	if !strings.Contains(string(p.Arguments), "heping") {
		t.Errorf("proposal arguments %s do not name the corridor", p.Arguments)
	}

	// The API: listed for an internal operator, invisible below its clearance.
	code, ctype, raw := api.do(t, "operator", "GET", "/v1/alerts?status=firing&monitor=corridor-congestion", "")
	list := decode[alertList](t, raw)
	if code != 200 || !strings.HasPrefix(ctype, "application/json") || !slices.ContainsFunc(list.Alerts, func(a store.Alert) bool { return a.ID == heping.ID }) {
		t.Fatalf("GET /v1/alerts: %d %s %s", code, ctype, raw)
	}
	if code, _, raw := api.do(t, "public-operator", "GET", "/v1/alerts", ""); code != 200 || len(decode[alertList](t, raw).Alerts) != 0 {
		t.Fatalf("a public key sees internal alerts: %d %s", code, raw)
	}
	if code, ctype, _ := api.do(t, "public-operator", "GET", "/v1/alerts/"+heping.ID, ""); code != 404 || ctype != "application/problem+json" {
		t.Fatalf("GET an invisible alert: %d %s", code, ctype)
	}

	// Acknowledge: supervisor only, once.
	if code, ctype, _ := api.do(t, "operator", "POST", "/v1/alerts/"+heping.ID+"/ack", ""); code != 403 || ctype != "application/problem+json" {
		t.Fatalf("operator ack: %d %s", code, ctype)
	}
	code, _, raw = api.do(t, "supervisor", "POST", "/v1/alerts/"+heping.ID+"/ack", `{"comment":"crew on site"}`)
	acked := decode[store.Alert](t, raw)
	if code != 200 || acked.Status != store.AlertAcknowledged || acked.AckComment != "crew on site" || acked.AcknowledgedAt == nil {
		t.Fatalf("ack: %d %s", code, raw)
	}
	if code, ctype, raw := api.do(t, "supervisor", "POST", "/v1/alerts/"+heping.ID+"/ack", ""); code != 409 || ctype != "application/problem+json" {
		t.Fatalf("second ack: %d %s %s", code, ctype, raw)
	}

	// The road clears at 10:50; five minutes of clear resolve the alert.
	for m := 50; m <= 55; m++ {
		f.clk.Set(day(10, m))
		sched.RunDue(ctx)
		got, err := db.GetAlert(ctx, heping.ID)
		if err != nil {
			t.Fatal(err)
		}
		if resolved := got.Status == store.AlertResolved; resolved != (m == 55) {
			t.Fatalf("10:%d: status %s", m, got.Status)
		}
	}
	code, _, raw = api.do(t, "operator", "GET", "/v1/alerts/"+heping.ID, "")
	final := decode[store.Alert](t, raw)
	if code != 200 || final.Status != store.AlertResolved || final.ResolvedAt == nil || !final.ResolvedAt.Equal(day(10, 55)) {
		t.Fatalf("resolved alert: %d %s", code, raw)
	}
	recs, err := db.ListAudit(ctx, store.AuditFilter{Subject: heping.ID, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
		var payload map[string]any
		if err := json.Unmarshal(r.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"alert_id", "monitor", "subject", "severity", "value", "title", "title_zh"} {
			if _, ok := payload[k]; !ok {
				t.Errorf("%s payload lacks %s: %s", r.Kind, k, r.Payload)
			}
		}
	}
	if want := []string{"alert.fire", "alert.acknowledge", "alert.resolve"}; !slices.Equal(kinds, want) {
		t.Errorf("audit of %s: %v, want %v", heping.ID, kinds, want)
	}
}

// GET /v1/monitors and /v1/vital-signs: state, next run and the trend of the
// last hour; bad queries are problems.
func TestMonitorsAndVitalSignsRoutes(t *testing.T) {
	r := newGaugeRig(t, "unit: kW\namber: \"> 8\"\n")
	svc := &monitors.Service{Catalog: mustCatalog(t, gaugeMonitor(t, "unit: kW\namber: \"> 8\"\n")), Store: r.db, Now: r.clk.Now}
	api := startAPI(t, r.db, svc, r.clk.Now)

	code, _, raw := api.do(t, "operator", "GET", "/v1/vital-signs", "")
	type signs struct {
		Indicators []monitors.VitalSign `json:"indicators"`
	}
	if s := decode[signs](t, raw); code != 200 || len(s.Indicators) != 1 || s.Indicators[0].Status != monitors.StatusUnknown {
		t.Fatalf("before any tick: %d %s", code, raw)
	}
	for i, v := range []float64{5, 7, 9} {
		r.g.set("a", v)
		r.step(i * 20)
	}
	code, _, raw = api.do(t, "operator", "GET", "/v1/vital-signs", "")
	s := decode[signs](t, raw)
	if code != 200 || len(s.Indicators) != 1 {
		t.Fatalf("vital signs: %d %s", code, raw)
	}
	vs := s.Indicators[0]
	if vs.Status != monitors.StatusAmber || vs.Value == nil || *vs.Value != 9 || vs.Unit != "kW" || vs.Trend.Direction != "rising" ||
		vs.Trend.Change == nil || *vs.Trend.Change != 4 || len(vs.Trend.Points) != 3 {
		t.Fatalf("amber, 9 kW, rising by 4 over 3 points: %s", raw)
	}
	r.g.set("a", 12)
	r.step(60) // the window is the last hour, both ends included
	_, _, raw = api.do(t, "operator", "GET", "/v1/vital-signs", "")
	vs = decode[signs](t, raw).Indicators[0]
	if vs.Status != monitors.StatusRed || vs.OpenAlerts != 1 || len(vs.Trend.Points) != 4 || *vs.Trend.Change != 7 {
		t.Fatalf("red with an open alert, trend 5→12: %s", raw)
	}
	r.step(61) // the 5 kW sample is now older than an hour
	_, _, raw = api.do(t, "operator", "GET", "/v1/vital-signs", "")
	vs = decode[signs](t, raw).Indicators[0]
	if len(vs.Trend.Points) != 4 || *vs.Trend.Change != 5 {
		t.Fatalf("trend 7→12 over the last hour: %s", raw)
	}

	code, _, raw = api.do(t, "operator", "GET", "/v1/monitors", "")
	type mons struct {
		Monitors []monitors.MonitorView `json:"monitors"`
	}
	ms := decode[mons](t, raw).Monitors
	if code != 200 || len(ms) != 1 || ms[0].Ticks != 5 || ms[0].LastTick == nil || !ms[0].LastTick.Equal(r.start.Add(61*time.Minute)) ||
		ms[0].NextRun == nil || !ms[0].NextRun.Equal(r.start.Add(62*time.Minute)) || ms[0].State != monitors.StatusRed {
		t.Fatalf("monitors: %d %s", code, raw)
	}
	if code, _, _ := api.do(t, "hotline", "GET", "/v1/monitors", ""); code != 403 {
		t.Errorf("hotline key reads monitors: %d", code)
	}
	for _, q := range []string{"status=loud", "severity=meh", "limit=0", "limit=x", "before=alrt_nope"} {
		code, ctype, raw := api.do(t, "operator", "GET", "/v1/alerts?"+q, "")
		if code != 400 && code != 404 || ctype != "application/problem+json" {
			t.Errorf("?%s: %d %s %s", q, code, ctype, raw)
		}
	}
	if code, ctype, _ := api.do(t, "supervisor", "POST", "/v1/alerts/alrt_nope/ack", ""); code != 404 || ctype != "application/problem+json" {
		t.Errorf("ack unknown: %d %s", code, ctype)
	}
	if code, _, _ := api.do(t, "supervisor", "POST", "/v1/alerts/x/ack", `{"comment":`); code != 400 {
		t.Errorf("ack with broken JSON: %d", code)
	}
}

// Paging: limit and next_before walk every alert once, newest first.
func TestAlertPaging(t *testing.T) {
	r := newGaugeRig(t, "")
	svc := &monitors.Service{Catalog: mustCatalog(t, gaugeMonitor(t, "")), Store: r.db, Now: r.clk.Now}
	api := startAPI(t, r.db, svc, r.clk.Now)
	for i := 0; i < 5; i++ {
		r.g.set(fmt.Sprintf("s%d", i), 11)
		r.step(i)
	}
	var seen []string
	path := "/v1/alerts?limit=2"
	for range 4 {
		code, _, raw := api.do(t, "operator", "GET", path, "")
		page := decode[alertList](t, raw)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		for _, a := range page.Alerts {
			seen = append(seen, a.Subject)
		}
		if page.NextBefore == "" {
			break
		}
		path = "/v1/alerts?limit=2&before=" + page.NextBefore
	}
	if want := []string{"s4", "s3", "s2", "s1", "s0"}; !slices.Equal(seen, want) {
		t.Errorf("pages %v, want %v", seen, want)
	}
}
