// Package httptool provides tools that call an HTTP endpoint: the tools a
// developer registers by JSON (name, description, JSON-Schema parameters,
// endpoint, method, headers from secrets, timeout, clearance) and the
// operations an OpenAPI document describes. Arguments are validated against
// the tool's schema and serialised as OpenAPI 3 says (path, query, header
// and cookie styles; JSON, form, multipart, text or binary bodies; numbers
// from their JSON text); credentials come from secrets; the request goes
// out through the guarded outbound client.
package httptool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/outbound"
)

// Limits of a definition.
const (
	MaxSchemaBytes      = 64 << 10
	MaxDescription      = 4000
	DefaultTimeoutMS    = 10000
	MaxTimeoutMS        = 120000
	MinTimeoutMS        = 100
	maxErrorBodyExcerpt = 300
)

// SecretPrefix is the prefix of the environment variables a header may
// name: a registered tool can send only secrets provisioned for tools, never
// another variable of the process (the database URL, the model key).
const SecretPrefix = "CITYAGENT_SECRET_"

// ErrInvalid wraps every definition problem.
var ErrInvalid = errors.New("httptool: invalid definition")

// ErrSecret is returned when a header's secret is not set.
var ErrSecret = errors.New("httptool: secret not set")

// Problem names one invalid field of a definition.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists a definition's problems; its messages are safe to
// show the developer.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Field+": "+p.Message)
	}
	return "httptool: invalid definition: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Def is a tool definition as registered and stored.
type Def struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	// Endpoint is the URL; {name} placeholders take path arguments.
	Endpoint string `json:"endpoint"`
	// Method is GET (default), POST, PUT, PATCH or DELETE. Arguments not in
	// the path go to the query for GET and DELETE, to a JSON body otherwise.
	Method string `json:"method,omitempty"`
	// Headers map a header to a value naming a secret: "${CITYAGENT_SECRET_X}",
	// optionally after a short prefix such as "Bearer ". Only the variable's
	// name is stored.
	Headers   map[string]string `json:"headers,omitempty"`
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	Clearance string            `json:"clearance,omitempty"` // default internal
	// In places arguments (OpenAPI): path, query, header or body. The
	// argument placed in "body" is sent as the whole JSON body.
	In map[string]string `json:"in,omitempty"`
	// Source names where the tool came from: "http" or "openapi:<source>".
	Source string `json:"source,omitempty"`
	// Params place and serialise arguments (OpenAPI); they take precedence
	// over In.
	Params map[string]Param `json:"params,omitempty"`
	// Body is the request body (OpenAPI): sent whenever its argument is
	// given, whatever the method (DELETE too).
	Body *Body `json:"body,omitempty"`
	// Auth are credentials from secrets sent with every request.
	Auth []Auth `json:"auth,omitempty"`
	// Unconfigured names the security schemes the operation requires that
	// have no secret (OpenAPI): the tool is unavailable, never sent
	// unauthenticated, until the source names one.
	Unconfigured []string `json:"unconfigured,omitempty"`
}

var (
	nameRE        = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
	placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_.-]*)\}`)
	secretRE      = regexp.MustCompile(`^([^${}]{0,20})\$\{(` + SecretPrefix + `[A-Z0-9_]+)\}$`)
	headerRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// forbiddenHeaders may not be set by a definition.
var forbiddenHeaders = map[string]bool{"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"cookie": true, "te": true, "upgrade": true, "proxy-authorization": true}

// Normalize fills defaults and checks d, reporting every problem at once.
// It returns the resolved parameter schema.
func (d *Def) Normalize() (*jsonschema.Resolved, error) {
	var ps []Problem
	bad := func(field, format string, args ...any) { ps = append(ps, Problem{field, fmt.Sprintf(format, args...)}) }
	d.Name = strings.TrimSpace(d.Name)
	if !nameRE.MatchString(d.Name) {
		bad("name", "must be 2–64 characters of a-z, 0-9 and _, starting with a letter")
	} else if why := ReservedName(d.Name); why != "" {
		bad("name", "%s", why)
	}
	d.Description = strings.TrimSpace(d.Description)
	if d.Description == "" || len([]rune(d.Description)) > MaxDescription {
		bad("description", "must be 1 to %d characters; say what the tool does and when to use it", MaxDescription)
	}
	d.Method = strings.ToUpper(strings.TrimSpace(d.Method))
	if d.Method == "" {
		d.Method = http.MethodGet
	}
	switch d.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		bad("method", "must be GET, POST, PUT, PATCH or DELETE")
	}
	if d.TimeoutMS == 0 {
		d.TimeoutMS = DefaultTimeoutMS
	}
	if d.TimeoutMS < MinTimeoutMS || d.TimeoutMS > MaxTimeoutMS {
		bad("timeout_ms", "must be %d to %d", MinTimeoutMS, MaxTimeoutMS)
	}
	if d.Clearance == "" {
		d.Clearance = string(access.Internal)
	}
	if _, err := access.ParseClearance(d.Clearance); err != nil {
		bad("clearance", "must be public, internal, sensitive or restricted")
	}
	if d.Source == "" {
		d.Source = "http"
	}
	u, err := url.Parse(placeholderRE.ReplaceAllString(d.Endpoint, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		bad("endpoint", "must be an http(s) URL without credentials; {name} placeholders take path arguments")
	}
	ps = append(ps, HeaderProblems("headers", d.Headers)...)
	rs, props := checkSchema(d.Parameters, &ps)
	for _, m := range placeholderRE.FindAllStringSubmatch(d.Endpoint, -1) {
		if rs != nil && !props[m[1]] {
			bad("endpoint", "placeholder {%s} is not a parameter", m[1])
		}
		if d.In == nil {
			d.In = map[string]string{}
		}
		if _, ok := d.Params[m[1]]; ok {
			continue
		}
		if _, ok := d.In[m[1]]; !ok {
			d.In[m[1]] = "path"
		}
	}
	ps = append(ps, d.wireProblems(props)...)
	for arg, in := range d.In {
		switch in {
		case "path", "query", "header", "body":
		default:
			bad("in."+arg, "must be path, query, header or body")
		}
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return rs, nil
}

// checkSchema validates a parameters schema: a JSON object schema of type
// object that resolves without remote references.
func checkSchema(raw json.RawMessage, ps *[]Problem) (*jsonschema.Resolved, map[string]bool) {
	bad := func(format string, args ...any) {
		*ps = append(*ps, Problem{"parameters", fmt.Sprintf(format, args...)})
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	if len(raw) > MaxSchemaBytes {
		bad("is larger than %d bytes", MaxSchemaBytes)
		return nil, nil
	}
	var s jsonschema.Schema
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&s); err != nil {
		bad("is not a JSON Schema: %v", err)
		return nil, nil
	}
	var generic any
	_ = json.Unmarshal(raw, &generic)
	if t := badType(generic); t != "" {
		bad("type %q is not a JSON Schema type", t)
		return nil, nil
	}
	if s.Type != "object" && !(len(s.Types) == 1 && s.Types[0] == "object") {
		bad("must be a schema of type object (the tool's arguments)")
		return nil, nil
	}
	rs, err := s.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		bad("does not resolve: %v", err)
		return nil, nil
	}
	props := map[string]bool{}
	for k := range s.Properties {
		props[k] = true
	}
	return rs, props
}

var schemaTypes = map[string]bool{"object": true, "array": true, "string": true, "number": true, "integer": true, "boolean": true, "null": true}

// badType finds a "type" keyword naming no JSON Schema type.
func badType(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if k == "type" {
				switch tv := sub.(type) {
				case string:
					if !schemaTypes[tv] {
						return tv
					}
					continue
				case []any:
					for _, it := range tv {
						if s, ok := it.(string); !ok || !schemaTypes[s] {
							return fmt.Sprint(it)
						}
					}
					continue
				}
			}
			if t := badType(sub); t != "" {
				return t
			}
		}
	case []any:
		for _, it := range x {
			if t := badType(it); t != "" {
				return t
			}
		}
	}
	return ""
}

// Doer sends requests; *outbound.Client implements it.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Prober checks that a URL's host can be reached through the guard.
type Prober interface {
	Probe(ctx context.Context, rawURL string) error
}

// Tool is an HTTP tool.
type Tool struct {
	def    Def
	rs     *jsonschema.Resolved
	spec   tools.Spec
	client Doer
	getenv func(string) string
	now    func() time.Time
	tokens *tokenCache
}

var _ tools.Tool = (*Tool)(nil)

// New checks d and builds the tool. getenv reads secrets (nil = none set).
func New(d Def, client Doer, getenv func(string) string) (*Tool, error) {
	rs, err := d.Normalize()
	if err != nil {
		return nil, err
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if p := bytes.TrimSpace(d.Parameters); len(p) == 0 || string(p) == "null" {
		d.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	params := d.Parameters
	cl, _ := access.ParseClearance(d.Clearance)
	return &Tool{def: d, rs: rs, client: client, getenv: getenv, now: time.Now, tokens: &tokenCache{},
		spec: tools.Spec{Name: d.Name, Description: d.Description, Parameters: params, Clearance: cl,
			Timeout: time.Duration(d.TimeoutMS) * time.Millisecond, Source: d.Source}}, nil
}

// Spec implements tools.Tool.
func (t *Tool) Spec() tools.Spec { return t.spec }

// Def returns the definition the tool was built from.
func (t *Tool) Def() Def { return t.def }

// Check reports whether the tool can be called: its secrets are set and
// its endpoint's host can be reached through the guard.
func (t *Tool) Check(ctx context.Context) error {
	if err := t.CheckSecrets(); err != nil {
		return err
	}
	if p, ok := t.client.(Prober); ok {
		return p.Probe(ctx, placeholderRE.ReplaceAllString(t.def.Endpoint, "x"))
	}
	return nil
}

// CheckSecrets reports, without touching the network, whether every secret
// the tool sends is set and every security scheme it needs has one.
func (t *Tool) CheckSecrets() error {
	if _, err := t.headers(); err != nil {
		return err
	}
	return t.checkAuth()
}

func (t *Tool) headers() (http.Header, error) {
	h := http.Header{}
	for name, v := range t.def.Headers {
		m := secretRE.FindStringSubmatch(v)
		if m == nil {
			return nil, fmt.Errorf("%w: header %s", ErrSecret, name)
		}
		val := t.getenv(m[2])
		if val == "" {
			return nil, fmt.Errorf("%w: %s (for header %s)", ErrSecret, m[2], name)
		}
		h.Set(name, m[1]+val)
	}
	return h, nil
}

// Call implements tools.Tool: validate, build the request, send it through
// the guard with the tool's timeout, and return the response as JSON. No
// secret the tool sends reaches its result or error: URLs in errors lose
// their query, and every configured secret value (and OAuth token) is
// replaced with [redacted].
func (t *Tool) Call(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	res, err := t.call(ctx, args)
	secrets := t.secretValues()
	return redactResult(res, secrets), redactError(err, secrets)
}

func (t *Tool) call(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	vals, err := t.args(args)
	if err != nil {
		return tools.Result{}, err
	}
	req, err := t.request(ctx, vals)
	if err != nil {
		return tools.Result{}, err
	}
	ctx, cancel := context.WithTimeout(outbound.WithCredentials(ctx, t.credentialNames()), time.Duration(t.def.TimeoutMS)*time.Millisecond)
	defer cancel()
	resp, err := t.client.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return tools.Result{}, fmt.Errorf("httptool: %s: timed out after %d ms: %w", t.def.Name, t.def.TimeoutMS, context.DeadlineExceeded)
		}
		return tools.Result{}, fmt.Errorf("httptool: %s: %w", t.def.Name, withoutQuery(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return tools.Result{}, fmt.Errorf("httptool: %s: timed out after %d ms: %w", t.def.Name, t.def.TimeoutMS, context.DeadlineExceeded)
		}
		return tools.Result{}, fmt.Errorf("httptool: %s: read response: %w", t.def.Name, err)
	}
	if resp.StatusCode >= 400 {
		ex := strings.TrimSpace(string(body))
		if len(ex) > maxErrorBodyExcerpt {
			ex = ex[:maxErrorBodyExcerpt] + "…"
		}
		err := fmt.Errorf("httptool: %s: the endpoint answered %d %s: %s", t.def.Name, resp.StatusCode, http.StatusText(resp.StatusCode), ex)
		return tools.Result{}, telemetry.WithStatus(err, resp.StatusCode) // error.type is the status
	}
	content := json.RawMessage(bytes.TrimSpace(body))
	if !json.Valid(content) {
		content, _ = json.Marshal(map[string]any{"status": resp.StatusCode, "content_type": resp.Header.Get("Content-Type"), "text": string(body)})
	}
	if len(content) == 0 {
		content, _ = json.Marshal(map[string]any{"status": resp.StatusCode})
	}
	return tools.Result{Content: content, Citation: tools.Citation{Source: t.def.Source + ":" + req.URL.Host, Title: t.def.Name, AsOf: t.now()}}, nil
}
