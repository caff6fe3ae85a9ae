package httptool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/tools"
)

// styles lists the OpenAPI styles each parameter location accepts.
var styles = map[string][]string{
	"path":   {"simple", "label", "matrix"},
	"query":  {"form", "spaceDelimited", "pipeDelimited", "deepObject"},
	"header": {"simple"},
	"cookie": {"form"},
}

// wireProblems checks Params, Body and Auth against the parameter names.
func (d *Def) wireProblems(props map[string]bool) []Problem {
	var ps []Problem
	names := make([]string, 0, len(d.Params))
	for n := range d.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := d.Params[n]
		ok, known := false, false
		for _, s := range styles[p.In] {
			known = true
			ok = ok || s == p.style()
		}
		switch {
		case !known:
			ps = append(ps, Problem{"params." + n + ".in", "must be path, query, header or cookie"})
		case !ok:
			ps = append(ps, Problem{"params." + n + ".style", fmt.Sprintf("%s is not a style for %s parameters (%s)", p.style(), p.In, strings.Join(styles[p.In], ", "))})
		case p.In == "header" && !tokenRE.MatchString(p.wire(n)), p.In == "header" && forbiddenHeaders[strings.ToLower(p.wire(n))]:
			ps = append(ps, Problem{"params." + n + ".name", "is not a header a tool may set"})
		case props != nil && !props[n]:
			ps = append(ps, Problem{"params." + n, "is not a parameter"})
		}
	}
	if b := d.Body; b != nil {
		if BodyKind(b.ContentType) == "" {
			ps = append(ps, Problem{"body.content_type", "must be a media type such as application/json, application/x-www-form-urlencoded, multipart/form-data or text/plain"})
		}
		if props != nil && !props[b.Arg] {
			ps = append(ps, Problem{"body.arg", "is not a parameter"})
		}
	}
	for i, a := range d.Auth {
		ps = append(ps, a.problems(fmt.Sprintf("auth[%d]", i))...)
	}
	return ps
}

// wire is the parameter's name on the wire.
func (p Param) wire(arg string) string {
	if p.Name != "" {
		return p.Name
	}
	return arg
}

// args validates raw against the schema and returns the arguments with
// numbers kept as their JSON text, so that 1234567 is sent as 1234567.
func (t *Tool) args(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	var vals map[string]any
	if err := json.Unmarshal(raw, &vals); err != nil || vals == nil {
		return nil, &tools.ArgsError{Tool: t.def.Name, Reason: "arguments must be a JSON object"}
	}
	if err := t.rs.ApplyDefaults(&vals); err != nil {
		return nil, &tools.ArgsError{Tool: t.def.Name, Reason: err.Error()}
	}
	if err := t.rs.Validate(vals); err != nil {
		reason := strings.TrimPrefix(err.Error(), "validating root: ")
		if len(reason) > 300 {
			reason = reason[:300] + "…"
		}
		return nil, &tools.ArgsError{Tool: t.def.Name, Reason: reason}
	}
	exact := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&exact)
	if msg := outOfRange(t.rs.Schema(), map[string]any(exact), "arguments"); msg != "" {
		return nil, &tools.ArgsError{Tool: t.def.Name, Reason: msg}
	}
	for k, v := range vals {
		if _, given := exact[k]; !given {
			exact[k] = v // a default the schema applied
		}
	}
	for k, p := range t.def.Params {
		if _, given := exact[k]; !given && len(p.Default) > 0 {
			var v any
			dec := json.NewDecoder(bytes.NewReader(p.Default))
			dec.UseNumber()
			if dec.Decode(&v) == nil {
				exact[k] = v
			}
		}
	}
	return exact, nil
}

// place says where an argument goes: path, query, header, cookie or body.
func (t *Tool) place(name string) string {
	if p, ok := t.def.Params[name]; ok {
		return p.In
	}
	if t.def.Body != nil && t.def.Body.Arg == name {
		return "body"
	}
	if w, ok := t.def.In[name]; ok {
		return w
	}
	if t.def.Method == http.MethodGet || t.def.Method == http.MethodDelete {
		return "query"
	}
	return "body"
}

func (t *Tool) request(ctx context.Context, vals map[string]any) (*http.Request, error) {
	bad := func(reason string) error { return &tools.ArgsError{Tool: t.def.Name, Reason: reason} }
	hdr, err := t.headers()
	if err != nil {
		return nil, err
	}
	creds, err := t.credentials(ctx)
	if err != nil {
		return nil, err
	}
	var empty string
	endpoint := placeholderRE.ReplaceAllStringFunc(t.def.Endpoint, func(m string) string {
		name := m[1 : len(m)-1]
		if emptyValue(vals[name]) && empty == "" {
			empty = name
		}
		if p, ok := t.def.Params[name]; ok {
			return dotSafe(pathValue(p, p.wire(name), vals[name]))
		}
		return dotSafe(url.PathEscape(scalar(vals[name])))
	})
	if empty != "" {
		return nil, bad("path parameter " + empty + " may not be empty")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, bad("the arguments do not make a valid URL")
	}
	legacy := u.Query()
	var query, cookies []pair
	body := map[string]any{}
	var whole any
	hasWhole := false
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vals[k]
		p, typed := t.def.Params[k]
		switch t.place(k) {
		case "query":
			if typed {
				query = append(query, queryPairs(p, p.wire(k), v)...)
			} else if list, ok := v.([]any); ok {
				for _, it := range list {
					legacy.Add(k, scalar(it))
				}
			} else {
				legacy.Set(k, scalar(v))
			}
		case "cookie":
			cookies = append(cookies, queryPairs(p, p.wire(k), v)...)
		case "header":
			name, text := k, scalar(v)
			if typed {
				name, text = p.wire(k), headerValue(p, v)
			}
			if strings.ContainsAny(text, "\r\n\x00") {
				return nil, bad(k + " may not contain line breaks")
			}
			if hdr.Get(name) == "" && creds.header.Get(name) == "" {
				hdr.Set(name, text)
			}
		case "body":
			if t.def.Body != nil || t.def.In[k] == "body" {
				whole, hasWhole = v, true
			} else {
				body[k] = v
			}
		}
	}
	raw := legacy.Encode()
	for _, pr := range append(query, creds.query...) {
		if raw != "" {
			raw += "&"
		}
		raw += pr.name + "=" + pr.value
	}
	u.RawQuery = raw
	var rd io.Reader
	switch {
	case t.def.Body != nil && hasWhole:
		b, ct, err := encodeBody(t.def.Body, whole)
		if err != nil {
			return nil, bad(err.Error())
		}
		rd = bytes.NewReader(b)
		hdr.Set("Content-Type", ct)
	case t.def.Body == nil && t.def.Method != http.MethodGet && t.def.Method != http.MethodDelete:
		var b []byte
		if hasWhole {
			b, _ = json.Marshal(whole)
		} else {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
		hdr.Set("Content-Type", ContentJSON)
	}
	req, err := http.NewRequestWithContext(ctx, t.def.Method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("httptool: %s: %w", t.def.Name, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	for k, vs := range creds.header {
		req.Header[k] = vs
	}
	telemetry.Inject(ctx, req.Header) // W3C traceparent of the calling turn
	if c := append(cookies, creds.cookies...); len(c) > 0 {
		parts := make([]string, len(c))
		for i, pr := range c {
			parts[i] = pr.name + "=" + pr.value
		}
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	req.Header.Set("Accept", ContentJSON)
	req.Header.Set("User-Agent", "cityagent-tool/1")
	return req, nil
}

// emptyValue reports a path value that would leave its segment empty.
func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// dotSafe encodes a path value of "." or ".." as %2E or %2E%2E, so that it
// is never read as a dot segment that climbs the endpoint's path.
func dotSafe(seg string) string {
	if seg == "." || seg == ".." {
		return strings.Repeat("%2E", len(seg))
	}
	return seg
}

// scalar writes a value of a plain HTTP tool's argument.
func scalar(v any) string { return scalarText(v) }

// CheckArgs validates arguments against the tool's schema without calling it.
func (t *Tool) CheckArgs(raw json.RawMessage) error {
	_, err := t.args(raw)
	return err
}
