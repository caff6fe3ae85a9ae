// Package demodocs holds the demo city's starter knowledge: bilingual
// regulations, plans and procedures for traffic, permits, energy, the 12345
// hotline and the districts, as Markdown files with a small front matter,
// and loads them into a knowledge base. The city and everyone in it are
// fictional.
package demodocs

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

//go:embed docs/*.md
var files embed.FS

// ErrFrontMatter is wrapped by every Parse error.
var ErrFrontMatter = errors.New("demodocs: bad front matter")

// cityTime is the demo city's zone, in which front-matter dates are read.
var cityTime = time.FixedZone("UTC+8", 8*3600)

// Documents returns the demo documents, sorted by id.
func Documents() ([]knowledge.Document, error) {
	names, err := fs.Glob(files, "docs/*.md")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	docs := make([]knowledge.Document, 0, len(names))
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if want := strings.TrimSuffix(path.Base(name), ".md"); doc.ID != want {
			return nil, fmt.Errorf("%s: id %q does not match the file name", name, doc.ID)
		}
		doc.Source = cmp.Or(doc.Source, "demodocs/"+name)
		docs = append(docs, doc)
	}
	return docs, nil
}

// Load ingests every demo document into base and returns how many were
// created or changed. Content hashes make it idempotent: loading again
// rewrites nothing and returns 0.
func Load(ctx context.Context, base *knowledge.Base) (int, error) {
	docs, err := Documents()
	if err != nil {
		return 0, err
	}
	results, err := base.IngestMany(ctx, docs)
	n := 0
	for _, r := range results {
		if r.Status == knowledge.IngestCreated || r.Status == knowledge.IngestUpdated {
			n++
		}
	}
	if err != nil {
		return n, fmt.Errorf("demodocs: load: %w", err)
	}
	return n, nil
}

// Parse reads a Markdown document with a front matter between "---" lines:
//
//	---
//	id: traffic-incident-response
//	title: 交通事故应急处置预案
//	collection: traffic
//	clearance: public          # public, internal, sensitive or restricted
//	source: 市公安局交通管理局〔2024〕7号
//	effective: 2024-03-01      # optional, also expires; dates are UTC+8
//	metadata:                  # optional, one indented "key: value" a line
//	  lang: zh
//	---
//
// The body after the front matter becomes the text. Unknown keys are errors,
// so that a typo cannot silently drop, say, a clearance.
func Parse(data []byte) (knowledge.Document, error) {
	var doc knowledge.Document
	text := strings.ReplaceAll(strings.TrimPrefix(string(data), "\uFEFF"), "\r\n", "\n")
	if !strings.HasPrefix(text, "---\n") {
		return doc, fmt.Errorf("%w: missing opening ---", ErrFrontMatter)
	}
	head, body, ok := strings.Cut(text[len("---\n"):], "\n---\n")
	if !ok {
		if !strings.HasSuffix(text, "\n---") {
			return doc, fmt.Errorf("%w: missing closing ---", ErrFrontMatter)
		}
		head, body = strings.TrimSuffix(text[len("---\n"):], "\n---"), ""
	}
	seen := map[string]bool{}
	inMetadata := false
	for i, line := range strings.Split(head, "\n") {
		bad := func(msg string) (knowledge.Document, error) {
			return knowledge.Document{}, fmt.Errorf("%w: line %d: %s", ErrFrontMatter, i+2, msg)
		}
		if j := strings.Index(line, " #"); j >= 0 {
			line = line[:j]
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			return bad("want key: value")
		}
		key, value = strings.TrimSpace(key), unquote(strings.TrimSpace(value))
		if key == "" {
			return bad("empty key")
		}
		if indented {
			if !inMetadata {
				return bad("indented line outside metadata")
			}
			if doc.Metadata == nil {
				doc.Metadata = map[string]string{}
			}
			if _, dup := doc.Metadata[key]; dup {
				return bad("metadata key " + key + " repeated")
			}
			doc.Metadata[key] = value
			continue
		}
		inMetadata = false
		if seen[key] {
			return bad("key " + key + " repeated")
		}
		seen[key] = true
		switch key {
		case "id":
			doc.ID = value
		case "title":
			doc.Title = value
		case "collection":
			doc.Collection = value
		case "source":
			doc.Source = value
		case "clearance":
			c, err := access.ParseClearance(value)
			if err != nil {
				return bad(err.Error())
			}
			doc.Clearance = c
		case "effective", "expires":
			t, err := parseDate(value)
			if err != nil {
				return bad(key + ": " + err.Error())
			}
			if key == "effective" {
				doc.Effective = &t
			} else {
				doc.Expires = &t
			}
		case "metadata":
			if value != "" {
				return bad("metadata takes indented key: value lines")
			}
			inMetadata = true
		default:
			return bad("unknown key " + key)
		}
	}
	if doc.ID == "" || doc.Collection == "" {
		return knowledge.Document{}, fmt.Errorf("%w: id and collection are required", ErrFrontMatter)
	}
	doc.Text = strings.TrimSpace(body)
	return doc, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, cityTime); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}
