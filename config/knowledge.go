package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// EmbeddingConfig configures the openai embedder: any server with an
// OpenAI-compatible /v1/embeddings endpoint (OpenAI, Ollama, vLLM, TEI).
type EmbeddingConfig struct {
	BaseURL    string        `yaml:"base_url"`
	Model      string        `yaml:"model"`
	APIKey     string        `yaml:"api_key"`
	APIKeyEnv  string        `yaml:"api_key_env"` // read the key from this variable instead
	Dim        int           `yaml:"dim"`         // 0: ask the server at start
	BatchSize  int           `yaml:"batch_size"`  // texts per request; 0 = 64
	Timeout    time.Duration `yaml:"timeout"`     // per attempt; 0 = 60s
	MaxRetries int           `yaml:"max_retries"` // on 408/429/5xx and connection errors; 0 = 2
}

// problems checks the knowledge settings.
func (k KnowledgeConfig) problems() []string {
	var p []string
	bad := func(field, format string, args ...any) { p = append(p, field+": "+fmt.Sprintf(format, args...)) }
	switch k.Store {
	case "embedded":
	case "pgvector":
		if u, err := url.Parse(k.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("knowledge.url", "pgvector needs a postgres:// URL, got %q", k.URL)
		}
	case "qdrant":
		addr := strings.TrimPrefix(k.URL, "http://")
		if _, _, err := net.SplitHostPort(addr); err != nil || strings.Contains(addr, "/") {
			bad("knowledge.url", "qdrant needs HOST:PORT of its gRPC API (usually 6334), got %q", k.URL)
		}
	default:
		bad("knowledge.store", "want embedded, pgvector or qdrant, got %q", k.Store)
	}
	switch k.Embedder {
	case "hashed":
	case "openai":
		e := k.Embedding
		if u, err := url.Parse(e.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("knowledge.embedding.base_url", "the openai embedder needs an http(s) URL, got %q", e.BaseURL)
		}
		if e.Model == "" {
			bad("knowledge.embedding.model", "required for the openai embedder")
		}
		if e.Dim < 0 || e.Dim > 4096 || e.BatchSize < 0 || e.Timeout < 0 || e.MaxRetries < 0 || e.MaxRetries > 10 {
			bad("knowledge.embedding", "dim 0–4096, batch_size ≥ 0, timeout ≥ 0, max_retries 0–10")
		}
	default:
		bad("knowledge.embedder", "want hashed or openai, got %q", k.Embedder)
	}
	return p
}
