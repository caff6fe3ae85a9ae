package offline

import (
	"strings"
	"testing"
)

// A member of an alias group or the glossary matches the other forms of
// its words, and only those.
func TestMemberForms(t *testing.T) {
	for _, c := range []struct {
		member, text string
		want         bool
	}{
		{"skips stops", "buses skipping stops", true},
		{"skips stops", "the bus skipped stops", true},
		{"wind speed", "at what wind speeds", true},
		{"cross passage", "the cross-passages", true},
		{"reinspection", "which re-inspections are due", true},
		{"re-inspection", "reinspections due", true},
		{"cleanup", "send a clean-up crew", true},
		{"clean up", "the cleanup", true},
		{"smell gas", "she smells gas", true},
		{"send the ticket back", "send ticket back", true},
		{"caller address", "the caller's address", true},
		{"neighbor complaint", "a neighbour complaint", true},
		{"city centre", "the city centers", true},
		{"licence", "a license", true},
		{"kerb", "parked on the curb", true},
		{"flooding", "roads flooded", true},
		// Never a derivation, another part of speech, or a compound's word.
		{"timing", "what time", false},
		{"lasts", "the last 3 hours", false},
		{"lifted", "the lifts", false},
		{"close to", "closed to pedestrians", false},
		{"water mains", "along a main road", false},
		{"day ahead", "how many days ahead", false},
		{"hour-ahead", "hours ahead", false},
		{"park", "parking", false},
		{"charge", "ev charging", false},
		{"class a", "class sites", false},
		{"metres", "meter readings", false},
	} {
		low := strings.ToLower(c.text)
		m := member{text: c.member, english: readPhrase(c.member)}
		var w memberText
		if _, got := m.span(low, &w); got != c.want {
			t.Errorf("%q in %q: %v, want %v", c.member, c.text, got, c.want)
		}
	}
}

// A group that lists some forms of a word keeps to them: "leaks" and
// "leaked" name disclosure, the "leak" of gas does not.
func TestEnumeratedForms(t *testing.T) {
	ms := []member{{text: "leaks"}, {text: "leaked"}, {text: "skips stops"}, {text: "skipped stops"}}
	for i := range ms {
		ms[i].english = readPhrase(ms[i].text)
	}
	enumerated(ms)
	var w memberText
	if _, ok := ms[0].span("a gas leak", &w); ok {
		t.Errorf("leaks matches %q", "a gas leak")
	}
	w = memberText{}
	if _, ok := ms[2].span("buses skipping stops", &w); !ok {
		t.Errorf("skips stops misses %q", "buses skipping stops")
	}
}

// British and American spellings have one stem, so that retrieval and the
// planner meet either.
func TestBritishStems(t *testing.T) {
	for _, p := range [][2]string{{"neighbourhoods", "neighborhood"}, {"centres", "center"}, {"licence", "licenses"},
		{"kerbs", "curb"}, {"organised", "organized"}, {"organisation", "organization"}, {"travelled", "traveled"},
		{"kilometres", "kilometers"}, {"programme", "program"}} {
		if stem(p[0]) != stem(p[1]) {
			t.Errorf("stem(%q) = %q, stem(%q) = %q", p[0], stem(p[0]), p[1], stem(p[1]))
		}
	}
	if stem("metres") == stem("meters") {
		t.Errorf("metres (a distance) meets meters (devices)")
	}
}

// The question words of an answer type are no synonyms a sentence earns
// weight for: "how quickly" does not make "fast chargers" an answer.
func TestTypeCuesAreNoAliases(t *testing.T) {
	q := "How quickly does the hotline dispatch a report?"
	flags := groupTerms(lex().translations(q, termSet(q)), q)
	if flags["fast"]&termOfAlias != 0 || flags["soon"]&termOfAlias != 0 {
		t.Errorf("alias terms of %q include fast or soon: %v", q, flags)
	}
}
