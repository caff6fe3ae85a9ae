package rerank_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/rerank"
)

// server speaks vLLM's /v1/rerank: it scores each document by how many
// times it holds the word "favourite" (a stand-in for a cross-encoder),
// returns the results sorted by score, honours top_n and checks the key.
func server(t *testing.T, calls *atomic.Int64, topN int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/rerank" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer key" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		var req struct {
			Model     string   `json:"model"`
			Query     string   `json:"query"`
			Documents []string `json:"documents"`
			TopN      int      `json:"top_n"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "bge-reranker-v2-m3" || req.Query == "" {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		type doc struct {
			Text string `json:"text"`
		}
		type result struct {
			Index int     `json:"index"`
			Doc   doc     `json:"document"`
			Score float64 `json:"relevance_score"`
		}
		var res []result
		for i, d := range req.Documents {
			res = append(res, result{i, doc{d}, float64(strings.Count(d, "favourite"))/10 + 0.001*float64(i)})
		}
		slices.SortFunc(res, func(a, b result) int {
			if a.Score > b.Score {
				return -1
			}
			return 1
		})
		n := req.TopN
		if topN > 0 {
			n = min(n, topN)
		}
		res = res[:min(n, len(res))]
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "rerank-1", "model": req.Model, "results": res,
			"usage": map[string]int{"total_tokens": 42}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRerankProtocol(t *testing.T) {
	var calls atomic.Int64
	srv := server(t, &calls, 2)
	c, err := rerank.New(rerank.Config{BaseURL: srv.URL + "/v1", Model: "bge-reranker-v2-m3", APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	scores, err := c.Rerank(context.Background(), "q", []string{"a", "favourite favourite", "favourite"})
	if err != nil {
		t.Fatal(err)
	}
	// top_n 2: the third-best is left out and scores below every other.
	if len(scores) != 3 || !(scores[1] > scores[2]) || scores[0] > -1e300 {
		t.Fatalf("scores %v", scores)
	}
	bad, _ := rerank.New(rerank.Config{BaseURL: srv.URL + "/v1", Model: "bge-reranker-v2-m3", APIKey: "wrong"})
	if _, err := bad.Rerank(context.Background(), "q", []string{"a"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := rerank.New(rerank.Config{Model: "m"}); err == nil {
		t.Error("New without a base URL")
	}
}

func TestRerankBadResponse(t *testing.T) {
	for name, body := range map[string]string{
		"index out of range": `{"results":[{"index":5,"relevance_score":1}]}`,
		"missing score":      `{"results":[{"index":0}]}`,
		"not json":           `<html>`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
			defer srv.Close()
			c, _ := rerank.New(rerank.Config{BaseURL: srv.URL, Model: "m"})
			if _, err := c.Rerank(context.Background(), "q", []string{"a", "b"}); !errors.Is(err, rerank.ErrBadResponse) {
				t.Errorf("err %v, want ErrBadResponse", err)
			}
		})
	}
}

// TestBaseWithReranker: off by default; when set, it reorders the fused
// hits, but never above a chunk with exact-match evidence.
func TestBaseWithReranker(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs := []knowledge.Document{
		{ID: "plain", Collection: "c", Text: "Signal timing changes are approved by the signal centre."},
		{ID: "liked", Collection: "c", Text: "Signal timing: the favourite favourite rule of the signal office."},
		{ID: "coded", Collection: "c", Text: "Signal timing form STF-2207 is filed with the signal centre."},
	}
	plain := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for _, d := range docs {
		if _, err := plain.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int64
	srv := server(t, &calls, 0)
	c, err := rerank.New(rerank.Config{BaseURL: srv.URL + "/v1", Model: "bge-reranker-v2-m3", APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	reranked := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0), knowledge.WithReranker(c, 0))
	q := knowledge.Query{Collection: "c", Text: "signal timing approved", Clearance: access.Public}
	before, err := plain.Search(ctx, q)
	if err != nil || calls.Load() != 0 {
		t.Fatalf("a base without a reranker called one (%d) or failed: %v", calls.Load(), err)
	}
	if len(before) == 0 || before[0].DocID == "liked" {
		t.Fatalf("fused order %v already has liked first: the test shows nothing", before)
	}
	hits, err := reranked.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || len(hits) != 3 || hits[0].DocID != "liked" {
		t.Fatalf("reranked top %v after %d calls, want liked first", hits, calls.Load())
	}
	q.Text = "signal timing STF-2207"
	if hits, err = reranked.Search(ctx, q); err != nil || hits[0].DocID != "coded" {
		t.Fatalf("the reranker moved a chunk above the identifier's: %v, %v", hits, err)
	}
	srv.Close()
	if _, err := reranked.Search(ctx, q); err == nil {
		t.Error("a search whose reranker is down succeeded")
	}
}
