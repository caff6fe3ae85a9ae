package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || c.LLM.Provider != "offline" || c.Knowledge.Store != "embedded" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "addr: 0.0.0.0:9000\nllm:\n  provider: openai\n  base_url: http://127.0.0.1:11434/v1\n  model: qwen2.5\n  timeout: 20s\n  fallbacks:\n    - {provider: offline, name: backup}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, env(map[string]string{"CITYAGENT_ADDR": "127.0.0.1:7000", "CITYAGENT_LLM_MODEL": "deepseek-chat"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.LLM.Model != "deepseek-chat" || c.LLM.Timeout != 20*time.Second || len(c.LLM.Fallbacks) != 1 {
		t.Fatalf("merged: %+v", c)
	}
	if c.LLM.ModelName() != "openai:deepseek-chat" {
		t.Fatalf("model name %q", c.LLM.ModelName())
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string]struct {
		file string
		env  map[string]string
		want []string
	}{
		"unknown key":      {file: "adr: x\n", want: []string{"field adr not found"}},
		"bad addr":         {env: map[string]string{"CITYAGENT_ADDR": "8080"}, want: []string{"addr: want HOST:PORT"}},
		"openai w/o url":   {env: map[string]string{"CITYAGENT_LLM_PROVIDER": "openai"}, want: []string{"llm.base_url", "llm.model"}},
		"bad provider":     {env: map[string]string{"CITYAGENT_LLM_PROVIDER": "gpt"}, want: []string{"llm.provider"}},
		"bad database url": {env: map[string]string{"CITYAGENT_DATABASE_URL": "mysql://x"}, want: []string{"database_url"}},
		"bad duration":     {env: map[string]string{"CITYAGENT_LLM_TIMEOUT": "soon"}, want: []string{"CITYAGENT_LLM_TIMEOUT"}},
		"bad store":        {env: map[string]string{"CITYAGENT_KNOWLEDGE_STORE": "milvus"}, want: []string{"knowledge.store"}},
		"request timeout":  {file: "server:\n  request_timeout: 10ms\n", want: []string{"server.request_timeout"}},
		"lease ttl":        {file: "events:\n  lease_ttl: 100ms\n", want: []string{"events.lease_ttl"}},
		"several at once":  {env: map[string]string{"CITYAGENT_LOG_LEVEL": "loud", "CITYAGENT_LOG_FORMAT": "xml"}, want: []string{"log.level", "log.format"}},
	}
	for name, tc := range cases {
		path := ""
		if tc.file != "" {
			path = filepath.Join(t.TempDir(), "c.yaml")
			_ = os.WriteFile(path, []byte(tc.file), 0o600)
		}
		_, err := Load(path, env(tc.env))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
}

func TestEnvListed(t *testing.T) {
	names := map[string]bool{}
	for _, e := range Env {
		if names[e.Name] || !strings.HasPrefix(e.Name, "CITYAGENT_") || e.Description == "" {
			t.Errorf("bad env entry %+v", e)
		}
		names[e.Name] = true
	}
	for _, must := range []string{"CITYAGENT_ADDR", "CITYAGENT_DATA", "CITYAGENT_CONFIG", "CITYAGENT_DATABASE_URL", "CITYAGENT_LLM_PROVIDER", "CITYAGENT_LLM_BASE_URL", "CITYAGENT_LLM_MODEL", "CITYAGENT_LLM_API_KEY"} {
		if !names[must] {
			t.Errorf("%s missing", must)
		}
	}
}
