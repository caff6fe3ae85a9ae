// Package openapi imports the operations of an OpenAPI 3 or Swagger 2.0
// document (JSON or YAML) as HTTP tools: each operation becomes a tool whose
// JSON-Schema arguments are its path, query, header and cookie parameters
// and its request body, and whose definition tells the HTTP tool how to
// serialise them (style, explode, content type). Security schemes map to
// secrets and never reach the model. What cannot be imported is skipped
// with its reason; remote $refs are refused.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools/httptool"
)

// ErrDocument wraps a document that is not a valid OpenAPI description
// or has nothing to import.
var ErrDocument = usererr.New("openapi", "invalid document")

// Settings that bound an import, as named in configuration and errors.
const (
	SettingMaxDocumentBytes = "tool_sources.openapi.max_document_bytes (CITYAGENT_OPENAPI_MAX_DOCUMENT_BYTES)"
	SettingMaxOperations    = "tool_sources.openapi.max_operations (CITYAGENT_OPENAPI_MAX_OPERATIONS)"
)

// Limits bound one import.
type Limits struct {
	// MaxDocumentBytes bounds the document's size.
	MaxDocumentBytes int64
	// MaxOperations bounds the tools one document adds, after include and
	// exclude.
	MaxOperations int
}

// DefaultLimits admit GitHub's REST description (13 MB, 1,000+ operations).
var DefaultLimits = Limits{MaxDocumentBytes: 32 << 20, MaxOperations: 2000}

func (l Limits) orDefault() Limits {
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = DefaultLimits.MaxDocumentBytes
	}
	if l.MaxOperations <= 0 {
		l.MaxOperations = DefaultLimits.MaxOperations
	}
	return l
}

// LimitError is an import over a configured limit; it names the setting.
type LimitError struct {
	Setting string
	Limit   int64
	Got     string // what was found, e.g. "1223 operations"
	Hint    string
}

func (e *LimitError) Error() string { return "openapi: " + e.Public() }

// Public is the message users see (internal/usererr).
func (e *LimitError) Public() string {
	msg := fmt.Sprintf("%s is over the limit of %d set by %s", e.Got, e.Limit, e.Setting)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrDocument) hold.
func (e *LimitError) Unwrap() error { return ErrDocument }

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
	// HTTP tools ("Bearer ${CITYAGENT_SECRET_X}"). Parameters of the same
	// name are not shown to the model.
	Headers map[string]string
	// Security gives the secrets of the document's security schemes, by
	// scheme name; the scheme's type and placement come from the document.
	Security map[string]httptool.Auth
	// Include and Exclude select operations: "tag:NAME", "path:GLOB",
	// "operation:GLOB" (operationId) or "METHOD GLOB"; * matches any run
	// of characters. Empty Include means every operation.
	Include, Exclude []string
	// AllOrNothing refuses the document if any operation is skipped.
	AllOrNothing bool
	Clearance    string
	TimeoutMS    int
	Limits       Limits
}

// Skipped is an operation that was not imported, and why.
type Skipped struct {
	Operation string `json:"operation"`
	Reason    string `json:"reason"`
}

// Mapping ties a tool to the operation it calls.
type Mapping struct {
	Tool        string `json:"tool"`
	Operation   string `json:"operation"` // "GET /repos/{owner}/{repo}"
	OperationID string `json:"operation_id,omitempty"`
}

// Report says what an import did.
type Report struct {
	// ConvertedFrom is "swagger 2.0" when the document was converted.
	ConvertedFrom string    `json:"converted_from,omitempty"`
	Warnings      []string  `json:"warnings,omitempty"`
	Skipped       []Skipped `json:"skipped,omitempty"`
	// Excluded counts the operations include and exclude left out.
	Excluded int       `json:"excluded,omitempty"`
	Tools    []Mapping `json:"tools"`
}

// Defs imports doc and returns its tool definitions, sorted by name.
func Defs(ctx context.Context, doc []byte, opts Options) ([]httptool.Def, error) {
	defs, _, err := Import(ctx, doc, opts)
	return defs, err
}

// Import validates doc and returns one HTTP tool definition per imported
// operation, sorted by name, and a report of what it did.
func Import(ctx context.Context, doc []byte, opts Options) ([]httptool.Def, *Report, error) {
	lim := opts.Limits.orDefault()
	if int64(len(doc)) > lim.MaxDocumentBytes {
		return nil, nil, &LimitError{Setting: SettingMaxDocumentBytes, Limit: lim.MaxDocumentBytes, Got: fmt.Sprintf("a document of %d bytes", len(doc))}
	}
	if ps := httptool.HeaderProblems("headers", opts.Headers); len(ps) > 0 {
		// A source header is the source's, not an operation's: refused
		// with the field named, never as every operation skipped.
		return nil, nil, &httptool.ValidationError{Problems: ps}
	}
	sel, err := newSelector(opts.Include, opts.Exclude)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{Tools: []Mapping{}}
	t, err := load(ctx, doc, rep)
	if err != nil {
		return nil, nil, err
	}
	if err := t.Validate(ctx, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation(),
		openapi3.DisableSchemaPatternValidation()); err != nil {
		rep.Warnings = append(rep.Warnings, "the document does not fully validate (imported anyway): "+clip(err.Error(), 300))
	}
	base, err := baseURL(t, opts)
	if err != nil {
		return nil, nil, err
	}
	sec, err := newSecurity(t, opts, rep)
	if err != nil {
		return nil, nil, err
	}
	ops := operations(t)
	var chosen []op
	for _, o := range ops {
		if sel.match(o) {
			chosen = append(chosen, o)
		} else {
			rep.Excluded++
		}
	}
	if len(chosen) > lim.MaxOperations {
		return nil, nil, &LimitError{Setting: SettingMaxOperations, Limit: int64(lim.MaxOperations), Got: fmt.Sprintf("%d operations", len(chosen)),
			Hint: "select fewer with include/exclude (a model does best with tens of tools) or raise the setting"}
	}
	names := newNamer(opts.Source)
	loops := refLoops(t)
	var defs []httptool.Def
	for _, o := range chosen {
		name := names.name(o)
		if why := refProblem(o, loops); why != "" {
			rep.Skipped = append(rep.Skipped, Skipped{Operation: o.label(), Reason: why})
			continue
		}
		def, err := operationDef(name, base, o, sec, opts)
		if err == nil {
			_, err = httptool.New(def, nil, nil)
		}
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skipped{Operation: o.label(), Reason: clip(strings.TrimPrefix(err.Error(), "httptool: "), 300)})
			continue
		}
		defs = append(defs, def)
		rep.Tools = append(rep.Tools, Mapping{Tool: name, Operation: o.label(), OperationID: o.op.OperationID})
	}
	if opts.AllOrNothing && len(rep.Skipped) > 0 {
		return nil, nil, usererr.Errorf("%w: all_or_nothing is set and %d operations cannot be imported%s", ErrDocument, len(rep.Skipped), skippedText(rep.Skipped))
	}
	if len(defs) == 0 {
		return nil, nil, usererr.Errorf("%w: no operation could be imported (%d skipped, %d excluded)%s", ErrDocument, len(rep.Skipped), rep.Excluded, skippedText(rep.Skipped))
	}
	slices.SortFunc(defs, func(a, b httptool.Def) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(rep.Tools, func(a, b Mapping) int { return strings.Compare(a.Tool, b.Tool) })
	return defs, rep, nil
}

// skippedText lists skipped operations and their reasons for an error.
func skippedText(skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	parts := make([]string, len(skipped))
	for i, s := range skipped {
		parts[i] = s.Operation + ": " + s.Reason
	}
	return ": " + clip(strings.Join(parts, "; "), 1500)
}

// load parses an OpenAPI 3 document, or converts a Swagger 2.0 one.
func load(ctx context.Context, doc []byte, rep *Report) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = ctx
	var head struct {
		Swagger string `json:"swagger" yaml:"swagger"`
		OpenAPI string `json:"openapi" yaml:"openapi"`
	}
	isJSON := len(bytes.TrimSpace(doc)) > 0 && bytes.TrimSpace(doc)[0] == '{'
	if isJSON {
		_ = json.Unmarshal(doc, &head)
	} else {
		_ = yaml.Unmarshal(doc, &head)
	}
	if strings.HasPrefix(head.Swagger, "2.") {
		return fromSwagger(loader, doc, isJSON, rep)
	}
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, usererr.Errorf("%w: %v", ErrDocument, err)
	}
	if !strings.HasPrefix(t.OpenAPI, "3.") {
		return nil, usererr.Errorf("%w: openapi version %q (want 3.x, or swagger 2.0)", ErrDocument, t.OpenAPI)
	}
	if t.Paths == nil {
		return nil, usererr.Errorf("%w: no paths", ErrDocument)
	}
	return t, nil
}

// fromSwagger converts a Swagger 2.0 document to OpenAPI 3 and loads it.
func fromSwagger(loader *openapi3.Loader, doc []byte, isJSON bool, rep *Report) (*openapi3.T, error) {
	if !isJSON {
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, usererr.Errorf("%w: %v", ErrDocument, err)
		}
		j, err := json.Marshal(stringKeys(v))
		if err != nil {
			return nil, usererr.Errorf("%w: swagger 2.0 document: %v", ErrDocument, err)
		}
		doc = j
	}
	var t2 openapi2.T
	if err := json.Unmarshal(doc, &t2); err != nil {
		return nil, usererr.Errorf("%w: swagger 2.0 document: %v", ErrDocument, err)
	}
	t3, err := openapi2conv.ToV3(&t2)
	if err != nil {
		return nil, usererr.Errorf("%w: converting swagger 2.0: %v", ErrDocument, err)
	}
	raw, err := json.Marshal(t3)
	if err != nil {
		return nil, usererr.Errorf("%w: converting swagger 2.0: %v", ErrDocument, err)
	}
	t, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, usererr.Errorf("%w: converted swagger 2.0: %v", ErrDocument, err)
	}
	if t.Paths == nil {
		return nil, usererr.Errorf("%w: no paths", ErrDocument)
	}
	rep.ConvertedFrom = "swagger 2.0"
	rep.Warnings = append(rep.Warnings, "converted from Swagger 2.0 to OpenAPI 3.0")
	return t, nil
}

// stringKeys turns YAML mappings with non-string keys (responses: {200: …})
// into JSON objects.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, it := range x {
			x[k] = stringKeys(it)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, it := range x {
			m[fmt.Sprint(k)] = stringKeys(it)
		}
		return m
	case []any:
		for i, it := range x {
			x[i] = stringKeys(it)
		}
	}
	return v
}

// op is one operation of the document.
type op struct {
	method, path string
	item         *openapi3.PathItem
	op           *openapi3.Operation
}

func (o op) label() string { return o.method + " " + o.path }

// methods are the HTTP methods imported, in a stable order.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// operations lists the document's operations sorted by path then method.
func operations(t *openapi3.T) []op {
	paths := t.Paths.Map()
	keys := make([]string, 0, len(paths))
	for p := range paths {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	var out []op
	for _, p := range keys {
		item := paths[p]
		if item == nil {
			continue
		}
		for _, m := range methods {
			if o := item.GetOperation(m); o != nil {
				out = append(out, op{method: m, path: p, item: item, op: o})
			}
		}
	}
	return out
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
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
		return "", usererr.Errorf("%w: no servers entry; give base_url", ErrDocument)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", usererr.Errorf("%w: server URL %q: %v", ErrDocument, raw, err)
	}
	if !u.IsAbs() {
		doc, err := url.Parse(opts.DocURL)
		if opts.DocURL == "" || err != nil {
			return "", usererr.Errorf("%w: server URL %q is relative; give base_url", ErrDocument, raw)
		}
		u = doc.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", usererr.Errorf("%w: server URL %q is not http(s)", ErrDocument, u.String())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// ReadDocument reads a document from r up to the size limit, failing with
// a LimitError that names the setting when r holds more.
func ReadDocument(r io.Reader, lim Limits) ([]byte, error) {
	lim = lim.orDefault()
	body, err := io.ReadAll(io.LimitReader(r, lim.MaxDocumentBytes+1))
	if err != nil {
		return nil, usererr.Errorf("%w: reading the document: %v", ErrDocument, err)
	}
	if int64(len(body)) > lim.MaxDocumentBytes {
		return nil, &LimitError{Setting: SettingMaxDocumentBytes, Limit: lim.MaxDocumentBytes, Got: "a document larger than the limit"}
	}
	return body, nil
}
