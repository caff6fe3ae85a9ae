package yamldir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cityagent/cityagent/internal/usererr"
)

// Kind says how definitions of one type T are read, checked and named; it
// builds the Catalog that holds them.
type Kind[T any] struct {
	Set                                                 // where the files are, and how messages name them
	Parse   func(data []byte, origin string) (T, error) // decodes and validates one file
	Check   func(*T) error                              // validates (and may normalise) a definition built in code
	Name    func(T) string                              // the name a definition is looked up by
	Unknown error                                       // sentinel wrapped by Get for a name not held
}

// Catalog holds definitions of one type by name. It is read-only once built
// and safe for concurrent use.
type Catalog[T any] struct {
	byName  map[string]T
	name    func(T) string
	unknown error
}

// Load reads the kind's layered set: shipped files first, then the
// directory's, a later layer overriding a definition of the same name.
func (k Kind[T]) Load() (*Catalog[T], error) {
	c := k.empty()
	err := k.Set.Load(func(origin string, data []byte) (string, error) {
		v, err := k.Parse(data, origin)
		if err != nil {
			return "", err
		}
		name := k.Name(v)
		c.byName[name] = v
		return name, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// New builds a catalog from definitions made in code, checking each; a name
// given twice is an error wrapping k.Invalid.
func (k Kind[T]) New(defs ...T) (*Catalog[T], error) {
	c := k.empty()
	for _, v := range defs {
		if err := k.Check(&v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", k.Invalid, k.Name(v), err)
		}
		name := k.Name(v)
		if _, dup := c.byName[name]; dup {
			return nil, fmt.Errorf("%w: %s %q defined twice", k.Invalid, k.What, name)
		}
		c.byName[name] = v
	}
	return c, nil
}

func (k Kind[T]) empty() *Catalog[T] {
	return &Catalog[T]{byName: map[string]T{}, name: k.Name, unknown: k.Unknown}
}

// Get returns the named definition, or an error wrapping the kind's Unknown
// whose public message names the definition asked for.
func (c *Catalog[T]) Get(name string) (T, error) {
	v, ok := c.byName[name]
	if !ok {
		var zero T
		return zero, usererr.Errorf("%w: %s", c.unknown, name)
	}
	return v, nil
}

// List returns every definition sorted by name.
func (c *Catalog[T]) List() []T {
	out := make([]T, 0, len(c.byName))
	for _, v := range c.byName {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return c.name(out[i]) < c.name(out[j]) })
	return out
}

// ContentVersion names the content of v: "v" and the first 12 hex digits of
// the SHA-256 of its JSON encoding, so any change to v changes it.
func ContentVersion(v any) (string, error) {
	canon, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return "v" + hex.EncodeToString(sum[:])[:12], nil
}
