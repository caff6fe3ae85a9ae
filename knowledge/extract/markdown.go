package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/knowledge"
)

// frontMatter is the optional YAML header of a Markdown file, between "---"
// lines. Unknown keys are errors, so that a typo cannot silently drop, say,
// a clearance.
type frontMatter struct {
	ID         string            `yaml:"id"`
	Title      string            `yaml:"title"`
	Collection string            `yaml:"collection"` // accepted, ignored: the request names the collection
	Source     string            `yaml:"source"`
	Clearance  string            `yaml:"clearance"`
	Effective  string            `yaml:"effective"`
	Expires    string            `yaml:"expires"`
	Metadata   map[string]string `yaml:"metadata"`
}

// cityTime is the zone in which front-matter dates without a zone are read.
var cityTime = time.FixedZone("UTC+8", 8*3600)

// markdown reads an optional front matter; its fields fill what base leaves
// empty (base metadata keys win over the file's).
func markdown(f File, base knowledge.Document, text string) ([]knowledge.Document, error) {
	head, body, ok := splitFrontMatter(text)
	if !ok {
		return one(f, base, func([]byte) (string, string, error) { return text, "", nil })
	}
	var fm frontMatter
	dec := yaml.NewDecoder(bytes.NewReader([]byte(head)))
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil && !errors.Is(err, io.EOF) {
		return nil, usererr.Errorf("%w: %s: front matter: %v", ErrCorrupt, describe(f.Name, ""), err)
	}
	bad := func(field string, err error) error {
		return usererr.Errorf("%w: %s: front matter %s: %v", ErrCorrupt, describe(f.Name, ""), field, err)
	}
	doc := base
	if doc.ID == "" {
		doc.ID = fm.ID
	}
	if doc.Title == "" {
		doc.Title = fm.Title
	}
	if doc.Source == "" {
		doc.Source = fm.Source
	}
	if doc.Clearance == "" && fm.Clearance != "" {
		c, err := access.ParseClearance(fm.Clearance)
		if err != nil {
			return nil, bad("clearance", err)
		}
		doc.Clearance = c
	}
	for _, d := range []struct {
		field string
		value string
		dst   **time.Time
	}{{"effective", fm.Effective, &doc.Effective}, {"expires", fm.Expires, &doc.Expires}} {
		if *d.dst != nil || d.value == "" {
			continue
		}
		t, err := ParseDate(d.value)
		if err != nil {
			return nil, bad(d.field, err)
		}
		*d.dst = &t
	}
	if len(fm.Metadata) > 0 {
		meta := maps.Clone(fm.Metadata)
		maps.Copy(meta, base.Metadata)
		doc.Metadata = meta
	}
	return one(f, doc, func([]byte) (string, string, error) { return body, "", nil })
}

// splitFrontMatter returns the YAML between an opening "---" line and the
// next "---" line, and the rest.
func splitFrontMatter(text string) (head, body string, ok bool) {
	t := strings.ReplaceAll(strings.TrimPrefix(text, "\uFEFF"), "\r\n", "\n")
	if !strings.HasPrefix(t, "---\n") {
		return "", text, false
	}
	rest := t[len("---\n"):]
	if h, b, found := strings.Cut(rest, "\n---\n"); found {
		return h, b, true
	}
	if strings.HasSuffix(rest, "\n---") {
		return strings.TrimSuffix(rest, "\n---"), "", true
	}
	return "", text, false
}

// ParseDate reads a date as a YYYY-MM-DD day in the demo city's zone (UTC+8)
// or an RFC 3339 time.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(time.DateOnly, s, cityTime); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 time, got %q", s)
	}
	return t, nil
}
