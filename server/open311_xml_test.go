package server

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/store"
)

// goldenXML compares a GeoReport XML answer with testdata/open311/name.golden
// byte for byte: the status line, the content type and the body as sent,
// ids normalised.
func goldenXML(t *testing.T, name string, resp *http.Response, body []byte) {
	t.Helper()
	got := normalizeIDs([]byte(fmt.Sprintf("HTTP %d\nContent-Type: %s\n\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)))
	path := filepath.Join("testdata", "open311", name+".golden")
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test ./server -run Open311 -update)", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

// open311XMLElements are the element names GeoReport v2 allows under each
// parent (the spec's XML samples: services, service_definition,
// service_requests for posts, tokens and requests, errors).
var open311XMLElements = map[string][]string{
	"":                   {"services", "service_definition", "service_requests", "errors"},
	"services":           {"service"},
	"service":            {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"},
	"service_definition": {"service_code", "attributes"},
	"attributes":         {"attribute"},
	"attribute":          {"variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"},
	"values":             {"value"},
	"value":              {"key", "name"},
	"service_requests":   {"request"},
	"request": {"service_request_id", "token", "service_notice", "account_id", "status", "status_notes", "service_name", "service_code",
		"description", "agency_responsible", "requested_datetime", "updated_datetime", "expected_datetime", "address", "address_id",
		"zipcode", "lat", "long", "media_url"},
	"errors": {"error"},
	"error":  {"code", "description"},
}

// checkOpen311XML parses body with encoding/xml and checks the declaration,
// that there is no namespace, and that every element is one the spec names
// under its parent; it returns the root's name.
func checkOpen311XML(t *testing.T, name string, body []byte) string {
	t.Helper()
	if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("%s: no XML declaration with encoding utf-8: %.60s", name, body)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []string
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not XML: %v\n%s", name, err, body)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if el.Name.Space != "" || len(el.Attr) > 0 {
				t.Errorf("%s: <%s> has a namespace or attributes", name, el.Name.Local)
			}
			if !containsString(open311XMLElements[parent], el.Name.Local) {
				t.Errorf("%s: <%s> is not a GeoReport element under <%s>", name, el.Name.Local, parent)
			}
			if parent == "" {
				root = el.Name.Local
			}
			stack = append(stack, el.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	return root
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isOpen311XMLErrors reports whether b is a GeoReport <errors> list with
// at least one coded error.
func isOpen311XMLErrors(b []byte) bool {
	code, _, ok := open311XMLError(b)
	return ok && code >= 400
}

// open311XMLError decodes the single error of a GeoReport <errors> list.
func open311XMLError(b []byte) (code int, description string, ok bool) {
	var errs struct {
		XMLName xml.Name `xml:"errors"`
		Errors  []struct {
			Code        int    `xml:"code"`
			Description string `xml:"description"`
		} `xml:"error"`
	}
	if xml.Unmarshal(b, &errs) != nil || len(errs.Errors) != 1 || errs.Errors[0].Description == "" {
		return 0, "", false
	}
	return errs.Errors[0].Code, errs.Errors[0].Description, true
}

// xmlRequests is how a client decodes <service_requests>.
type xmlRequests struct {
	Requests []hotline.Open311Request `xml:"request"`
}

// TestOpen311XMLFlow is a GeoReport v2 XML client's flow over real HTTP:
// services, a definition, a post, its token and request, and a list with an
// open and a closed request after their lifecycles moved on (written to the
// store as the lifecycle writes transitions); each answer is a golden file,
// in XML and, for the list, in JSON too.
func TestOpen311XMLFlow(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	public := open311Client{t: t, base: e.base}
	c := open311Client{t: t, base: e.base, apiKey: e.keys[access.RoleHotline]}
	get := func(name, path string, q url.Values, root string) []byte {
		t.Helper()
		resp, body := c.get(path, q)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
			t.Fatalf("%s: %d %s %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if got := checkOpen311XML(t, name, body); got != root {
			t.Errorf("%s: root <%s>, want <%s>", name, got, root)
		}
		goldenXML(t, name, resp, body)
		return body
	}
	resp, body := public.get("/services.xml", nil)
	if checkOpen311XML(t, "services", body) != "services" || resp.StatusCode != 200 {
		t.Fatalf("services.xml: %d %s", resp.StatusCode, body)
	}
	goldenXML(t, "services_xml", resp, body)
	var services struct {
		Services []hotline.Open311Service `xml:"service"`
	}
	if err := xml.Unmarshal(body, &services); err != nil || len(services.Services) < 10 || services.Services[0].ServiceCode == "" {
		t.Fatalf("services.xml decodes to %d services: %v", len(services.Services), err)
	}
	def := get("service_definition_xml", "/services/030101.xml", nil, "service_definition")
	var d hotline.Open311Definition
	if err := xml.Unmarshal(def, &d); err != nil || d.ServiceCode != "030101" || len(d.Attributes) == 0 || len(d.Attributes[0].Values) < 2 {
		t.Fatalf("definition: %+v %v", d, err)
	}

	form := url.Values{"service_code": {"030101"}, "lat": {"30.5801"}, "long": {"114.2702"}, "address_string": {"幸福里小区5栋"},
		"description": {"小区从早上开始停水，到现在还没来水。"}, "attribute[" + d.Attributes[0].Code + "]": {d.Attributes[0].Values[1].Key}}
	form.Set("api_key", c.apiKey)
	resp, err := http.PostForm(e.base+"/open311/v2/requests.xml", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || checkOpen311XML(t, "post", body) != "service_requests" {
		t.Fatalf("post requests.xml: %d %s", resp.StatusCode, body)
	}
	goldenXML(t, "post_request_xml", resp, body)
	var created struct {
		Requests []hotline.Open311Created `xml:"request"`
	}
	if err := xml.Unmarshal(body, &created); err != nil || len(created.Requests) != 1 || created.Requests[0].Token == "" {
		t.Fatalf("post: %s %v", body, err)
	}
	id, token := created.Requests[0].ServiceRequestID, created.Requests[0].Token
	var reqs xmlRequests
	if err := xml.Unmarshal(get("token_xml", "/tokens/"+token+".xml", nil, "service_requests"), &reqs); err != nil || len(reqs.Requests) != 1 ||
		reqs.Requests[0].ServiceRequestID != id {
		t.Fatalf("token: %+v %v", reqs, err)
	}
	reqs = xmlRequests{}
	if err := xml.Unmarshal(get("request_xml", "/requests/"+id+".xml", nil, "service_requests"), &reqs); err != nil || len(reqs.Requests) != 1 ||
		reqs.Requests[0].Status != "open" || reqs.Requests[0].Lat == nil || *reqs.Requests[0].Lat != 30.5801 {
		t.Fatalf("request: %+v %v", reqs, err)
	}

	// A second request; then the first is handled and closed at its return
	// visit, the second accepted by the department.
	resp, body = c.post(url.Values{"service_code": {"020201"}, "address_string": {"光明路东段"}, "attribute[pole_number]": {"GM-017"}})
	var second []hotline.Open311Created
	if resp.StatusCode != 201 || json.Unmarshal(body, &second) != nil || len(second) != 1 {
		t.Fatalf("second post: %d %s", resp.StatusCode, body)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	yes := true
	e.transition(t, id, at, store.TransitionUpdate{To: hotline.StatusDispatched, Stamp: []string{"dispatched_at"}},
		store.TransitionUpdate{To: hotline.StatusAccepted, Stamp: []string{"accepted_at"}},
		store.TransitionUpdate{To: hotline.StatusReplied, Resolution: "管网抢修完成，已恢复供水。The main was repaired; water is back.", Stamp: []string{"replied_at"}},
		store.TransitionUpdate{To: hotline.StatusClosed, Satisfaction: "satisfied", Solved: &yes, Stamp: []string{"visited_at", "closed_at"}})
	e.transition(t, second[0].ServiceRequestID, at, store.TransitionUpdate{To: hotline.StatusDispatched, Stamp: []string{"dispatched_at"}},
		store.TransitionUpdate{To: hotline.StatusAccepted, Stamp: []string{"accepted_at"}})
	q := url.Values{"start_date": {"2026-03-01T00:00:00+08:00"}, "end_date": {"2026-03-03T00:00:00+08:00"}, "status": {"open,closed"}}
	list := get("requests_lifecycle_xml", "/requests.xml", q, "service_requests")
	reqs = xmlRequests{}
	if err := xml.Unmarshal(list, &reqs); err != nil || len(reqs.Requests) != 2 {
		t.Fatalf("list: %+v %v", reqs, err)
	}
	statuses := map[string]string{}
	for _, r := range reqs.Requests {
		statuses[r.ServiceRequestID] = r.Status + " " + r.StatusNotes
	}
	if !strings.HasPrefix(statuses[id], "closed 已办结：管网抢修完成") || !strings.HasPrefix(statuses[second[0].ServiceRequestID], "open 承办单位已签收") {
		t.Errorf("statuses: %v", statuses)
	}
	resp, body = c.get("/requests.json", q)
	golden(t, "requests_lifecycle", resp, body)
	if resp, body := c.get("/requests.xml", url.Values{"status": {"closed"}, "start_date": {"2026-03-01T00:00:00+08:00"}, "end_date": {"2026-03-01T01:00:00+08:00"}}); resp.StatusCode != 200 ||
		!strings.HasSuffix(string(body), "<service_requests></service_requests>\n") {
		t.Errorf("empty list: %d %s", resp.StatusCode, body)
	}
}

// transition moves a ticket through steps one minute apart from at, as the
// lifecycle writes them.
func (e *hotlineEnv) transition(t *testing.T, id string, at time.Time, steps ...store.TransitionUpdate) {
	t.Helper()
	st, err := e.db.GetTicket(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	status, seq := st.Status, st.Lifecycle.Transitions
	for i, u := range steps {
		seq++
		u.ID, u.From, u.Seq, u.Actor, u.At = id, status, seq, "key_test", at.Add(time.Duration(i)*time.Minute)
		if _, _, err := e.db.TransitionTicket(t.Context(), u); err != nil {
			t.Fatalf("%s %s→%s: %v", id, status, u.To, err)
		}
		status = u.To
	}
}

// TestOpen311XMLErrors: over .xml every refusal is the spec's <errors>
// list, with the HTTP status as its code — those raised before a handler
// runs too.
func TestOpen311XMLErrors(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	key := e.keys[access.RoleHotline]
	cases := map[string]struct {
		method, path, body string
		status             int
	}{
		"missing_api_key":  {"GET", "/open311/v2/requests.xml", "", 400},
		"invalid_api_key":  {"GET", "/open311/v2/requests.xml?api_key=ca_nope", "", 403},
		"operator_api_key": {"GET", "/open311/v2/requests.xml?api_key=" + e.keys[access.RoleOperator], "", 403},
		"unknown_request":  {"GET", "/open311/v2/requests/tkt_0000000000000000.xml?api_key=" + key, "", 404},
		"unknown_service":  {"GET", "/open311/v2/services/999999.xml", "", 404},
		"bad_status":       {"GET", "/open311/v2/requests.xml?status=pending&api_key=" + key, "", 400},
		"unknown_route":    {"GET", "/open311/v2/discovery.xml", "", 404},
		"post_no_location": {"POST", "/open311/v2/requests.xml", "api_key=" + key + "&service_code=020201", 400},
	}
	for name, c := range cases {
		req, _ := http.NewRequest(c.method, e.base+c.path, strings.NewReader(c.body))
		if c.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, body, err := roundTrip(http.DefaultClient, req)
		if err != nil {
			t.Fatal(err)
		}
		code, _, ok := open311XMLError(body)
		if checkOpen311XML(t, name, body) != "errors" || !ok || code != c.status || resp.StatusCode != c.status ||
			resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
			t.Errorf("%s: %d %s %s, want %d and a GeoReport <errors> list", name, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status)
			continue
		}
		goldenXML(t, "error_xml_"+name, resp, body)
	}
	if n := e.tickets(t); n != 0 {
		t.Errorf("%d tickets created by refused requests", n)
	}
}
