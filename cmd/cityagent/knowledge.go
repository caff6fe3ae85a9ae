package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/openaiembed"
	"github.com/cityagent/cityagent/knowledge/pgvector"
	"github.com/cityagent/cityagent/knowledge/qdrant"
	"github.com/cityagent/cityagent/server"
)

// openKnowledge builds the configured embedder and knowledge store into a
// knowledge base, registering its closer and its readiness check on in.
func openKnowledge(ctx context.Context, cfg config.Config, in *installation, log *slog.Logger) (*knowledge.Base, error) {
	emb, err := buildEmbedder(ctx, cfg.Knowledge)
	if err != nil {
		return nil, err
	}
	store, closer, err := openKnowledgeStore(ctx, cfg, emb.Dim())
	if err != nil {
		return nil, err
	}
	in.kstore = store
	in.closers = append(in.closers, closer)
	kb := knowledge.NewBase(store, emb)
	in.checks = append(in.checks, server.Check{Name: "knowledge_store", Ping: kb.Ping})
	log.Debug("knowledge base", "store", cfg.Knowledge.Store, "embedder", emb.Name(), "dim", emb.Dim())
	return kb, nil
}

func buildEmbedder(ctx context.Context, kc config.KnowledgeConfig) (knowledge.Embedder, error) {
	switch kc.Embedder {
	case "openai":
		ec := kc.Embedding
		key := ec.APIKey
		if ec.APIKeyEnv != "" {
			key = config.ModelConfig{APIKeyEnv: ec.APIKeyEnv}.Key(nil)
		}
		e, err := openaiembed.New(ctx, openaiembed.Config{BaseURL: ec.BaseURL, Model: ec.Model, APIKey: key, Dim: ec.Dim,
			BatchSize: ec.BatchSize, Timeout: ec.Timeout, MaxRetries: ec.MaxRetries})
		if err != nil {
			return nil, fmt.Errorf("embedder: %w", err)
		}
		return e, nil
	case "hashed", "":
		return knowledge.NewHashedEmbedder(0), nil
	}
	return nil, fmt.Errorf("unknown embedder %q", kc.Embedder)
}

// openKnowledgeStore opens the knowledge store cfg names, for vectors of dim.
func openKnowledgeStore(ctx context.Context, cfg config.Config, dim int) (knowledge.Store, func() error, error) {
	kc := cfg.Knowledge
	switch kc.Store {
	case "pgvector":
		s, err := pgvector.Open(ctx, pgvector.Config{URL: kc.URL, Dim: dim})
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "qdrant":
		s, err := qdrant.Open(ctx, qdrant.Config{Addr: kc.URL, APIKey: kc.APIKey, Dim: dim})
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "embedded", "":
		s, err := embedded.Open(filepath.Join(cfg.DataDir, "knowledge"))
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown knowledge store %q", kc.Store)
}
