package reliability

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// jsonRoute is a JSON route the corpus attacks: who may call it, a valid
// body, and the string fields in it (names and free text).
type jsonRoute struct {
	family, method, path, role string
	valid                      map[string]any
	names                      []string // identifier-like fields: control characters are refused
	texts                      []string // free text: invalid UTF-8 is refused
	wrongRole                  string   // a role the route refuses with 403 ("" = none)
	// lenient routes ignore unknown fields by design (the OpenAI route
	// accepts and ignores sampling parameters); their number and nesting
	// cases go into known fields instead.
	lenient bool
}

var corpusRoutes = []jsonRoute{
	{"chat", "POST", "/v1/agents/traffic/chat", "operator", map[string]any{"message": "Is Zhongshan Road congested?"}, nil, []string{"message"}, "hotline", false},
	{"openai", "POST", "/v1/chat/completions", "operator", map[string]any{"model": "traffic", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}, nil, []string{"model"}, "hotline", true},
	{"keys", "POST", "/v1/keys", "admin", map[string]any{"name": "rel-key", "role": "operator", "clearance": "public"}, []string{"name"}, nil, "operator", false},
	{"collections", "POST", "/v1/collections", "developer", map[string]any{"name": "rel-col"}, []string{"name"}, nil, "operator", false},
	{"documents", "POST", "/v1/collections/" + CorpusCollection + "/documents", "developer", map[string]any{"documents": []any{map[string]any{"id": "d1", "title": "T", "text": "road works"}}}, nil, nil, "operator", false},
	{"search", "POST", "/v1/collections/" + CorpusCollection + "/search", "operator", map[string]any{"query": "road works"}, nil, []string{"query"}, "", false},
	{"tools", "POST", "/v1/tools", "developer", map[string]any{"name": "rel_tool", "description": "d", "endpoint": "https://example.invalid/x"}, []string{"name"}, nil, "operator", false},
	{"tool-sources", "POST", "/v1/tool-sources", "developer", map[string]any{"name": "rel_src", "kind": "openapi", "url": "https://example.invalid/o.json"}, []string{"name"}, nil, "operator", false},
	{"invoke", "POST", "/v1/tools/traffic_congestion/invoke", "developer", map[string]any{"arguments": map[string]any{"limit": 3}}, nil, nil, "operator", false},
	{"tickets", "POST", "/v1/hotline/tickets", "hotline", map[string]any{"text": "路灯坏了，晚上很黑", "channel": "phone"}, nil, []string{"text"}, "", false},
	{"evals", "POST", "/v1/evals/runs", "developer", map[string]any{}, nil, nil, "operator", false},
	{"decisions", "POST", "/v1/proposals/prop_nope/approve", "supervisor", map[string]any{"comment": "ok"}, nil, nil, "", false},
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// with returns a copy of m with field set to v (a raw JSON value).
func with(m map[string]any, field string, raw string) string {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	out[field] = "@@RAW@@"
	return strings.Replace(mustJSON(out), `"@@RAW@@"`, raw, 1)
}

// Generate builds the bad-input corpus: every JSON route family attacked by
// media type, syntax, shape, field type, encoding, size, nesting depth,
// huge numbers, method and authentication, plus query and Open311 cases.
func Generate() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	for _, r := range corpusRoutes {
		n := func(s string) string { return r.family + ": " + s }
		valid := mustJSON(r.valid)
		// Media types: only JSON is JSON (the issue: 415 for non-JSON media types).
		for _, ct := range []string{"text/plain", "application/jsonx", "application/xml", "application/x-www-form-urlencoded", "text/json; charset=utf-8", "application/octet-stream"} {
			add(Case{Name: n("media type " + ct), Method: r.method, Path: r.path, Auth: r.role, ContentType: ct, Body: valid, Expect: []int{415}})
		}
		if r.family != "decisions" { // a decision's body is optional; the id is looked up first
			// Syntax and shape.
			for name, b := range map[string]string{
				"truncated": `{"a":`, "array": `[]`, "null": `null`, "string": `"x"`, "number": `42`, "two values": valid + `{}`,
				"trailing garbage": valid + `xyz`, "BOM": "\ufeff" + valid,
				"single quotes": strings.ReplaceAll(valid, `"`, `'`), "comment": `/* c */` + valid, "NaN": with(r.valid, "zz", `NaN`),
			} {
				add(Case{Name: n(name), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: b, Expect: []int{400}})
			}
			numField, deepField := "zz_n", "zz_deep"
			if r.lenient {
				numField, deepField = "temperature", "messages"
			} else {
				add(Case{Name: n("unknown field"), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, "zz_unknown", `1`), Expect: []int{400}})
			}
			// Nesting depth.
			for _, d := range []int{1000, 20000} {
				add(Case{Name: n(fmt.Sprintf("nesting %d", d)), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json",
					Body: with(r.valid, deepField, strings.Repeat("[", d)+strings.Repeat("]", d)), Expect: []int{400, 413}})
			}
			// Huge numbers.
			add(Case{Name: n("huge number"), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, numField, `1e999`), Expect: []int{400}})
			add(Case{Name: n("long number"), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, numField, strings.Repeat("9", 5000)), Expect: []int{400}})
		}
		// Size: above the 1 MiB body limit.
		add(Case{Name: n("2 MiB body"), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Prefix: `{"message":"`, Body: "x", Repeat: 2 << 20, Suffix: `"}`,
			Headers: map[string]string{"Expect": "100-continue"}, Expect: []int{413}})
		add(Case{Name: n("UTF-16 body"), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json",
			BodyB64: base64.StdEncoding.EncodeToString(utf16le(valid)), Expect: []int{400}})
		// Field types.
		for _, f := range append(append([]string{}, r.names...), r.texts...) {
			for tn, raw := range map[string]string{"number": `42`, "array": `["x"]`, "object": `{"x":1}`, "bool": `true`} {
				add(Case{Name: n(f + " as " + tn), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, f, raw), Expect: []int{400}, Field: f})
			}
		}
		// Control characters in names (400 naming the field).
		for _, f := range r.names {
			for cn, v := range map[string]string{"NUL": "a\x00b", "bidi override": "a\u202eb", "BEL": "a\x07b", "escape": "a\x1bb", "newline": "a\nb", "bidi isolate": "a\u2066b", "DEL": "a\x7fb"} {
				add(Case{Name: n(f + " with " + cn), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, f, mustJSON(v)), Expect: []int{400}, Field: f})
			}
		}
		// Control characters in ticket text are refused too (the issue names ticket text).
		if r.family == "tickets" {
			for cn, v := range map[string]string{"NUL": "停水\x00了", "bidi override": "停水\u202e了"} {
				add(Case{Name: n("text with " + cn), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json", Body: with(r.valid, "text", mustJSON(v)), Expect: []int{400}, Field: "text"})
			}
		}
		// Invalid UTF-8 in any string field (400 naming the field, never silently replaced).
		for _, f := range append(append([]string{}, r.names...), r.texts...) {
			for bn, b := range map[string]string{"0xff": "\xff", "truncated sequence": "\xe6\xb0", "overlong slash": "\xc0\xaf", "surrogate": "\xed\xa0\x80"} {
				body := strings.Replace(with(r.valid, f, `"@@"`), "@@", "ab"+b+"cd", 1)
				add(Case{Name: n(f + " invalid UTF-8 " + bn), Method: r.method, Path: r.path, Auth: r.role, ContentType: "application/json",
					BodyB64: base64.StdEncoding.EncodeToString([]byte(body)), Expect: []int{400}, Field: f})
			}
		}
		// Authentication and roles.
		for _, a := range []string{"none", "bad", "basic"} {
			add(Case{Name: n("auth " + a), Method: r.method, Path: r.path, Auth: a, ContentType: "application/json", Body: valid, Expect: []int{401}})
		}
		if r.wrongRole != "" {
			add(Case{Name: n("role " + r.wrongRole), Method: r.method, Path: r.path, Auth: r.wrongRole, ContentType: "application/json", Body: valid, Expect: []int{403}})
		}
		// Wrong methods.
		for _, m := range []string{"PUT", "PATCH"} {
			add(Case{Name: n("method " + m), Method: m, Path: r.path, Auth: r.role, ContentType: "application/json", Body: valid, Expect: []int{404, 405}})
		}
	}
	// Queries.
	for _, q := range []struct{ path, role string }{
		{"/v1/audit?limit=abc", "developer"}, {"/v1/audit?limit=-1", "developer"}, {"/v1/audit?limit=99999999999999999999", "developer"},
		{"/v1/audit?before=1&after=1", "developer"}, {"/v1/sessions?limit=abc", "operator"}, {"/v1/hotline/tickets?status=nope", "hotline"},
		{"/v1/hotline/tickets?limit=-5", "hotline"}, {"/v1/proposals?limit=abc", "operator"},
	} {
		add(Case{Name: "query " + q.path, Method: "GET", Path: q.path, Auth: q.role, Expect: []int{400}})
	}
	for _, p := range []string{"/v1/sessions/ses_nope", "/v1/hotline/tickets/tkt_nope", "/v1/proposals/prop_nope", "/v1/evals/runs/run_nope",
		"/v1/collections/nope", "/v1/agents/" + strings.Repeat("a", 300), "/v1/nothing"} {
		add(Case{Name: "unknown " + p[:min(len(p), 40)], Method: "GET", Path: p, Auth: "admin", Expect: []int{404}})
	}
	// Open311 facade (form-encoded, GeoReport error arrays).
	for _, c := range []struct{ name, path, body string }{
		{"no api_key", "/open311/v2/requests.json", "service_code=water&description=no+water"},
		{"xml format", "/open311/v2/requests.xml", "api_key={hotline_key}&service_code=water&description=x"},
		{"bad lat", "/open311/v2/requests.json", "api_key={hotline_key}&service_code=water&description=x&lat=abc&long=1"},
		{"unknown service", "/open311/v2/requests.json", "api_key={hotline_key}&service_code=nope&description=x"},
		{"NUL description", "/open311/v2/requests.json", "api_key={hotline_key}&service_code=water&description=a%00b"},
		{"invalid UTF-8 description", "/open311/v2/requests.json", "api_key={hotline_key}&service_code=water&description=a%FFb"},
	} {
		add(Case{Name: "open311: " + c.name, Method: "POST", Path: c.path, Auth: "none", ContentType: "application/x-www-form-urlencoded", Body: c.body, Expect: []int{400}, Open311: true})
	}
	add(Case{Name: "open311: bad api_key", Method: "POST", Path: "/open311/v2/requests.json", Auth: "none", ContentType: "application/x-www-form-urlencoded",
		Body: "api_key=ca_nope&service_code=water&description=x", Expect: []int{403}, Open311: true})
	// Map iteration above is random; the file is not.
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs
}

func utf16le(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}
