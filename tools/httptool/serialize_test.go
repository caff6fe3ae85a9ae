package httptool

import (
	"encoding/json"
	"strings"
	"testing"
)

func ptr(b bool) *bool { return &b }

// decoded turns a JSON literal into the value args() would hand over.
func decoded(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The golden rows are OpenAPI 3.1's style examples (§4.8.12.4, "Style
// Examples"): color = "blue", ["blue","black","brown"] and
// {"R":100,"G":200,"B":150}, with keys in sorted order (B, G, R).
func TestStyleTable(t *testing.T) {
	const prim, arr, obj = `"blue"`, `["blue","black","brown"]`, `{"R":100,"G":200,"B":150}`
	cases := []struct {
		style   string
		explode bool
		in      string
		value   string
		want    string
	}{
		{"simple", false, "path", prim, "blue"},
		{"simple", false, "path", arr, "blue,black,brown"},
		{"simple", false, "path", obj, "B,150,G,200,R,100"},
		{"simple", true, "path", arr, "blue,black,brown"},
		{"simple", true, "path", obj, "B=150,G=200,R=100"},
		{"label", false, "path", prim, ".blue"},
		{"label", false, "path", arr, ".blue,black,brown"},
		{"label", false, "path", obj, ".B,150,G,200,R,100"},
		{"label", true, "path", arr, ".blue.black.brown"},
		{"label", true, "path", obj, ".B=150.G=200.R=100"},
		{"matrix", false, "path", prim, ";color=blue"},
		{"matrix", false, "path", arr, ";color=blue,black,brown"},
		{"matrix", false, "path", obj, ";color=B,150,G,200,R,100"},
		{"matrix", true, "path", arr, ";color=blue;color=black;color=brown"},
		{"matrix", true, "path", obj, ";B=150;G=200;R=100"},
		{"form", false, "query", prim, "color=blue"},
		{"form", false, "query", arr, "color=blue,black,brown"},
		{"form", false, "query", obj, "color=B,150,G,200,R,100"},
		{"form", true, "query", arr, "color=blue&color=black&color=brown"},
		{"form", true, "query", obj, "B=150&G=200&R=100"},
		{"spaceDelimited", false, "query", arr, "color=blue%20black%20brown"},
		{"pipeDelimited", false, "query", arr, "color=blue%7Cblack%7Cbrown"},
		{"deepObject", true, "query", obj, "color%5BB%5D=150&color%5BG%5D=200&color%5BR%5D=100"},
		{"simple", false, "header", arr, "blue,black,brown"},
		{"simple", false, "header", obj, "B,150,G,200,R,100"},
		{"simple", true, "header", obj, "B=150,G=200,R=100"},
		{"form", false, "cookie", arr, "color=blue,black,brown"},
	}
	for _, c := range cases {
		p := Param{In: c.in, Style: c.style, Explode: ptr(c.explode)}
		v := decoded(t, c.value)
		var got string
		switch c.in {
		case "path":
			got = pathValue(p, "color", v)
		case "header":
			got = headerValue(p, v)
		default:
			var parts []string
			for _, pr := range queryPairs(p, "color", v) {
				parts = append(parts, pr.name+"="+pr.value)
			}
			got = strings.Join(parts, "&")
		}
		if got != c.want {
			t.Errorf("%s explode=%v %s %s: %q, want %q", c.style, c.explode, c.in, c.value, got, c.want)
		}
	}
}

// Defect 1: numbers keep their JSON text; integral values written with
// an exponent or fraction go out as integers.
func TestNumbersAsTheirText(t *testing.T) {
	for in, want := range map[string]string{
		"1234567": "1234567", "1.234567e+06": "1234567", "1e3": "1000", "100.0": "100", "0.1": "0.1", "-2.5e-3": "-2.5e-3",
		"9007199254740993": "9007199254740993", "123456789012345678901234567890": "123456789012345678901234567890", "1e400": "1e400",
	} {
		if got := scalarText(json.Number(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	if got := scalarText(1234567.0); got != "1234567" {
		t.Errorf("float64 1234567: %q", got)
	}
}

// Path values escape every reserved character; allowReserved keeps them
// in queries only.
func TestEscaping(t *testing.T) {
	if got := pathValue(Param{In: "path"}, "p", "a/b c?d#e%f"); got != "a%2Fb%20c%3Fd%23e%25f" {
		t.Errorf("path %q", got)
	}
	pr := queryPairs(Param{In: "query", AllowReserved: true}, "q", "a/b:c&d=e")
	if pr[0].value != "a/b:c%26d%3De" {
		t.Errorf("allowReserved %q", pr[0].value)
	}
	if ck := queryPairs(Param{In: "cookie"}, "s", `a b;c"d`); ck[0].value != "a%20b%3Bc%22d" {
		t.Errorf("cookie %q", ck[0].value)
	}
}
