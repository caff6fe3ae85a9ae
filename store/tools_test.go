package store

import (
	"encoding/json"
	"errors"
	"testing"
)

// toolsConformance covers registered tools and tool sources on every backend.
var toolsConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"registered tools create, list, delete, survive reopening", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		def := json.RawMessage(`{"name":"weather_now","endpoint":"https://api.example/weather","headers":{"Authorization":"Bearer ${CITYAGENT_SECRET_WEATHER}"},"note":"天气"}`)
		for _, r := range []ToolRecord{
			{Name: "weather_now", Kind: "http", Definition: def, CreatedAt: t0, CreatedBy: "key_dev"},
			{Name: "bus_eta", Kind: "http", Definition: json.RawMessage(`{}`), CreatedAt: t0, CreatedBy: "key_dev"},
		} {
			if err := db.CreateTool(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateTool(ctx, ToolRecord{Name: "bus_eta", Kind: "http", Definition: json.RawMessage(`{}`)}); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate name: %v", err)
		}
		if err := db.CreateTool(ctx, ToolRecord{Name: "x", Kind: "http", Definition: json.RawMessage(`{not json`)}); err == nil {
			t.Error("a definition that is not JSON was stored")
		}
		db2 := tg.open(t)
		list, err := db2.ListTools(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "bus_eta" || list[1].Name != "weather_now" || list[1].CreatedBy != "key_dev" || !list[1].CreatedAt.Equal(t0) {
			t.Fatalf("ListTools = %+v", list)
		}
		var a, b any
		_ = json.Unmarshal(list[1].Definition, &a)
		_ = json.Unmarshal(def, &b)
		if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
			t.Errorf("definition %s, stored %s", list[1].Definition, def)
		}
		if err := db2.DeleteTool(ctx, "bus_eta"); err != nil {
			t.Fatal(err)
		}
		if err := db2.DeleteTool(ctx, "bus_eta"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if list, _ := db.ListTools(ctx); len(list) != 1 {
			t.Errorf("%d tools after delete", len(list))
		}
	}},
	{"tool sources create, list, delete", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if list, err := db.ListToolSources(ctx); err != nil || len(list) != 0 {
			t.Fatalf("empty store: %v, %v", list, err)
		}
		for _, r := range []ToolRecord{
			{Name: "everything", Kind: "mcp", Definition: json.RawMessage(`{"command":["node","server.js"]}`), CreatedBy: "key_dev"},
			{Name: "bus", Kind: "openapi", Definition: json.RawMessage(`{"document":{"openapi":"3.0.3"}}`), CreatedBy: "key_dev"},
		} {
			if err := db.CreateToolSource(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateToolSource(ctx, ToolRecord{Name: "bus", Kind: "openapi", Definition: json.RawMessage(`{}`)}); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate source: %v", err)
		}
		list, err := db.ListToolSources(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "bus" || list[1].Kind != "mcp" || list[0].CreatedAt.IsZero() {
			t.Fatalf("ListToolSources = %+v, %v", list, err)
		}
		if err := db.DeleteToolSource(ctx, "bus"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteToolSource(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown source: %v", err)
		}
		// Tools and sources are separate name spaces.
		if err := db.CreateTool(ctx, ToolRecord{Name: "everything", Kind: "http", Definition: json.RawMessage(`{}`)}); err != nil {
			t.Errorf("a tool named like a source: %v", err)
		}
	}},
}
