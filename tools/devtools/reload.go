package devtools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/mcptool"
)

// Bumper is implemented by a Store that keeps a registry version other
// replicas watch (store.DB.BumpRegistry); a Store without it changes only
// this replica's registry.
type Bumper interface {
	BumpRegistry(ctx context.Context, name string) (int64, error)
}

var _ Bumper = (*store.DB)(nil)

// bumpTimeout bounds the version bump after a change.
const bumpTimeout = 5 * time.Second

// change takes the lock that keeps a local change and Reload apart; the
// function it returns bumps the registry version, so that every replica
// reloads, and releases the lock. A change that was refused bumps too: the
// reload it causes finds nothing to do.
func (m *Manager) change(ctx context.Context) func() {
	m.changes.Lock()
	return func() {
		defer m.changes.Unlock()
		b, ok := m.cfg.Store.(Bumper)
		if !ok {
			return
		}
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bumpTimeout)
		defer cancel()
		if _, err := b.BumpRegistry(bctx, store.RegistryTools); err != nil {
			// Other replicas still catch up at their periodic full reload.
			m.cfg.Log.Error("registry version not bumped; other replicas see the change at their next full reload", "err", err)
		}
	}
}

// Reload brings the registry in step with the store: tools and sources
// another replica registered are added (MCP sources connect here too),
// ones it removed are removed, and ones whose definition changed are
// rebuilt. What this replica holds already is left alone, so a reload with
// nothing new costs two reads. It is safe to call at any time and from
// any goroutine.
func (m *Manager) Reload(ctx context.Context) error {
	m.changes.Lock()
	defer m.changes.Unlock()
	recs, err := m.cfg.Store.ListTools(ctx)
	if err != nil {
		return fmt.Errorf("devtools: reload tools: %w", err)
	}
	srcs, err := m.cfg.Store.ListToolSources(ctx)
	if err != nil {
		return fmt.Errorf("devtools: reload tool sources: %w", err)
	}
	m.reloadTools(recs)
	m.reloadSources(ctx, srcs)
	return nil
}

// reloadTools reconciles the registry's HTTP tools with recs.
func (m *Manager) reloadTools(recs []store.ToolRecord) {
	stored := map[string]store.ToolRecord{}
	for _, r := range recs {
		stored[r.Name] = r
	}
	held := map[string]*httptool.Tool{}
	for _, t := range m.cfg.Registry.List() {
		if h, ok := t.(*httptool.Tool); ok && t.Spec().Source == KindHTTP {
			held[t.Spec().Name] = h
		}
	}
	for name, h := range held {
		r, ok := stored[name]
		if ok && sameDef(r.Definition, h.Def()) {
			delete(stored, name) // unchanged
			continue
		}
		if !ok {
			_ = m.cfg.Registry.Remove(name)
			m.cfg.Log.Info("registered tool removed on another replica", "tool", name)
		}
	}
	names := make([]string, 0, len(stored))
	for n := range stored {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := stored[n]
		var d httptool.Def
		if err := json.Unmarshal(r.Definition, &d); err != nil {
			m.cfg.Log.Error("registered tool does not decode; skipped", "tool", r.Name, "err", err)
			continue
		}
		t, err := httptool.New(d, m.cfg.Outbound, m.cfg.Getenv)
		if err == nil {
			err = m.checkSecretHosts(t.Def())
		}
		if err == nil {
			var remove []string
			if _, changed := held[n]; changed {
				remove = []string{n}
			}
			err = m.cfg.Registry.Swap(remove, []tools.Tool{t})
		}
		if err != nil {
			m.cfg.Log.Error("registered tool not loaded", "tool", r.Name, "err", err)
			continue
		}
		m.cfg.Log.Info("registered tool loaded from the store", "tool", r.Name)
	}
}

// sameDef reports whether a stored definition is the one a tool was built from.
func sameDef(stored json.RawMessage, d httptool.Def) bool {
	b, err := json.Marshal(d)
	return err == nil && bytes.Equal(bytes.TrimSpace(stored), b)
}

// reloadSources reconciles m.sources with srcs.
func (m *Manager) reloadSources(ctx context.Context, srcs []store.ToolRecord) {
	stored := map[string]store.ToolRecord{}
	for _, r := range srcs {
		stored[r.Name] = r
	}
	m.mu.Lock()
	var gone []*source
	for name, s := range m.sources {
		r, ok := stored[name]
		if ok && r.Kind == s.kind && bytes.Equal(bytes.TrimSpace(r.Definition), bytes.TrimSpace(s.def)) {
			delete(stored, name)
			continue
		}
		delete(m.sources, name)
		gone = append(gone, s)
	}
	m.mu.Unlock()
	for _, s := range gone {
		if s.mcp != nil {
			s.mcp.Close()
		}
		m.mu.Lock()
		names := s.names
		m.mu.Unlock()
		_ = m.cfg.Registry.Swap(names, nil)
		m.cfg.Log.Info("tool source removed or changed on another replica", "source", s.name)
	}
	names := make([]string, 0, len(stored))
	for n := range stored {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m.loadSource(ctx, stored[n])
		m.cfg.Log.Info("tool source loaded from the store", "source", n)
	}
}

// loadSource rebuilds one stored source into the registry: an OpenAPI
// source's tools at once, an MCP source's once it connects (in the
// background, retrying). A source that does not load is kept with its error,
// which GET /v1/tool-sources shows.
func (m *Manager) loadSource(ctx context.Context, r store.ToolRecord) {
	s := &source{name: r.Name, kind: r.Kind, def: r.Definition}
	m.mu.Lock()
	m.sources[r.Name] = s
	m.mu.Unlock()
	setErr := func(err error) {
		m.mu.Lock()
		s.err = err
		m.mu.Unlock()
	}
	switch r.Kind {
	case KindOpenAPI:
		var req SourceRequest
		if err := json.Unmarshal(r.Definition, &req); err != nil {
			setErr(err)
			return
		}
		ts, report, err := m.openapiTools(ctx, req)
		m.mu.Lock()
		s.report = report
		m.mu.Unlock()
		if err == nil {
			err = m.cfg.Registry.Swap(nil, ts)
		}
		if err != nil {
			setErr(err)
			m.cfg.Log.Error("OpenAPI source not loaded", "source", r.Name, "err", err)
			return
		}
		m.mu.Lock()
		s.names = toolNames(ts)
		m.mu.Unlock()
	case KindMCP:
		var cfg mcptool.Config
		if err := json.Unmarshal(r.Definition, &cfg); err != nil {
			setErr(err)
			return
		}
		src, err := mcptool.Start(cfg, m.mcpDeps())
		if err != nil {
			setErr(err)
			m.cfg.Log.Error("MCP source not started", "source", r.Name, "err", err)
			return
		}
		m.mu.Lock()
		s.mcp = src
		m.mu.Unlock()
	default:
		setErr(fmt.Errorf("unknown kind %q", r.Kind))
	}
}
