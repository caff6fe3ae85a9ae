// Package yamldir loads layered sets of YAML definitions: the files shipped
// in the binary, then a directory on disk whose files add definitions or
// override shipped ones of the same name. A Catalog holds the loaded
// definitions by name. Agents and action types use it.
package yamldir

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Set describes one layered set of definitions.
type Set struct {
	Prefix  string // error prefix of the owning package, e.g. "agents"
	What    string // what a file defines, for messages, e.g. "agent"
	Invalid error  // sentinel wrapped by a duplicate-name error
	Builtin fs.FS  // shipped files …
	Root    string // … under this directory of Builtin
	Dir     string // optional directory on disk; empty = none
}

// Load calls add for every *.yaml and *.yml file, shipped files first, then
// the directory's, each layer in name order. add parses a file and returns
// the name it defines; origin labels the file in messages. A name defined
// twice within one layer is an error wrapping s.Invalid.
func (s Set) Load(add func(origin string, data []byte) (name string, err error)) error {
	if err := s.layer(s.Builtin, s.Root, "builtin:", add); err != nil {
		return err
	}
	if s.Dir == "" {
		return nil
	}
	if _, err := os.Stat(s.Dir); err != nil {
		return fmt.Errorf("%s: %s directory: %w", s.Prefix, s.What, err)
	}
	return s.layer(os.DirFS(s.Dir), ".", s.Dir+string(filepath.Separator), add)
}

func (s Set) layer(fsys fs.FS, root, label string, add func(string, []byte) (string, error)) error {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", s.Prefix, label, err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(root, e.Name()))
		if err != nil {
			return fmt.Errorf("%s: read %s%s: %w", s.Prefix, label, e.Name(), err)
		}
		name, err := add(label+e.Name(), data)
		if err != nil {
			return err
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("%w: %s %q defined twice (%s and %s)", s.Invalid, s.What, name, prev, e.Name())
		}
		seen[name] = e.Name()
	}
	return nil
}
