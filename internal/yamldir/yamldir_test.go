package yamldir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var errInvalid = errors.New("invalid")

func TestLoadLayersAndDuplicates(t *testing.T) {
	shipped := fstest.MapFS{
		"defs/a.yaml":  {Data: []byte("a v1")},
		"defs/b.yml":   {Data: []byte("b v1")},
		"defs/x.txt":   {Data: []byte("ignored")},
		"defs/sub/c.y": {Data: []byte("ignored")},
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	add := func(origin string, data []byte) (string, error) {
		name, version, _ := strings.Cut(string(data), " ")
		got[name] = version
		order = append(order, origin)
		return name, nil
	}
	set := Set{Prefix: "test", What: "def", Invalid: errInvalid, Builtin: shipped, Root: "defs", Dir: dir}
	if err := set.Load(add); err != nil {
		t.Fatal(err)
	}
	if got["a"] != "v2" || got["b"] != "v1" || len(got) != 2 {
		t.Fatalf("layers: %v", got)
	}
	if want := "builtin:a.yaml builtin:b.yml " + filepath.Join(dir, "a.yaml"); strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "z.yaml"), []byte("a v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := set.Load(add); !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("duplicate in one layer: %v", err)
	}
	set.Dir = filepath.Join(dir, "missing")
	if err := set.Load(add); err == nil || !strings.Contains(err.Error(), "def directory") {
		t.Fatalf("missing dir: %v", err)
	}
}
