package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/events"
)

const hookSecret = "whsec_receiver_0123456789"

func newHookReceiver(t *testing.T, codes ...int) *hookReceiver {
	h := &hookReceiver{secret: hookSecret, codes: codes}
	h.srv = httptest.NewServer(h) // 127.0.0.1, allowed by fastEvents' outbound.allow
	t.Cleanup(h.srv.Close)
	return h
}

func createWebhook(t *testing.T, in *instance, body string) (int, map[string]any) {
	t.Helper()
	code, b := in.call(t, "POST", "/v1/webhooks", in.admin, body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return code, m
}

// TestWebhooks: validation, a signed delivery retried after 500s with the
// same event id until it succeeds, a department filter, deletion.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir(), fastEvents)
	hk := in.newKey(t, "hotline", "internal")
	op := in.newKey(t, "operator", "internal")
	all := newHookReceiver(t, 500, 500, 204)
	water := newHookReceiver(t, 204)

	for name, body := range map[string]string{
		"metadata address":   `{"url":"http://169.254.169.254/latest","events":["ticket.created"],"secret":"` + hookSecret + `"}`,
		"not http":           `{"url":"ftp://example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `"}`,
		"credentials":        `{"url":"https://u:p@example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `"}`,
		"short secret":       `{"url":"https://example.org/x","events":["ticket.created"],"secret":"short"}`,
		"unknown event":      `{"url":"https://example.org/x","events":["ticket.exploded"],"secret":"` + hookSecret + `"}`,
		"no events":          `{"url":"https://example.org/x","events":[],"secret":"` + hookSecret + `"}`,
		"bad department":     `{"url":"https://example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `","department":"Water Dept"}`,
		"unknown field":      `{"url":"https://example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `","retries":3}`,
		"unknown department": `{"url":"https://example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `","department":"mars"}`,
		"department shape":   `{"url":"https://example.org/x","events":["ticket.created"],"secret":"` + hookSecret + `","department":"water-dept"}`,
		"url too long":       `{"url":"https://example.org/` + strings.Repeat("a", events.MaxURLLen) + `","events":["ticket.created"],"secret":"` + hookSecret + `"}`,
		"duplicated event":   `{"url":"https://example.org/x","events":["ticket.created","ticket.closed","ticket.created"],"secret":"` + hookSecret + `"}`,
	} {
		code, m := createWebhook(t, in, body)
		if code != 400 || m["errors"] == nil {
			t.Errorf("%s: %d %v, want 400 naming the field", name, code, m)
		}
	}
	if code, _ := in.call(t, "POST", "/v1/webhooks", op, `{"url":"https://example.org/x","events":["ticket.created"],"secret":"`+hookSecret+`"}`); code != 403 {
		t.Errorf("an operator created a webhook: %d", code)
	}
	if code, _ := in.call(t, "GET", "/v1/webhooks", op, ""); code != 403 {
		t.Errorf("an operator listed webhooks: %d", code)
	}

	code, hook := createWebhook(t, in, `{"url":"`+all.srv.URL+`/hook","events":["ticket.created"],"secret":"`+hookSecret+`"}`)
	if code != 201 || hook["secret"] != hookSecret {
		t.Fatalf("create: %d %v", code, hook)
	}
	id := hook["id"].(string)
	code, waterHook := createWebhook(t, in, `{"url":"`+water.srv.URL+`","events":["ticket.created"],"secret":"`+hookSecret+`","department":"water"}`)
	if code != 201 {
		t.Fatalf("create department webhook: %d %v", code, waterHook)
	}
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/" + id} {
		code, b := in.call(t, "GET", path, in.admin, "")
		if code != 200 || !strings.Contains(string(b), id) || strings.Contains(string(b), hookSecret) {
			t.Errorf("GET %s: %d %s (the secret is shown once only)", path, code, b)
		}
	}

	ticket := func(text string) string {
		code, b := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"`+text+`","channel":"phone"}`)
		var tk struct {
			ID string `json:"ticket_id"`
		}
		if err := json.Unmarshal(b, &tk); err != nil || code != 201 {
			t.Fatalf("ticket: %d %s", code, b)
		}
		return tk.ID
	}
	light := ticket("光明路的路灯坏了好几天了")
	tap := ticket("小区停水一整天了，什么时候来水？")

	pollUntil(t, "three attempts at each ticket event", func() bool { return len(all.requests()) >= 6 })
	byEvent := map[string][]hookRequest{}
	for _, r := range all.requests() {
		if !r.verified || r.eventType != "ticket.created" || r.body.ID != r.eventID {
			t.Errorf("delivery %+v: want a verified signature and the body's id in X-Cityagent-Event-Id", r)
		}
		byEvent[r.body.Subject] = append(byEvent[r.body.Subject], r)
	}
	for _, tk := range []string{light, tap} {
		rs := byEvent[tk]
		if len(rs) != 3 || rs[0].eventID != rs[1].eventID || rs[1].eventID != rs[2].eventID {
			t.Errorf("ticket %s: %d attempts %+v, want 3 with one event id", tk, len(rs), rs)
		}
	}
	pollUntil(t, "both deliveries recorded", func() bool { // the receiver answers before the outcome is stored
		_, b := in.call(t, "GET", "/v1/webhooks/"+id+"/deliveries", in.admin, "")
		var ds struct{ Deliveries []events.Delivery }
		_ = json.Unmarshal(b, &ds)
		return len(ds.Deliveries) == 2 && ds.Deliveries[0].Status != events.StatusPending && ds.Deliveries[1].Status != events.StatusPending
	})
	code, b := in.call(t, "GET", "/v1/webhooks/"+id+"/deliveries?limit=1", in.admin, "")
	var page struct {
		Deliveries []events.Delivery
		NextBefore string `json:"next_before"`
	}
	_ = json.Unmarshal(b, &page)
	if code != 200 || len(page.Deliveries) != 1 || page.NextBefore == "" {
		t.Fatalf("deliveries page: %d %s", code, b)
	}
	code, b = in.call(t, "GET", "/v1/webhooks/"+id+"/deliveries?before="+page.NextBefore, in.admin, "")
	var rest struct{ Deliveries []events.Delivery }
	_ = json.Unmarshal(b, &rest)
	if code != 200 || len(rest.Deliveries) != 1 {
		t.Fatalf("second page: %d %s", code, b)
	}
	for _, d := range append(page.Deliveries, rest.Deliveries...) {
		if d.Status != events.StatusDelivered || d.Attempts != 3 || d.LastStatus != 204 || d.DeliveredAt == nil {
			t.Errorf("delivery %+v", d)
		}
	}

	pollUntil(t, "the water department's delivery", func() bool { return len(water.requests()) >= 1 })
	wid := waterHook["id"].(string)
	code, b = in.call(t, "GET", "/v1/webhooks/"+wid+"/deliveries", in.admin, "")
	var wd struct{ Deliveries []events.Delivery }
	_ = json.Unmarshal(b, &wd)
	if got := water.requests(); code != 200 || len(wd.Deliveries) != 1 || got[0].body.Subject != tap || got[0].body.Data["department"] != "water" || !got[0].verified {
		t.Errorf("department webhook: %d deliveries %s; requests %+v; want only the water ticket %s", code, b, got, tap)
	}

	if code, _ := in.call(t, "DELETE", "/v1/webhooks/"+id, in.admin, ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := in.call(t, "DELETE", "/v1/webhooks/"+id, in.admin, ""); code != 404 {
		t.Errorf("second delete: %d", code)
	}
	if code, _ := in.call(t, "GET", "/v1/webhooks/"+id, in.admin, ""); code != 404 {
		t.Errorf("get after delete: %d", code)
	}
	if code, _ := in.call(t, "GET", "/v1/webhooks/whk_nope/deliveries", in.admin, ""); code != 404 {
		t.Errorf("deliveries of an unknown webhook: %d", code)
	}
	if code, _ := in.call(t, "GET", "/v1/webhooks/"+wid+"/deliveries?limit=0", in.admin, ""); code != 400 {
		t.Errorf("limit=0: %d", code)
	}
}

// redirector answers every request with code and a Location elsewhere.
type redirector struct {
	code, hits int
	to         string
	mu         sync.Mutex
}

func (rd *redirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd.mu.Lock()
	rd.hits++
	rd.mu.Unlock()
	http.Redirect(w, r, rd.to, rd.code)
}

func (rd *redirector) count() int {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.hits
}

// TestWebhookDeliveryRefusesRedirects: a delivery goes to the registered
// URL only. A 302 or 307 is a failed attempt, retried and recorded with
// its status code; the signed request never reaches the Location.
func TestWebhookDeliveryRefusesRedirects(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir(), fastEvents)
	hk := in.newKey(t, "hotline", "internal")
	elsewhere := newHookReceiver(t, 204)
	var ids []string
	rds := map[string]*redirector{}
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		rd := &redirector{code: code, to: elsewhere.srv.URL + "/not-registered"}
		srv := httptest.NewServer(rd)
		t.Cleanup(srv.Close)
		c, hook := createWebhook(t, in, `{"url":"`+srv.URL+`/hook","events":["ticket.created"],"secret":"`+hookSecret+`"}`)
		if c != 201 {
			t.Fatalf("create: %d %v", c, hook)
		}
		ids = append(ids, hook["id"].(string))
		rds[hook["id"].(string)] = rd
	}
	if code, b := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"光明路的路灯坏了好几天了","channel":"phone"}`); code != 201 {
		t.Fatalf("ticket: %d %s", code, b)
	}
	for _, id := range ids {
		var d events.Delivery
		pollUntil(t, "two recorded attempts (or an end) at "+id, func() bool {
			_, b := in.call(t, "GET", "/v1/webhooks/"+id+"/deliveries", in.admin, "")
			var ds struct{ Deliveries []events.Delivery }
			_ = json.Unmarshal(b, &ds)
			if len(ds.Deliveries) != 1 {
				return false
			}
			d = ds.Deliveries[0]
			return d.Attempts >= 2 || d.Status != events.StatusPending
		})
		if want := rds[id].code; d.Status != events.StatusPending || d.LastStatus != want || d.DeliveredAt != nil || rds[id].count() < 2 {
			t.Errorf("delivery %+v after %d requests: want pending, last_status_code %d, retried", d, rds[id].count(), want)
		}
	}
	if got := elsewhere.requests(); len(got) != 0 {
		t.Errorf("the redirect target got %d requests %+v; deliveries must not follow redirects", len(got), got)
	}
}
