package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/outbound"
	"github.com/cityagent/cityagent/tools/traffic"
)

// The Fuzz… targets below send fuzzed bodies to every JSON route family
// through the real router on a real listener, with every dependency the
// serve command wires (SQLite state, the embedded knowledge base with the
// demo documents, the built-in agents on the offline engine, governed
// actions, the hotline, developer tools behind the outbound guard and the
// eval service). Each asserts: no 5xx, no panic in the log, and every 4xx is
// application/problem+json (the Open311 facade answers GeoReport error
// arrays instead, as its spec says). Their seed corpora run in `make test`;
// `make reliability` fuzzes each for a bounded time (docs/reliability.md).

// fuzzEnv is one fully wired server shared by a fuzz target's iterations.
type fuzzEnv struct {
	base   string
	keys   map[access.Role]string
	client *http.Client
	log    *panicLog
}

// panicLog is the server's log sink; it remembers lines that mention a panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *panicLog) Write(p []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(p), []byte("panic")) {
		l.mu.Lock()
		l.panics = append(l.panics, string(p))
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *panicLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.panics
	l.panics = nil
	return out
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	ks, err := embedded.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		tb.Fatal(err)
	}
	tax := hotline.DefaultTaxonomy()
	htool, err := hotline.NewTool(tax)
	if err != nil {
		tb.Fatal(err)
	}
	city := democity.New(2024, time.Now)
	reg, err := tools.NewRegistry(append(traffic.Tools(city, time.Now), htool)...)
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := agents.LoadCatalog("")
	if err != nil {
		tb.Fatal(err)
	}
	off := offline.New()
	models := agents.Models{ByName: map[string]llm.Model{"offline": off}, Default: "offline", Offline: off}
	acat, err := actions.LoadCatalog("")
	if err != nil {
		tb.Fatal(err)
	}
	asvc, err := actions.NewService(actions.Config{Catalog: acat, Store: db, Executors: map[string]actions.Executor{"store.dispatch": actions.NewStoreDispatch(db)}})
	if err != nil {
		tb.Fatal(err)
	}
	runner := &agents.Runner{Catalog: cat, Models: models, Tools: reg, Knowledge: kb, Sessions: db, Actions: asvc, Audit: db}
	spec, _ := cat.Get("hotline")
	triage, err := hotline.NewTriageRunner(runner, hotline.TriageSpec(spec, hotline.ModelBudget(hotline.DefaultDeadline)))
	if err != nil {
		tb.Fatal(err)
	}
	hsvc, err := hotline.NewService(hotline.Config{Taxonomy: tax, Store: db, Deadline: hotline.DefaultDeadline, Location: city.Location(),
		Triager:    &hotline.Triager{Tax: tax, Rules: hotline.NewClassifier(tax), Runner: triage, Agent: "hotline", Retriever: kb},
		Dispatcher: hotline.GovernedDispatcher{Gov: asvc}})
	if err != nil {
		tb.Fatal(err)
	}
	guard, err := outbound.New(outbound.Config{Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dev, err := devtools.New(devtools.Config{Registry: reg, Store: db, Outbound: guard, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	esvc := evals.NewService(evals.NewLocal(runner), evals.Options{Parallel: 1, Timeout: 10 * time.Second})
	tb.Cleanup(func() { esvc.Close() })
	plog := &panicLog{}
	srv := New(Deps{Runner: runner, Catalog: cat, Tools: reg, Keys: db, Sessions: db, Checks: []Check{{"state", db.Ping}},
		Log:       slog.New(slog.NewTextHandler(plog, nil)),
		Proposals: asvc, AuditLog: db, Audit: db, Hotline: hsvc, DevTools: dev, Evals: esvc, Knowledge: kb},
		Options{BodyLimit: 64 << 10, HeartbeatInterval: time.Second})
	env := &fuzzEnv{keys: map[access.Role]string{}, log: plog,
		client: &http.Client{Timeout: streamHangGuard}} // a hang guard: a loaded machine's answers take seconds
	for _, r := range access.Roles {
		_, secret, err := IssueKey(ctx, db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal", Department: testDepartment(r)}, "test", time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		env.keys[r] = secret
	}
	addr := serveLoopback(tb, srv)
	env.base = "http://" + addr
	return env
}

// fuzzRoute is one route of a family: method, path and the key's role.
type fuzzRoute struct {
	method, path string
	role         access.Role
	open311      bool // answers GeoReport error arrays, not problems
}

// fuzzMediaTypes are the Content-Type values a fuzzed request may carry.
var fuzzMediaTypes = []string{
	"application/json", "application/json; charset=utf-8", "", "text/plain", "application/jsonx",
	"application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml",
	"application/problem+json", "APPLICATION/JSON", "application/json; charset=latin1",
}

// fuzzRoutes runs the family's fuzz target: seeds, then the fuzzed (route,
// media type, body) triples.
func fuzzRoutes(f *testing.F, routes []fuzzRoute, seeds []string) {
	env := newFuzzEnv(f)
	for i, s := range seeds {
		f.Add(uint8(i), uint8(0), []byte(s))
		f.Add(uint8(i+1), uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, route, media uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		ctype := fuzzMediaTypes[int(media)%len(fuzzMediaTypes)]
		env.check(t, r, ctype, body)
	})
}

func (e *fuzzEnv) check(t *testing.T, r fuzzRoute, ctype string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, e.base+r.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.role != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[r.role])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if p := e.log.take(); len(p) > 0 {
		t.Fatalf("%s %s %q: panic in the log: %s", r.method, r.path, body, p[0])
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s (%s) %q: status %d: %s", r.method, r.path, ctype, body, resp.StatusCode, b)
	}
	if resp.StatusCode < 400 {
		return
	}
	got := resp.Header.Get("Content-Type")
	if r.open311 && strings.HasSuffix(r.path, ".xml") {
		if !isOpen311XMLErrors(b) { // server/open311_xml_test.go
			t.Fatalf("%s %s %q: status %d, want a GeoReport <errors> list: %s", r.method, r.path, body, resp.StatusCode, b)
		}
		return
	}
	if r.open311 {
		var errs []map[string]any
		if err := json.Unmarshal(b, &errs); err != nil || len(errs) == 0 {
			t.Fatalf("%s %s %q: status %d, want a GeoReport error array: %s", r.method, r.path, body, resp.StatusCode, b)
		}
		return
	}
	// An OpenAI route answers in OpenAI's envelope; only a request fasthttp
	// could not parse (its path unknown, "/") falls back to a problem.
	if isOpenAIPath(r.path) && !(got == "application/problem+json" && bytes.Contains(b, []byte(`"instance":"/"`))) {
		var env struct{ Error *oaiError }
		if err := json.Unmarshal(b, &env); err != nil || env.Error == nil || env.Error.Message == "" || env.Error.Type == "" || got != "application/json" {
			t.Fatalf("%s %s %q: status %d, want OpenAI's error envelope: %s %s", r.method, r.path, body, resp.StatusCode, got, b)
		}
		return
	}
	if got != "application/problem+json" {
		t.Fatalf("%s %s (%s) %q: status %d with Content-Type %q: %s", r.method, r.path, ctype, body, resp.StatusCode, got, b)
	}
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil || p.Status != resp.StatusCode || p.Title == "" {
		t.Fatalf("%s %s %q: problem body %s (%v)", r.method, r.path, body, b, err)
	}
}

func FuzzChatRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/agents/traffic/chat", access.RoleOperator, false},
		{"POST", "/v1/agents/city/chat", access.RoleOperator, false},
		{"POST", "/v1/agents/hotline/chat", access.RoleHotline, false},
		{"POST", "/v1/agents/traffic/chat", access.RoleHotline, false},
		{"POST", "/v1/agents/nope/chat", access.RoleOperator, false},
		{"POST", "/v1/agents/traffic/chat", "", false},
	}, []string{
		`{"message":"Which roads are congested?"}`, `{"message":"hi","stream":true}`, `{"message":"hi","session_id":"ses_x"}`,
		`{"message":42}`, `{"message":"a","temperature":1}`, `{"message":"\u0000\u202e"}`, `{"message":"` + "\xff\xfe" + `"}`,
		`[]`, `null`, `{"message":"a"}{}`, strings.Repeat(`{"a":`, 200) + strings.Repeat(`}`, 200), `{"message":1e999}`,
	})
}

func FuzzOpenAIChatRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/chat/completions", access.RoleOperator, false},
		{"POST", "/v1/chat/completions", access.RoleHotline, false},
		{"POST", "/v1/chat/completions", "", false},
	}, []string{
		`{"model":"traffic","messages":[{"role":"user","content":"congestion?"}]}`,
		`{"model":"traffic","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"traffic","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"nope","messages":[]}`, `{"model":"traffic","messages":[{"role":"tool","content":null}]}`,
		`<xml/>`, `model=traffic`, `{"model":"traffic","temperature":"hot","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"traffic","n":99999999999999999999999,"messages":[{"role":"user","content":"x"}]}`,
	})
}

func FuzzKeysRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/keys", access.RoleAdmin, false},
		{"POST", "/v1/keys", access.RoleOperator, false},
	}, []string{
		`{"name":"ops","role":"operator","clearance":"internal"}`, `{"name":"x","role":"admin","clearance":"restricted"}`,
		`{"name":"","role":"king","clearance":"top"}`, `{"name":"a\u0000b","role":"operator","clearance":"public"}`,
		`{"name":"a","role":"operator","clearance":"public","expires_in":"-1h"}`, `{"name":"a","role":"operator","clearance":"public","expires_in":"999999999h"}`,
		`{"name":["a"]}`,
	})
}

func FuzzToolsRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/tools", access.RoleDeveloper, false},
		{"POST", "/v1/tool-sources", access.RoleDeveloper, false},
		{"POST", "/v1/tools/traffic_congestion/invoke", access.RoleDeveloper, false},
		{"POST", "/v1/tools/nope/invoke", access.RoleDeveloper, false},
		{"POST", "/v1/tools", access.RoleOperator, false},
	}, []string{
		`{"name":"t1","description":"d","url":"http://127.0.0.1:1/x","method":"GET"}`,
		`{"name":"t2","description":"d","url":"http://[::1%25lo]:1/","method":"GET"}`,
		`{"name":"s1","kind":"openapi","url":"http://169.254.169.254/openapi.json"}`,
		`{"name":"s2","kind":"mcp","command":"/bin/sh -c id"}`, `{"limit":5}`, `{"limit":"five"}`, `{"district":"\u202e"}`,
		`{"name":"t3","parameters":{"type":"object","properties":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}}`,
	})
}

func FuzzCollectionsRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/collections", access.RoleDeveloper, false},
		{"POST", "/v1/collections/city-regulations/documents", access.RoleDeveloper, false},
		{"POST", "/v1/collections/city-regulations/search", access.RoleOperator, false},
		{"POST", "/v1/collections/nope/documents", access.RoleDeveloper, false},
		{"POST", "/v1/collections/city-regulations/documents", access.RoleOperator, false},
	}, []string{
		`{"name":"fz","description":"fuzz"}`, `{"name":"a\u0000b"}`,
		`{"documents":[{"id":"d1","title":"T","text":"road works on Zhongshan Road","classification":"public"}]}`,
		`{"id":"d2","title":"T","text":"x","classification":"top"}`, `{"query":"congestion","k":5}`, `{"query":"","k":-1}`,
		`{"query":"x","k":1e308}`, `{"documents":[]}`, `{"documents":[{"text":"` + "\xff" + `"}]}`,
	})
}

func FuzzProposalsRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/proposals/prop_nope/approve", access.RoleSupervisor, false},
		{"POST", "/v1/proposals/prop_nope/reject", access.RoleSupervisor, false},
		{"POST", "/v1/proposals/prop_nope/approve", access.RoleOperator, false},
		{"POST", "/v1/proposals/%00/approve", access.RoleSupervisor, false},
	}, []string{`{"comment":"ok"}`, `{}`, ``, `{"comment":42}`, `{"comment":"\u202e"}`, `{"decision":"approve"}`})
}

func FuzzHotlineTicketsRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/hotline/tickets", access.RoleHotline, false},
		{"POST", "/v1/hotline/tickets/tkt_nope/close", access.RoleHotline, false},
		{"POST", "/v1/hotline/tickets", access.RoleOperator, false},
	}, []string{
		waterJSON, `{"text":"streetlight broken","channel":"web"}`, `{"text":""}`, `{"text":"a\u0000b","channel":"phone"}`,
		`{"text":"x","channel":"pigeon"}`, `{"text":"x","location":{"lat":1e400,"lon":-999}}`, `{"resolution":"fixed"}`,
	})
}

func FuzzEvalRunsRoute(f *testing.F) {
	fuzzRoutes(f, []fuzzRoute{
		{"POST", "/v1/evals/runs", access.RoleDeveloper, false},
		{"POST", "/v1/evals/runs", access.RoleOperator, false},
	}, []string{
		`{"suite":{"name":"s","cases":[{"id":"c1","agent":"traffic","question":"congestion?"}]}}`,
		`{"suite":{"name":"s","cases":[{"id":"c1","agent":"traffic","question":"x","role":"admin","clearance":"restricted"}]}}`,
		`{"suites":["../../etc/passwd"]}`, `{"suite":"yaml: [unclosed"}`, `{}`, `{"parallel":-1}`,
	})
}

func FuzzOpen311RequestsRoute(f *testing.F) {
	// The facade's POST is form-encoded; the api_key is added by the seed,
	// so fuzzed bodies reach past authentication.
	env := newFuzzEnv(f)
	key := env.keys[access.RoleHotline]
	for _, s := range []string{
		"service_code=water&description=no+water+since+morning&lat=30.5&long=114.2",
		"service_code=nope&description=x", "description=%00%E2%80%AE", "lat=abc&long=1e999&service_code=water",
		"service_code=water&description=" + strings.Repeat("x", 5000), "%zz=1",
	} {
		f.Add(true, uint8(0), []byte(s))
		f.Add(false, uint8(1), []byte(s))
	}
	routes := []fuzzRoute{{"POST", "/open311/v2/requests.json", "", true}, {"POST", "/open311/v2/requests.xml", "", true}}
	f.Fuzz(func(t *testing.T, withKey bool, route uint8, body []byte) {
		if withKey {
			body = append([]byte("api_key="+key+"&"), body...)
		}
		env.check(t, routes[int(route)%len(routes)], "application/x-www-form-urlencoded", body)
	})
}
