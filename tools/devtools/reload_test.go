package devtools_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/httptool"
)

func names(e *env) []string {
	var out []string
	for _, t := range e.reg.List() {
		out = append(out, t.Spec().Name)
	}
	return out
}

// TestReloadBringsInAnotherReplicasChanges runs two managers on one state
// store, as two replicas: what one registers or removes, the other has
// after Reload; a reload with nothing new changes nothing; every change
// bumps the registry version other replicas watch.
func TestReloadBringsInAnotherReplicasChanges(t *testing.T) {
	api := echoAPI(t)
	dir := t.TempDir()
	a, b := newEnv(t, dir), newEnv(t, dir)
	ctx := context.Background()
	v0, _ := a.db.RegistryVersion(ctx, store.RegistryTools)

	if _, err := a.mgr.RegisterHTTP(ctx, httptool.Def{Name: "air_quality", Description: "AQI by district",
		Parameters: json.RawMessage(`{"type":"object","properties":{"district":{"type":"string"}}}`), Endpoint: api.URL + "/aqi"}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.mgr.AddSource(ctx, devtools.SourceRequest{Name: "water", Kind: devtools.KindOpenAPI, URL: api.URL + "/openapi.yaml"}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.db.RegistryVersion(ctx, store.RegistryTools); v != v0+2 {
		t.Errorf("registry version %d after two changes, want %d", v, v0+2)
	}
	if slices.Contains(names(b), "air_quality") {
		t.Fatal("b has the tool before reloading")
	}
	if err := b.mgr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := names(b), names(a); !slices.Equal(got, want) {
		t.Fatalf("after reload b has %v, a %v", got, want)
	}
	if out := call(t, b.reg, "air_quality", `{"district":"nanhu"}`); !strings.Contains(out, `"query":"district=nanhu"`) {
		t.Errorf("call on b: %s", out)
	}
	if out := call(t, b.reg, "water_water_pressure", `{"district":"beian"}`); !strings.Contains(out, `"path":"/water/beian"`) {
		t.Errorf("source tool on b: %s", out)
	}
	if srcs := b.mgr.Sources(ctx); len(srcs) != 1 || srcs[0].Name != "water" || !srcs[0].Available {
		t.Errorf("b's sources: %+v", srcs)
	}
	// b's own tool objects survive a reload with nothing new.
	before, _ := b.reg.Get("air_quality")
	if err := b.mgr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := b.reg.Get("air_quality"); after != before {
		t.Error("a reload with nothing new rebuilt the tool")
	}
	// Removed on b: a has it no more after reloading; b can register the
	// name again and a sees the new definition.
	if err := b.mgr.DeleteTool(ctx, "air_quality"); err != nil {
		t.Fatal(err)
	}
	if err := b.mgr.DeleteSource(ctx, "water"); err != nil {
		t.Fatal(err)
	}
	if err := a.mgr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := names(a); slices.Contains(got, "air_quality") || slices.Contains(got, "water_water_pressure") {
		t.Fatalf("a still has removed tools: %v", got)
	}
	if _, err := b.mgr.RegisterHTTP(ctx, httptool.Def{Name: "air_quality", Description: "AQI v2",
		Parameters: json.RawMessage(`{"type":"object","properties":{"district":{"type":"string"}}}`), Endpoint: api.URL + "/aqi2"}, "key_dev"); err != nil {
		t.Fatal(err)
	}
	if err := a.mgr.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if out := call(t, a.reg, "air_quality", `{"district":"x"}`); !strings.Contains(out, `"path":"/aqi2"`) {
		t.Errorf("a calls the old definition: %s", out)
	}
	// A name a replica registered meanwhile is refused on the other, which
	// knows it after the reload.
	if _, err := a.mgr.RegisterHTTP(ctx, httptool.Def{Name: "air_quality", Description: "again", Endpoint: api.URL + "/x"}, "key_dev"); err == nil {
		t.Error("a registered a name b holds")
	}
}
