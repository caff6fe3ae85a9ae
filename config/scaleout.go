package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// ScaleOutConfig is what several replicas of one service share beyond the
// state store: the Redis server that counts rate limits, how quickly a
// replica notices another's registry changes, and how it drains.
type ScaleOutConfig struct {
	// RedisURL (redis://[user:password@]host:port/db): rate-limit
	// counters live in Redis; empty = in the state store.
	RedisURL string `yaml:"redis_url"`
	// RegistryPoll is how often a replica checks the registry version for
	// tools and sources registered elsewhere (the fallback on PostgreSQL,
	// which also announces changes with NOTIFY); default 500ms.
	RegistryPoll time.Duration `yaml:"registry_poll"`
	// DrainDelay is how long a replica that got SIGTERM keeps its listener
	// open with /readyz failing, so that load balancers stop sending it
	// traffic before it closes; new turns are refused with 503 meanwhile.
	// Running turns and streams then get server.shutdown_timeout to end.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// RateLimits are per-key and per-role quotas (all off by default).
	RateLimits RateLimitsConfig `yaml:"rate_limits"`
}

// RateLimitsConfig: PerKey applies to every key on its own; PerRole[role]
// is shared by all keys of that role together, on every replica.
type RateLimitsConfig struct {
	PerKey  RateLimit            `yaml:"per_key"`
	PerRole map[string]RateLimit `yaml:"per_role"`
}

// RateLimit is one quota; a zero field is no limit.
type RateLimit struct {
	RequestsPerMinute int `yaml:"requests_per_minute"` // authenticated /v1 requests
	TokensPerMinute   int `yaml:"tokens_per_minute"`   // model tokens of chat turns, counted when a turn ends
	ConcurrentTurns   int `yaml:"concurrent_turns"`    // chat turns running at once
}

// Zero reports whether l limits nothing.
func (l RateLimit) Zero() bool { return l == RateLimit{} }

// DefaultRegistryPoll is the default ScaleOutConfig.RegistryPoll.
const DefaultRegistryPoll = 500 * time.Millisecond

var scaleOutEnv = []EnvVar{
	{"CITYAGENT_REDIS_URL", "redis://host:port/db: rate-limit counters in Redis (default: in the state store)", func(c *Config, v string) error { c.ScaleOut.RedisURL = v; return nil }},
	{"CITYAGENT_REGISTRY_POLL", "how often a replica checks for tools registered on other replicas, e.g. 500ms", func(c *Config, v string) error { return setDuration(&c.ScaleOut.RegistryPoll, v) }},
	{"CITYAGENT_DRAIN_DELAY", "after SIGTERM, how long /readyz fails before the listener closes, e.g. 5s", func(c *Config, v string) error { return setDuration(&c.ScaleOut.DrainDelay, v) }},
	{"CITYAGENT_RATE_REQUESTS_PER_MINUTE", "requests per minute per key (rate_limits.per_key; 0 = no limit)", func(c *Config, v string) error {
		return setInt(&c.ScaleOut.RateLimits.PerKey.RequestsPerMinute, v)
	}},
	{"CITYAGENT_RATE_TOKENS_PER_MINUTE", "model tokens per minute per key (0 = no limit)", func(c *Config, v string) error {
		return setInt(&c.ScaleOut.RateLimits.PerKey.TokensPerMinute, v)
	}},
	{"CITYAGENT_RATE_CONCURRENT_TURNS", "chat turns running at once per key, across replicas (0 = no limit)", func(c *Config, v string) error {
		return setInt(&c.ScaleOut.RateLimits.PerKey.ConcurrentTurns, v)
	}},
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// knownRoles are the roles rate_limits.per_role may name (access.Roles;
// config does not import access).
var knownRoles = []string{"operator", "supervisor", "hotline", "department", "developer", "admin"}

func (s ScaleOutConfig) problems() []string {
	var p []string
	if s.RedisURL != "" {
		if u, err := url.Parse(s.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			p = append(p, "redis_url: want redis://host:port[/db] or rediss://…")
		}
	}
	if s.RegistryPoll < 0 || (s.RegistryPoll > 0 && s.RegistryPoll < 10*time.Millisecond) {
		p = append(p, "registry_poll: want 0 (default 500ms) or at least 10ms")
	}
	if s.DrainDelay < 0 {
		p = append(p, "drain_delay: must be ≥ 0")
	}
	check := func(field string, l RateLimit) {
		if l.RequestsPerMinute < 0 || l.TokensPerMinute < 0 || l.ConcurrentTurns < 0 {
			p = append(p, field+": limits must be ≥ 0 (0 = no limit)")
		}
	}
	check("rate_limits.per_key", s.RateLimits.PerKey)
	for role, l := range s.RateLimits.PerRole {
		if !slices.Contains(knownRoles, role) {
			p = append(p, fmt.Sprintf("rate_limits.per_role.%s: not a role (want one of %v)", role, knownRoles))
		}
		check("rate_limits.per_role."+role, l)
	}
	return p
}
