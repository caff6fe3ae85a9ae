// Package rerank is a client for the OpenAI-compatible rerank endpoint that
// vLLM (`vllm serve <cross-encoder> --task score`), Hugging Face TEI, Jina
// and Cohere-style servers expose at /v1/rerank:
//
//	POST {base}/rerank {"model": m, "query": q, "documents": ["…", …], "top_n": n}
//	→ {"id": …, "model": m, "results": [{"index": i, "relevance_score": s, "document": {"text": …}}, …], "usage": {…}}
//
// results come sorted by relevance and may omit documents (top_n); a
// document left out scores below every returned one. It satisfies
// knowledge.Reranker; knowledge.WithReranker plugs it into a Base. Off
// unless configured.
package rerank

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/cityagent/cityagent/knowledge"
)

// Config says where the rerank server is.
type Config struct {
	BaseURL string // e.g. http://127.0.0.1:8000/v1 (…/rerank is appended)
	Model   string
	APIKey  string
	Timeout time.Duration // per request; default 10s
	Client  *http.Client  // default: http.DefaultClient's transport, no own timeout
}

// Client calls the endpoint.
type Client struct {
	cfg    Config
	url    string
	client *http.Client
}

var _ knowledge.Reranker = (*Client)(nil)

// ErrBadResponse is wrapped when the answer is not what the protocol says.
var ErrBadResponse = errors.New("rerank: bad response")

// New returns a client; it does not contact the server.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("rerank: base URL and model are required")
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	c := &Client{cfg: cfg, url: strings.TrimRight(cfg.BaseURL, "/") + "/rerank", client: cfg.Client}
	if c.client == nil {
		c.client = &http.Client{}
	}
	return c, nil
}

type request struct {
	Model     string   `json:"model"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	TopN      int      `json:"top_n"`
}

type response struct {
	Results []struct {
		Index          *int     `json:"index"`
		RelevanceScore *float64 `json:"relevance_score"`
	} `json:"results"`
}

// Rerank scores docs against query: one score per document, in docs' order.
// Documents the server leaves out score -Inf.
func (c *Client) Rerank(ctx context.Context, query string, docs []string) ([]float64, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	body, err := json.Marshal(request{Model: c.cfg.Model, Query: query, Documents: docs, TopN: len(docs)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rerank: %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("rerank: %s: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("rerank: %s: HTTP %d: %s", c.url, resp.StatusCode, msg)
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	scores := make([]float64, len(docs))
	for i := range scores {
		scores[i] = math.Inf(-1)
	}
	seen := make([]bool, len(docs))
	for _, x := range r.Results {
		if x.Index == nil || x.RelevanceScore == nil {
			return nil, fmt.Errorf("%w: a result without index or relevance_score", ErrBadResponse)
		}
		i := *x.Index
		if i < 0 || i >= len(docs) || seen[i] {
			return nil, fmt.Errorf("%w: result index %d for %d documents", ErrBadResponse, i, len(docs))
		}
		if math.IsNaN(*x.RelevanceScore) {
			return nil, fmt.Errorf("%w: relevance_score is NaN", ErrBadResponse)
		}
		seen[i] = true
		scores[i] = *x.RelevanceScore
	}
	return scores, nil
}
