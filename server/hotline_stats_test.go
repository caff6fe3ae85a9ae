package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/store"
)

// TestHotlineStatsAPI: the results over HTTP, per role — hotline,
// supervisor and admin read every department, a department key only its
// own, operators and developers nothing — and bad ranges are 400
// problems naming the field.
func TestHotlineStatsAPI(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	ctx := t.Context()
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	add := func(id, dept string, received time.Duration) {
		at := from.Add(received)
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "停水", Type: "help", Category: "030101",
			Department: dept, Urgency: "urgent", Status: hotline.StatusTriaged, Data: json.RawMessage(`{}`), ReceivedAt: at, CreatedAt: at,
			Deadline: at.Add(24 * time.Hour)}
		if err := e.db.CreateTicket(ctx, tk, nil); err != nil {
			t.Fatal(err)
		}
	}
	add("tkt_w1", "water", time.Hour)
	add("tkt_w2", "water", 2*time.Hour)
	add("tkt_p1", "power", 3*time.Hour)
	yes := true
	e.transition(t, "tkt_w1", from.Add(2*time.Hour), store.TransitionUpdate{To: hotline.StatusDispatched},
		store.TransitionUpdate{To: hotline.StatusAccepted}, store.TransitionUpdate{To: hotline.StatusReplied, Resolution: "已恢复", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: hotline.StatusClosed, Satisfaction: "basically_satisfied", Solved: &yes, Stamp: []string{"visited_at", "closed_at"}})
	e.transition(t, "tkt_w2", from.Add(3*time.Hour), store.TransitionUpdate{To: hotline.StatusDispatched})

	period := "?from=2026-03-01T00:00:00Z&to=2026-03-08T00:00:00Z"
	read := func(role access.Role, query string) (int, hotline.Results, string) {
		t.Helper()
		resp, body := e.call(t, nil, "GET", "/v1/hotline/stats"+query, role, "")
		var r hotline.Results
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("%s: %s", role, body)
			}
		}
		return resp.StatusCode, r, resp.Header.Get("Content-Type") + " " + string(body)
	}
	for _, role := range []access.Role{access.RoleHotline, access.RoleSupervisor, access.RoleAdmin} {
		code, r, body := read(role, period)
		if code != 200 || len(r.Departments) != 2 || r.Total.Received != 3 {
			t.Fatalf("%s: %d %s", role, code, body)
		}
		w := r.Departments[1]
		if w.Department != "water" || w.Received != 2 || w.Dispatched != 2 || w.Accepted != 1 || *w.ResponseRate != 0.5 || w.Visited != 1 ||
			*w.SatisfactionRate != 1 || *w.StrictSatisfaction != 0 || *w.SolvedRate != 1 || w.Due != 1 || *w.OnTimeRate != 1 {
			// tkt_w2 is still inside its time (due 02:00, the report at 00:00) and not
			// handled: it is not due yet, neither late nor on time.
			t.Errorf("%s: water %+v", role, w)
		}
		if !strings.Contains(body, `"on_time_rate":1`) || !strings.Contains(body, `"definitions":{`) {
			t.Errorf("%s: body %s", role, body)
		}
	}
	if code, r, body := read(access.RoleHotline, period+"&department=power"); code != 200 || len(r.Departments) != 1 || r.Departments[0].Department != "power" ||
		r.Departments[0].ResponseRate != nil {
		t.Errorf("department=power: %d %s", code, body)
	}
	// The department key is bound to water (testDepartment).
	if code, r, body := read(access.RoleDepartment, period); code != 200 || len(r.Departments) != 1 || r.Departments[0].Department != "water" || r.Department != "water" {
		t.Errorf("department key: %d %s", code, body)
	}
	if code, _, _ := read(access.RoleDepartment, period+"&department=power"); code != 403 {
		t.Errorf("department key reading power: %d", code)
	}
	cases := map[string]struct {
		role   access.Role
		query  string
		status int
		field  string
	}{
		"operator":           {access.RoleOperator, period, 403, ""},
		"developer":          {access.RoleDeveloper, period, 403, ""},
		"no key":             {"", period, 401, ""},
		"no period":          {access.RoleHotline, "", 400, "from"},
		"bad from":           {access.RoleHotline, "?from=yesterday&to=2026-03-08T00:00:00Z", 400, "from"},
		"reversed":           {access.RoleHotline, "?from=2026-03-08T00:00:00Z&to=2026-03-01T00:00:00Z", 400, "to"},
		"too long":           {access.RoleHotline, "?from=2025-01-01T00:00:00Z&to=2026-03-08T00:00:00Z", 400, "to"},
		"unknown department": {access.RoleHotline, period + "&department=mars", 400, "department"},
	}
	for name, c := range cases {
		code, _, body := read(c.role, c.query)
		if code != c.status || !strings.HasPrefix(body, "application/problem+json") || (c.field != "" && !strings.Contains(body, `"field":"`+c.field+`"`)) {
			t.Errorf("%s: %d %s, want %d naming %q", name, code, body, c.status, c.field)
		}
	}
}

// TestHotspotsAPI: hot spots over HTTP with their trend, and the refusals.
func TestHotspotsAPI(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	from := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	for i, day := range []int{-3, 1, 2, 3} {
		at := from.Add(time.Duration(day) * 24 * time.Hour)
		id := "tkt_h" + string(rune('a'+i))
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "路灯不亮", Address: "光明路东段", Type: "help",
			Category: "020201", Department: "urban_management", Urgency: "normal", Status: hotline.StatusTriaged, Data: json.RawMessage(`{}`),
			ReceivedAt: at, CreatedAt: at, Deadline: at.Add(72 * time.Hour)}
		if err := e.db.CreateTicket(t.Context(), tk, nil); err != nil {
			t.Fatal(err)
		}
	}
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {from.Add(7 * 24 * time.Hour).Format(time.RFC3339)}}
	resp, body := e.call(t, nil, "GET", "/v1/hotline/hotspots?"+q.Encode(), access.RoleSupervisor, "")
	var out hotline.Hotspots
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 || len(out.Hotspots) != 1 || out.Hotspots[0].Count != 3 ||
		out.Hotspots[0].PreviousCount != 1 || out.Hotspots[0].Trend != "rising" || out.Hotspots[0].Place != "光明路东段" {
		t.Fatalf("hotspots: %d %s", resp.StatusCode, body)
	}
	for name, c := range map[string]struct {
		role   access.Role
		query  string
		status int
	}{
		"operator": {access.RoleOperator, q.Encode(), 403}, "department": {access.RoleDepartment, q.Encode(), 403},
		"no period": {access.RoleHotline, "", 400}, "bad min": {access.RoleHotline, q.Encode() + "&min=0", 400},
		"bad limit": {access.RoleHotline, q.Encode() + "&limit=1000", 400}, "bad category": {access.RoleHotline, q.Encode() + "&category=2", 400},
	} {
		resp, body := e.call(t, nil, "GET", "/v1/hotline/hotspots?"+c.query, c.role, "")
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
}
