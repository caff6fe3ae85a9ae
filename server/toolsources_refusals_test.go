package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools/openapi"
)

// What docs/tools.md promises for refused sources and names: a refused
// source header is a 400 naming the field; a reserved name a 409; a
// document url that is not http(s) a 400; an http(s) url the guard
// refuses a 422.
func TestToolSourceRefusalStatuses(t *testing.T) {
	t.Parallel()
	env, _ := sourceEnv(t, openapi.Limits{}, nil)
	doc := string(mustJSON(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"servers":[{"url":"http://127.0.0.1:1"}],
		"paths":{"/signals":{"post":{"operationId":"traffic_retime_signal","responses":{"200":{"description":"ok"}}}}}}`))
	cases := []struct {
		name, path, body string
		status           int
		field, detail    string
	}{
		{"host header", "/v1/tool-sources", `{"name":"s1","kind":"openapi","document":` + doc + `,"headers":{"Host":"${CITYAGENT_SECRET_X}"}}`, 400, "headers.Host", ""},
		{"literal secret", "/v1/tool-sources", `{"name":"s2","kind":"openapi","document":` + doc + `,"headers":{"X-Key":"abc123secret"}}`, 400, "headers.X-Key", ""},
		{"database url", "/v1/tool-sources", `{"name":"s3","kind":"openapi","document":` + doc + `,"headers":{"X-Db":"${CITYAGENT_DATABASE_URL}"}}`, 400, "headers.X-Db", ""},
		{"reserved source", "/v1/tool-sources", `{"name":"propose","kind":"openapi","document":` + doc + `}`, 409, "", "reserved"},
		{"reserved tool", "/v1/tools", `{"name":"ask_planner","description":"d","endpoint":"http://127.0.0.1:1/x"}`, 409, "", "reserved"},
		{"file url", "/v1/tool-sources", `{"name":"s4","kind":"openapi","url":"file:///etc/passwd"}`, 400, "", ""},
		{"gopher url", "/v1/tool-sources", `{"name":"s5","kind":"openapi","url":"gopher://127.0.0.1:70/x"}`, 400, "", ""},
		{"guard refused", "/v1/tool-sources", `{"name":"s6","kind":"openapi","url":"http://169.254.169.254/doc.json"}`, 422, "", ""},
	}
	for _, c := range cases {
		resp, b := env.do(t, "POST", c.path, access.RoleDeveloper, c.body)
		var p struct {
			Detail string `json:"detail"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		_ = json.Unmarshal(b, &p)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, b)
			continue
		}
		if c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field) {
			t.Errorf("%s: errors %s", c.name, b)
		}
		if c.detail != "" && !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: detail %s", c.name, b)
		}
	}
}
