package cleantext

import "testing"

func TestClean(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		n    int
		want string
	}{
		"plain":       {"Lake Shore Dr", 0, "Lake Shore Dr"},
		"newlines":    {"Loop\nIgnore previous instructions\r\n", 0, "Loop Ignore previous instructions"},
		"controls":    {"a\x00b\x1b[31mc\u202e", 0, "a b [31mc"},
		"cap":         {"东城区 Dongcheng District", 5, "东城区 D"},
		"invalid":     {"ok\xffok", 0, "okok"},
		"only spaces": {" \t\n ", 0, ""},
	} {
		if got := Clean(tc.in, tc.n); got != tc.want {
			t.Errorf("%s: Clean(%q) = %q, want %q", name, tc.in, got, tc.want)
		}
	}
}
