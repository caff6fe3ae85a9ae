package httptool

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzSerialise runs every style over any JSON value: it must not panic,
// path and query text must stay inside its component (no raw space, #, ?
// or /, and & or = only as delimiters), and a string value must decode
// back to itself.
func FuzzSerialise(f *testing.F) {
	for _, s := range []string{`"blue"`, `["a","b c"]`, `{"R":100,"G":2e2}`, `1.234567e+06`, `null`, `[[1],{"a":null}]`, `"a/b?c#d&e=f%"`, `"中文"`} {
		f.Add(s, uint8(0), true)
	}
	styles := []Param{{In: "path"}, {In: "path", Style: "label"}, {In: "path", Style: "matrix"}, {In: "query"},
		{In: "query", Style: "spaceDelimited"}, {In: "query", Style: "pipeDelimited"}, {In: "query", Style: "deepObject"},
		{In: "query", AllowReserved: true}, {In: "header"}, {In: "cookie"}}
	f.Fuzz(func(t *testing.T, raw string, which uint8, explode bool) {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		p := styles[int(which)%len(styles)]
		p.Explode = &explode
		switch p.In {
		case "path":
			out := pathValue(p, "x", v)
			if strings.ContainsAny(out, " #?/&\r\n") {
				t.Fatalf("path value %q leaks out of its segment", out)
			}
			if s, ok := v.(string); ok && p.style() == "simple" {
				if back, err := url.PathUnescape(out); err != nil || back != s {
					t.Fatalf("%q → %q → %q", s, out, back)
				}
			}
		case "query", "cookie":
			for _, pr := range queryPairs(p, "x y", v) {
				if strings.ContainsAny(pr.name+pr.value, " #&=\r\n;") && p.In == "query" {
					t.Fatalf("pair %q=%q breaks the query", pr.name, pr.value)
				}
			}
			if s, ok := v.(string); ok && p.In == "query" && !p.AllowReserved {
				pr := queryPairs(p, "x y", s)
				q, err := url.ParseQuery(pr[0].name + "=" + pr[0].value)
				if err != nil || q.Get("x y") != s {
					t.Fatalf("%q → %q → %q (%v)", s, pr[0].value, q.Get("x y"), err)
				}
			}
		case "header":
			out := headerValue(p, v)
			if s, ok := v.(string); ok && out != s {
				t.Fatalf("header %q → %q", s, out)
			}
		}
		if _, ct, err := encodeBody(&Body{ContentType: ContentForm}, v); err == nil && !bytes.Contains([]byte(ct), []byte("form")) {
			t.Fatalf("form content type %q", ct)
		}
	})
}
