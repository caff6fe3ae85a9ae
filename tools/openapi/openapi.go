// Package openapi imports every operation of an OpenAPI 3 document (JSON or
// YAML) as an HTTP tool: its operationId becomes the tool name, its summary
// and description the tool description, its path, query and header
// parameters and JSON request body the tool's JSON-Schema arguments. The
// document is validated first; remote $refs are refused.
package openapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"encoding/json"

	"github.com/cityagent/cityagent/tools/httptool"
)

// ErrDocument wraps a document that is not a valid OpenAPI 3 description
// or has nothing to import.
var ErrDocument = errors.New("openapi: invalid document")

// MaxDocumentBytes bounds an imported document.
const MaxDocumentBytes = 4 << 20

// maxOperations bounds the tools one document may add.
const maxOperations = 200

// Options tune an import.
type Options struct {
	// Source names the import: tool names are "<source>_<operation>" and
	// citations name it.
	Source string
	// BaseURL overrides the document's first server URL.
	BaseURL string
	// DocURL is where the document was fetched from; relative server URLs
	// resolve against it.
	DocURL string
	// Headers are sent with every operation: values name secrets as for
	// HTTP tools ("Bearer ${CITYAGENT_SECRET_X}").
	Headers   map[string]string
	Clearance string
	TimeoutMS int
}

var (
	nonWord  = regexp.MustCompile(`[^a-z0-9]+`)
	camelize = regexp.MustCompile(`([a-z0-9])([A-Z])`)
)

// toolName makes a tool name from an operation id or method and path.
func toolName(source, op string) string {
	op = camelize.ReplaceAllString(op, "${1}_${2}")
	n := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(source+"_"+op), "_"), "_")
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "op_" + n
	}
	if len(n) > 64 {
		n = strings.TrimRight(n[:64], "_")
	}
	return n
}

// Defs validates doc and returns one HTTP tool definition per operation,
// sorted by name.
func Defs(ctx context.Context, doc []byte, opts Options) ([]httptool.Def, error) {
	if len(doc) > MaxDocumentBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrDocument, MaxDocumentBytes)
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = ctx
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDocument, err)
	}
	if !strings.HasPrefix(t.OpenAPI, "3.") {
		return nil, fmt.Errorf("%w: openapi version %q (want 3.x; Swagger 2.0 is not supported)", ErrDocument, t.OpenAPI)
	}
	if err := t.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDocument, err)
	}
	base, err := baseURL(t, opts)
	if err != nil {
		return nil, err
	}
	var defs []httptool.Def
	seen := map[string]string{}
	paths := t.Paths.Map()
	keys := make([]string, 0, len(paths))
	for p := range paths {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, path := range keys {
		item := paths[path]
		ops := item.Operations()
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, method := range methods {
			op := ops[method]
			switch method {
			case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				continue
			}
			id := op.OperationID
			if id == "" {
				id = strings.ToLower(method) + "_" + path
			}
			name := toolName(opts.Source, id)
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("%w: operations %s and %s %s both become tool %s", ErrDocument, prev, method, path, name)
			}
			seen[name] = method + " " + path
			def, err := operationDef(name, method, base, path, item, op, opts)
			if err != nil {
				return nil, err
			}
			defs = append(defs, def)
			if len(defs) > maxOperations {
				return nil, fmt.Errorf("%w: more than %d operations", ErrDocument, maxOperations)
			}
		}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("%w: no GET, POST, PUT, PATCH or DELETE operations", ErrDocument)
	}
	slices.SortFunc(defs, func(a, b httptool.Def) int { return strings.Compare(a.Name, b.Name) })
	return defs, nil
}

func baseURL(t *openapi3.T, opts Options) (string, error) {
	raw := opts.BaseURL
	if raw == "" && len(t.Servers) > 0 && t.Servers[0] != nil {
		s := t.Servers[0]
		raw = s.URL
		for name, v := range s.Variables {
			if v != nil {
				raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
			}
		}
	}
	if raw == "" {
		return "", fmt.Errorf("%w: no servers entry; give base_url", ErrDocument)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: server URL %q: %v", ErrDocument, raw, err)
	}
	if !u.IsAbs() {
		doc, err := url.Parse(opts.DocURL)
		if opts.DocURL == "" || err != nil {
			return "", fmt.Errorf("%w: server URL %q is relative; give base_url", ErrDocument, raw)
		}
		u = doc.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: server URL %q is not http(s)", ErrDocument, u.String())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func operationDef(name, method, base, path string, item *openapi3.PathItem, op *openapi3.Operation, opts Options) (httptool.Def, error) {
	props := map[string]any{}
	var required []string
	in := map[string]string{}
	params := map[string]*openapi3.Parameter{}
	var order []string
	for _, list := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, pr := range list {
			if pr == nil || pr.Value == nil {
				continue
			}
			p := pr.Value
			if p.In != "path" && p.In != "query" && p.In != "header" {
				continue // cookies are not sent
			}
			if _, ok := params[p.Name]; !ok {
				order = append(order, p.Name)
			}
			params[p.Name] = p
		}
	}
	for _, n := range order {
		p := params[n]
		s := map[string]any{"type": "string"}
		if p.Schema != nil {
			s = schemaJSON(p.Schema, 0)
		}
		if p.Description != "" {
			s["description"] = p.Description
		}
		props[n] = s
		in[n] = p.In
		if p.Required || p.In == "path" {
			required = append(required, n)
		}
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		mt := rb.Value.Content.Get("application/json")
		if mt == nil {
			return httptool.Def{}, fmt.Errorf("%w: %s %s: only application/json request bodies are supported", ErrDocument, method, path)
		}
		s := map[string]any{"type": "object"}
		if mt.Schema != nil {
			s = schemaJSON(mt.Schema, 0)
		}
		if rb.Value.Description != "" {
			s["description"] = rb.Value.Description
		}
		props["body"] = s
		in["body"] = "body"
		if rb.Value.Required {
			required = append(required, "body")
		}
	}
	schema := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		schema["required"] = required
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		return httptool.Def{}, fmt.Errorf("%w: %s %s: %v", ErrDocument, method, path, err)
	}
	desc := strings.TrimSpace(op.Summary)
	if d := strings.TrimSpace(op.Description); d != "" && d != desc {
		if desc != "" {
			desc += " — "
		}
		desc += d
	}
	if len([]rune(desc)) > 1800 {
		desc = string([]rune(desc)[:1800]) + "…"
	}
	if desc == "" {
		desc = name
	}
	desc += fmt.Sprintf(" (OpenAPI %s %s)", method, path)
	return httptool.Def{Name: name, Description: desc, Parameters: raw, Endpoint: base + path, Method: method, Headers: opts.Headers,
		TimeoutMS: opts.TimeoutMS, Clearance: opts.Clearance, In: in, Source: "openapi:" + opts.Source}, nil
}

// maxDepth bounds schema inlining; deeper (or recursive) parts accept any value.
const maxDepth = 8

// schemaJSON converts an OpenAPI schema to a self-contained JSON Schema
// (refs inlined, nullable as a type list).
func schemaJSON(ref *openapi3.SchemaRef, depth int) map[string]any {
	out := map[string]any{}
	if ref == nil || ref.Value == nil || depth > maxDepth {
		return out
	}
	s := ref.Value
	if s.Type != nil {
		types := s.Type.Slice()
		if s.Nullable && !slices.Contains(types, "null") {
			types = append(types, "null")
		}
		if len(types) == 1 {
			out["type"] = types[0]
		} else if len(types) > 1 {
			out["type"] = types
		}
	}
	set := func(k string, v any, ok bool) {
		if ok {
			out[k] = v
		}
	}
	set("title", s.Title, s.Title != "")
	set("description", s.Description, s.Description != "")
	set("format", s.Format, s.Format != "")
	if len(s.Enum) > 0 {
		enum := slices.Clone(s.Enum)
		if s.Nullable && !slices.Contains(enum, any(nil)) {
			enum = append(enum, nil)
		}
		out["enum"] = enum
	}
	set("default", s.Default, s.Default != nil)
	set("const", s.Const, s.Const != nil)
	set("pattern", s.Pattern, s.Pattern != "")
	set("minimum", s.Min, s.Min != nil)
	set("maximum", s.Max, s.Max != nil)
	set("multipleOf", s.MultipleOf, s.MultipleOf != nil)
	set("minLength", s.MinLength, s.MinLength > 0)
	set("maxLength", s.MaxLength, s.MaxLength != nil)
	set("minItems", s.MinItems, s.MinItems > 0)
	set("maxItems", s.MaxItems, s.MaxItems != nil)
	set("uniqueItems", true, s.UniqueItems)
	if s.ExclusiveMin.Value != nil {
		out["exclusiveMinimum"] = *s.ExclusiveMin.Value
	} else if s.ExclusiveMin.Bool != nil && *s.ExclusiveMin.Bool && s.Min != nil {
		out["exclusiveMinimum"] = *s.Min
		delete(out, "minimum")
	}
	if s.ExclusiveMax.Value != nil {
		out["exclusiveMaximum"] = *s.ExclusiveMax.Value
	} else if s.ExclusiveMax.Bool != nil && *s.ExclusiveMax.Bool && s.Max != nil {
		out["exclusiveMaximum"] = *s.Max
		delete(out, "maximum")
	}
	if s.Items != nil {
		out["items"] = schemaJSON(s.Items, depth+1)
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for k, v := range s.Properties {
			if v != nil && v.Value != nil && v.Value.ReadOnly {
				continue // servers set these
			}
			props[k] = schemaJSON(v, depth+1)
		}
		out["properties"] = props
	}
	if len(s.Required) > 0 {
		var req []string
		props, _ := out["properties"].(map[string]any)
		for _, r := range s.Required {
			if props == nil || props[r] != nil {
				req = append(req, r)
			}
		}
		if len(req) > 0 {
			out["required"] = req
		}
	}
	if s.AdditionalProperties.Has != nil {
		out["additionalProperties"] = *s.AdditionalProperties.Has
	} else if s.AdditionalProperties.Schema != nil {
		out["additionalProperties"] = schemaJSON(s.AdditionalProperties.Schema, depth+1)
	}
	for key, list := range map[string]openapi3.SchemaRefs{"oneOf": s.OneOf, "anyOf": s.AnyOf, "allOf": s.AllOf} {
		if len(list) == 0 {
			continue
		}
		var items []any
		for _, it := range list {
			items = append(items, schemaJSON(it, depth+1))
		}
		out[key] = items
	}
	return out
}
