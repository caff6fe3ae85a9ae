package offline

import (
	"reflect"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want []string
	}{
		"english stems":      {"Which roads are the most congested?", []string{"road", "congest"}},
		"compass adjectives": {"the northern Ring Expressway", []string{"north", "ring", "expressway"}},
		"-nsion verbs":       {"an extension may be extended", []string{"extend", "extend"}},
		"inflections":        {"congestion permits issued issue busiest", []string{"congest", "permit", "issu", "issu", "busy"}},
		"identifiers":        {"segment S042, 2026", []string{"segment", "s042"}},
		"chinese bigrams":    {"东城区最堵", []string{"东", "东城", "城", "城区", "区", "区最", "最", "最堵", "堵"}},
		"particles split":    {"堵车的路", []string{"堵", "堵车", "车", "路"}},
		"stop bigrams":       {"哪些路", []string{"些路", "路"}},
		"mixed":              {"Dongcheng东城", []string{"dongcheng", "东", "东城", "城"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tokenize(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNumberMentions(t *testing.T) {
	for in, want := range map[string][]float64{
		"top 3 roads":       {3},
		"前3条":               {3},
		"前三条最堵的路":           {3},
		"过去两小时":             {2},
		"统一管理十字路口":          nil,
		"segment S042":      nil,
		"on 2026-11-21":     nil,
		"top five, 2.5 km.": {5, 2.5},
		"二十五个":              {25},
	} {
		var got []float64
		for _, m := range numberMentions(in) {
			got = append(got, m.value)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("numberMentions(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDescribedValues(t *testing.T) {
	got := describedValues("Level. low: under 20%; high (over 80%), flow-based", []string{"low", "high", "flow"})
	want := map[int]string{0: ": under 20%", 1: " (over 80%)", 2: "-based"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Stop words are dropped as written, before stemming could disguise them
// ("does" → "doe", "these" → "thes", "there" → "ther").
func TestTokenizeStopWordsBeforeStem(t *testing.T) {
	if got := tokenize("Where does these rules apply there, before the works?"); strings.Join(got, " ") != "rule apply work" {
		t.Errorf("tokenize = %v, want [rule apply work]", got)
	}
}

// A hyphenated pair is also the word written as one.
func TestTokenizeHyphenatedPairs(t *testing.T) {
	got := strings.Join(tokenize("Send a clean-up crew for the re-inspection"), " ")
	if want := "send clean cleanup crew inspect reinspect"; got != want {
		t.Errorf("tokenize = %q, want %q", got, want)
	}
}

// What a contraction leaves of a function word is no term.
func TestTokenizeContractions(t *testing.T) {
	if got := strings.Join(tokenize("Why isn't it fixed? They're saying we don't know, we've asked"), " "); got != "fixed saying know asked" {
		t.Errorf("tokenize = %q", got)
	}
}
