// Package mcptool offers the tools of a Model Context Protocol server as
// cityagent tools, through the official MCP Go SDK: it connects over stdio
// (a command from the configured allow-list) or streamable HTTP (a URL,
// through the guarded outbound client), lists the server's tools, calls
// them, follows notifications/tools/list_changed, and reconnects with
// backoff when the server goes away. While disconnected its tools report
// themselves unavailable.
package mcptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools"
)

// Errors callers branch on.
var (
	// ErrConfig wraps a source definition that cannot be used.
	ErrConfig = usererr.New("mcptool", "invalid source")
	// ErrUnreachable wraps a server that could not be connected or listed.
	ErrUnreachable = usererr.New("mcptool", "server unreachable")
	// ErrDisconnected is returned by calls while the server is not connected.
	ErrDisconnected = errors.New("mcptool: server not connected")
	// ErrCommandNotAllowed: the stdio command is not in outbound.commands.
	ErrCommandNotAllowed = usererr.New("mcptool", "command not allowed")
)

// Config is a source definition as registered and stored.
type Config struct {
	Name string `json:"name"`
	// Command starts a server speaking MCP over stdio (argv).
	Command []string `json:"command,omitempty"`
	// URL is a streamable-HTTP MCP endpoint.
	URL string `json:"url,omitempty"`
	// Headers name secrets for URL requests, as for HTTP tools.
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	Clearance string            `json:"clearance,omitempty"`
	// Tools, if not empty, limits which of the server's tools are offered.
	Tools []string `json:"tools,omitempty"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)
	secretRE = regexp.MustCompile(`^([^${}]{0,20})\$\{(CITYAGENT_SECRET_[A-Z0-9_]+)\}$`)
	nonWord  = regexp.MustCompile(`[^a-z0-9]+`)
)

// Deps are what a source runs with.
type Deps struct {
	// HTTP is the guarded client for URL sources (no overall timeout: the
	// standalone event stream is long-lived).
	HTTP *http.Client
	// AllowCommand reports whether a stdio command line may be started.
	AllowCommand func(argv []string) bool
	Getenv       func(string) string
	Log          *slog.Logger
	// OnChange is called after the set of tools or the connection changes.
	OnChange func(*Source)
	// Transport, when set, replaces the command or URL transport (tests,
	// in-process servers).
	Transport func() (mcp.Transport, error)
	// Version is the client version announced to servers.
	Version string
}

// Normalize fills defaults and checks c.
func (c *Config) Normalize(d Deps) error {
	var p []string
	if !nameRE.MatchString(c.Name) {
		p = append(p, "name must be 2–32 characters of a-z, 0-9 and _, starting with a letter")
	}
	switch {
	case len(c.Command) > 0 && c.URL != "":
		p = append(p, "give command or url, not both")
	case len(c.Command) == 0 && c.URL == "" && d.Transport == nil:
		p = append(p, "give command (stdio) or url (streamable HTTP)")
	case len(c.Command) > 0:
		if d.AllowCommand == nil || !d.AllowCommand(c.Command) {
			return usererr.Errorf("%w: %q does not start with an entry of outbound.commands (CITYAGENT_MCP_COMMANDS)", ErrCommandNotAllowed, strings.Join(c.Command, " "))
		}
	case c.URL != "":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			p = append(p, "url must be an http(s) URL without credentials")
		}
	}
	for h, v := range c.Headers {
		if !secretRE.MatchString(v) {
			p = append(p, fmt.Sprintf("headers.%s must name a secret as ${CITYAGENT_SECRET_NAME}", h))
		}
	}
	if c.TimeoutMS == 0 {
		c.TimeoutMS = 30000
	}
	if c.TimeoutMS < 100 || c.TimeoutMS > 120000 {
		p = append(p, "timeout_ms must be 100 to 120000")
	}
	if c.Clearance == "" {
		c.Clearance = string(access.Internal)
	}
	if _, err := access.ParseClearance(c.Clearance); err != nil {
		p = append(p, "clearance must be public, internal, sensitive or restricted")
	}
	if len(p) > 0 {
		slices.Sort(p)
		return usererr.Errorf("%w: %s", ErrConfig, strings.Join(p, "; "))
	}
	return nil
}

// Source is one MCP server and its tools. It is safe for concurrent use.
type Source struct {
	cfg  Config
	deps Deps

	mu        sync.RWMutex
	session   *mcp.ClientSession
	tools     []*Tool
	connected bool
	lastErr   error

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// refreshes coalesces the server's tool-list notifications: one
	// refresh runs at a time (refreshLoop) and at most one more waits here.
	refreshes   chan struct{}
	refreshDone chan struct{}
}

// Connect checks cfg, connects and lists the server's tools; it fails when
// the server cannot be reached. The source then stays connected,
// reconnecting when the server goes away, until Close.
func Connect(ctx context.Context, cfg Config, d Deps) (*Source, error) {
	s, err := newSource(cfg, d)
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		s.cancel()
		return nil, err
	}
	go s.run(false)
	go s.refreshLoop()
	return s, nil
}

// Start checks cfg and connects in the background, retrying until the
// server answers; meanwhile the source has no tools and reports the error.
// Sources registered before a restart are started this way.
func Start(cfg Config, d Deps) (*Source, error) {
	s, err := newSource(cfg, d)
	if err != nil {
		return nil, err
	}
	go s.run(true)
	go s.refreshLoop()
	return s, nil
}

func newSource(cfg Config, d Deps) (*Source, error) {
	if err := cfg.Normalize(d); err != nil {
		return nil, err
	}
	if d.Getenv == nil {
		d.Getenv = func(string) string { return "" }
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	s := &Source{cfg: cfg, deps: d, done: make(chan struct{}), lastErr: ErrDisconnected,
		refreshes: make(chan struct{}, 1), refreshDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Config returns the source's definition.
func (s *Source) Config() Config { return s.cfg }

// Name is the source's name.
func (s *Source) Name() string { return s.cfg.Name }

// Status reports whether the server is connected, and why not.
func (s *Source) Status() (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.connected, s.lastErr
}

// Tools returns the server's tools as last listed.
func (s *Source) Tools() []tools.Tool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]tools.Tool, len(s.tools))
	for i, t := range s.tools {
		out[i] = t
	}
	return out
}

// Close disconnects and stops reconnecting; a stdio server is terminated.
func (s *Source) Close() error {
	s.cancel()
	s.mu.Lock()
	sess := s.session
	s.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.Close()
	}
	<-s.done
	<-s.refreshDone
	return err
}

func (s *Source) transport() (mcp.Transport, error) {
	if s.deps.Transport != nil {
		return s.deps.Transport()
	}
	if len(s.cfg.Command) > 0 {
		cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
		// The server gets a minimal environment, never the process's secrets.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
		return &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil
	}
	hc := s.deps.HTTP
	if hc == nil {
		return nil, usererr.Errorf("%w: no HTTP client for %s", ErrConfig, s.cfg.URL)
	}
	if len(s.cfg.Headers) > 0 {
		h := http.Header{}
		for name, v := range s.cfg.Headers {
			m := secretRE.FindStringSubmatch(v)
			val := s.deps.Getenv(m[2])
			if val == "" {
				return nil, usererr.Errorf("%w: secret %s is not set", ErrUnreachable, m[2])
			}
			h.Set(name, m[1]+val)
		}
		c := *hc
		c.Transport = headerTransport{rt: transportOf(hc), h: h}
		hc = &c
	}
	traced := *hc // requests carry the calling turn's W3C traceparent
	traced.Transport = telemetry.Transport(transportOf(hc))
	return &mcp.StreamableClientTransport{Endpoint: s.cfg.URL, HTTPClient: &traced, MaxRetries: 2}, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

type headerTransport struct {
	rt http.RoundTripper
	h  http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.rt.RoundTrip(r)
}

// connect opens a session and lists the tools.
func (s *Source) connect(ctx context.Context) error {
	tr, err := s.transport()
	if err != nil {
		s.setErr(err)
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "cityagent", Version: s.deps.Version}, &mcp.ClientOptions{
		ToolListChangedHandler: s.toolsChanged,
		Capabilities:           &mcp.ClientCapabilities{},
	})
	cctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.TimeoutMS)*time.Millisecond)
	defer cancel()
	sess, err := client.Connect(cctx, tr, nil)
	if err != nil {
		err = usererr.Errorf("%w: %s: %v", ErrUnreachable, s.cfg.Name, err)
		s.setErr(err)
		return err
	}
	list, err := s.list(cctx, sess)
	if err != nil {
		sess.Close()
		err = usererr.Errorf("%w: %s: list tools: %v", ErrUnreachable, s.cfg.Name, err)
		s.setErr(err)
		return err
	}
	s.mu.Lock()
	s.session, s.tools, s.connected, s.lastErr = sess, list, true, nil
	s.mu.Unlock()
	s.changed()
	return nil
}

func (s *Source) setErr(err error) {
	s.mu.Lock()
	s.connected, s.lastErr = false, err
	s.mu.Unlock()
}

func (s *Source) changed() {
	s.mu.RLock()
	fn := s.deps.OnChange
	s.mu.RUnlock()
	if fn != nil {
		fn(s)
	}
}

// Watch sets the function called after the tools or the connection change
// (replacing Deps.OnChange), e.g. once the caller has recorded the source.
func (s *Source) Watch(fn func(*Source)) {
	s.mu.Lock()
	s.deps.OnChange = fn
	s.mu.Unlock()
}

// list reads every page of the server's tools.
func (s *Source) list(ctx context.Context, sess *mcp.ClientSession) ([]*Tool, error) {
	var out []*Tool
	seen := map[string]bool{}
	for t, err := range sess.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		if len(s.cfg.Tools) > 0 && !slices.Contains(s.cfg.Tools, t.Name) {
			continue
		}
		tl := s.wrap(t)
		if seen[tl.spec.Name] {
			continue
		}
		seen[tl.spec.Name] = true
		out = append(out, tl)
	}
	slices.SortFunc(out, func(a, b *Tool) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	return out, nil
}

// toolsChanged handles the server's notification that its tools changed:
// it asks refreshLoop for a refresh without waiting, and notifications that
// come while one is already pending are folded into it.
func (s *Source) toolsChanged(context.Context, *mcp.ToolListChangedRequest) {
	select {
	case s.refreshes <- struct{}{}:
	default:
	}
}

// refreshLoop runs the refreshes toolsChanged asks for, one at a time,
// until Close.
func (s *Source) refreshLoop() {
	defer close(s.refreshDone)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.refreshes:
			s.refresh()
		}
	}
}

// refresh lists the tools again after the server said they changed.
func (s *Source) refresh() {
	s.mu.RLock()
	sess := s.session
	s.mu.RUnlock()
	if sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(s.cfg.TimeoutMS)*time.Millisecond)
	defer cancel()
	list, err := s.list(ctx, sess)
	if err != nil {
		s.deps.Log.Warn("MCP tool list refresh failed", "source", s.cfg.Name, "err", err)
		return
	}
	s.mu.Lock()
	if s.session == sess {
		s.tools = list
	}
	s.mu.Unlock()
	s.changed()
}

// run keeps the source connected: it waits for the session to end and
// reconnects with backoff, until Close.
func (s *Source) run(connectFirst bool) {
	defer close(s.done)
	backoff := 200 * time.Millisecond
	if !connectFirst {
		s.wait()
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		default:
		}
		if err := s.connect(s.ctx); err != nil {
			s.deps.Log.Warn("MCP server not reachable; retrying", "source", s.cfg.Name, "err", err, "in", backoff)
			s.changed()
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		s.wait()
	}
}

// wait blocks until the current session ends, then marks the source down.
func (s *Source) wait() {
	s.mu.RLock()
	sess := s.session
	s.mu.RUnlock()
	if sess == nil {
		return
	}
	err := sess.Wait()
	s.mu.Lock()
	if s.session == sess {
		s.session, s.connected = nil, false
		s.lastErr = fmt.Errorf("%w: %s: session ended: %v", ErrDisconnected, s.cfg.Name, err)
	}
	s.mu.Unlock()
	if s.ctx.Err() == nil {
		s.deps.Log.Warn("MCP server disconnected; reconnecting", "source", s.cfg.Name, "err", err)
		s.changed()
	}
}

// ToolName is the cityagent name of a server tool: "<source>_<tool>".
func ToolName(source, remote string) string {
	n := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(source+"_"+remote), "_"), "_")
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "_")
	}
	return n
}

// Tool is one tool of an MCP server.
type Tool struct {
	src    *Source
	remote string
	spec   tools.Spec
	rs     *jsonschema.Resolved // nil when the server's schema does not resolve
}

var _ tools.Tool = (*Tool)(nil)

func (s *Source) wrap(t *mcp.Tool) *Tool {
	params, _ := json.Marshal(t.InputSchema)
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	var rs *jsonschema.Resolved
	var js jsonschema.Schema
	if json.Unmarshal(params, &js) == nil {
		rs, _ = js.Resolve(nil)
	}
	desc := strings.TrimSpace(t.Description)
	if desc == "" {
		desc = t.Name
	}
	if t.Title != "" && !strings.Contains(desc, t.Title) {
		desc = t.Title + ": " + desc
	}
	cl, _ := access.ParseClearance(s.cfg.Clearance)
	return &Tool{src: s, remote: t.Name, rs: rs, spec: tools.Spec{Name: ToolName(s.cfg.Name, t.Name),
		Description: desc + " (MCP " + s.cfg.Name + "/" + t.Name + ")", Parameters: params, Clearance: cl,
		Timeout: time.Duration(s.cfg.TimeoutMS) * time.Millisecond, Source: "mcp:" + s.cfg.Name}}
}

// Spec implements tools.Tool.
func (t *Tool) Spec() tools.Spec { return t.spec }

// Remote is the tool's name on its server.
func (t *Tool) Remote() string { return t.remote }

// Check reports whether the tool's server is connected.
func (t *Tool) Check(context.Context) error {
	ok, err := t.src.Status()
	if ok {
		return nil
	}
	if err == nil {
		err = ErrDisconnected
	}
	return err
}

// Call implements tools.Tool: validate, call the server, and turn its
// content into JSON (structured content as is, text as {"text": …}).
func (t *Tool) Call(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	var vals map[string]any
	if err := json.Unmarshal(args, &vals); err != nil {
		return tools.Result{}, &tools.ArgsError{Tool: t.spec.Name, Reason: "arguments must be a JSON object"}
	}
	if t.rs != nil {
		if err := t.rs.Validate(vals); err != nil {
			return tools.Result{}, &tools.ArgsError{Tool: t.spec.Name, Reason: strings.TrimPrefix(err.Error(), "validating root: ")}
		}
	}
	t.src.mu.RLock()
	sess := t.src.session
	t.src.mu.RUnlock()
	if sess == nil {
		return tools.Result{}, fmt.Errorf("%w: %s", ErrDisconnected, t.src.cfg.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(t.src.cfg.TimeoutMS)*time.Millisecond)
	defer cancel()
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: t.remote, Arguments: vals})
	if err != nil {
		if ctx.Err() != nil {
			return tools.Result{}, fmt.Errorf("mcptool: %s: %w", t.spec.Name, ctx.Err())
		}
		return tools.Result{}, fmt.Errorf("mcptool: %s: %w", t.spec.Name, err)
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	text := strings.Join(texts, "\n")
	if res.IsError {
		if len(text) > 300 {
			text = text[:300] + "…"
		}
		return tools.Result{}, fmt.Errorf("mcptool: %s: the server reported an error: %s", t.spec.Name, text)
	}
	var content json.RawMessage
	switch {
	case res.StructuredContent != nil:
		content, err = json.Marshal(res.StructuredContent)
	case json.Valid([]byte(strings.TrimSpace(text))) && strings.HasPrefix(strings.TrimSpace(text), "{"):
		content = json.RawMessage(strings.TrimSpace(text))
	default:
		content, err = json.Marshal(map[string]any{"text": text, "summary": text})
	}
	if err != nil {
		return tools.Result{}, fmt.Errorf("mcptool: %s: %w", t.spec.Name, err)
	}
	return tools.Result{Content: content, Citation: tools.Citation{Source: "mcp:" + t.src.cfg.Name + "/" + t.remote, Title: t.spec.Name, AsOf: time.Now()}}, nil
}

// CommandAllowed returns an allow-list check for stdio command lines. Each
// entry is a command line prefix, split at spaces: "/usr/bin/node
// /opt/mcp/server.js" admits exactly that server (with any further
// arguments). Allow an interpreter alone only where every developer may run
// any program on the host.
func CommandAllowed(allowed []string) func([]string) bool {
	return func(argv []string) bool {
		for _, a := range allowed {
			prefix := strings.Fields(a)
			if len(prefix) > 0 && len(argv) >= len(prefix) && slices.Equal(argv[:len(prefix)], prefix) {
				return true
			}
		}
		return false
	}
}
