package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/reports"
	"github.com/cityagent/cityagent/store"
)

// reportEnv is a real server on loopback over a real store holding two
// chat turns and one alert, with keys of every role.
type reportEnv struct {
	base string
	db   *store.DB
	keys map[access.Role]string
	ids  map[access.Role]string
}

var reportNow = time.Date(2026, 11, 9, 12, 0, 0, 0, time.UTC)

func newReportEnv(t *testing.T) *reportEnv {
	t.Helper()
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	loc, _ := time.LoadLocation("Asia/Shanghai")
	e := &reportEnv{db: db, keys: map[access.Role]string{}, ids: map[access.Role]string{}}
	for _, r := range access.Roles {
		req := KeyRequest{Name: string(r), Role: string(r), Clearance: "internal"}
		if r == access.RoleDepartment {
			req.Department = "water"
		}
		k, secret, err := IssueKey(t.Context(), db, req, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.keys[r], e.ids[r] = secret, k.ID
	}
	at := reportNow.Add(-24 * time.Hour)
	_, err = db.AppendAudit(t.Context(),
		audit.Entry{Kind: audit.KindChatTurn, Subject: "s1", At: at, Payload: map[string]any{"agent": "traffic", "model": "stub", "degraded": false,
			"duration_ms": 40, "citations": 2, "tool_calls": 1, "tool_errors": 0, "answer_sha256": "x", "clearance": "internal"}},
		audit.Entry{Kind: audit.KindChatTurn, Subject: "s2", At: at.Add(time.Minute), Payload: map[string]any{"agent": "traffic", "model": "stub", "degraded": true,
			"duration_ms": 90, "citations": 0, "tool_calls": 1, "tool_errors": 1, "answer_sha256": "y", "clearance": "internal"}},
		audit.Entry{Kind: "alert.fire", Subject: "al1", At: at, Payload: map[string]any{"alert_id": "al1", "monitor": "district-load", "clearance": "internal"}},
		audit.Entry{Kind: "alert.acknowledge", Subject: "al1", At: at.Add(90 * time.Second), Payload: map[string]any{"alert_id": "al1", "monitor": "district-load"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &reports.Service{Store: db, Location: loc, Now: func() time.Time { return reportNow }}
	srv := New(Deps{Keys: db, Sessions: db, Audit: db, Reports: svc}, Options{})
	e.base = "http://" + serveLoopback(t, srv)
	return e
}

func (e *reportEnv) get(t *testing.T, query string, role access.Role, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/reports/operations"+query, nil)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[role])
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestOperationsReportRoles(t *testing.T) {
	t.Parallel()
	e := newReportEnv(t)
	allowed := []access.Role{access.RoleSupervisor, access.RoleAdmin, access.RoleDeveloper}
	for _, r := range access.Roles {
		resp, body := e.get(t, "", r, "")
		want := http.StatusForbidden
		if slices.Contains(allowed, r) {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d: %s", r, resp.StatusCode, want, body)
		}
		if want == http.StatusForbidden && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: refusal is %s", r, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := e.get(t, "", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: status %d", resp.StatusCode)
	}
}

func TestOperationsReportRanges(t *testing.T) {
	t.Parallel()
	e := newReportEnv(t)
	cases := map[string]struct {
		query          string
		status         int
		field          string // of the problem
		wantFrom, want string // of the report
	}{
		"default last 7 days": {query: "", status: 200, wantFrom: "2026-11-02T20:00:00+08:00", want: "2026-11-09T20:00:00+08:00"},
		"dates in the city's zone, to includes its day": {query: "?from=2026-11-02&to=2026-11-08", status: 200,
			wantFrom: "2026-11-02T00:00:00+08:00", want: "2026-11-09T00:00:00+08:00"},
		"rfc 3339":                  {query: "?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z", status: 200, wantFrom: "2026-11-01T08:00:00+08:00", want: "2026-11-02T08:00:00+08:00"},
		"only to":                   {query: "?to=2026-11-08", status: 200, wantFrom: "2026-11-02T00:00:00+08:00", want: "2026-11-09T00:00:00+08:00"},
		"garbage from":              {query: "?from=last-tuesday", status: 400, field: "from"},
		"garbage to":                {query: "?to=2026-13-01", status: 400, field: "to"},
		"from after to":             {query: "?from=2026-11-05&to=2026-11-01", status: 400, field: "from"},
		"empty range":               {query: "?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", status: 400, field: "from"},
		"longer than 366 days":      {query: "?from=2024-01-01&to=2026-01-01", status: 400, field: "to"},
		"to at the end of time":     {query: "?to=9999-12-31", status: 400, field: "to"},
		"both at the end of time":   {query: "?from=9999-12-30&to=9999-12-31", status: 400, field: "to"},
		"from at the end of time":   {query: "?from=9999-12-30", status: 400, field: "from"},
		"from before 2000":          {query: "?from=0001-01-01T00:00:00Z&to=2026-11-01", status: 400, field: "from"},
		"to more than a year ahead": {query: "?from=2027-11-01&to=2027-11-20", status: 400, field: "to"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := e.get(t, c.query, access.RoleSupervisor, "")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				var p Problem
				if err := json.Unmarshal(body, &p); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
					len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Message == "" {
					t.Errorf("problem %s (%s)", body, resp.Header.Get("Content-Type"))
				}
				return
			}
			var rep struct{ From, To string }
			if err := json.Unmarshal(body, &rep); err != nil || rep.From != c.wantFrom || rep.To != c.want {
				t.Errorf("range %s – %s, want %s – %s (%v)", rep.From, rep.To, c.wantFrom, c.want, err)
			}
		})
	}
}

func TestOperationsReportJSONAndCSV(t *testing.T) {
	t.Parallel()
	e := newReportEnv(t)
	q := "?" + url.Values{"from": {"2026-11-08"}, "to": {"2026-11-08"}}.Encode()
	resp, body := e.get(t, q, access.RoleDeveloper, "")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("content type %s", resp.Header.Get("Content-Type"))
	}
	var rep reports.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Agents) != 1 || rep.Agents[0].Turns != 2 || *rep.Agents[0].LatencyP50MS != 40 || *rep.Agents[0].LatencyP95MS != 90 ||
		*rep.Agents[0].DegradedShare != 0.5 || *rep.Agents[0].ToolErrorRate != 0.5 || len(rep.Monitors) != 1 || *rep.Monitors[0].MedianAckSeconds != 90 {
		t.Errorf("report %s", body)
	}

	resp, body = e.get(t, q, access.RoleSupervisor, "text/csv")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("status %d, content type %s: %s", resp.StatusCode, ct, body)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	rows := map[string][]string{}
	for _, rec := range recs {
		if rec[0] == "section" {
			sections = append(sections, strings.Join(rec[1:], ","))
			continue
		}
		rows[rec[0]] = rec[1:]
	}
	wantSections := []string{
		"from,to,as_of,time_zone",
		"agent,turns,answered,failed,answered_with_citations,citations_unknown,cited_share,degraded,degraded_unknown,degraded_share,latency_p50_ms,latency_p95_ms,latency_unknown,tool_calls,tool_errors,tool_calls_unknown,tool_error_rate",
		"action,outcome,proposals",
		"proposals,decided,median_decision_seconds,expired",
		"tickets,on_time,late,pending,merged,on_time_rate,degraded,degraded_share",
		"type,tickets,on_time,late,pending,merged,on_time_rate,degraded,degraded_share",
		"department,tickets,on_time,late,pending,merged,on_time_rate,degraded,degraded_share",
		"monitor,alerts,acknowledged,resolved,firing,median_ack_seconds,median_firing_seconds,total_firing_seconds",
	}
	if !slices.Equal(sections, wantSections) {
		t.Errorf("sections\n%q\nwant\n%q", sections, wantSections)
	}
	if got := strings.Join(rows["agents"], ","); got != "traffic,2,2,0,1,0,0.5000,1,0,0.5000,40,90,0,2,1,0,0.5000" {
		t.Errorf("agents row %s", got)
	}
	// Firing from 2026-11-08T12:00Z to the report's time, 2026-11-09T12:00Z.
	if got := strings.Join(rows["monitors"], ","); got != "district-load,1,1,0,1,90.000,86400.000,86400.000" {
		t.Errorf("monitors row %s", got)
	}
	if got := strings.Join(rows["range"], ","); got != "2026-11-08T00:00:00+08:00,2026-11-09T00:00:00+08:00,2026-11-09T20:00:00+08:00,Asia/Shanghai" {
		t.Errorf("range row %s", got)
	}
	if got := strings.Join(rows["hotline"], ","); got != "0,0,0,0,0,,0," {
		t.Errorf("hotline row %s: unknown shares are empty", got)
	}
}

func TestOperationsReportReadsAreAudited(t *testing.T) {
	t.Parallel()
	e := newReportEnv(t)
	if resp, _ := e.get(t, "?from=2026-11-08", access.RoleSupervisor, "text/csv"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if resp, _ := e.get(t, "?from=nonsense", access.RoleSupervisor, ""); resp.StatusCode != 400 {
		t.Fatal(resp.Status)
	}
	recs, err := e.db.ListAudit(t.Context(), store.AuditFilter{Kind: kindReportRead})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d report.read records, want 1 (refused reads read nothing)", len(recs))
	}
	var p map[string]any
	_ = json.Unmarshal(recs[0].Payload, &p)
	if recs[0].Actor != e.ids[access.RoleSupervisor] || recs[0].Subject != "operations" || p["format"] != "csv" ||
		p["from"] != "2026-11-07T16:00:00Z" || p["to"] != "2026-11-09T12:00:00Z" {
		t.Errorf("record %+v payload %s", recs[0], recs[0].Payload)
	}
}

// TestOperationsReportFiltersByClearance: a sensitive monitor's alerts, the
// turns of its system principal and its proposal are not in the report of
// an internal supervisor (not even the monitor's name), and are in a
// restricted supervisor's.
func TestOperationsReportFiltersByClearance(t *testing.T) {
	t.Parallel()
	e := newReportEnv(t)
	at := reportNow.Add(-23 * time.Hour)
	_, err := e.db.AppendAudit(t.Context(),
		audit.Entry{Kind: audit.KindChatTurn, Actor: "system:monitor:secret-load", Subject: "s3", At: at, Payload: map[string]any{"agent": "traffic",
			"model": "stub", "degraded": false, "duration_ms": 70, "citations": 1, "tool_calls": 1, "tool_errors": 0, "answer_sha256": "z", "clearance": "sensitive"}},
		audit.Entry{Kind: "alert.fire", Subject: "al2", At: at, Payload: map[string]any{"alert_id": "al2", "monitor": "secret-load", "clearance": "sensitive"}},
		audit.Entry{Kind: "alert.fire", Subject: "al3", At: at, Payload: map[string]any{"alert_id": "al3", "monitor": "old-record"}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.db.CreateProposal(t.Context(), store.Proposal{ID: "p-secret", Action: "energy.demand_response", Arguments: json.RawMessage(`{}`), Risk: "low",
		ApproverRole: access.RoleSupervisor, Clearance: access.Sensitive, Agent: "energy", CreatedAt: at, ExpiresAt: at.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		clearance         string
		turns, proposals  int
		monitors          []string
		rawMustNotContain string
	}{
		{clearance: "internal", turns: 2, proposals: 0, monitors: []string{"district-load"}, rawMustNotContain: "secret-load"},
		{clearance: "restricted", turns: 3, proposals: 1, monitors: []string{"district-load", "old-record", "secret-load"}},
	} {
		_, secret, err := IssueKey(t.Context(), e.db, KeyRequest{Name: "sup-" + c.clearance, Role: "supervisor", Clearance: c.clearance}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.keys[access.Role("x-"+c.clearance)] = secret
		resp, body := e.get(t, "?from=2026-11-08&to=2026-11-09", access.Role("x-"+c.clearance), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.clearance, resp.StatusCode, body)
		}
		var rep reports.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range rep.Monitors {
			names = append(names, m.Monitor)
		}
		if len(rep.Agents) != 1 || rep.Agents[0].Turns != c.turns || rep.Governance.Proposals != c.proposals || !slices.Equal(names, c.monitors) {
			t.Errorf("%s: agents %+v, proposals %d, monitors %v; want %d turns, %d proposals, monitors %v", c.clearance, rep.Agents,
				rep.Governance.Proposals, names, c.turns, c.proposals, c.monitors)
		}
		if c.rawMustNotContain != "" && bytes.Contains(body, []byte(c.rawMustNotContain)) {
			t.Errorf("%s: the report names %s: %s", c.clearance, c.rawMustNotContain, body)
		}
	}
}
