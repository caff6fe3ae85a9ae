package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
)

// -update rewrites the golden files under testdata/open311/. Registered
// only if no other test file of the package has registered it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var (
	ticketIDRE = regexp.MustCompile(`tkt_[0-9a-f]{16}`)
	tokenRE    = regexp.MustCompile(`tok_[0-9a-f]{24}`)
)

// normalizeIDs replaces generated ids and tokens by their order of appearance.
func normalizeIDs(b []byte) []byte {
	for _, r := range []struct {
		re     *regexp.Regexp
		prefix string
	}{{ticketIDRE, "tkt_"}, {tokenRE, "tok_"}} {
		seen := map[string]string{}
		b = r.re.ReplaceAllFunc(b, func(m []byte) []byte {
			k := string(m)
			if _, ok := seen[k]; !ok {
				seen[k] = fmt.Sprintf("%s%d", r.prefix, len(seen)+1)
			}
			return []byte(seen[k])
		})
	}
	return b
}

// golden compares an Open311 answer with testdata/open311/name.golden: the
// status line, the content type and the indented body, ids normalised.
func golden(t *testing.T, name string, resp *http.Response, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %s", name, body)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	got := normalizeIDs([]byte(fmt.Sprintf("HTTP %d\nContent-Type: %s\n\n%s\n", resp.StatusCode, resp.Header.Get("Content-Type"), pretty)))
	path := filepath.Join("testdata", "open311", name+".golden")
	if updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
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

// steppingClock returns a clock that moves one second per reading, from
// 2026-03-02 08:00 in the demo city: sequential requests see the same times
// on every run.
func steppingClock() func() time.Time {
	start := time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

// open311Client is what a GeoReport v2 client does, over plain HTTP: no
// Open311 client library is available from this workplace's registries
// (npm, the Go module proxy), and the protocol is form posts and JSON.
type open311Client struct {
	t      *testing.T
	base   string
	apiKey string
}

func (c open311Client) get(path string, q url.Values) (*http.Response, []byte) {
	c.t.Helper()
	if q == nil {
		q = url.Values{}
	}
	if c.apiKey != "" {
		q.Set("api_key", c.apiKey)
	}
	u := c.base + "/open311/v2" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c open311Client) post(form url.Values) (*http.Response, []byte) {
	c.t.Helper()
	if c.apiKey != "" {
		form.Set("api_key", c.apiKey)
	}
	resp, err := http.PostForm(c.base+"/open311/v2/requests.json", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestOpen311ClientFlow is a GeoReport v2 client's whole flow over real
// HTTP: discover the services, read the definition of one with metadata,
// post a request with its attributes, find it by token and by id, and list
// it by service code and status; each payload is compared with its golden
// file.
func TestOpen311ClientFlow(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	public := open311Client{t: t, base: e.base}
	c := open311Client{t: t, base: e.base, apiKey: e.keys[access.RoleHotline]}

	resp, body := public.get("/services.json", nil)
	golden(t, "services", resp, body)
	var services []hotline.Open311Service
	if err := json.Unmarshal(body, &services); err != nil || resp.StatusCode != 200 {
		t.Fatalf("services: %d %s", resp.StatusCode, body)
	}
	var water *hotline.Open311Service
	for i, s := range services {
		if s.ServiceCode == "030101" {
			water = &services[i]
		}
	}
	if water == nil || !water.Metadata {
		t.Fatalf("service 030101 missing or without metadata: %+v", water)
	}

	resp, body = public.get("/services/"+water.ServiceCode+".json", nil)
	golden(t, "service_definition", resp, body)
	var def hotline.Open311Definition
	if err := json.Unmarshal(body, &def); err != nil || len(def.Attributes) == 0 || !def.Attributes[0].Required {
		t.Fatalf("definition: %s", body)
	}

	form := url.Values{"service_code": {water.ServiceCode}, "lat": {"30.5801"}, "long": {"114.2702"},
		"address_string": {"幸福里小区5栋"}, "description": {"小区从早上开始停水，到现在还没来水。"},
		"first_name": {"三"}, "last_name": {"张"}, "phone": {"13812345678"}, "email": {"zhang@example.com"}}
	form.Set("attribute["+def.Attributes[0].Code+"]", def.Attributes[0].Values[1].Key)
	resp, body = c.post(form)
	golden(t, "post_request", resp, body)
	var created []hotline.Open311Created
	if err := json.Unmarshal(body, &created); err != nil || resp.StatusCode != 201 || len(created) != 1 || created[0].ServiceRequestID == "" || created[0].Token == "" {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	id, token := created[0].ServiceRequestID, created[0].Token

	resp, body = c.get("/tokens/"+token+".json", nil)
	golden(t, "token", resp, body)
	var tokens []hotline.Open311Token
	if err := json.Unmarshal(body, &tokens); err != nil || len(tokens) != 1 || tokens[0].ServiceRequestID != id {
		t.Fatalf("token: %s", body)
	}

	resp, body = c.get("/requests/"+id+".json", nil)
	golden(t, "request", resp, body)
	var reqs []hotline.Open311Request
	if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) != 1 || reqs[0].ServiceRequestID != id || reqs[0].Status != "open" ||
		reqs[0].ServiceCode != "030101" || reqs[0].AgencyResponsible == "" || reqs[0].Lat == nil {
		t.Fatalf("request: %s", body)
	}
	if strings.Contains(string(body), "13812345678") || strings.Contains(string(body), "zhang@") {
		t.Error("a service request shows the caller's personal data")
	}

	// A second request, in another service, without a description.
	resp, body = c.post(url.Values{"service_code": {"020201"}, "address_string": {"光明路东段"}, "attribute[pole_number]": {"GM-017"}})
	if resp.StatusCode != 201 {
		t.Fatalf("second post: %d %s", resp.StatusCode, body)
	}
	resp, body = c.get("/requests.json", url.Values{"service_code": {"030101,020201"}, "status": {"open"},
		"start_date": {"2026-03-01T00:00:00+08:00"}, "end_date": {"2026-03-03T00:00:00+08:00"}})
	golden(t, "requests", resp, body)
	if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) != 2 {
		t.Fatalf("requests: %s", body)
	}
	resp, body = c.get("/requests.json", url.Values{"service_request_id": {id}})
	if err := json.Unmarshal(body, &reqs); err != nil || resp.StatusCode != 200 || len(reqs) != 1 || reqs[0].ServiceRequestID != id {
		t.Fatalf("requests by id: %d %s", resp.StatusCode, body)
	}
	if _, body = c.get("/requests.json", url.Values{"status": {"closed"}, "start_date": {"2026-03-01T00:00:00+08:00"}, "end_date": {"2026-03-03T00:00:00+08:00"}}); string(body) != "[]" {
		t.Errorf("closed requests: %s", body)
	}
	// The ticket behind it, through the v1 API.
	r, b := e.call(t, nil, "GET", "/v1/hotline/tickets/"+id, access.RoleHotline, "")
	if r.StatusCode != 200 || !strings.Contains(string(b), `"channel":"open311"`) || !strings.Contains(string(b), `"category":"030101"`) ||
		!strings.Contains(string(b), `"degraded":false`) || !strings.Contains(string(b), `"category":"caller"`) {
		t.Errorf("ticket of the request: %d %s", r.StatusCode, b)
	}
}

// TestOpen311Errors: every refusal is a GeoReport error array with the
// HTTP status as its code, and creates no ticket.
func TestOpen311Errors(t *testing.T) {
	t.Parallel()
	e := newHotlineEnv(t, hotlineEnvOptions{now: steppingClock()})
	key := e.keys[access.RoleHotline]
	post := func(ct, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", e.base+"/open311/v2/requests.json", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, b, err := roundTrip(http.DefaultClient, req)
		if err != nil && closedEarly(err) && len(body) > 64<<10 {
			return nil, nil // the body is over the limit: the server may close early
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	form := "application/x-www-form-urlencoded"
	water := "service_code=030101&lat=30.58&long=114.27&attribute[scope]=home&description=" + url.QueryEscape("停水")
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("api_key", key)
	_ = w.WriteField("service_code", "030101")
	fw, _ := w.CreateFormFile("media", "photo.jpg")
	_, _ = fw.Write([]byte("jpeg"))
	_ = w.Close()
	cases := map[string]struct {
		do     func() (*http.Response, []byte)
		status int
	}{
		"missing_api_key":  {func() (*http.Response, []byte) { return post(form, water) }, 400},
		"invalid_api_key":  {func() (*http.Response, []byte) { return post(form, water+"&api_key=ca_nope") }, 403},
		"operator_api_key": {func() (*http.Response, []byte) { return post(form, water+"&api_key="+e.keys[access.RoleOperator]) }, 403},
		"unknown_service":  {func() (*http.Response, []byte) { return post(form, "api_key="+key+"&service_code=999999&lat=1&long=2") }, 404},
		"no_service_code":  {func() (*http.Response, []byte) { return post(form, "api_key="+key+"&lat=1&long=2") }, 400},
		"no_location":      {func() (*http.Response, []byte) { return post(form, "api_key="+key+"&service_code=020201") }, 400},
		"bad_coordinates": {func() (*http.Response, []byte) {
			return post(form, "api_key="+key+"&service_code=020201&lat=95&long=2")
		}, 400},
		"lat_not_a_number": {func() (*http.Response, []byte) {
			return post(form, "api_key="+key+"&service_code=020201&lat=north&long=2")
		}, 400},
		"missing_attribute": {func() (*http.Response, []byte) { return post(form, "api_key="+key+"&service_code=030101&lat=1&long=2") }, 400},
		"bad_attribute": {func() (*http.Response, []byte) {
			return post(form, "api_key="+key+"&service_code=030101&lat=1&long=2&attribute[scope]=city")
		}, 400},
		"unknown_attribute": {func() (*http.Response, []byte) {
			return post(form, "api_key="+key+"&service_code=020201&lat=1&long=2&attribute[color]=red")
		}, 400},
		"unknown_field": {func() (*http.Response, []byte) { return post(form, water+"&api_key="+key+"&priority=high") }, 400},
		"long_description": {func() (*http.Response, []byte) {
			return post(form, water+"&api_key="+key+"&description="+strings.Repeat("x", 4001))
		}, 400},
		"malformed_form": {func() (*http.Response, []byte) { return post(form, "api_key="+key+"&service_code=%zz") }, 400},
		"json_body":      {func() (*http.Response, []byte) { return post("application/json", `{"service_code":"030101"}`) }, 400},
		"file_upload":    {func() (*http.Response, []byte) { return post(w.FormDataContentType(), mp.String()) }, 400},
		"body_too_large": {func() (*http.Response, []byte) {
			return post(form, water+"&api_key="+key+"&description="+strings.Repeat("x", 70<<10))
		}, 413},
		"csv_format":         {func() (*http.Response, []byte) { return get("/open311/v2/services.csv") }, 400},
		"unknown_definition": {func() (*http.Response, []byte) { return get("/open311/v2/services/999999.json") }, 404},
		"get_without_key":    {func() (*http.Response, []byte) { return get("/open311/v2/requests.json") }, 400},
		"unknown_request": {func() (*http.Response, []byte) {
			return get("/open311/v2/requests/tkt_0000000000000000.json?api_key=" + key)
		}, 404},
		"unknown_token": {func() (*http.Response, []byte) { return get("/open311/v2/tokens/tok_nope.json?api_key=" + key) }, 404},
		"window_too_long": {func() (*http.Response, []byte) {
			return get("/open311/v2/requests.json?start_date=2026-01-01&end_date=2026-06-01&api_key=" + key)
		}, 400},
		"bad_status":    {func() (*http.Response, []byte) { return get("/open311/v2/requests.json?status=pending&api_key=" + key) }, 400},
		"unknown_route": {func() (*http.Response, []byte) { return get("/open311/v2/discovery.json") }, 404},
	}
	for name, c := range cases {
		resp, body := c.do()
		if resp == nil && c.status == 413 {
			t.Logf("%s: the server closed before the client sent the whole body", name)
			continue
		}
		var errs []struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &errs); err != nil || len(errs) != 1 || resp.StatusCode != c.status || errs[0].Code != c.status || errs[0].Description == "" {
			t.Errorf("%s: %d %s, want %d and a GeoReport error array", name, resp.StatusCode, body, c.status)
			continue
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			golden(t, "error_"+name, resp, body)
		} else {
			t.Errorf("%s: Content-Type %q", name, resp.Header.Get("Content-Type"))
		}
	}
	if n := e.tickets(t); n != 0 {
		t.Errorf("%d tickets created by refused requests", n)
	}
}
