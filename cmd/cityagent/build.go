package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tmc/langchaingo/llms/anthropic"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/lcbridge"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/llm/openai"
	"github.com/cityagent/cityagent/server"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/sources"
)

// installation is everything a running cityagent holds, built from config.
type installation struct {
	db      *store.DB
	kstore  knowledge.Store
	kb      *knowledge.Base
	city    *democity.City
	tools   *tools.Registry
	catalog *agents.Catalog
	models  agents.Models
	runner  *agents.Runner
	actions *actions.Service // governed actions: proposals, decisions, execution
	hotline *hotline.Service // hotline triage, tickets and Open311 (cmd/cityagent/hotline.go)
	checks  []server.Check
	closers []func() error

	devtools *devtools.Manager // registered tools and sources (cmd/cityagent/tools.go)
}

func (in *installation) Close() error {
	var errs []error
	for i := len(in.closers) - 1; i >= 0; i-- {
		errs = append(errs, in.closers[i]())
	}
	return errors.Join(errs...)
}

// modelName is what an agent whose spec names specModel runs on.
func (in *installation) modelName(specModel string) string {
	if chain := in.models.Chain(specModel); len(chain) > 0 {
		return chain[0].Name()
	}
	return ""
}

// build wires every dependency from cfg. Nothing here reads globals.
func build(ctx context.Context, cfg config.Config, log *slog.Logger) (in *installation, err error) {
	in = &installation{}
	built := in // error returns set in to nil; close what was built
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if in.db, err = store.Open(ctx, cfg.DatabaseURL, cfg.DataDir); err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	in.closers = append(in.closers, in.db.Close)
	in.checks = append(in.checks, server.Check{Name: "state_store", Ping: in.db.Ping})

	if in.kb, err = openKnowledge(ctx, cfg, in, log); err != nil { // cmd/cityagent/knowledge.go
		return nil, fmt.Errorf("knowledge store: %w", err)
	}
	if cfg.Knowledge.LoadDemo {
		n, err := demodocs.Load(ctx, in.kb)
		if err != nil {
			return nil, fmt.Errorf("load demo documents: %w", err)
		}
		log.Debug("demo documents loaded", "documents", n)
	}

	clock := time.Now
	in.city = democity.New(cfg.DemoCity.Seed, clock)
	cityTools, err := sources.Tools(ctx, cfg.Sources, sources.Deps{City: in.city, Clock: clock, Profile: cfg.City, Log: log})
	if err != nil {
		return nil, err
	}
	if in.tools, err = tools.NewRegistry(cityTools...); err != nil {
		return nil, err
	}
	if err := buildDevTools(ctx, in, cfg, log); err != nil {
		return nil, fmt.Errorf("developer tools: %w", err)
	}
	if in.catalog, err = agents.LoadCatalog(cfg.AgentsDir); err != nil {
		return nil, err
	}
	if in.models, err = buildModels(cfg.LLM); err != nil {
		return nil, err
	}
	in.runner = &agents.Runner{Catalog: in.catalog, Models: in.models, Tools: in.tools, Knowledge: in.kb, Sessions: in.db, Log: log}
	if err := buildGovernance(ctx, in, cfg, log); err != nil {
		return nil, fmt.Errorf("governed actions: %w", err)
	}
	if err := buildHotline(ctx, in, cfg, log); err != nil {
		return nil, fmt.Errorf("hotline: %w", err)
	}
	for _, s := range in.catalog.List() {
		required, optional := s.MissingTools(func(name string) bool { _, err := in.tools.Get(name); return err == nil })
		for _, name := range required {
			log.Warn("agent lists a tool that is not registered", "agent", s.Name, "tool", name)
		}
		for _, name := range optional {
			log.Info("agent's optional tool is not provided by the configured sources", "agent", s.Name, "tool", name)
		}
		if s.Model != "" && in.models.ByName[s.Model] == nil {
			return nil, fmt.Errorf("agent %s names model %q, which is not configured (configured: %v)", s.Name, s.Model, modelNames(in.models))
		}
	}
	return in, nil
}

func modelNames(m agents.Models) []string {
	var out []string
	for n := range m.ByName {
		out = append(out, n)
	}
	return out
}

// buildModels builds the default model and its fallbacks. The offline engine
// is always the last resort.
func buildModels(c config.LLMConfig) (agents.Models, error) {
	off := offline.New()
	ms := agents.Models{ByName: map[string]llm.Model{"offline": off}, Offline: off}
	for i, mc := range append([]config.ModelConfig{c.ModelConfig}, c.Fallbacks...) {
		m, err := buildModel(mc)
		if err != nil {
			return ms, err
		}
		name := mc.ModelName()
		ms.ByName[name] = m
		if i == 0 {
			ms.Default = name
		} else {
			ms.Fallbacks = append(ms.Fallbacks, name)
		}
	}
	return ms, nil
}

func buildModel(mc config.ModelConfig) (llm.Model, error) {
	switch mc.Provider {
	case "offline":
		return offline.New(), nil
	case "openai":
		m, err := openai.New(openai.Config{BaseURL: mc.BaseURL, Model: mc.Model, APIKey: mc.Key(nil), Timeout: mc.Timeout, MaxRetries: mc.MaxRetries})
		if err != nil {
			return nil, fmt.Errorf("openai model: %w", err)
		}
		return m, nil
	case "anthropic":
		opts := []anthropic.Option{anthropic.WithModel(mc.Model), anthropic.WithToken(mc.Key(nil))}
		if mc.BaseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(mc.BaseURL))
		}
		m, err := anthropic.New(opts...)
		if err != nil {
			return nil, fmt.Errorf("anthropic model: %w", err)
		}
		return lcbridge.New("anthropic:"+mc.Model, m), nil
	}
	return nil, fmt.Errorf("unknown model provider %q", mc.Provider)
}
