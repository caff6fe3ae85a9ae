package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The OpenAPI import limits are settings: defaults, the file, then the
// environment, each checked with a message that names the setting.
func TestToolSourceLimits(t *testing.T) {
	c, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.ToolSources.OpenAPI.MaxDocumentBytes != 32<<20 || c.ToolSources.OpenAPI.MaxOperations != 2000 {
		t.Errorf("defaults %+v", c.ToolSources)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("tool_sources:\n  openapi:\n    max_document_bytes: 1048576\n    max_operations: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(file, func(k string) string {
		return map[string]string{"CITYAGENT_OPENAPI_MAX_OPERATIONS": "1500"}[k]
	})
	if err != nil || c.ToolSources.OpenAPI.MaxDocumentBytes != 1<<20 || c.ToolSources.OpenAPI.MaxOperations != 1500 {
		t.Errorf("file then env: %+v %v", c.ToolSources, err)
	}
	_, err = Load("", func(k string) string {
		return map[string]string{"CITYAGENT_OPENAPI_MAX_DOCUMENT_BYTES": "12"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "tool_sources.openapi.max_document_bytes") {
		t.Errorf("too small a limit: %v", err)
	}
	if _, err = Load("", func(k string) string { return map[string]string{"CITYAGENT_OPENAPI_MAX_OPERATIONS": "many"}[k] }); err == nil ||
		!strings.Contains(err.Error(), "CITYAGENT_OPENAPI_MAX_OPERATIONS") {
		t.Errorf("not a number: %v", err)
	}
}
