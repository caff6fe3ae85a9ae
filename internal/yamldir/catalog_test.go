package yamldir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

type def struct {
	Name, Body string
}

var errUnknown = errors.New("unknown")

func testKind(dir string) Kind[def] {
	return Kind[def]{
		Set: Set{Prefix: "test", What: "def", Invalid: errInvalid, Dir: dir, Root: "defs", Builtin: fstest.MapFS{
			"defs/b.yaml": {Data: []byte("b shipped")},
			"defs/a.yaml": {Data: []byte("a shipped")},
		}},
		Parse: func(data []byte, origin string) (def, error) {
			name, body, _ := strings.Cut(string(data), " ")
			if body == "" {
				return def{}, errors.New(origin + ": empty")
			}
			return def{Name: name, Body: body}, nil
		},
		Check: func(d *def) error {
			if d.Body == "" {
				return errors.New("empty body")
			}
			d.Body = strings.ToUpper(d.Body)
			return nil
		},
		Name:    func(d def) string { return d.Name },
		Unknown: errUnknown,
	}
}

func TestCatalogLoadOverridesAndLists(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "over.yaml"), []byte("b local"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := testKind(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range c.List() {
		got = append(got, d.Name+"="+d.Body)
	}
	if strings.Join(got, ",") != "a=shipped,b=local" {
		t.Fatalf("list %v", got)
	}
	if d, err := c.Get("b"); err != nil || d.Body != "local" {
		t.Fatalf("get b: %v %v", d, err)
	}
	if _, err := c.Get("zz"); !errors.Is(err, errUnknown) || !strings.Contains(err.Error(), "zz") {
		t.Fatalf("unknown: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := testKind(dir).Load(); err == nil || !strings.Contains(err.Error(), "bad.yaml: empty") {
		t.Fatalf("parse error not returned: %v", err)
	}
}

func TestCatalogNewChecksAndRejectsDuplicates(t *testing.T) {
	k := testKind("")
	c, err := k.New(def{Name: "x", Body: "one"}, def{Name: "w", Body: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := c.Get("x"); d.Body != "ONE" {
		t.Fatalf("check did not normalise: %v", d)
	}
	if l := c.List(); len(l) != 2 || l[0].Name != "w" {
		t.Fatalf("list %v", l)
	}
	if _, err := k.New(def{Name: "x", Body: "1"}, def{Name: "x", Body: "2"}); !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), `def "x" defined twice`) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := k.New(def{Name: "y"}); !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "y: empty body") {
		t.Fatalf("check error: %v", err)
	}
}

func TestContentVersionFollowsContent(t *testing.T) {
	a, err := ContentVersion(def{Name: "a", Body: "1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ContentVersion(def{Name: "a", Body: "2"})
	again, _ := ContentVersion(def{Name: "a", Body: "1"})
	if a == b || a != again || len(a) != 13 || a[0] != 'v' {
		t.Fatalf("versions %s %s %s", a, b, again)
	}
}
