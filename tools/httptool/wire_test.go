package httptool_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
)

// wire is one request as the server read it.
type wire struct {
	method, target string
	header         http.Header
	body           []byte
}

// recorder starts a real server on 127.0.0.1 that keeps the last request
// and answers with status.
func recorder(t *testing.T, status int) (*httptest.Server, func() wire) {
	t.Helper()
	var mu sync.Mutex
	var last wire
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = wire{r.Method, r.RequestURI, r.Header.Clone(), b}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() wire { mu.Lock(); defer mu.Unlock(); return last }
}

func newTool(t *testing.T, d httptool.Def, env map[string]string) *httptool.Tool {
	t.Helper()
	if d.Name == "" {
		d.Name, d.Description = "t_op", "an operation"
	}
	tool, err := httptool.New(d, guard(t), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

func call(t *testing.T, tool *httptool.Tool, args string) {
	t.Helper()
	if _, err := tool.Call(context.Background(), json.RawMessage(args)); err != nil {
		t.Fatal(err)
	}
}

// Defect 1 on a tool registered by JSON: numbers keep their text in the
// path, query, a header and the body.
func TestNumbersEverywhere(t *testing.T) {
	srv, last := recorder(t, 200)
	get := newTool(t, httptool.Def{Endpoint: srv.URL + "/issues/{n}", Parameters: json.RawMessage(
		`{"type":"object","properties":{"n":{"type":"integer"},"page":{"type":"integer"},"X-Count":{"type":"number"}}}`),
		In: map[string]string{"X-Count": "header"}}, nil)
	call(t, get, `{"n":1234567,"page":1e6,"X-Count":0.25}`)
	if w := last(); w.target != "/issues/1234567?page=1000000" || w.header.Get("X-Count") != "0.25" {
		t.Errorf("sent %s X-Count=%q", w.target, w.header.Get("X-Count"))
	}
	post := newTool(t, httptool.Def{Endpoint: srv.URL + "/r", Method: "POST", Parameters: json.RawMessage(
		`{"type":"object","properties":{"id":{"type":"integer"},"amount":{"type":"number"}}}`)}, nil)
	call(t, post, `{"id":12345678901234567890,"amount":1.10}`)
	if w := last(); string(w.body) != `{"amount":1.10,"id":12345678901234567890}` {
		t.Errorf("body %s", w.body)
	}
}

// Defect 6: every supported security scheme comes from secrets, and a
// missing secret makes the tool unavailable, not the call malformed.
func TestAuthFromSecrets(t *testing.T) {
	srv, last := recorder(t, 200)
	tokens := 0
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, sec, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id) // RFC 6749 §2.3.1 form-encodes both
		sec, _ = url.QueryUnescape(sec)
		if r.Form.Get("grant_type") != "client_credentials" || id != "cid" || sec != "c s" || r.Form.Get("scope") != "read write" {
			w.WriteHeader(401)
			return
		}
		tokens++
		_, _ = fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"Bearer","expires_in":3600}`, tokens)
	}))
	defer issuer.Close()
	env := map[string]string{"CITYAGENT_SECRET_K": "k&1", "CITYAGENT_SECRET_U": "ana", "CITYAGENT_SECRET_P": "pw:1",
		"CITYAGENT_SECRET_CID": "cid", "CITYAGENT_SECRET_CSEC": "c s"}
	for name, c := range map[string]struct {
		auth   httptool.Auth
		target string
		header string
		value  string
	}{
		"apiKey header": {httptool.Auth{Type: "apiKey", In: "header", Name: "X-Api-Key", Secret: "${CITYAGENT_SECRET_K}"}, "/a", "X-Api-Key", "k&1"},
		"apiKey query":  {httptool.Auth{Type: "apiKey", In: "query", Name: "api_key", Secret: "${CITYAGENT_SECRET_K}"}, "/a?api_key=k%261", "", ""},
		"apiKey cookie": {httptool.Auth{Type: "apiKey", In: "cookie", Name: "session", Secret: "${CITYAGENT_SECRET_K}"}, "/a", "Cookie", "session=k&1"},
		"bearer":        {httptool.Auth{Type: "bearer", Secret: "${CITYAGENT_SECRET_K}"}, "/a", "Authorization", "Bearer k&1"},
		"basic":         {httptool.Auth{Type: "basic", Username: "${CITYAGENT_SECRET_U}", Password: "${CITYAGENT_SECRET_P}"}, "/a", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ana:pw:1"))},
		"oauth2": {httptool.Auth{Type: "oauth2", TokenURL: issuer.URL + "/token", ClientID: "${CITYAGENT_SECRET_CID}", ClientSecret: "${CITYAGENT_SECRET_CSEC}",
			Scopes: []string{"read", "write"}}, "/a", "Authorization", "Bearer tok1"},
	} {
		t.Run(name, func(t *testing.T) {
			tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/a", Auth: []httptool.Auth{c.auth}}, env)
			call(t, tool, `{}`)
			call(t, tool, `{}`) // a second call reuses an OAuth token
			w := last()
			if w.target != c.target || c.header != "" && w.header.Get(c.header) != c.value {
				t.Errorf("sent %s %s=%q", w.target, c.header, w.header.Get(c.header))
			}
			if err := newTool(t, httptool.Def{Endpoint: srv.URL + "/a", Auth: []httptool.Auth{c.auth}}, nil).Check(context.Background()); err == nil {
				t.Error("a tool whose secret is not set reports available")
			}
		})
	}
	if tokens != 1 {
		t.Errorf("%d token requests, want 1 (cached)", tokens)
	}
	_, err := httptool.New(httptool.Def{Name: "t_x", Description: "x", Endpoint: srv.URL, Auth: []httptool.Auth{{Type: "bearer", Secret: "literal-token"}}}, guard(t), nil)
	if err == nil || !strings.Contains(err.Error(), "auth[0].secret") {
		t.Errorf("a literal secret was accepted: %v", err)
	}
}

// Defect 3 and 2: a body is sent whenever the operation defines one, in
// its content type.
func TestBodies(t *testing.T) {
	srv, last := recorder(t, 200)
	params := json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"body":{}}}`)
	for name, c := range map[string]struct {
		method, ct, args, wantCT, wantBody string
	}{
		"DELETE json": {"DELETE", "application/json", `{"id":"f","body":{"message":"rm","sha":"abc"}}`, "application/json", `{"message":"rm","sha":"abc"}`},
		"vendor json": {"POST", "application/vnd.api+json", `{"id":"f","body":{"a":[1,2]}}`, "application/vnd.api+json", `{"a":[1,2]}`},
		"form":        {"PUT", "application/x-www-form-urlencoded", `{"id":"f","body":{"tags":["a b","c"],"n":2}}`, "application/x-www-form-urlencoded", "n=2&tags=a+b&tags=c"},
		"text":        {"POST", "text/plain", `{"id":"f","body":"héllo\nworld"}`, "text/plain; charset=utf-8", "héllo\nworld"},
		"no body":     {"DELETE", "application/json", `{"id":"f"}`, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/files/{id}", Method: c.method, Parameters: params,
				Params: map[string]httptool.Param{"id": {In: "path"}}, Body: &httptool.Body{Arg: "body", ContentType: c.ct}}, nil)
			call(t, tool, c.args)
			w := last()
			if w.method != c.method || w.target != "/files/f" || w.header.Get("Content-Type") != c.wantCT || string(w.body) != c.wantBody {
				t.Errorf("sent %s %s %q %q", w.method, w.target, w.header.Get("Content-Type"), w.body)
			}
		})
	}
}

// Header arguments cannot smuggle a second header.
func TestHeaderInjection(t *testing.T) {
	srv, _ := recorder(t, 200)
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/a", Parameters: json.RawMessage(`{"type":"object","properties":{"X-Trace":{"type":"string"}}}`),
		Params: map[string]httptool.Param{"X-Trace": {In: "header"}}}, nil)
	if _, err := tool.Call(context.Background(), json.RawMessage(`{"X-Trace":"a\r\nX-Evil: 1"}`)); err == nil {
		t.Fatal("a header value with a line break was sent")
	}
}

// Property: for random schema-valid arguments, the request the server
// receives decodes back to the same arguments.
func TestRoundTripProperty(t *testing.T) {
	srv, last := recorder(t, 200)
	tool := newTool(t, httptool.Def{Endpoint: srv.URL + "/items/{id}/{label}", Method: "POST", Parameters: json.RawMessage(`{"type":"object",
		"required":["id","label"],"properties":{
		"id":{"type":"string","minLength":1},"label":{"type":"string","minLength":1},
		"tags":{"type":"array","minItems":1,"items":{"type":"string"}},
		"ids":{"type":"array","minItems":1,"items":{"type":"integer"}},
		"n":{"type":"integer"},"q":{"type":"string"},
		"X-Tag":{"type":"string","pattern":"^[!-~]+$"},
		"body":{"type":"object"}}}`),
		Params: map[string]httptool.Param{"id": {In: "path"}, "label": {In: "path", Style: "label"}, "tags": {In: "query"},
			"ids": {In: "query", Explode: new(bool)}, "n": {In: "query"}, "q": {In: "query", Name: "search term"}, "X-Tag": {In: "header"}},
		Body: &httptool.Body{Arg: "body", ContentType: "application/json"}}, nil)
	rng := rand.New(rand.NewPCG(19, 2026))
	for i := 0; i < 300; i++ {
		args := map[string]any{"id": randText(rng, 1), "label": randText(rng, 1), "tags": []any{randText(rng, 0), randText(rng, 0)},
			"ids": []any{json.Number(fmt.Sprint(rng.Int64() - rng.Int64())), json.Number("7")}, "n": json.Number(fmt.Sprint(rng.Uint64())),
			"q": randText(rng, 0), "X-Tag": strings.Repeat("!", 1+rng.IntN(3)) + "~x", "body": map[string]any{"s": randText(rng, 0), "big": json.Number("1234567890123456789")}}
		raw, _ := json.Marshal(args)
		call(t, tool, string(raw))
		got := decodeBack(t, last())
		if !reflect.DeepEqual(got, args) {
			t.Fatalf("sent %s\nread back %v\nwant %v", raw, got, args)
		}
	}
}

// randText is a string of letters, reserved characters, spaces and
// non-ASCII text, at least min runes long.
func randText(rng *rand.Rand, min int) string {
	alphabet := []rune("aZ09-._~ /?#[]@!$&'()*+,;=%\"|^`{}<>中文é")
	n := min + rng.IntN(8)
	r := make([]rune, n)
	for i := range r {
		r[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(r)
}

// decodeBack reads the arguments out of a request as a server would.
func decodeBack(t *testing.T, w wire) map[string]any {
	t.Helper()
	u, err := url.ParseRequestURI(w.target)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(u.EscapedPath(), "/") // "", items, id, .label
	id, _ := url.PathUnescape(segs[2])
	label, _ := url.PathUnescape(strings.TrimPrefix(segs[3], "."))
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{"id": id, "label": label, "q": q.Get("search term"), "n": json.Number(q.Get("n")), "X-Tag": w.header.Get("X-Tag")}
	var tags, ids []any
	for _, s := range q["tags"] {
		tags = append(tags, s)
	}
	for _, s := range strings.Split(q.Get("ids"), ",") {
		ids = append(ids, json.Number(s))
	}
	out["tags"], out["ids"] = tags, ids
	dec := json.NewDecoder(strings.NewReader(string(w.body)))
	dec.UseNumber()
	var body any
	_ = dec.Decode(&body)
	out["body"] = body
	return out
}
