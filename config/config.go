// Package config loads cityagent's typed configuration: defaults, then an
// optional YAML file, then environment variables, then flags; validated once
// at start with messages that name the setting.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of a cityagent process.
type Config struct {
	Addr        string          `yaml:"addr"`
	DataDir     string          `yaml:"data_dir"`
	DatabaseURL string          `yaml:"database_url"`
	AgentsDir   string          `yaml:"agents_dir"`
	ActionsDir  string          `yaml:"actions_dir"` // action type YAML files that add to or override the built-in ones
	Knowledge   KnowledgeConfig `yaml:"knowledge"`
	LLM         LLMConfig       `yaml:"llm"`
	Server      ServerConfig    `yaml:"server"`
	Log         LogConfig       `yaml:"log"`
	DemoCity    DemoCityConfig  `yaml:"democity"`
	Outbound    OutboundConfig  `yaml:"outbound"`
	Sources     SourcesConfig   `yaml:"sources"` // where the traffic, permits and energy tools read (config/sources.go)
	City        CityConfig      `yaml:"city"`    // zone, currency, units and language of answers (config/city.go)
	Hotline     HotlineConfig   `yaml:"hotline"` // hotline triage, deadlines, idempotency (config/hotline.go)
	Events      EventsConfig    `yaml:"events"`  // event feed and webhook delivery (config/events.go)
	Monitors    MonitorsConfig  `yaml:",inline"` // monitors_dir (config/monitors.go)

	ToolSources ToolSourcesConfig `yaml:"tool_sources"` // limits of OpenAPI imports (config/sources.go)

	ScaleOut ScaleOutConfig `yaml:",inline"` // redis_url, registry_poll, drain_delay, rate_limits (config/scaleout.go)
}

// KnowledgeConfig selects the knowledge store and embedder.
type KnowledgeConfig struct {
	Store    string `yaml:"store"`    // embedded | pgvector | qdrant
	URL      string `yaml:"url"`      // postgres://… for pgvector, host:port for qdrant
	Embedder string `yaml:"embedder"` // hashed | openai
	LoadDemo bool   `yaml:"load_demo"`
	// APIKey is Qdrant's API key; Embedding configures the openai
	// embedder (config/knowledge.go).
	APIKey    string          `yaml:"api_key"`
	Embedding EmbeddingConfig `yaml:"embedding"`
}

// LLMConfig is the default model and its fallbacks.
type LLMConfig struct {
	ModelConfig `yaml:",inline"`
	Fallbacks   []ModelConfig `yaml:"fallbacks"`
}

// ModelConfig configures one model.
type ModelConfig struct {
	Name       string        `yaml:"name"`     // how agent specs refer to it; default = provider
	Provider   string        `yaml:"provider"` // offline | openai | anthropic
	BaseURL    string        `yaml:"base_url"`
	Model      string        `yaml:"model"`
	APIKey     string        `yaml:"api_key"`
	APIKeyEnv  string        `yaml:"api_key_env"` // read the key from this variable instead
	Timeout    time.Duration `yaml:"timeout"`
	MaxRetries int           `yaml:"max_retries"`
}

// ServerConfig tunes the HTTP server.
type ServerConfig struct {
	BodyLimit         int           `yaml:"body_limit"` // bytes
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	// RequestTimeout is the deadline of every request's context, streams
	// included (server.Options.RequestTimeout); 0 = the server's default.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxStreamsPerKey bounds the event streams (GET /v1/events) one key
	// holds open at once (server.Options.MaxStreamsPerKey); -1 = no limit.
	MaxStreamsPerKey int `yaml:"max_streams_per_key"`
}

// LogConfig sets structured logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// DemoCityConfig seeds the simulated city.
type DemoCityConfig struct {
	Seed int64 `yaml:"seed"`
}

// OutboundConfig guards HTTP calls that registered tools make.
type OutboundConfig struct {
	Allow []string `yaml:"allow"`
	// Commands are the executables MCP tool sources may start over stdio
	// (names or absolute paths); empty = stdio MCP sources are refused.
	Commands []string `yaml:"commands"`
	// MaxResponseBytes and Timeout bound every outbound call; 0 = 4 MiB and 30s.
	MaxResponseBytes int64         `yaml:"max_response_bytes"`
	Timeout          time.Duration `yaml:"timeout"`
	// SecretHosts binds a tool secret to the hosts it may be sent to
	// (CITYAGENT_SECRET_X: [api.example.org, "*.example.org"]); a tool
	// sending it elsewhere is refused. Unlisted secrets are not bound.
	SecretHosts map[string][]string `yaml:"secret_hosts"`
}

// Default returns the embedded-default configuration.
func Default() Config {
	return Config{
		Addr:      "127.0.0.1:8080",
		DataDir:   "./data",
		Knowledge: KnowledgeConfig{Store: "embedded", Embedder: "hashed", LoadDemo: true},
		LLM:       LLMConfig{ModelConfig: ModelConfig{Provider: "offline", Timeout: 60 * time.Second, MaxRetries: 2}},
		Server:    ServerConfig{BodyLimit: 1 << 20, HeartbeatInterval: 15 * time.Second, ShutdownTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, MaxStreamsPerKey: 32},
		Log:       LogConfig{Level: "info", Format: "text"},
		DemoCity:  DemoCityConfig{Seed: 2024},
		Hotline:   defaultHotline(),
		City:      DefaultCity(),

		ToolSources: defaultToolSources(),
	}
}

// EnvVar is one environment variable cityagent reads.
type EnvVar struct {
	Name        string
	Description string
	apply       func(c *Config, v string) error
}

// Env lists every environment variable, in the order the README documents them.
var Env = append([]EnvVar{
	{"CITYAGENT_CONFIG", "YAML config file (same as --config)", nil},
	{"CITYAGENT_ADDR", "listen address (same as --addr)", func(c *Config, v string) error { c.Addr = v; return nil }},
	{"CITYAGENT_DATA", "data directory: embedded stores and admin.key (same as --data)", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"CITYAGENT_DATABASE_URL", "state store: empty = embedded SQLite in the data dir; postgres://… = PostgreSQL", func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{"CITYAGENT_AGENTS_DIR", "directory of agent YAML files that add to or override the built-in agents", func(c *Config, v string) error { c.AgentsDir = v; return nil }},
	{"CITYAGENT_ACTIONS_DIR", "directory of action type YAML files that add to or override the built-in action types", func(c *Config, v string) error { c.ActionsDir = v; return nil }},
	{"CITYAGENT_KNOWLEDGE_STORE", "knowledge store: embedded, pgvector or qdrant", func(c *Config, v string) error { c.Knowledge.Store = v; return nil }},
	{"CITYAGENT_KNOWLEDGE_URL", "knowledge store address (postgres://… for pgvector, host:port for qdrant)", func(c *Config, v string) error { c.Knowledge.URL = v; return nil }},
	{"CITYAGENT_KNOWLEDGE_API_KEY", "Qdrant API key", func(c *Config, v string) error { c.Knowledge.APIKey = v; return nil }},
	{"CITYAGENT_EMBEDDER", "embedder: hashed (offline, lexical) or openai (any OpenAI-compatible /v1/embeddings)", func(c *Config, v string) error { c.Knowledge.Embedder = v; return nil }},
	{"CITYAGENT_EMBEDDING_BASE_URL", "embedding server base URL for the openai embedder, e.g. http://127.0.0.1:11434/v1", func(c *Config, v string) error { c.Knowledge.Embedding.BaseURL = v; return nil }},
	{"CITYAGENT_EMBEDDING_MODEL", "embedding model for the openai embedder, e.g. bge-m3", func(c *Config, v string) error { c.Knowledge.Embedding.Model = v; return nil }},
	{"CITYAGENT_EMBEDDING_API_KEY", "embedding server API key", func(c *Config, v string) error { c.Knowledge.Embedding.APIKey = v; return nil }},
	{"CITYAGENT_LLM_PROVIDER", "default model provider: offline, openai (any OpenAI-compatible server), anthropic (via langchaingo)", func(c *Config, v string) error { c.LLM.Provider = v; return nil }},
	{"CITYAGENT_LLM_BASE_URL", "model server base URL, e.g. http://127.0.0.1:11434/v1", func(c *Config, v string) error { c.LLM.BaseURL = v; return nil }},
	{"CITYAGENT_LLM_MODEL", "model name on that server, e.g. qwen2.5:7b", func(c *Config, v string) error { c.LLM.Model = v; return nil }},
	{"CITYAGENT_LLM_API_KEY", "model server API key", func(c *Config, v string) error { c.LLM.APIKey = v; return nil }},
	{"CITYAGENT_LLM_TIMEOUT", "per-attempt model timeout, e.g. 60s", func(c *Config, v string) error { return setDuration(&c.LLM.Timeout, v) }},
	{"CITYAGENT_OUTBOUND_ALLOW", "comma-separated hosts/CIDRs registered tools may reach despite the guard", func(c *Config, v string) error { c.Outbound.Allow = splitList(v); return nil }},
	{"CITYAGENT_MCP_COMMANDS", "comma-separated command-line prefixes MCP tool sources may start over stdio (e.g. /usr/local/bin/mcp-weather)", func(c *Config, v string) error { c.Outbound.Commands = splitList(v); return nil }},
	{"CITYAGENT_LOG_LEVEL", "debug, info, warn or error", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"CITYAGENT_LOG_FORMAT", "text or json", func(c *Config, v string) error { c.Log.Format = v; return nil }},
	{"CITYAGENT_HOTLINE_TAXONOMY", "hotline taxonomy YAML file; empty = the demo city's built-in one", func(c *Config, v string) error { c.Hotline.Taxonomy = v; return nil }},
	{"CITYAGENT_HOTLINE_DEADLINE", "every hotline ticket call answers within this, e.g. 10s", func(c *Config, v string) error { return setDuration(&c.Hotline.Deadline, v) }},
	{"CITYAGENT_MAX_STREAMS_PER_KEY", "event streams (GET /v1/events) one key may hold open at once; -1 = no limit (server.max_streams_per_key)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.Server.MaxStreamsPerKey = n
		return err
	}},
	{"CITYAGENT_DEMO_SEED", "seed of the simulated demo city", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		c.DemoCity.Seed = n
		return err
	}},
	{"CITYAGENT_OPENAPI_MAX_DOCUMENT_BYTES", "largest OpenAPI document a tool source may import (tool_sources.openapi.max_document_bytes)", func(c *Config, v string) error {
		return setInt64(&c.ToolSources.OpenAPI.MaxDocumentBytes, v)
	}},
	{"CITYAGENT_OPENAPI_MAX_OPERATIONS", "most tools one OpenAPI document may add, after include/exclude (tool_sources.openapi.max_operations)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.ToolSources.OpenAPI.MaxOperations = n
		return err
	}},
}, append(append(append(cityEnv, personalEnv...), monitorsEnv...), scaleOutEnv...)...)

func setDuration(d *time.Duration, v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	*d = x
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Load builds the configuration: defaults, then file (if path is not empty),
// then the environment (getenv; nil means os.Getenv). It validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	var errs []error
	for _, e := range Env {
		if e.apply == nil {
			continue
		}
		if v := getenv(e.Name); v != "" {
			if err := e.apply(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", e.Name, v, err))
			}
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, c.Validate()
}

// Validate checks every setting and reports all problems at once.
func (c *Config) Validate() error {
	var p []string
	bad := func(field, format string, args ...any) { p = append(p, field+": "+fmt.Sprintf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "want HOST:PORT, got %q", c.Addr)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database_url", "want empty (embedded) or a postgres:// URL")
		}
	}
	p = append(p, c.Knowledge.problems()...) // config/knowledge.go
	names := map[string]bool{}
	for i, m := range append([]ModelConfig{c.LLM.ModelConfig}, c.LLM.Fallbacks...) {
		field := "llm"
		if i > 0 {
			field = fmt.Sprintf("llm.fallbacks[%d]", i-1)
		}
		switch m.Provider {
		case "offline":
		case "openai":
			if m.BaseURL == "" {
				bad(field+".base_url", "required for provider openai (e.g. http://127.0.0.1:11434/v1)")
			} else if u, err := url.Parse(m.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				bad(field+".base_url", "want an http(s) URL, got %q", m.BaseURL)
			}
			if m.Model == "" {
				bad(field+".model", "required for provider openai")
			}
		case "anthropic":
			if m.Model == "" {
				bad(field+".model", "required for provider anthropic")
			}
		default:
			bad(field+".provider", "want offline, openai or anthropic, got %q", m.Provider)
		}
		if m.Timeout < 0 || m.MaxRetries < 0 || m.MaxRetries > 10 {
			bad(field, "timeout must be ≥ 0 and max_retries between 0 and 10")
		}
		n := m.ModelName()
		if names[n] {
			bad(field+".name", "model name %q used twice", n)
		}
		names[n] = true
	}
	if c.Server.BodyLimit < 1024 {
		bad("server.body_limit", "must be at least 1024 bytes")
	}
	if c.Server.HeartbeatInterval < 100*time.Millisecond {
		bad("server.heartbeat_interval", "must be at least 100ms")
	}
	if c.Events.LeaseTTL != 0 && c.Events.LeaseTTL < time.Second {
		bad("events.lease_ttl", "must be at least 1s (0 = the default, 15s)")
	}
	if c.Server.MaxStreamsPerKey == 0 || c.Server.MaxStreamsPerKey < -1 {
		bad("server.max_streams_per_key", "must be at least 1, or -1 for no limit (default 32)")
	}
	if c.Server.RequestTimeout != 0 && c.Server.RequestTimeout < time.Second {
		bad("server.request_timeout", "must be at least 1s (0 = the default, 5m)")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "want text or json, got %q", c.Log.Format)
	}
	p = append(p, c.Sources.problems()...)
	p = append(p, c.City.problems()...)
	p = append(p, c.ToolSources.problems()...)
	p = append(p, c.Hotline.problems()...)
	p = append(p, c.ScaleOut.problems()...) // config/scaleout.go
	if c.Outbound.MaxResponseBytes < 0 || c.Outbound.Timeout < 0 {
		bad("outbound", "max_response_bytes and timeout must be ≥ 0")
	}
	for secret, hosts := range c.Outbound.SecretHosts {
		if !strings.HasPrefix(secret, "CITYAGENT_SECRET_") || len(hosts) == 0 {
			bad("outbound.secret_hosts."+secret, "want a CITYAGENT_SECRET_* variable bound to at least one host")
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("config: invalid settings:\n  %s", strings.Join(p, "\n  "))
	}
	return nil
}

// ModelName is how agent specs refer to a model: its name, else provider:model.
func (m ModelConfig) ModelName() string {
	if m.Name != "" {
		return m.Name
	}
	if m.Provider == "offline" || m.Model == "" {
		return m.Provider
	}
	return m.Provider + ":" + m.Model
}

// Key returns the API key, reading APIKeyEnv when set.
func (m ModelConfig) Key(getenv func(string) string) string {
	if m.APIKeyEnv != "" {
		if getenv == nil {
			getenv = os.Getenv
		}
		return getenv(m.APIKeyEnv)
	}
	return m.APIKey
}
