package evals

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/traffic"
)

// cityAt is the demo city's zone.
var cityAt = time.FixedZone("UTC+8", 8*3600)

// rig is a real agent loop as cmd/cityagent builds it: SQLite state store,
// embedded knowledge base with the demo documents, the demo city's traffic
// tools on a fixed clock, the built-in agents and the offline engine.
type rig struct {
	runner *agents.Runner
	kb     *knowledge.Base
}

type rigOption func(*rigConfig)

type rigConfig struct {
	at      time.Time
	models  map[string]llm.Model
	def     string
	catalog *agents.Catalog
}

func at(t time.Time) rigOption { return func(c *rigConfig) { c.at = t } }

// withModel makes m the default model (offline stays the last resort).
func withModel(m llm.Model) rigOption {
	return func(c *rigConfig) { c.models[m.Name()] = m; c.def = m.Name() }
}

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	ctx := context.Background()
	off := offline.New()
	cfg := rigConfig{at: time.Date(2026, 6, 15, 8, 30, 0, 0, cityAt), models: map[string]llm.Model{"offline": off}, def: "offline"}
	for _, o := range opts {
		o(&cfg)
	}
	dir := storeDir(t)
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := embedded.Open(filepath.Join(dir, "knowledge"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return cfg.at }
	city := democity.New(2024, clock)
	reg, err := tools.NewRegistry(traffic.Tools(city, clock)...)
	if err != nil {
		t.Fatal(err)
	}
	cat := cfg.catalog
	if cat == nil {
		if cat, err = agents.LoadCatalog(""); err != nil {
			t.Fatal(err)
		}
	}
	models := agents.Models{ByName: cfg.models, Default: cfg.def, Offline: off}
	r := &agents.Runner{Catalog: cat, Models: models, Tools: reg, Knowledge: kb, Sessions: db,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &rig{runner: r, kb: kb}
}

func mustSuite(t testing.TB, yaml string) *Suite {
	t.Helper()
	s, err := ParseSuite([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingTarget counts the turns a target was asked to run.
type countingTarget struct {
	Target
	chats atomic.Int64
}

func (c *countingTarget) Chat(ctx context.Context, req ChatRequest) (agents.ChatResult, error) {
	c.chats.Add(1)
	return c.Target.Chat(ctx, req)
}

var _ Target = (*countingTarget)(nil)
