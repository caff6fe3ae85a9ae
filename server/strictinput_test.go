package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
)

// strictRoute is one JSON body route: a body template whose %s is a text
// field (text, at textField) and, where the route has one, a body template
// whose %s is a name (name, at nameField). ok is the status a good body gets
// (0: not checked, the route needs more than this test wires).
type strictRoute struct {
	method, path string
	role         access.Role
	text         string
	textField    string
	name         string
	nameField    string
	ok           int
	multipartOK  bool // multipart/form-data is a documented body of this route
}

var strictRoutes = map[string]strictRoute{
	"chat": {method: "POST", path: "/v1/agents/traffic/chat", role: access.RoleOperator,
		text: `{"message":"%s"}`, textField: "message",
		name: `{"message":"hi","session_id":"%s"}`, nameField: "session_id"},
	"chat completions": {method: "POST", path: "/v1/chat/completions", role: access.RoleOperator,
		text: `{"model":"traffic","messages":[{"role":"user","content":"%s"}]}`, textField: "messages[0].content",
		name: `{"model":"%s","messages":[{"role":"user","content":"hi"}]}`, nameField: "model", ok: 200},
	"keys": {method: "POST", path: "/v1/keys", role: access.RoleAdmin,
		name: `{"name":"%s","role":"operator","clearance":"internal"}`, nameField: "name"},
	"collections": {method: "POST", path: "/v1/collections", role: access.RoleDeveloper,
		name: `{"name":"%s"}`, nameField: "name"},
	"documents": {method: "POST", path: "/v1/collections/traffic/documents", role: access.RoleDeveloper,
		text: `{"id":"strict-doc","title":"T","text":"%s"}`, textField: "text",
		name: `{"documents":[{"id":"%s","title":"T","text":"x"}]}`, nameField: "documents[0].id", multipartOK: true},
	"search": {method: "POST", path: "/v1/collections/traffic/search", role: access.RoleOperator,
		text: `{"query":"%s"}`, textField: "query", ok: 200},
	"tools": {method: "POST", path: "/v1/tools", role: access.RoleDeveloper,
		text: `{"name":"strict_tool","description":"%s","endpoint":"http://127.0.0.1:1/x"}`, textField: "description",
		name: `{"name":"%s","description":"d","endpoint":"http://127.0.0.1:1/x"}`, nameField: "name"},
	"tool invoke": {method: "POST", path: "/v1/tools/traffic_congestion/invoke", role: access.RoleDeveloper,
		text: `{"arguments":{"district":"%s"}}`, textField: "arguments.district"},
	"tool sources": {method: "POST", path: "/v1/tool-sources", role: access.RoleDeveloper,
		text: `{"name":"strict_src","kind":"openapi","document":{"openapi":"3.0.0","info":{"title":"%s"}}}`, textField: "document.info.title",
		name: `{"name":"%s","kind":"openapi","url":"http://127.0.0.1:1/openapi.json"}`, nameField: "name", multipartOK: true},
	"approve": {method: "POST", path: "/v1/proposals/prop_nope/approve", role: access.RoleSupervisor,
		text: `{"comment":"%s"}`, textField: "comment", ok: 404},
	"tickets": {method: "POST", path: "/v1/hotline/tickets", role: access.RoleHotline,
		text: `{"text":"%s","channel":"web"}`, textField: "text",
		name: `{"text":"streetlight broken","channel":"%s"}`, nameField: "channel", ok: 201},
	"ticket caller": {method: "POST", path: "/v1/hotline/tickets", role: access.RoleHotline,
		text: `{"text":"streetlight broken","caller":{"name":"%s"}}`, textField: "caller.name", ok: 201},
	"close ticket": {method: "POST", path: "/v1/hotline/tickets/tkt_nope/close", role: access.RoleHotline,
		text: `{"resolution":"%s"}`, textField: "resolution", ok: 404},
	"eval runs": {method: "POST", path: "/v1/evals/runs", role: access.RoleDeveloper,
		text: `{"suite":{"name":"s","cases":[{"id":"c1","agent":"traffic","question":"%s"}]}}`, textField: "suite.cases[0].question"},
}

func (r strictRoute) body(tmpl, s string) string { return strings.Replace(tmpl, "%s", s, 1) }

// strictDo sends body as ctype ("" sends no Content-Type) and returns the
// status and the problem, if the answer is one.
func strictDo(t *testing.T, e *fuzzEnv, r strictRoute, ctype, body string) (int, Problem, string) {
	t.Helper()
	req, err := http.NewRequest(r.method, e.base+r.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys[r.role])
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p Problem
	if resp.StatusCode >= 400 {
		if got := resp.Header.Get("Content-Type"); got != errorContentType(r.path) {
			t.Errorf("status %d with Content-Type %q: %s", resp.StatusCode, got, b)
		}
		p = decodeError(r.path, b)
	}
	return resp.StatusCode, p, string(b)
}

// TestStrictInput shares one fully wired server (the fuzz targets' env)
// between its parts.
func TestStrictInput(t *testing.T) {
	t.Parallel()
	e := newFuzzEnv(t)
	t.Run("media types", func(t *testing.T) { strictMediaTypes(t, e) })
	t.Run("strings", func(t *testing.T) { strictStrings(t, e) })
	t.Run("key names", func(t *testing.T) { strictKeyNames(t, e) })
	t.Run("open311", func(t *testing.T) { strictOpen311(t, e) })
}

func strictMediaTypes(t *testing.T, e *fuzzEnv) {
	refused := []string{"application/jsonx", "text/plain", "application/xml", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=xyz", "application/json; charset=latin1", "text/json", "application/json+x", "application/+json", "json"}
	accepted := []string{"application/json", "application/json; charset=utf-8", "APPLICATION/JSON; Charset=\"UTF-8\"", "application/merge-patch+json"}
	for name, r := range strictRoutes {
		tmpl := r.text
		if tmpl == "" {
			tmpl = r.name
		}
		body := r.body(tmpl, "hello")
		t.Run(name, func(t *testing.T) {
			for _, ct := range refused {
				if r.multipartOK && strings.HasPrefix(ct, "multipart/") {
					continue
				}
				send := body
				if strings.HasPrefix(ct, "multipart/") {
					// A malformed multipart body is refused (400) before routing; send a well-formed one.
					send = "--xyz\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello\r\n--xyz--\r\n"
				}
				if code, p, b := strictDo(t, e, r, ct, send); code != http.StatusUnsupportedMediaType || p.Detail == "" {
					t.Errorf("%s: %d %s, want 415 with a detail", ct, code, b)
				}
			}
			for _, ct := range accepted {
				if code, _, b := strictDo(t, e, r, ct, body); code == http.StatusUnsupportedMediaType || code >= 500 {
					t.Errorf("%s: %d %s, want it accepted", ct, code, b)
				}
			}
		})
	}
}

func strictStrings(t *testing.T, e *fuzzEnv) {
	bad := map[string]struct {
		s    string
		want string // in the field's message
	}{
		"NUL escaped":        {`a\u0000b`, "U+0000"},
		"ESC escaped":        {`a\u001b[31mb`, "U+001B"},
		"DEL":                {"a\x7fb", "U+007F"},
		"C1 CSI":             {"a\u009bb", "U+009B"},
		"RLO":                {"a\u202eb", "U+202E"},
		"RLO escaped":        {`a\u202Eb`, "U+202E"},
		"LRI":                {"a\u2066b", "U+2066"},
		"invalid UTF-8":      {"a\xff\xfeb", "UTF-8"},
		"truncated UTF-8":    {"a\xe4\xb8", "UTF-8"},
		"unpaired surrogate": {`a\ud800b`, "surrogate"},
		"lone low surrogate": {`\udc00`, "surrogate"},
		"overlong UTF-8 '/'": {"a\xc0\xafb", "UTF-8"},
		"UTF-16 surrogate b": {"a\xed\xa0\x80b", "UTF-8"},
	}
	nameOnly := map[string]struct{ s, want string }{
		"tab":  {`a\tb`, "U+0009"},
		"ZWSP": {"a\u200bb", "U+200B"},
		"BOM":  {"\ufeffa", "U+FEFF"},
		"RLM":  {"a\u200fb", "U+200F"},
	}
	good := map[string]string{
		"Chinese": "市民热线：路灯不亮", "emoji": "路灯坏了 🚦🙂👍🏽", "Arabic": "العربية", "Hebrew": "עברית",
		"RTL with marks": "\u200fالعربية\u200e abc", "ZWJ emoji": "👩\u200d🔧", "tabs and lines": `a\tb\nc\r\n`,
		"escaped FFFD": `\ufffd`, "literal FFFD": "\ufffd", "surrogate pair": `\ud83d\ude00`,
	}
	for name, r := range strictRoutes {
		t.Run(name, func(t *testing.T) {
			check := func(tmpl, field, what, s, want string) {
				code, p, b := strictDo(t, e, r, "application/json", r.body(tmpl, s))
				if code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field || !strings.Contains(p.Errors[0].Message, want) {
					t.Errorf("%s in %s: %d %s, want 400 naming %s with %q", what, field, code, b, field, want)
				}
			}
			for what, c := range bad {
				if r.text != "" {
					check(r.text, r.textField, what, c.s, c.want)
				}
				if r.name != "" {
					check(r.name, r.nameField, what, c.s, c.want)
				}
			}
			if r.name != "" {
				for what, c := range nameOnly {
					check(r.name, r.nameField, what, c.s, c.want)
				}
			}
			if r.text == "" {
				return
			}
			for what, s := range good {
				code, p, b := strictDo(t, e, r, "application/json", r.body(r.text, s))
				if r.ok != 0 && code != r.ok {
					t.Errorf("%s: %d %s, want %d", what, code, b, r.ok)
				}
				for _, fe := range p.Errors {
					if fe.Field == r.textField {
						t.Errorf("%s: %s refused: %s", what, r.textField, b)
					}
				}
				if code == http.StatusUnsupportedMediaType || code >= 500 {
					t.Errorf("%s: %d %s", what, code, b)
				}
			}
		})
	}
}

// strictKeyNames: names keep every script and emoji.
func strictKeyNames(t *testing.T, e *fuzzEnv) {
	r := strictRoutes["keys"]
	for _, s := range []string{"市民热线值班", "ops 🚦", "العربية", "עברית"} {
		if code, _, b := strictDo(t, e, r, "application/json", r.body(r.name, s)); code != http.StatusCreated {
			t.Errorf("%s: %d %s, want 201", s, code, b)
		}
	}
}

// strictOpen311: the GeoReport form reaches the same text rules.
func strictOpen311(t *testing.T, e *fuzzEnv) {
	post := func(desc string) (int, string) {
		form := "api_key=" + e.keys[access.RoleHotline] + "&service_code=030101&lat=30.58&long=114.27&attribute[scope]=home&description=" + url.QueryEscape(desc)
		resp, err := e.client.Post(e.base+"/open311/v2/requests.json", "application/x-www-form-urlencoded", bytes.NewReader([]byte(form)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, s := range []string{"停水\x00了", "停水\u202e了", "停水\xff了"} {
		if code, b := post(s); code != http.StatusBadRequest || !strings.Contains(b, "description") {
			t.Errorf("%q: %d %s, want 400 naming description", s, code, b)
		}
	}
	if code, b := post("小区停水了 🚰"); code != http.StatusCreated {
		t.Errorf("good text: %d %s, want 201", code, b)
	}
}

func TestIsJSONMediaType(t *testing.T) {
	t.Parallel()
	for mt, want := range map[string]bool{
		"application/json": true, "application/problem+json": true, "application/vnd.api+json": true,
		"application/jsonx": false, "application/+json": false, "text/json": false, "application/json+x": false, "text/x+json": false,
	} {
		if got := isJSONMediaType(mt); got != want {
			t.Errorf("%s: %v, want %v", mt, got, want)
		}
	}
}

func FuzzCheckJSONStrings(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"name":"a\u0000"}`, "{\"t\":\"\xff\"}", `[{"x":[1,"\ud800"]}]`, `{"a":{"b":`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkJSONStrings(body)
		if err == nil && !utf8.Valid(body) && json.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
	})
}

// TestDecodeOpenJSON runs the OpenAI request shape through the helper its
// route is to call: the same refusals, and unknown sampling fields ignored.
func TestDecodeOpenJSON(t *testing.T) {
	t.Parallel()
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var p *Problem
		if !errors.As(err, &p) {
			return c.Status(500).SendString(err.Error())
		}
		return c.Status(p.Status).JSON(p)
	}})
	app.Post("/", func(c *fiber.Ctx) error {
		var req oaiRequest
		if err := decodeOpenJSON(c, &req); err != nil {
			return err
		}
		return c.SendString(req.Model)
	})
	for name, c := range map[string]struct {
		ctype, body string
		status      int
		field       string
	}{
		"ok":             {"application/json", `{"model":"traffic","temperature":0.2,"messages":[{"role":"user","content":"市民 🚦 العربية"}]}`, 200, ""},
		"text/plain":     {"text/plain", `{"model":"traffic"}`, 415, ""},
		"xml":            {"application/xml", `<model>traffic</model>`, 415, ""},
		"form":           {"application/x-www-form-urlencoded", `model=traffic`, 415, ""},
		"latin1":         {"application/json; charset=latin1", `{"model":"traffic"}`, 415, ""},
		"NUL in model":   {"application/json", `{"model":"tra\u0000ffic"}`, 400, "model"},
		"RLO in content": {"application/json", `{"model":"traffic","messages":[{"role":"user","content":"a` + "\u202e" + `b"}]}`, 400, "messages[0].content"},
		"parts":          {"application/json", `{"model":"traffic","messages":[{"role":"user","content":[{"type":"text","text":"\u2066x"}]}]}`, 400, "messages[0].content[0].text"},
		"0xff 0xfe":      {"application/json", `{"model":"traffic","messages":[{"role":"user","content":"` + "\xff\xfe" + `"}]}`, 400, "messages[0].content"},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		var p Problem
		_ = json.Unmarshal(b, &p)
		if resp.StatusCode != c.status || (c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field)) {
			t.Errorf("%s: %d %s, want %d naming %q", name, resp.StatusCode, b, c.status, c.field)
		}
	}
}

// TestStrictMultipartDocuments: form fields of an upload meet the same rules.
func TestStrictMultipartDocuments(t *testing.T) {
	t.Parallel()
	e := newFuzzEnv(t)
	r := strictRoutes["documents"]
	for name, c := range map[string]struct{ id, file, field string }{
		"NUL in id":        {"a\x00b", "a.txt", "id"},
		"RLO in file name": {"", "gpj.\u202etxt", "file"},
		"0xff in id":       {"a\xffb", "a.txt", "id"},
	} {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if c.id != "" {
			_ = w.WriteField("id", c.id)
		}
		fw, _ := w.CreateFormFile("file", c.file)
		_, _ = fw.Write([]byte("road works on Zhongshan Road"))
		_ = w.Close()
		code, p, b := strictDo(t, e, r, w.FormDataContentType(), buf.String())
		if code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", name, code, b, c.field)
		}
	}
}
