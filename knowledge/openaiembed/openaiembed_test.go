package openaiembed_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/openaiembed"
)

// server speaks the OpenAI embeddings protocol: it answers with the hashed
// embedding of each input (a stand-in model), out of order, and can be made
// to fail the first calls.
type server struct {
	*httptest.Server
	calls    atomic.Int32
	failures atomic.Int32 // answer this many calls with 503
	mu       sync.Mutex
	batches  []int
	auth     string
}

func newServer(t *testing.T) *server {
	s := &server{}
	model := knowledge.NewHashedEmbedder(32)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if s.failures.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Model          string   `json:"model"`
			Input          []string `json:"input"`
			EncodingFormat string   `json:"encoding_format"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "bge-m3" || len(req.Input) == 0 {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.batches = append(s.batches, len(req.Input))
		s.auth = r.Header.Get("Authorization")
		s.mu.Unlock()
		vs, _ := model.Embed(r.Context(), req.Input)
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i := len(vs) - 1; i >= 0; i-- { // out of order, as the protocol allows
			data = append(data, item{"embedding", i, vs[i]})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
			"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	t.Cleanup(s.Close)
	return s
}

func TestEmbed(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	e, err := openaiembed.New(ctx, openaiembed.Config{BaseURL: srv.URL + "/v1", Model: "bge-m3", APIKey: "sk-test", BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 32 || e.Name() != "openai:bge-m3" {
		t.Fatalf("dim %d name %s", e.Dim(), e.Name())
	}
	texts := []string{"信号配时", "signal timing", "占道施工", "", "需求响应", "hotline", "夜间施工"}
	vs, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := knowledge.NewHashedEmbedder(32).Embed(ctx, []string{"signal timing"})
	if len(vs) != len(texts) || vs[1][0] != want[0][0] || vs[1][5] != want[0][5] {
		t.Fatalf("vectors out of order or wrong: %d", len(vs))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if got := srv.batches[1:]; len(got) != 3 || got[0] != 3 || got[2] != 1 {
		t.Errorf("batches %v, want 3, 3, 1 after the probe", got)
	}
	if srv.auth != "Bearer sk-test" {
		t.Errorf("authorization %q", srv.auth)
	}
}

func TestRetries(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	e, err := openaiembed.New(ctx, openaiembed.Config{BaseURL: srv.URL + "/v1", Model: "bge-m3", Dim: 32, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv.failures.Store(2)
	if _, err := e.Embed(ctx, []string{"x"}); err != nil {
		t.Fatalf("two 503s then success: %v", err)
	}
	srv.failures.Store(3)
	_, err = e.Embed(ctx, []string{"x"})
	if !errors.Is(err, knowledge.ErrUnavailable) {
		t.Fatalf("three 503s: %v, want ErrUnavailable", err)
	}
	if _, err := openaiembed.New(ctx, openaiembed.Config{BaseURL: srv.URL + "/v1", Model: "other"}); err == nil || errors.Is(err, knowledge.ErrUnavailable) {
		t.Fatalf("a 400 is not retried and not unavailability: %v", err)
	}
}

// TestBaseWithEmbedder runs ingestion and hybrid search through the
// embedder into the embedded store.
func TestBaseWithEmbedder(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	e, err := openaiembed.New(ctx, openaiembed.Config{BaseURL: srv.URL + "/v1", Model: "bge-m3"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := knowledge.NewBase(s, e)
	for _, d := range []knowledge.Document{
		{ID: "a", Collection: "c", Text: "信号配时调整须经交通信号控制中心审批。"},
		{ID: "b", Collection: "c", Text: strings.Repeat("Night roadworks need a permit. ", 10)},
	} {
		if _, err := b.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := b.Search(ctx, knowledge.Query{Collection: "c", Text: "roadworks permit"})
	if err != nil || len(hits) == 0 || hits[0].DocID != "b" {
		t.Fatalf("search: %v, %v", hits, err)
	}
}
