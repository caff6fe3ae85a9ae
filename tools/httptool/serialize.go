package httptool

import (
	"encoding/json"
	"math/big"
	"regexp"
	"sort"
	"strings"
)

// Param says where one argument goes on the wire and how it is written,
// following OpenAPI 3's parameter serialisation (style and explode).
type Param struct {
	// In is path, query, header or cookie.
	In string `json:"in"`
	// Name is the parameter's name on the wire when it differs from the
	// argument's name.
	Name string `json:"name,omitempty"`
	// Style is OpenAPI's style: simple, label, matrix (path), form,
	// spaceDelimited, pipeDelimited, deepObject (query) or form (cookie).
	// Empty means the default for In: simple for path and header, form
	// for query and cookie.
	Style string `json:"style,omitempty"`
	// Explode is OpenAPI's explode; nil means the default (true for form).
	Explode *bool `json:"explode,omitempty"`
	// AllowReserved leaves RFC 3986 reserved characters unescaped in a
	// query value.
	AllowReserved bool `json:"allow_reserved,omitempty"`
	// Default is sent when the caller omits the argument: only for a
	// parameter the document marks required and gives a default.
	Default json.RawMessage `json:"default,omitempty"`
}

// tokenRE is an HTTP header name (RFC 9110 token).
var tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")

// style returns the parameter's style, defaulted for its location.
func (p Param) style() string {
	if p.Style != "" {
		return p.Style
	}
	if p.In == "query" || p.In == "cookie" {
		return "form"
	}
	return "simple"
}

// explode returns the parameter's explode, defaulted for its style.
func (p Param) explode() bool {
	if p.Explode != nil {
		return *p.Explode
	}
	return p.style() == "form"
}

// pair is one name=value of a query string or cookie.
type pair struct{ name, value string }

// scalarText writes a primitive as its text: strings as they are, numbers
// from their JSON text with integral values as integers, true/false, and
// null as empty. Arrays and objects nested deeper than OpenAPI defines
// are written as JSON text.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		if x {
			return "true"
		}
		return "false"
	case json.Number:
		return numberText(x)
	case float64:
		return numberText(json.Number(big.NewFloat(x).Text('g', -1)))
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// numberText writes a JSON number as sent, except that an integral value
// written with a fraction or exponent (1.234567e+06) becomes an integer.
func numberText(n json.Number) string {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, _, err := big.ParseFloat(s, 10, 256, big.ToNearestEven)
	if err != nil || !f.IsInt() || f.MantExp(nil) > 256 {
		return s
	}
	i, _ := f.Int(nil)
	return i.String()
}

// members returns an object's keys in a stable order and its values as text.
func members(m map[string]any) ([]string, map[string]string) {
	keys := make([]string, 0, len(m))
	text := make(map[string]string, len(m))
	for k, v := range m {
		keys = append(keys, k)
		text[k] = scalarText(v)
	}
	sort.Strings(keys)
	return keys, text
}

// escaper percent-encodes one value for its place in the request.
type escaper func(string) string

// pathValue serialises a path parameter (simple, label or matrix).
func pathValue(p Param, name string, v any) string {
	esc := escapeUnreserved
	switch p.style() {
	case "label":
		// RFC 6570 {.x} and {.x*}, which OpenAPI's table follows.
		if p.explode() {
			return "." + joinValue(v, ".", true, "=", ".", esc)
		}
		return "." + joinValue(v, ",", false, "", ",", esc)
	case "matrix":
		switch x := v.(type) {
		case []any:
			if p.explode() {
				parts := make([]string, len(x))
				for i, it := range x {
					parts[i] = ";" + esc(name) + "=" + esc(scalarText(it))
				}
				return strings.Join(parts, "")
			}
		case map[string]any:
			if p.explode() {
				keys, text := members(x)
				var b strings.Builder
				for _, k := range keys {
					b.WriteString(";" + esc(k) + "=" + esc(text[k]))
				}
				return b.String()
			}
		}
		if s, ok := v.(string); ok && s == "" || v == nil {
			return ";" + esc(name)
		}
		return ";" + esc(name) + "=" + joinValue(v, ",", false, "", ",", esc)
	}
	return joinValue(v, ",", p.explode(), "=", ",", esc)
}

// joinValue writes a primitive, an array joined by sep, or an object as
// k,v,k,v (not exploded) or k=v joined by objSep (exploded).
func joinValue(v any, sep string, explode bool, kv, objSep string, esc escaper) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = esc(scalarText(it))
		}
		return strings.Join(parts, sep)
	case map[string]any:
		keys, text := members(x)
		parts := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			if explode {
				parts = append(parts, esc(k)+kv+esc(text[k]))
			} else {
				parts = append(parts, esc(k), esc(text[k]))
			}
		}
		if explode {
			return strings.Join(parts, objSep)
		}
		return strings.Join(parts, ",")
	}
	return esc(scalarText(v))
}

// headerValue serialises a header parameter (simple style).
func headerValue(p Param, v any) string {
	return joinValue(v, ",", p.explode(), "=", ",", func(s string) string { return s })
}

// queryPairs serialises a query (or cookie) parameter into name=value
// pairs whose names and values are already escaped.
func queryPairs(p Param, name string, v any) []pair {
	esc := escapeUnreserved
	if p.AllowReserved {
		esc = escapeAllowReserved
	}
	if p.In == "cookie" {
		esc = escapeCookie
	}
	n := esc(name)
	switch x := v.(type) {
	case []any:
		switch {
		case p.style() == "spaceDelimited" && !p.explode():
			return []pair{{n, joinValue(x, "%20", false, "", "", esc)}}
		case p.style() == "pipeDelimited" && !p.explode():
			return []pair{{n, joinValue(x, "%7C", false, "", "", esc)}}
		case p.explode():
			out := make([]pair, len(x))
			for i, it := range x {
				out[i] = pair{n, esc(scalarText(it))}
			}
			return out
		}
		return []pair{{n, joinValue(x, ",", false, "", "", esc)}}
	case map[string]any:
		keys, text := members(x)
		switch {
		case p.style() == "deepObject":
			return deepPairs(n, x, esc)
		case p.explode():
			out := make([]pair, len(keys))
			for i, k := range keys {
				out[i] = pair{esc(k), esc(text[k])}
			}
			return out
		}
		return []pair{{n, joinValue(x, ",", false, "", "", esc)}}
	}
	return []pair{{n, esc(scalarText(v))}}
}

// deepPairs writes an object as name[key]=value pairs; OpenAPI leaves
// nesting undefined, so arrays repeat name[key] and objects nest brackets
// (as qs, Rails and kin-openapi's decoder read them).
func deepPairs(n string, obj map[string]any, esc escaper) []pair {
	keys, text := members(obj)
	var out []pair
	for _, k := range keys {
		name := n + "%5B" + esc(k) + "%5D"
		switch v := obj[k].(type) {
		case []any:
			for _, it := range v {
				out = append(out, pair{name, esc(scalarText(it))})
			}
		case map[string]any:
			out = append(out, deepPairs(name, v, esc)...)
		default:
			out = append(out, pair{name, esc(text[k])})
		}
	}
	return out
}

const upperhex = "0123456789ABCDEF"

// escapeWith percent-encodes every byte for which keep is false.
func escapeWith(s string, keep func(c byte) bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperhex[c>>4])
		b.WriteByte(upperhex[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// escapeUnreserved keeps only RFC 3986 unreserved characters.
func escapeUnreserved(s string) string { return escapeWith(s, unreserved) }

// escapeAllowReserved also keeps RFC 3986 reserved characters, except
// those that would split the query (& # ;) or a pair (=).
func escapeAllowReserved(s string) string {
	return escapeWith(s, func(c byte) bool {
		return unreserved(c) || strings.IndexByte(":/?[]@!$'()*+,", c) >= 0
	})
}

// escapeCookie keeps what a cookie value may hold (RFC 6265 cookie-octet).
func escapeCookie(s string) string {
	return escapeWith(s, func(c byte) bool {
		return c == 0x21 || 0x23 <= c && c <= 0x2B || 0x2D <= c && c <= 0x3A || 0x3C <= c && c <= 0x5B || 0x5D <= c && c <= 0x7E
	})
}
