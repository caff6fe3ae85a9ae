// Package devtools manages the tools developers add at run time: HTTP tools
// registered by JSON, every operation of an imported OpenAPI document, and
// every tool of a connected MCP server. It persists their definitions in the
// state store, rebuilds them into the tool registry at start, keeps MCP
// sources' tools in step with their servers, and reports which tools are
// available now.
package devtools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/mcptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

// Errors callers branch on.
var (
	// ErrNotFound: no registered tool or source of that name.
	ErrNotFound = usererr.New("devtools", "not found")
	// ErrDuplicate: the name is taken (by a built-in or registered tool, or a source).
	ErrDuplicate = usererr.New("devtools", "name taken")
	// ErrBuiltin: built-in tools and tools of a source cannot be deleted one by one.
	ErrBuiltin = usererr.New("devtools", "not a registered tool")
	// ErrInvalid wraps a request that is not a valid tool or source.
	ErrInvalid = usererr.New("devtools", "invalid request")
)

// Store is the part of the state store the manager uses.
type Store interface {
	CreateTool(ctx context.Context, t store.ToolRecord) error
	ListTools(ctx context.Context) ([]store.ToolRecord, error)
	DeleteTool(ctx context.Context, name string) error
	CreateToolSource(ctx context.Context, s store.ToolRecord) error
	ListToolSources(ctx context.Context) ([]store.ToolRecord, error)
	DeleteToolSource(ctx context.Context, name string) error
}

var _ Store = (*store.DB)(nil)

// Kinds of tools and sources.
const (
	KindBuiltin = "builtin"
	KindHTTP    = "http"
	KindOpenAPI = "openapi"
	KindMCP     = "mcp"
)

// Config builds a Manager.
type Config struct {
	Registry *tools.Registry
	Store    Store
	Outbound *outbound.Client
	// Commands are the stdio command-line prefixes MCP sources may start.
	Commands []string
	Getenv   func(string) string
	Log      *slog.Logger
	Version  string
	// ListChecks bounds the availability checks List runs at once;
	// 0: DefaultListChecks.
	ListChecks int
	// OpenAPI bounds OpenAPI imports; zero fields: openapi.DefaultLimits.
	OpenAPI openapi.Limits
	// SecretHosts binds secrets to the hosts they may be sent to
	// (outbound.secret_hosts): CITYAGENT_SECRET_X → ["api.example.org",
	// "*.example.org"]. A tool sending a bound secret elsewhere is refused.
	SecretHosts map[string][]string
}

// DefaultListChecks is the default Config.ListChecks.
const DefaultListChecks = 8

// Manager owns the registered tools and sources. It is safe for concurrent use.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	sources map[string]*source // by name
	// changes serialises this replica's registrations and removals with
	// Reload (reload.go), which brings in other replicas' changes.
	changes sync.Mutex
}

// source is a loaded tool source and the tool names it holds in the registry.
type source struct {
	name  string
	kind  string
	def   json.RawMessage
	names []string
	mcp   *mcptool.Source
	err   error // why its tools could not be loaded, if they could not
	// report is what an OpenAPI import did (skipped operations, names).
	report *openapi.Report
}

// New returns a manager; call Load to bring back what was registered before.
func New(cfg Config) (*Manager, error) {
	if cfg.Registry == nil || cfg.Store == nil || cfg.Outbound == nil {
		return nil, errors.New("devtools: registry, store and outbound client are required")
	}
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{cfg: cfg, sources: map[string]*source{}}, nil
}

// Load rebuilds every stored tool and source into the registry. A record
// that no longer builds, or whose name a built-in took, is logged and
// skipped; MCP sources connect in the background and retry.
func (m *Manager) Load(ctx context.Context) error {
	recs, err := m.cfg.Store.ListTools(ctx)
	if err != nil {
		return fmt.Errorf("devtools: load tools: %w", err)
	}
	for _, r := range recs {
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
			err = m.cfg.Registry.Register(t)
		}
		if err != nil {
			m.cfg.Log.Error("registered tool not loaded", "tool", r.Name, "err", err)
		}
	}
	srcs, err := m.cfg.Store.ListToolSources(ctx)
	if err != nil {
		return fmt.Errorf("devtools: load tool sources: %w", err)
	}
	for _, r := range srcs {
		m.loadSource(ctx, r) // reload.go
	}
	return nil
}

func toolNames(ts []tools.Tool) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Spec().Name
	}
	return out
}

func (m *Manager) mcpDeps() mcptool.Deps {
	return mcptool.Deps{HTTP: m.cfg.Outbound.Streaming(), AllowCommand: mcptool.CommandAllowed(m.cfg.Commands),
		Getenv: m.cfg.Getenv, Log: m.cfg.Log, Version: m.cfg.Version, OnChange: m.syncMCP}
}

// syncMCP puts an MCP source's current tools into the registry.
func (m *Manager) syncMCP(src *mcptool.Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sources[src.Name()]
	if !ok || (s.mcp != nil && s.mcp != src) {
		return
	}
	ts := src.Tools()
	// Keep only names that no other tool holds.
	var add []tools.Tool
	for _, t := range ts {
		if why := httptool.ReservedName(t.Spec().Name); why != "" {
			m.cfg.Log.Warn("MCP tool name reserved; not offered", "source", s.name, "tool", t.Spec().Name, "reason", why)
			continue
		}
		if existing, err := m.cfg.Registry.Get(t.Spec().Name); err == nil && !slices.Contains(s.names, t.Spec().Name) {
			m.cfg.Log.Warn("MCP tool name taken; not offered", "source", s.name, "tool", t.Spec().Name, "taken_by", existing.Spec().Source)
			continue
		}
		add = append(add, t)
	}
	if err := m.cfg.Registry.Swap(s.names, add); err != nil {
		m.cfg.Log.Error("MCP tools not updated", "source", s.name, "err", err)
		return
	}
	s.names = toolNames(add)
}

// RegisterHTTP registers an HTTP tool: checked, stored, then offered.
func (m *Manager) RegisterHTTP(ctx context.Context, d httptool.Def, actor string) (ToolInfo, error) {
	defer m.change(ctx)() // reload.go: other replicas reload
	d.Source = KindHTTP
	d.In = nil
	if why := httptool.ReservedName(d.Name); why != "" {
		return ToolInfo{}, usererr.Errorf("%w: %s: %s", ErrDuplicate, strings.TrimSpace(d.Name), why)
	}
	t, err := httptool.New(d, m.cfg.Outbound, m.cfg.Getenv)
	if err != nil {
		return ToolInfo{}, err
	}
	d = t.Def()
	if err := m.checkSecretHosts(d); err != nil {
		return ToolInfo{}, err
	}
	if _, err := m.cfg.Registry.Get(d.Name); err == nil {
		return ToolInfo{}, usererr.Errorf("%w: a tool named %s exists", ErrDuplicate, d.Name)
	}
	raw, _ := json.Marshal(d)
	if err := m.cfg.Store.CreateTool(ctx, store.ToolRecord{Name: d.Name, Kind: KindHTTP, Definition: raw, CreatedBy: actor}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ToolInfo{}, usererr.Errorf("%w: a tool named %s exists", ErrDuplicate, d.Name)
		}
		return ToolInfo{}, err
	}
	if err := m.cfg.Registry.Register(t); err != nil {
		_ = m.cfg.Store.DeleteTool(context.WithoutCancel(ctx), d.Name)
		return ToolInfo{}, usererr.Errorf("%w: %v", ErrDuplicate, err)
	}
	return m.info(ctx, t, false), nil
}

// DeleteTool removes a registered HTTP tool.
func (m *Manager) DeleteTool(ctx context.Context, name string) error {
	defer m.change(ctx)() // reload.go: other replicas reload
	t, err := m.cfg.Registry.Get(name)
	if err != nil {
		return usererr.Errorf("%w: tool %s", ErrNotFound, name)
	}
	if kind, src := kindOf(t.Spec().Source); kind != KindHTTP {
		if src != "" {
			return usererr.Errorf("%w: %s belongs to source %s; delete the source", ErrBuiltin, name, src)
		}
		return usererr.Errorf("%w: %s is a built-in tool", ErrBuiltin, name)
	}
	if err := m.cfg.Store.DeleteTool(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_ = m.cfg.Registry.Remove(name)
	return nil
}

// kindOf reads a tool's kind and source name from its spec's Source.
func kindOf(source string) (kind, name string) {
	switch {
	case source == KindHTTP:
		return KindHTTP, ""
	case strings.HasPrefix(source, "openapi:"):
		return KindOpenAPI, strings.TrimPrefix(source, "openapi:")
	case strings.HasPrefix(source, "mcp:"):
		return KindMCP, strings.TrimPrefix(source, "mcp:")
	}
	return KindBuiltin, ""
}

// SourceRequest is the body of POST /v1/tool-sources.
type SourceRequest struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // openapi or mcp
	// OpenAPI: the document inline (a JSON object or a YAML/JSON string), or
	// a URL to fetch it from (through the outbound guard).
	Document json.RawMessage `json:"document,omitempty"`
	URL      string          `json:"url,omitempty"`
	BaseURL  string          `json:"base_url,omitempty"`
	// MCP: a stdio command line, or the url of a streamable-HTTP endpoint.
	Command []string `json:"command,omitempty"`
	// Both: secret headers, timeout, clearance; MCP: which tools to offer.
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	Clearance string            `json:"clearance,omitempty"`
	Tools     []string          `json:"tools,omitempty"`
	// DocURL records where a fetched document came from (set by the manager).
	DocURL string `json:"doc_url,omitempty"`
	// OpenAPI: which operations become tools, the secrets of the
	// document's security schemes, and whether one operation that cannot
	// be imported refuses the document (openapi.Options).
	Include      []string                 `json:"include,omitempty"`
	Exclude      []string                 `json:"exclude,omitempty"`
	Security     map[string]httptool.Auth `json:"security,omitempty"`
	AllOrNothing bool                     `json:"all_or_nothing,omitempty"`
}

var sourceNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)

// AddSource imports an OpenAPI document or connects an MCP server, stores
// the source and offers all its tools, or none of them.
func (m *Manager) AddSource(ctx context.Context, req SourceRequest, actor string) (SourceInfo, error) {
	defer m.change(ctx)() // reload.go: other replicas reload
	if !sourceNameRE.MatchString(req.Name) {
		return SourceInfo{}, usererr.Errorf("%w: name must be 2–32 characters of a-z, 0-9 and _, starting with a letter", ErrInvalid)
	}
	if why := httptool.ReservedName(req.Name + "_"); why != "" {
		return SourceInfo{}, usererr.Errorf("%w: source %s would name every tool %s_…: %s", ErrDuplicate, req.Name, req.Name, why)
	}
	m.mu.Lock()
	_, taken := m.sources[req.Name]
	m.mu.Unlock()
	if taken {
		return SourceInfo{}, usererr.Errorf("%w: a source named %s exists", ErrDuplicate, req.Name)
	}
	s := &source{name: req.Name, kind: req.Kind}
	var ts []tools.Tool
	switch req.Kind {
	case KindOpenAPI:
		if len(req.Command) > 0 || len(req.Tools) > 0 {
			return SourceInfo{}, usererr.Errorf("%w: command and tools are for MCP sources", ErrInvalid)
		}
		doc, err := m.document(ctx, &req)
		if err != nil {
			return SourceInfo{}, err
		}
		req.Document, req.URL = doc, ""
		if ts, s.report, err = m.openapiTools(ctx, req); err != nil {
			return SourceInfo{}, err
		}
	case KindMCP:
		if len(req.Document) > 0 || req.BaseURL != "" {
			return SourceInfo{}, usererr.Errorf("%w: document and base_url are for OpenAPI sources", ErrInvalid)
		}
		cfg := mcptool.Config{Name: req.Name, Command: req.Command, URL: req.URL, Headers: req.Headers, TimeoutMS: req.TimeoutMS,
			Clearance: req.Clearance, Tools: req.Tools}
		deps := m.mcpDeps()
		deps.OnChange = nil // synced below, once the source is recorded
		src, err := mcptool.Connect(ctx, cfg, deps)
		if err != nil {
			return SourceInfo{}, err
		}
		s.mcp = src
		ts = src.Tools()
		if len(ts) == 0 {
			src.Close()
			return SourceInfo{}, usererr.Errorf("%w: the MCP server offers no tools", ErrInvalid)
		}
		req.Headers, req.TimeoutMS, req.Clearance = cfg.Headers, src.Config().TimeoutMS, src.Config().Clearance
	default:
		return SourceInfo{}, usererr.Errorf("%w: kind must be openapi or mcp", ErrInvalid)
	}
	fail := func(err error) (SourceInfo, error) {
		if s.mcp != nil {
			s.mcp.Close()
		}
		return SourceInfo{}, err
	}
	for _, t := range ts {
		if why := httptool.ReservedName(t.Spec().Name); why != "" {
			return fail(usererr.Errorf("%w: tool %s: %s; choose another source name or leave it out with tools", ErrDuplicate, t.Spec().Name, why))
		}
		if _, err := m.cfg.Registry.Get(t.Spec().Name); err == nil {
			return fail(usererr.Errorf("%w: tool %s already exists; choose another source name", ErrDuplicate, t.Spec().Name))
		}
	}
	raw, _ := json.Marshal(req)
	if s.mcp != nil {
		raw, _ = json.Marshal(s.mcp.Config())
	}
	s.def = raw
	if err := m.cfg.Store.CreateToolSource(ctx, store.ToolRecord{Name: req.Name, Kind: req.Kind, Definition: raw, CreatedBy: actor}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fail(usererr.Errorf("%w: a source named %s exists", ErrDuplicate, req.Name))
		}
		return fail(err)
	}
	if err := m.cfg.Registry.Swap(nil, ts); err != nil {
		_ = m.cfg.Store.DeleteToolSource(context.WithoutCancel(ctx), req.Name)
		return fail(usererr.Errorf("%w: %v", ErrDuplicate, err))
	}
	s.names = toolNames(ts)
	m.mu.Lock()
	m.sources[req.Name] = s
	m.mu.Unlock()
	if s.mcp != nil {
		// From now on the server's list changes and reconnections update the registry.
		s.mcp.Watch(m.syncMCP)
		m.syncMCP(s.mcp) // catch a change that came before the watch
	}
	si := m.sourceInfo(ctx, s)
	si.Import = s.report
	return si, nil
}

// document returns the OpenAPI document of req: inline, or fetched.
func (m *Manager) document(ctx context.Context, req *SourceRequest) (json.RawMessage, error) {
	switch {
	case len(req.Document) > 0 && req.URL != "":
		return nil, usererr.Errorf("%w: give document or url, not both", ErrInvalid)
	case len(req.Document) > 0:
		return req.Document, nil
	case req.URL == "":
		return nil, usererr.Errorf("%w: give the OpenAPI document or its url", ErrInvalid)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	if err != nil {
		return nil, usererr.Errorf("%w: url: %v", ErrInvalid, err)
	}
	hr.Header.Set("Accept", "application/json, application/yaml, text/yaml, */*")
	// Streamed through the guard (every dial checked) with the import's own
	// size limit, not the 4 MiB cap on tool responses.
	resp, err := m.cfg.Outbound.Streaming().Do(hr)
	if err != nil {
		return nil, usererr.Errorf("%w: fetch %s: %w", ErrInvalid, req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, usererr.Errorf("%w: fetch %s: status %d", ErrInvalid, req.URL, resp.StatusCode)
	}
	body, err := openapi.ReadDocument(resp.Body, m.cfg.OpenAPI)
	if err != nil {
		return nil, err
	}
	req.DocURL = req.URL
	s, _ := json.Marshal(string(body))
	return s, nil
}

// docBytes turns a stored document (a JSON object, or a string of JSON or YAML) into bytes.
func docBytes(doc json.RawMessage) []byte {
	var s string
	if json.Unmarshal(doc, &s) == nil {
		return []byte(s)
	}
	return doc
}

func (m *Manager) openapiTools(ctx context.Context, req SourceRequest) ([]tools.Tool, *openapi.Report, error) {
	defs, report, err := openapi.Import(ctx, docBytes(req.Document), openapi.Options{Source: req.Name, BaseURL: req.BaseURL, DocURL: req.DocURL,
		Headers: req.Headers, Clearance: req.Clearance, TimeoutMS: req.TimeoutMS, Include: req.Include, Exclude: req.Exclude,
		Security: req.Security, AllOrNothing: req.AllOrNothing, Limits: m.cfg.OpenAPI})
	if err != nil {
		return nil, nil, err
	}
	var out []tools.Tool
	for _, d := range defs {
		if err := m.checkSecretHosts(d); err != nil {
			return nil, nil, err
		}
		t, err := httptool.New(d, m.cfg.Outbound, m.cfg.Getenv)
		if err != nil {
			return nil, nil, usererr.Errorf("%w: operation %s: %w", openapi.ErrDocument, d.Name, err)
		}
		out = append(out, t)
	}
	return out, report, nil
}

// Source returns one source with its import report (GET /v1/tool-sources/{name}).
func (m *Manager) Source(ctx context.Context, name string) (SourceInfo, error) {
	m.mu.Lock()
	s, ok := m.sources[name]
	m.mu.Unlock()
	if !ok {
		return SourceInfo{}, usererr.Errorf("%w: source %s", ErrNotFound, name)
	}
	si := m.sourceInfo(ctx, s)
	m.mu.Lock()
	si.Import = s.report
	m.mu.Unlock()
	return si, nil
}

// DeleteSource removes a source and all its tools.
func (m *Manager) DeleteSource(ctx context.Context, name string) error {
	defer m.change(ctx)() // reload.go: other replicas reload
	m.mu.Lock()
	s, ok := m.sources[name]
	if ok {
		delete(m.sources, name)
	}
	m.mu.Unlock()
	if !ok {
		return usererr.Errorf("%w: source %s", ErrNotFound, name)
	}
	if s.mcp != nil {
		s.mcp.Close()
	}
	_ = m.cfg.Registry.Swap(s.names, nil)
	if err := m.cfg.Store.DeleteToolSource(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Close disconnects every MCP source.
func (m *Manager) Close() error {
	m.mu.Lock()
	var srcs []*mcptool.Source
	for _, s := range m.sources {
		if s.mcp != nil {
			srcs = append(srcs, s.mcp)
		}
	}
	m.mu.Unlock()
	for _, s := range srcs {
		s.Close()
	}
	return nil
}

// ToolInfo is a tool as GET /v1/tools shows it.
type ToolInfo struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Kind        string           `json:"kind"` // builtin, http, openapi, mcp
	Source      string           `json:"source"`
	Clearance   access.Clearance `json:"clearance"`
	TimeoutMS   int64            `json:"timeout_ms,omitempty"`
	Parameters  json.RawMessage  `json:"parameters,omitempty"`
	Available   bool             `json:"available"`
	Status      string           `json:"status,omitempty"` // why not available
	Definition  *httptool.Def    `json:"definition,omitempty"`
}

// SourceInfo is a tool source as the API shows it.
type SourceInfo struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Tools     []string `json:"tools"`
	Available bool     `json:"available"`
	Status    string   `json:"status,omitempty"`
	// Import is an OpenAPI source's import report: skipped operations,
	// warnings and which operation each tool calls.
	Import *openapi.Report `json:"import,omitempty"`
}

// checkTimeout bounds one availability check.
const checkTimeout = 2 * time.Second

func (m *Manager) info(ctx context.Context, t tools.Tool, withParams bool) ToolInfo {
	sp := t.Spec()
	kind, _ := kindOf(sp.Source)
	ti := ToolInfo{Name: sp.Name, Description: sp.Description, Kind: kind, Source: sp.Source, Clearance: sp.Clearance,
		TimeoutMS: sp.Timeout.Milliseconds(), Available: true}
	if withParams {
		ti.Parameters = sp.Parameters
	}
	if h, ok := t.(*httptool.Tool); ok && kind == KindHTTP {
		d := h.Def()
		ti.Definition = &d
	}
	if c, ok := t.(tools.Checker); ok {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := c.Check(cctx)
		cancel()
		if err != nil {
			ti.Available, ti.Status = false, err.Error()
		}
	}
	return ti
}

// List returns every tool of the registry, sorted, with availability
// checked in parallel by at most Config.ListChecks goroutines, which List
// owns: they have all returned when it does.
func (m *Manager) List(ctx context.Context, withParams bool) []ToolInfo {
	ts := m.cfg.Registry.List()
	out := make([]ToolInfo, len(ts))
	workers := m.cfg.ListChecks
	if workers <= 0 {
		workers = DefaultListChecks
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(ts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = m.info(ctx, ts[i], withParams)
			}
		}()
	}
	for i := range ts {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// Sources lists the registered sources with their status.
func (m *Manager) Sources(ctx context.Context) []SourceInfo {
	m.mu.Lock()
	list := make([]*source, 0, len(m.sources))
	for _, s := range m.sources {
		list = append(list, s)
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *source) int { return strings.Compare(a.name, b.name) })
	out := make([]SourceInfo, 0, len(list))
	for _, s := range list {
		out = append(out, m.sourceInfo(ctx, s))
	}
	return out
}

func (m *Manager) sourceInfo(ctx context.Context, s *source) SourceInfo {
	m.mu.Lock()
	names := slices.Clone(s.names)
	src := s.mcp
	loadErr := s.err
	m.mu.Unlock()
	si := SourceInfo{Name: s.name, Kind: s.kind, Tools: names, Available: true}
	if si.Tools == nil {
		si.Tools = []string{}
	}
	switch {
	case loadErr != nil:
		si.Available, si.Status = false, loadErr.Error()
	case src != nil:
		if ok, err := src.Status(); !ok {
			si.Available = false
			if err != nil {
				si.Status = err.Error()
			}
		}
	case len(names) > 0:
		if why := m.secretProblems(names); why != "" {
			si.Available, si.Status = false, why
			break
		}
		if t, err := m.cfg.Registry.Get(names[0]); err == nil {
			if c, ok := t.(tools.Checker); ok {
				cctx, cancel := context.WithTimeout(ctx, checkTimeout)
				if err := c.Check(cctx); err != nil {
					si.Available, si.Status = false, err.Error()
				}
				cancel()
			}
		}
	}
	return si
}

// secretProblems says which of a source's tools cannot be called for want
// of a secret (an unset variable, a security scheme without one), or "".
func (m *Manager) secretProblems(names []string) string {
	var bad []string
	for _, n := range names {
		t, err := m.cfg.Registry.Get(n)
		h, ok := t.(*httptool.Tool)
		if err != nil || !ok {
			continue
		}
		if err := h.CheckSecrets(); err != nil {
			bad = append(bad, n+": "+strings.TrimPrefix(err.Error(), "httptool: "))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	msg := fmt.Sprintf("%d of %d tools cannot be called: %s", len(bad), len(names), bad[0])
	if len(bad) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(bad)-1)
	}
	return msg
}

// WaitReady waits until every MCP source is connected, or ctx ends.
func (m *Manager) WaitReady(ctx context.Context) {
	for {
		ready := true
		m.mu.Lock()
		for _, s := range m.sources {
			if s.mcp != nil {
				if ok, _ := s.mcp.Status(); !ok {
					ready = false
				}
			}
		}
		m.mu.Unlock()
		if ready {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
