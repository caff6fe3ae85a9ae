package openapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cityagent/cityagent/tools/httptool"
)

// ignoredHeaders are header parameters OpenAPI says to ignore.
var ignoredHeaders = map[string]bool{"accept": true, "content-type": true, "authorization": true}

var argNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// params collects an operation's parameters (path-level ones first,
// overridden by the operation's of the same name and location).
func params(o op) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	index := map[string]int{}
	for _, list := range []openapi3.Parameters{o.item.Parameters, o.op.Parameters} {
		for _, pr := range list {
			if pr == nil || pr.Value == nil {
				continue
			}
			key := pr.Value.In + ":" + pr.Value.Name
			if i, ok := index[key]; ok {
				out[i] = pr.Value
				continue
			}
			index[key] = len(out)
			out = append(out, pr.Value)
		}
	}
	return out
}

func operationDef(name, base string, o op, sec *security, opts Options) (httptool.Def, error) {
	props := map[string]any{}
	var required []string
	wire := map[string]httptool.Param{}
	path := o.path
	var carriers []string
	for _, p := range params(o) {
		if scheme, carried := sec.carrier(p); carried {
			if scheme != "" {
				carriers = append(carriers, scheme)
			}
			continue // credentials fill it; the model never sees it
		}
		if p.In == "header" && ignoredHeaders[strings.ToLower(p.Name)] {
			continue
		}
		arg := p.Name
		if _, taken := props[arg]; taken || !argNameRE.MatchString(arg) {
			arg = p.In + "_" + nonWord.ReplaceAllString(strings.ToLower(p.Name), "_")
		}
		if _, taken := props[arg]; taken {
			return httptool.Def{}, fmt.Errorf("parameter %s in %s: two parameters share its name", p.Name, p.In)
		}
		s, def, err := paramSchema(p)
		if err != nil {
			return httptool.Def{}, err
		}
		props[arg] = s
		wp := httptool.Param{In: p.In, Style: p.Style, Explode: p.Explode, AllowReserved: p.AllowReserved}
		if arg != p.Name {
			wp.Name = p.Name
		}
		switch {
		case p.In == "path":
			required = append(required, arg)
			path = strings.ReplaceAll(path, "{"+p.Name+"}", "{"+arg+"}")
		case p.Required && def != nil:
			wp.Default = def // sent when the caller omits it
		case p.Required:
			required = append(required, arg)
		}
		wire[arg] = wp
	}
	var body *httptool.Body
	if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
		b, s, err := bodyOf(rb.Value, props)
		if err != nil {
			return httptool.Def{}, err
		}
		body = b
		props[b.Arg] = s
		if rb.Value.Required {
			required = append(required, b.Arg)
		}
	}
	schema := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		schema["required"] = required
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		return httptool.Def{}, err
	}
	auths, unconfigured := sec.auth(o, carriers)
	return httptool.Def{Name: name, Description: description(name, o), Parameters: raw, Endpoint: base + path, Method: o.method,
		Headers: opts.Headers, TimeoutMS: opts.TimeoutMS, Clearance: opts.Clearance, Source: "openapi:" + opts.Source,
		Params: wire, Body: body, Auth: auths, Unconfigured: unconfigured}, nil
}

// paramSchema is a parameter's argument schema and, if it has one, its
// default as JSON.
func paramSchema(p *openapi3.Parameter) (map[string]any, json.RawMessage, error) {
	s := map[string]any{"type": "string"}
	var def json.RawMessage
	switch {
	case p.Schema != nil:
		s = schemaJSON(p.Schema, 0)
		if p.Schema.Value != nil && p.Schema.Value.Default != nil {
			def, _ = json.Marshal(p.Schema.Value.Default)
		}
	case len(p.Content) > 0:
		s = map[string]any{"type": "string", "description": "JSON text"}
	}
	if p.Description != "" {
		d, _ := s["description"].(string)
		s["description"] = strings.TrimSpace(p.Description + " " + d)
	}
	return s, def, nil
}

// bodyOf chooses the request body's content type (JSON first, then forms,
// then text) and builds its argument schema.
func bodyOf(rb *openapi3.RequestBody, props map[string]any) (*httptool.Body, map[string]any, error) {
	var types []string
	for ct := range rb.Content {
		types = append(types, ct)
	}
	sort.Strings(types)
	best, rank := "", 99
	for _, ct := range types {
		r := slices.Index([]string{httptool.ContentJSON, httptool.ContentForm, httptool.ContentMultipart, httptool.ContentText, httptool.ContentBinary}, httptool.BodyKind(ct))
		if r == 4 && !binarySchema(rb.Content[ct]) {
			r = -1
		}
		if r >= 0 && r < rank {
			best, rank = ct, r
		}
	}
	if best == "" {
		return nil, nil, fmt.Errorf("request body types %s are not supported (JSON, form, multipart, text/plain and binary bodies with a format: binary schema are)", strings.Join(types, ", "))
	}
	arg := "body"
	if _, taken := props[arg]; taken {
		arg = "request_body"
	}
	b := &httptool.Body{Arg: arg, ContentType: best}
	s := map[string]any{"type": "object"}
	if mt := rb.Content[best]; mt != nil && mt.Schema != nil {
		s = schemaJSON(mt.Schema, 0)
	}
	switch httptool.BodyKind(best) {
	case httptool.ContentText:
		s = map[string]any{"type": "string"}
	case httptool.ContentBinary:
		s = map[string]any{"type": "string", "contentEncoding": "base64", "description": "The body's bytes (" + best + "), base64-encoded."}
	case httptool.ContentMultipart:
		if ps, ok := s["properties"].(map[string]any); ok {
			for k, v := range ps {
				if ms, _ := v.(map[string]any); isFile(rb.Content[best], k) {
					b.Files = append(b.Files, k)
					ps[k] = fileSchema(str(ms["description"]))
				}
			}
			sort.Strings(b.Files)
		}
	}
	if rb.Description != "" {
		s["description"] = rb.Description
	}
	return b, s, nil
}

// isFile reports whether a multipart body's property is a file: a string
// of format binary (OpenAPI 3.0) or with a contentMediaType (3.1).
func isFile(mt *openapi3.MediaType, prop string) bool {
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return false
	}
	p := mt.Schema.Value.Properties[prop]
	if p == nil || p.Value == nil {
		return false
	}
	return p.Value.Format == "binary" || p.Value.ContentMediaType != ""
}

// fileSchema is what the model sends for a file part: its bytes as base64,
// or an object that also names the file and its media type.
func fileSchema(desc string) map[string]any {
	content := map[string]any{"type": "string", "contentEncoding": "base64"}
	return map[string]any{
		"description": strings.TrimSpace("File content, base64-encoded, or {content, filename, content_type}. " + desc),
		"anyOf": []any{content, map[string]any{"type": "object", "additionalProperties": false, "required": []any{"content"},
			"properties": map[string]any{"content": content, "filename": map[string]any{"type": "string"}, "content_type": map[string]any{"type": "string"}}}},
	}
}

// binarySchema reports whether a media type's body is bytes: no schema,
// or a string of format binary.
func binarySchema(mt *openapi3.MediaType) bool {
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return true
	}
	s := mt.Schema.Value
	return s.Type != nil && s.Type.Is("string") && (s.Format == "binary" || s.Format == "byte")
}

func description(name string, o op) string {
	desc := strings.TrimSpace(o.op.Summary)
	if d := strings.TrimSpace(o.op.Description); d != "" && d != desc {
		if desc != "" {
			desc += " — "
		}
		desc += d
	}
	desc = clip(desc, 1800)
	if desc == "" {
		desc = name
	}
	return desc + fmt.Sprintf(" (OpenAPI %s %s)", o.method, o.path)
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
	if s.Default != nil {
		// A default is what the server assumes: never sent for the caller;
		// shown to the model as text.
		if d, err := json.Marshal(s.Default); err == nil && len(d) <= 200 {
			out["description"] = strings.TrimSpace(str(out["description"]) + " Default: " + string(d) + ".")
		}
	}
	set("const", s.Const, s.Const != nil)
	if _, err := regexp.Compile(s.Pattern); err == nil && s.Pattern != "" {
		out["pattern"] = s.Pattern // ECMA patterns Go cannot compile are left out
	}
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
	if s.Nullable && s.Type == nil {
		// nullable beside oneOf/anyOf/allOf/$ref: null is one more choice.
		return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
