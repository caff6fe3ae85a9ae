package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/openapi/openapitest"
	"github.com/cityagent/cityagent/tools/outbound"
)

// fixture reads a vendored document (testdata/SOURCES.md says where each
// comes from).
func fixture(t testing.TB, name string) []byte { return openapitest.Fixture(t, name) }

// recorded is one request as the server received it.
type recorded struct {
	method, target string // target is the request line's URI, as sent
	header         http.Header
	body           []byte
}

// recorder is a real HTTP server on 127.0.0.1 that keeps every request.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
}

func newRecorder(t testing.TB) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, recorded{r.Method, r.RequestURI, r.Header.Clone(), body})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) last(t testing.TB) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		t.Fatal("no request reached the server")
	}
	return r.got[len(r.got)-1]
}

// wireCase is one invocation and the request the document says it makes.
type wireCase struct {
	tool, args     string
	method, target string
	headers        map[string]string // exact values; "" means absent
	contentType    string            // exact; "" means no body
	body           string            // exact bytes (unless parts is set)
	parts          map[string]string // multipart: part name → content
}

// importTools imports doc against rec and builds its tools by name.
func importTools(t *testing.T, doc []byte, opts openapi.Options, env map[string]string) (map[string]*httptool.Tool, *openapi.Report) {
	t.Helper()
	defs, rep, err := openapi.Import(context.Background(), doc, opts)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*httptool.Tool{}
	for _, d := range defs {
		// These tests check what goes on the wire; a scheme without a
		// secret (Petstore's implicit OAuth) makes a tool unavailable,
		// which TestUnconfiguredSchemeUnavailable covers.
		d.Unconfigured = nil
		tool, err := httptool.New(d, guard, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		out[d.Name] = tool
	}
	return out, rep
}

func runWire(t *testing.T, rec *recorder, ts map[string]*httptool.Tool, cases []wireCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.tool, func(t *testing.T) {
			tool := ts[c.tool]
			if tool == nil {
				t.Fatalf("no tool %s", c.tool)
			}
			if _, err := tool.Call(context.Background(), json.RawMessage(c.args)); err != nil {
				t.Fatal(err)
			}
			got := rec.last(t)
			if got.method != c.method || got.target != c.target {
				t.Errorf("request line %s %s, want %s %s", got.method, got.target, c.method, c.target)
			}
			for h, want := range c.headers {
				if v := strings.Join(got.header.Values(h), "\n"); v != want {
					t.Errorf("header %s = %q, want %q", h, v, want)
				}
			}
			if ct := got.header.Get("Content-Type"); c.contentType != "" && !strings.HasPrefix(ct, c.contentType) || c.contentType == "" && (ct != "" || len(got.body) > 0) {
				t.Errorf("content type %q body %q, want %q", ct, got.body, c.contentType)
			}
			if c.parts != nil {
				checkParts(t, got, c.parts)
			} else if string(got.body) != c.body {
				t.Errorf("body %q, want %q", got.body, c.body)
			}
		})
	}
}

func checkParts(t *testing.T, got recorded, want map[string]string) {
	t.Helper()
	_, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	seen := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		key := p.FormName()
		if p.FileName() != "" {
			key += ";file;" + p.Header.Get("Content-Type")
		}
		seen[key] = string(b)
	}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("part %s = %q, want %q (parts %q)", k, seen[k], v, seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("parts %q, want %q", seen, want)
	}
}
