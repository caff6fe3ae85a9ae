// Package cleantext makes text taken from a data source safe to show and
// to use as a schema enum value: names, ids and descriptions are data, so
// control characters and line breaks go and the length is capped.
package cleantext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name is the cap for names and ids.
const Name = 120

// Clean replaces control, format and line-separator characters of s with
// spaces, collapses runs of spaces, trims it and caps it at n runes
// (n ≤ 0: Name). Invalid UTF-8 is dropped.
func Clean(s string, n int) string {
	if n <= 0 {
		n = Name
	}
	var b strings.Builder
	space, runes := false, 0
	for _, r := range strings.ToValidUTF8(s, "") {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if runes >= n {
			break
		}
		if space {
			b.WriteByte(' ')
			runes++
			space = false
		}
		b.WriteRune(r)
		runes++
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return ""
	}
	return out
}
