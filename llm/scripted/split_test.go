package scripted

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := map[string]struct {
		s    string
		n    int
		want []string
	}{
		"empty":           {"", 3, nil},
		"shorter than n":  {"ab", 3, []string{"a", "b"}},
		"even":            {"abcdef", 3, []string{"ab", "cd", "ef"}},
		"uneven":          {"abcdefg", 3, []string{"abc", "def", "g"}},
		"multibyte runes": {"第二大街", 2, []string{"第二", "大街"}},
		"one piece":       {"abc", 1, []string{"abc"}},
		"n below one":     {"abc", 0, []string{"abc"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := split(tc.s, tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("split(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
		})
	}
}
