// Package openaiembed is the knowledge base's semantic embedder: a client
// for any OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM,
// Hugging Face TEI, DashScope's compatible mode). Texts go in batches;
// requests that fail with 408, 429, 5xx or a connection error are retried
// with jittered exponential backoff, honouring Retry-After.
package openaiembed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/knowledge"
)

// Config says where the embedding server is.
type Config struct {
	BaseURL    string // e.g. http://127.0.0.1:11434/v1 (…/embeddings is appended)
	Model      string
	APIKey     string
	Dim        int           // 0: ask the server with one short text at New
	BatchSize  int           // texts per request; default 64
	Timeout    time.Duration // per attempt; default 60s
	MaxRetries int           // default 2; negative: none
	Client     *http.Client  // default: a client without its own timeout
}

// Embedder calls the endpoint.
type Embedder struct {
	cfg    Config
	url    string
	client *http.Client
}

var _ knowledge.Embedder = (*Embedder)(nil)

// ErrBadResponse is wrapped when the server's answer is not what the
// protocol says (wrong count, wrong dimension, malformed JSON).
var ErrBadResponse = errors.New("openaiembed: bad response")

// New returns an embedder; with cfg.Dim 0 it embeds one text to learn the
// dimension, so the server must be up.
func New(ctx context.Context, cfg Config) (*Embedder, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("openaiembed: base URL and model are required")
	}
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 64)
	cfg.Timeout = cmp.Or(cfg.Timeout, 60*time.Second)
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 2
	}
	e := &Embedder{cfg: cfg, url: strings.TrimSuffix(cfg.BaseURL, "/") + "/embeddings", client: cmp.Or(cfg.Client, &http.Client{})}
	if cfg.Dim <= 0 {
		vs, err := e.request(ctx, []string{"dimension probe 维度探测"})
		if err != nil {
			return nil, fmt.Errorf("openaiembed: learn the dimension of %s: %w", cfg.Model, err)
		}
		e.cfg.Dim = len(vs[0])
	}
	return e, nil
}

// Name is "openai:<model>": a content hash covers it, so switching models
// re-indexes documents on their next ingest.
func (e *Embedder) Name() string { return "openai:" + e.cfg.Model }

// Dim is the vector length.
func (e *Embedder) Dim() int { return e.cfg.Dim }

// Embed embeds texts in batches of BatchSize.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.cfg.BatchSize {
		batch := texts[start:min(start+e.cfg.BatchSize, len(texts))]
		vs, err := e.request(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if len(v) != e.cfg.Dim {
				return nil, fmt.Errorf("%w: a vector of %d dimensions, want %d", ErrBadResponse, len(v), e.cfg.Dim)
			}
		}
		out = append(out, vs...)
	}
	return out, nil
}

type embeddingRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type embeddingResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// request sends one batch, with retries.
func (e *Embedder) request(ctx context.Context, texts []string) ([][]float32, error) {
	// Servers reject empty strings; an empty text embeds as a space.
	input := make([]string, len(texts))
	for i, t := range texts {
		input[i] = cmp.Or(t, " ")
	}
	body, err := json.Marshal(embeddingRequest{Model: e.cfg.Model, Input: input, EncodingFormat: "float"})
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		vs, retry, wait, err := e.once(ctx, body, len(texts))
		if err == nil {
			return vs, nil
		}
		lastErr = err
		if !retry || attempt >= e.cfg.MaxRetries {
			break
		}
		if wait == 0 {
			wait = time.Duration(250*(1<<attempt)) * time.Millisecond
			wait += time.Duration(rand.Int64N(int64(wait / 2)))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil, lastErr
}

// once makes one attempt and says whether a failure is worth retrying, and
// after how long if the server said.
func (e *Embedder) once(ctx context.Context, body []byte, n int) (vs [][]float32, retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err == nil {
		telemetry.Inject(ctx, req.Header) // W3C traceparent of the calling turn
	}
	if err != nil {
		return nil, false, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return nil, false, 0, err
		}
		return nil, true, 0, fmt.Errorf("openaiembed: %w: %w", knowledge.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, true, 0, fmt.Errorf("openaiembed: %w: read response: %w", knowledge.ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		err := fmt.Errorf("openaiembed: %s answered %d: %s", e.url, resp.StatusCode, msg)
		switch {
		case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 && s <= 60 {
				wait = max(time.Duration(s)*time.Second, time.Millisecond)
			}
			return nil, true, wait, fmt.Errorf("%w: %w", knowledge.ErrUnavailable, err)
		}
		return nil, false, 0, err
	}
	var r embeddingResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, false, 0, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if len(r.Data) != n {
		return nil, false, 0, fmt.Errorf("%w: %d embeddings for %d texts", ErrBadResponse, len(r.Data), n)
	}
	vs = make([][]float32, n)
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || vs[d.Index] != nil || len(d.Embedding) == 0 {
			return nil, false, 0, fmt.Errorf("%w: bad or repeated index %d", ErrBadResponse, d.Index)
		}
		vs[d.Index] = d.Embedding
	}
	return vs, false, 0, nil
}
