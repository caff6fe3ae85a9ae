package httptool_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/outbound"
)

func guard(t *testing.T) *outbound.Client {
	t.Helper()
	c, err := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// api is a small weather and bus API the tools call.
func api(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/stops/1203/arrivals":
			if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Accept") != "application/json" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
				return
			}
			_, _ = w.Write([]byte(`{"stop":"1203","line":"` + r.URL.Query().Get("line") + `","minutes":[3,11],"summary":"Line 5 in 3 and 11 minutes"}`))
		case r.URL.Path == "/reports" && r.Method == http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write([]byte(`{"received":` + string(b) + `}`))
		case r.URL.Path == "/slow":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		case r.URL.Path == "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("plain words"))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"no such stop"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCall(t *testing.T) {
	srv := api(t)
	secrets := env(map[string]string{"CITYAGENT_SECRET_BUS": "s3cret"})
	arrivals, err := httptool.New(httptool.Def{Name: "bus_arrivals", Description: "Next buses at a stop 公交到站",
		Parameters: json.RawMessage(`{"type":"object","properties":{"stop":{"type":"string","pattern":"^\\d{4}$"},"line":{"type":"string","default":"5"}},"required":["stop"]}`),
		Endpoint:   srv.URL + "/stops/{stop}/arrivals", Headers: map[string]string{"Authorization": "Bearer ${CITYAGENT_SECRET_BUS}"}, Clearance: "public"},
		guard(t), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if sp := arrivals.Spec(); sp.Clearance != access.Public || sp.Timeout != 10*time.Second || sp.Source != "http" {
		t.Errorf("spec %+v", sp)
	}
	res, err := arrivals.Call(context.Background(), json.RawMessage(`{"stop":"1203"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Content), `"line":"5"`) || !strings.HasPrefix(res.Citation.Source, "http:127.0.0.1:") || res.Citation.AsOf.IsZero() {
		t.Errorf("result %s %+v", res.Content, res.Citation)
	}
	if err := arrivals.Check(context.Background()); err != nil {
		t.Errorf("check: %v", err)
	}

	report, _ := httptool.New(httptool.Def{Name: "file_report", Description: "File a report", Method: "post", Endpoint: srv.URL + "/reports",
		Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"},"urgent":{"type":"boolean"}}}`)}, guard(t), nil)
	res, err = report.Call(context.Background(), json.RawMessage(`{"text":"井盖缺失","urgent":true}`))
	if err != nil || !strings.Contains(string(res.Content), `"text":"井盖缺失"`) || !strings.Contains(string(res.Content), `"urgent":true`) {
		t.Errorf("POST: %s %v", res.Content, err)
	}

	text, _ := httptool.New(httptool.Def{Name: "plain", Description: "text", Endpoint: srv.URL + "/text"}, guard(t), nil)
	if res, err := text.Call(context.Background(), nil); err != nil || !strings.Contains(string(res.Content), `"text":"plain words"`) {
		t.Errorf("text response: %s %v", res.Content, err)
	}

	for name, tc := range map[string]struct {
		tool *httptool.Tool
		args string
		want string
	}{
		"bad argument":  {arrivals, `{"stop":"12"}`, "invalid arguments"},
		"unknown stop":  {arrivals, `{"stop":"9999"}`, "404"},
		"not an object": {arrivals, `[1]`, "JSON object"},
	} {
		_, err := tc.tool.Call(context.Background(), json.RawMessage(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	var ae *tools.ArgsError
	if _, err := arrivals.Call(context.Background(), json.RawMessage(`{"stop":"12"}`)); !errors.As(err, &ae) {
		t.Errorf("schema violation is not an ArgsError: %v", err)
	}
	noSecret, _ := httptool.New(arrivals.Def(), guard(t), env(nil))
	if _, err := noSecret.Call(context.Background(), json.RawMessage(`{"stop":"1203"}`)); !errors.Is(err, httptool.ErrSecret) {
		t.Errorf("missing secret: %v", err)
	}
	if err := noSecret.Check(context.Background()); !errors.Is(err, httptool.ErrSecret) {
		t.Errorf("check without the secret: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	srv := api(t)
	slow, err := httptool.New(httptool.Def{Name: "slow_tool", Description: "hangs", Endpoint: srv.URL + "/slow", TimeoutMS: 200}, guard(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint answers after 3 s unless its request is cancelled; the
	// error says the tool's own 200 ms timeout cut it (an outcome, not a
	// timing: timings belong to benchmarks).
	_, err = slow.Call(context.Background(), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200 ms") {
		t.Errorf("slow: %v", err)
	}
}

func TestGuarded(t *testing.T) {
	strict, _ := outbound.New(outbound.Config{})
	meta, err := httptool.New(httptool.Def{Name: "meta", Description: "metadata", Endpoint: "http://169.254.169.254/latest/meta-data/"}, strict, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Call(context.Background(), nil); !errors.Is(err, outbound.ErrForbidden) {
		t.Errorf("metadata: %v", err)
	}
	if err := meta.Check(context.Background()); !errors.Is(err, outbound.ErrForbidden) {
		t.Errorf("check: %v", err)
	}
}

func TestInvalidDefinitions(t *testing.T) {
	ok := httptool.Def{Name: "ok_tool", Description: "d", Endpoint: "https://api.example/x"}
	for name, tc := range map[string]struct {
		mod   func(d *httptool.Def)
		field string
	}{
		"name":            {func(d *httptool.Def) { d.Name = "Bad-Name" }, "name"},
		"description":     {func(d *httptool.Def) { d.Description = " " }, "description"},
		"method":          {func(d *httptool.Def) { d.Method = "TRACE" }, "method"},
		"timeout":         {func(d *httptool.Def) { d.TimeoutMS = 500000 }, "timeout_ms"},
		"clearance":       {func(d *httptool.Def) { d.Clearance = "top-secret" }, "clearance"},
		"endpoint scheme": {func(d *httptool.Def) { d.Endpoint = "ftp://x/y" }, "endpoint"},
		"endpoint creds":  {func(d *httptool.Def) { d.Endpoint = "https://u:p@x/y" }, "endpoint"},
		"placeholder":     {func(d *httptool.Def) { d.Endpoint = "https://x/{id}" }, "endpoint"},
		"schema type":     {func(d *httptool.Def) { d.Parameters = json.RawMessage(`{"type":"string"}`) }, "parameters"},
		"schema garbage": {func(d *httptool.Def) {
			d.Parameters = json.RawMessage(`{"type":"object","properties":{"a":{"type":"nonsense"}}}`)
		}, "parameters"},
		"schema remote ref": {func(d *httptool.Def) {
			d.Parameters = json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"https://evil.example/s.json"}}}`)
		}, "parameters"},
		"schema not json":  {func(d *httptool.Def) { d.Parameters = json.RawMessage(`{"type":`) }, "parameters"},
		"literal secret":   {func(d *httptool.Def) { d.Headers = map[string]string{"Authorization": "Bearer abc123"} }, "headers.Authorization"},
		"other env var":    {func(d *httptool.Def) { d.Headers = map[string]string{"X-Key": "${CITYAGENT_DATABASE_URL}"} }, "headers.X-Key"},
		"forbidden header": {func(d *httptool.Def) { d.Headers = map[string]string{"Host": "${CITYAGENT_SECRET_H}"} }, "headers.Host"},
		"bad in":           {func(d *httptool.Def) { d.In = map[string]string{"a": "cookie"} }, "in.a"},
	} {
		d := ok
		tc.mod(&d)
		_, err := d.Normalize()
		var ve *httptool.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, httptool.ErrInvalid) || ve.Problems[0].Field != tc.field {
			t.Errorf("%s: %v, want a problem with %s", name, err, tc.field)
		}
	}
	d := ok
	if _, err := d.Normalize(); err != nil || d.Method != "GET" || d.TimeoutMS != httptool.DefaultTimeoutMS || d.Clearance != "internal" {
		t.Errorf("defaults: %+v %v", d, err)
	}
}
