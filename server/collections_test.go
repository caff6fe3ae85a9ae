package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/store"
)

// kbEnv is a server with only the knowledge base: the demo documents in an
// embedded store, and one key per role and clearance.
type kbEnv struct {
	base  string
	kb    *knowledge.Base
	store *embedded.Store
	keys  map[string]string // "role/clearance" → secret
}

func newKBEnv(t *testing.T) *kbEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		t.Fatal(err)
	}
	env := &kbEnv{kb: kb, store: ks, keys: map[string]string{}}
	for _, rc := range []string{"operator/internal", "operator/restricted", "operator/public", "supervisor/internal",
		"developer/internal", "developer/restricted", "hotline/internal", "admin/restricted"} {
		role, cl, _ := strings.Cut(rc, "/")
		_, secret, err := IssueKey(ctx, db, KeyRequest{Name: rc, Role: role, Clearance: cl}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[rc] = secret
	}
	srv := New(Deps{Keys: db, Sessions: db, Knowledge: kb, Checks: []Check{{"knowledge_store", kb.Ping}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Options{BodyLimit: 256 << 10})
	addr := serveLoopback(t, srv)
	env.base = "http://" + addr
	return env
}

func (e *kbEnv) do(t *testing.T, method, path, key, ctype string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	resp, b, err := roundTrip(http.DefaultClient, e.request(method, path, key, ctype, body))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func (e *kbEnv) request(method, path, key, ctype string, body []byte) *http.Request {
	req, _ := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+e.keys[key])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

func (e *kbEnv) json(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	code, b, _ := e.do(t, method, path, key, "application/json", []byte(body))
	return code, b
}

// multipartBody builds a form with files (name → content) and fields.
func multipartBody(t *testing.T, files map[string][]byte, fields map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	for name, data := range files {
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

type searchResult struct {
	Hits []knowledge.Hit `json:"hits"`
}

func TestCollectionsAPI(t *testing.T) {
	t.Parallel()
	env := newKBEnv(t)

	code, body := env.json(t, "GET", "/v1/collections", "operator/internal", "")
	if code != 200 || !strings.Contains(string(body), `"name":"traffic"`) {
		t.Fatalf("list collections: %d %s", code, body)
	}
	code, body = env.json(t, "POST", "/v1/collections", "developer/internal", `{"name":"notices"}`)
	if code != 201 || !strings.Contains(string(body), `"created":true`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body = env.json(t, "POST", "/v1/collections", "developer/internal", `{"name":"notices"}`); code != 200 {
		t.Fatalf("create again: %d %s", code, body)
	}

	// JSON, one document and a batch.
	code, body = env.json(t, "POST", "/v1/collections/notices/documents", "developer/internal",
		`{"id":"night-works","title":"夜间施工管理 Night works","format":"markdown","text":"# 夜间施工\n\n夜间施工须在22:00前申请夜间施工许可。Night works need a permit applied for before 22:00.","metadata":{"district":"gaoxin"},"effective":"2024-01-01"}`)
	if code != 201 || !strings.Contains(string(body), `"created":1`) {
		t.Fatalf("ingest JSON: %d %s", code, body)
	}
	code, body = env.json(t, "POST", "/v1/collections/notices/documents", "developer/internal",
		`{"documents":[{"id":"a","text":"Snow clearing starts at 5 cm of snow."},{"id":"b","format":"html","text":"<h1>Heat</h1><p>Cooling centres open above 35 degrees.</p>"}]}`)
	if code != 201 || !strings.Contains(string(body), `"created":2`) {
		t.Fatalf("ingest batch: %d %s", code, body)
	}
	// Re-ingesting unchanged content writes nothing.
	code, body = env.json(t, "POST", "/v1/collections/notices/documents", "developer/internal",
		`{"documents":[{"id":"a","text":"Snow clearing starts at 5 cm of snow."}]}`)
	if code != 200 || !strings.Contains(string(body), `"unchanged":1`) {
		t.Fatalf("re-ingest: %d %s", code, body)
	}
	// PDF as base64 in JSON.
	pdf, err := os.ReadFile("../knowledge/extract/testdata/sample.pdf")
	if err != nil {
		t.Fatal(err)
	}
	code, body = env.json(t, "POST", "/v1/collections/notices/documents", "developer/internal",
		`{"filename":"night-permit.pdf","content_base64":"`+base64.StdEncoding.EncodeToString(pdf)+`"}`)
	if code != 201 || !strings.Contains(string(body), `"doc_id":"night-permit"`) {
		t.Fatalf("ingest PDF: %d %s", code, body)
	}
	// Multipart: a CSV (one document per row) and a Markdown file.
	ct, form := multipartBody(t, map[string][]byte{
		"permits.csv": []byte("permit_no,title,district,status\nP-1,Crane permit,gaoxin,issued\nP-2,Road dig,nanhu,review\n"),
		"rules.md":    []byte("---\ntitle: 占道规则\n---\n# 占道\n\n占道作业须设置警示标志。"),
	}, map[string]string{"id_column": "permit_no", "metadata_columns": "district,status", "clearance": "internal"})
	code, body, _ = env.do(t, "POST", "/v1/collections/notices/documents", "developer/internal", ct, form)
	if code != 201 || !strings.Contains(string(body), `"created":3`) {
		t.Fatalf("multipart: %d %s", code, body)
	}

	// Search: fields, filter, clearance.
	code, body = env.json(t, "POST", "/v1/collections/notices/search", "operator/internal", `{"query":"夜间施工许可","k":3}`)
	var res searchResult
	json.Unmarshal(body, &res)
	if code != 200 || len(res.Hits) == 0 || res.Hits[0].DocID != "night-works" {
		t.Fatalf("search: %d %s", code, body)
	}
	h := res.Hits[0]
	if h.ID == "" || h.Title == "" || h.Text == "" || h.Score <= 0 || h.Source == "" || len(h.HeadingPath) == 0 || h.Metadata["district"] != "gaoxin" {
		t.Errorf("hit lacks fields: %+v", h)
	}
	code, body = env.json(t, "POST", "/v1/collections/notices/search", "operator/internal", `{"query":"permit","filter":{"district":"nanhu"},"k":10}`)
	res = searchResult{}
	json.Unmarshal(body, &res)
	if code != 200 || len(res.Hits) != 1 || res.Hits[0].DocID != "permits-P-2" {
		t.Fatalf("filtered search: %d %s", code, body)
	}
	code, body = env.json(t, "POST", "/v1/collections/notices/search", "operator/public", `{"query":"permit road dig","k":10}`)
	res = searchResult{}
	if err := json.Unmarshal(body, &res); err != nil || code != 200 || len(res.Hits) == 0 {
		t.Fatalf("public search: %d %s", code, body)
	}
	for _, h := range res.Hits {
		if h.Clearance != access.Public {
			t.Errorf("public key got %s chunk %s", h.Clearance, h.ID)
		}
	}

	// Get and delete.
	code, body = env.json(t, "GET", "/v1/collections/notices/documents/night-works", "operator/internal", "")
	if code != 200 || !strings.Contains(string(body), `"chunks":1`) || !strings.Contains(string(body), `"hash"`) {
		t.Fatalf("get document: %d %s", code, body)
	}
	code, body = env.json(t, "GET", "/v1/collections/notices/documents?limit=2", "operator/internal", "")
	if code != 200 || !strings.Contains(string(body), `"next"`) {
		t.Fatalf("list documents: %d %s", code, body)
	}
	if code, body = env.json(t, "DELETE", "/v1/collections/notices/documents/a", "developer/internal", ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ = env.json(t, "GET", "/v1/collections/notices/documents/a", "operator/internal", ""); code != 404 {
		t.Fatalf("get deleted: %d", code)
	}
}

// TestRestrictedNeverReachesInternal: the demo city's restricted roster is
// not found by an internal key through search, listing or get, however it
// asks; a restricted key finds it.
func TestRestrictedNeverReachesInternal(t *testing.T) {
	t.Parallel()
	env := newKBEnv(t)
	docs, _ := demodocs.Documents()
	var restricted []knowledge.Document
	for _, d := range docs {
		if d.Clearance == access.Restricted {
			restricted = append(restricted, d)
		}
	}
	if len(restricted) == 0 {
		t.Fatal("the demo documents have no restricted document")
	}
	for _, d := range restricted {
		// Ask with the document's own title and opening words.
		words := []rune(d.Text)
		queries := []string{d.Title, string(words[:min(60, len(words))]), "值班 手机 电话 duty phone contact"}
		for _, q := range queries {
			qs, _ := json.Marshal(map[string]any{"query": q, "k": knowledge.MaxK})
			for _, key := range []string{"operator/internal", "developer/internal", "supervisor/internal"} {
				code, body := env.json(t, "POST", "/v1/collections/"+d.Collection+"/search", key, string(qs))
				if code != 200 {
					t.Fatalf("search: %d %s", code, body)
				}
				var res searchResult
				if err := json.Unmarshal(body, &res); err != nil || len(res.Hits) == 0 {
					// The collection's other documents always match some words.
					t.Fatalf("%s: no hits for %q: %s", key, q, body)
				}
				for _, h := range res.Hits {
					if h.Clearance == access.Restricted || h.DocID == d.ID {
						t.Errorf("%s got restricted %s for %q", key, h.ID, q)
					}
				}
			}
			code, body := env.json(t, "POST", "/v1/collections/"+d.Collection+"/search", "operator/restricted", string(qs))
			if code != 200 {
				t.Fatalf("restricted search: %d %s", code, body)
			}
		}
		code, body := env.json(t, "POST", "/v1/collections/"+d.Collection+"/search", "operator/restricted",
			`{"query":`+string(must(json.Marshal(d.Title)))+`,"k":3}`)
		if code != 200 || !strings.Contains(string(body), `"doc_id":"`+d.ID+`"`) {
			t.Errorf("a restricted key does not find %s: %s", d.ID, body)
		}
		if code, _ := env.json(t, "GET", "/v1/collections/"+d.Collection+"/documents/"+d.ID, "operator/internal", ""); code != 404 {
			t.Errorf("get of a restricted document by an internal key: %d", code)
		}
		code, body = env.json(t, "GET", "/v1/collections/"+d.Collection+"/documents", "operator/internal", "")
		if code != 200 || !strings.Contains(string(body), `"id":"`) {
			t.Fatalf("listing for an internal key: %d %s", code, body)
		}
		if strings.Contains(string(body), `"id":"`+d.ID+`"`) {
			t.Errorf("listing shows a restricted document to an internal key")
		}
		if code, _ := env.json(t, "DELETE", "/v1/collections/"+d.Collection+"/documents/"+d.ID, "developer/internal", ""); code != 404 {
			t.Errorf("delete of a restricted document by an internal key: %d", code)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestCollectionsBadInput(t *testing.T) {
	t.Parallel()
	env := newKBEnv(t)
	pdf, _ := os.ReadFile("../knowledge/extract/testdata/sample.pdf")
	corrupt := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("garbage "), 50)...)
	ctUnsupported, formUnsupported := multipartBody(t, map[string][]byte{"plan.docx": []byte("PK\x03\x04 not really")}, nil)
	ctCorrupt, formCorrupt := multipartBody(t, map[string][]byte{"broken.pdf": corrupt}, nil)
	ctEmpty, formEmpty := multipartBody(t, map[string][]byte{"empty.md": []byte("---\ntitle: x\n---\n\n   ")}, nil)
	ctBig, formBig := multipartBody(t, map[string][]byte{"big.txt": bytes.Repeat([]byte("信号配时。"), 100_000)}, nil)
	ctMixed, formMixed := multipartBody(t, map[string][]byte{"good.md": []byte("# Good\n\nA good document."), "bad.pdf": corrupt}, nil)
	ctNoFile, formNoFile := multipartBody(t, nil, map[string]string{"title": "x"})
	ctTwoIDs, formTwoIDs := multipartBody(t, map[string][]byte{"a.md": []byte("a"), "b.md": []byte("b")}, map[string]string{"id": "one"})
	_ = pdf
	for name, tc := range map[string]struct {
		method, path, key, ctype string
		body                     []byte
		status                   int
		field                    string
	}{
		"unknown collection":        {"POST", "/v1/collections/nope/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"x"}`), 404, ""},
		"unknown collection search": {"POST", "/v1/collections/nope/search", "operator/internal", "application/json", []byte(`{"query":"x"}`), 404, ""},
		"bad collection name":       {"POST", "/v1/collections", "developer/internal", "application/json", []byte(`{"name":"Not OK"}`), 400, "name"},
		"filter of the wrong type":  {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"x","filter":{"district":5}}`), 400, "filter"},
		"filter not an object":      {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"x","filter":["district"]}`), 400, "filter"},
		"k out of range":            {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"x","k":500}`), 400, "k"},
		"k wrong type":              {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"x","k":"5"}`), 400, "k"},
		"empty query":               {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"  "}`), 400, "query"},
		"bad date":                  {"POST", "/v1/collections/traffic/search", "operator/internal", "application/json", []byte(`{"query":"x","at":"soon"}`), 400, "at"},
		"unknown field":             {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"x","colour":"red"}`), 400, "colour"},
		"no text":                   {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x"}`), 400, "text"},
		"empty text":                {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"   "}`), 422, "text"},
		"bad id":                    {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"a/b","text":"x"}`), 400, "id"},
		"bad clearance":             {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"x","clearance":"secret"}`), 400, "clearance"},
		"expires before effective":  {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"x","effective":"2025-01-01","expires":"2024-01-01"}`), 400, "expires"},
		"bad base64":                {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"filename":"x.pdf","content_base64":"%%%"}`), 400, "content_base64"},
		"duplicate ids in a batch":  {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"documents":[{"id":"x","text":"a"},{"id":"x","text":"b"}]}`), 400, "documents[1].id"},
		"above own clearance":       {"POST", "/v1/collections/traffic/documents", "developer/internal", "application/json", []byte(`{"id":"x","text":"x","clearance":"restricted"}`), 403, ""},
		"unsupported file":          {"POST", "/v1/collections/traffic/documents", "developer/internal", ctUnsupported, formUnsupported, 415, ""},
		"corrupt pdf":               {"POST", "/v1/collections/traffic/documents", "developer/internal", ctCorrupt, formCorrupt, 422, ""},
		"empty document":            {"POST", "/v1/collections/traffic/documents", "developer/internal", ctEmpty, formEmpty, 422, "text"},
		"oversized upload":          {"POST", "/v1/collections/traffic/documents", "developer/internal", ctBig, formBig, 413, ""},
		"one bad file of two":       {"POST", "/v1/collections/traffic/documents", "developer/internal", ctMixed, formMixed, 422, ""},
		"no file":                   {"POST", "/v1/collections/traffic/documents", "developer/internal", ctNoFile, formNoFile, 400, "file"},
		"id with two files":         {"POST", "/v1/collections/traffic/documents", "developer/internal", ctTwoIDs, formTwoIDs, 400, "id"},
		"operator may not write":    {"POST", "/v1/collections/traffic/documents", "operator/internal", "application/json", []byte(`{"id":"x","text":"x"}`), 403, ""},
		"operator may not create":   {"POST", "/v1/collections", "operator/internal", "application/json", []byte(`{"name":"x"}`), 403, ""},
		"supervisor may not delete": {"DELETE", "/v1/collections/traffic/documents/traffic-signal-timing", "supervisor/internal", "", nil, 403, ""},
		"hotline may not read":      {"GET", "/v1/collections", "hotline/internal", "", nil, 403, ""},
		"hotline may not search":    {"POST", "/v1/collections/traffic/search", "hotline/internal", "application/json", []byte(`{"query":"x"}`), 403, ""},
		"no key":                    {"GET", "/v1/collections", "", "", nil, 401, ""},
		"unknown document":          {"GET", "/v1/collections/traffic/documents/nope", "operator/internal", "", nil, 404, ""},
		"delete unknown document":   {"DELETE", "/v1/collections/traffic/documents/nope", "developer/internal", "", nil, 404, ""},
		"bad limit":                 {"GET", "/v1/collections/traffic/documents?limit=0", "operator/internal", "", nil, 400, "limit"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body, err := roundTrip(http.DefaultClient, env.request(tc.method, tc.path, tc.key, tc.ctype, tc.body))
			if err != nil && tc.status == 413 && closedEarly(err) {
				t.Logf("the server closed before the client sent the whole body: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			code, hdr := resp.StatusCode, resp.Header
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q: %s", ct, body)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Status != code || p.Detail == "" {
				t.Fatalf("problem %s", body)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want field %s", p.Errors, tc.field)
			}
		})
	}
	// Nothing was written by any of them: the traffic collection holds only
	// the demo documents, and "good" from the mixed upload is not there.
	docs, err := env.kb.Documents(context.Background(), "traffic")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.Source != "" && !strings.Contains(d.ID, "traffic") {
			t.Errorf("a rejected request wrote %s", d.ID)
		}
	}
	for _, id := range []string{"good", "big", "x", "one", "a", "b", "broken", "empty", "plan"} {
		if _, err := env.kb.Document(context.Background(), "traffic", id); err == nil {
			t.Errorf("a rejected request wrote %s", id)
		}
	}
}

// TestKnowledgeDown: a store that cannot be reached answers 503 at once and
// readiness says so.
func TestKnowledgeDown(t *testing.T) {
	t.Parallel()
	env := newKBEnv(t)
	env.store.Close() // as good as unreachable: every call fails
	code, body := env.json(t, "POST", "/v1/collections/traffic/search", "operator/internal", `{"query":"信号"}`)
	if code != 503 {
		t.Fatalf("search on a closed store: %d %s", code, body)
	}
	code, body, _ = env.do(t, "GET", "/readyz", "", "", nil)
	if code != 503 || !strings.Contains(string(body), `"knowledge_store":"unavailable"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
}

// TestLowerClearanceCannotOverwrite: a key may not rewrite, downgrade or
// delete a document above its clearance by reusing its id.
func TestLowerClearanceCannotOverwrite(t *testing.T) {
	t.Parallel()
	e := newKBEnv(t)
	const doc = `{"id":"sealed-plan","title":"Sealed plan","text":"Sealed relocation plan for the Binhe depot, phase two.","clearance":"restricted"}`
	if code, b := e.json(t, "POST", "/v1/collections/traffic/documents", "developer/restricted", doc); code != 201 {
		t.Fatalf("ingest restricted: %d %s", code, b)
	}
	over := `{"id":"sealed-plan","title":"x","text":"replaced by a lower key","clearance":"internal"}`
	code, b := e.json(t, "POST", "/v1/collections/traffic/documents", "developer/internal", over)
	if code != 403 || !strings.Contains(string(b), `"field":"id"`) {
		t.Errorf("overwrite by developer/internal: %d %s, want 403 naming id", code, b)
	}
	if code, b := e.json(t, "DELETE", "/v1/collections/traffic/documents/sealed-plan", "developer/internal", ""); code != 404 {
		t.Errorf("delete by developer/internal: %d %s, want 404", code, b)
	}
	code, b = e.json(t, "GET", "/v1/collections/traffic/documents/sealed-plan", "developer/restricted", "")
	if code != 200 || !strings.Contains(string(b), `"clearance":"restricted"`) || !strings.Contains(string(b), "Sealed plan") {
		t.Errorf("the restricted document changed: %d %s", code, b)
	}
	// Its own clearance may update it.
	if code, b := e.json(t, "POST", "/v1/collections/traffic/documents", "developer/restricted", strings.Replace(doc, "phase two", "phase three", 1)); code != 201 {
		t.Errorf("update by developer/restricted: %d %s", code, b)
	}
}
