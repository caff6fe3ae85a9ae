package main

import (
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/config"
)

// composeFile is the part of compose.yaml the test checks.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Ports       []string          `yaml:"ports"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Profiles []string `yaml:"profiles"`
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

// resolve expands ${VAR:-default} as docker compose does, from env.
func resolve(v string, env map[string]string) string {
	return interpolation.ReplaceAllStringFunc(v, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		if x, ok := env[g[1]]; ok {
			return x
		}
		return g[3]
	})
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for _, name := range []string{"cityagent", "postgres", "qdrant", "ollama"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	app := c.Services["cityagent"]
	if app.Build == nil {
		t.Error("cityagent is not built from the Dockerfile")
	}
	if !strings.HasPrefix(c.Services["postgres"].Image, "pgvector/pgvector:pg17") {
		t.Errorf("postgres image %q, want pgvector/pgvector:pg17", c.Services["postgres"].Image)
	}
	if !slices.Equal(c.Services["ollama"].Profiles, []string{"ollama"}) {
		t.Errorf("ollama profiles %v, want it optional behind the ollama profile", c.Services["ollama"].Profiles)
	}

	known := map[string]bool{}
	for _, e := range config.Env {
		known[e.Name] = true
	}
	for name := range app.Environment {
		if !known[name] {
			t.Errorf("cityagent environment sets %s, which config.Env does not know", name)
		}
	}

	for name, svc := range c.Services {
		if len(svc.Healthcheck.Test) < 2 || svc.Healthcheck.Interval == "" || svc.Healthcheck.Retries == 0 {
			t.Errorf("%s: incomplete health check %+v", name, svc.Healthcheck)
		}
		for _, p := range svc.Ports {
			parts := strings.Split(p, ":")
			if len(parts) < 2 || len(parts) > 3 {
				t.Errorf("%s: port %q is not [ip:]host:container", name, p)
				continue
			}
			if len(parts) == 3 && net.ParseIP(parts[0]) == nil {
				t.Errorf("%s: port %q binds a bad address", name, p)
			}
			for _, n := range parts[len(parts)-2:] {
				if v, err := strconv.Atoi(n); err != nil || v <= 0 || v > 65535 {
					t.Errorf("%s: port %q", name, p)
				}
			}
		}
		for dep, d := range svc.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown %s", name, dep)
			}
			if d.Condition == "service_healthy" && len(target.Healthcheck.Test) == 0 {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
		for _, v := range svc.Volumes {
			if vol, _, ok := strings.Cut(v, ":"); ok && !strings.HasPrefix(vol, ".") && !strings.HasPrefix(vol, "/") {
				if _, ok := c.Volumes[vol]; !ok {
					t.Errorf("%s uses volume %s, not declared", name, vol)
				}
			}
		}
	}
	if !slices.Contains(c.Services["qdrant"].Ports, "127.0.0.1:6334:6334") {
		t.Error("qdrant does not publish its gRPC port 6334")
	}
}

// TestComposeConfig loads cityagent's configuration from the compose
// environment, by default (pgvector) and switched to Qdrant, and checks that
// it validates and points at the compose services.
func TestComposeConfig(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	app := c.Services["cityagent"]
	for name, overrides := range map[string]map[string]string{
		"default (pgvector)": {},
		"qdrant":             {"CITYAGENT_KNOWLEDGE_STORE": "qdrant", "CITYAGENT_KNOWLEDGE_URL": "qdrant:6334"},
		"ollama model":       {"CITYAGENT_LLM_PROVIDER": "openai", "CITYAGENT_EMBEDDER": "openai"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range app.Environment {
				env[k] = resolve(v, overrides)
			}
			cfg, err := config.Load("", func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("config from the compose environment: %v", err)
			}
			host := func(raw string) string {
				if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
					return u.Hostname()
				}
				h, _, _ := net.SplitHostPort(raw)
				return h
			}
			for what, addr := range map[string]string{"database_url": cfg.DatabaseURL, "knowledge.url": cfg.Knowledge.URL} {
				if _, ok := c.Services[host(addr)]; !ok {
					t.Errorf("%s %q does not name a compose service", what, addr)
				}
			}
			if _, port, _ := net.SplitHostPort(cfg.Addr); !slices.Contains(app.Ports, "8080:"+port) {
				t.Errorf("the app listens on %s but publishes %v", cfg.Addr, app.Ports)
			}
			if name == "qdrant" && cfg.Knowledge.Store != "qdrant" {
				t.Errorf("store %s", cfg.Knowledge.Store)
			}
		})
	}
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil || !strings.Contains(string(docker), "EXPOSE 8080") || !strings.Contains(string(docker), "./cmd/cityagent") {
		t.Errorf("Dockerfile: %v", err)
	}
}
