package offline

import (
	"sort"
	"strings"
)

// maxQueryTerms bounds the terms QueryTerms adds to one query.
const maxQueryTerms = 16

// QueryTerms returns the other-language names, from the engine's alias groups
// and bilingual glossary (data/aliases.yaml), of the city terms text uses:
// for "How long is the yellow light?" the Chinese 黄灯, for "城管局负责什么" the
// English "urban management bureau". Retrieval adds them to its query so that
// a question meets a document written only in the other language; the user's
// message is never changed, so any model may use them. Groups are visited in
// file order and the result is the same for the same text.
func QueryTerms(text string) []string {
	low := strings.ToLower(text)
	zh, latin := hasHan(text), hasLatin(text)
	var out []string
	seen := map[string]bool{}
	for _, tr := range lex().translations(text, termSet(text)) {
		for _, m := range tr.others {
			// Chinese names for a question in Latin letters, English ones
			// (never identifiers such as under_review) for a Chinese one.
			other := m.zh && latin || !m.zh && !m.ident && zh
			if !other || seen[m.text] || strings.Contains(low, m.text) {
				continue
			}
			seen[m.text] = true
			out = append(out, m.text)
			if len(out) == maxQueryTerms {
				return out
			}
		}
	}
	return out
}

// FollowUpText is what to look a question up by in the knowledge base, given
// the session's earlier user messages (latest first): the question, and
// when it points back at an earlier message ("Which department will fix
// them?", "这个归哪个单位处理？") the latest of them too, since the question
// alone names nothing to find.
func FollowUpText(question string, earlier []string) string {
	if !pointsBack(question, earlier) {
		return question
	}
	return question + "\n" + earlier[0]
}

// pointsBack reports whether question refers back to the latest of the
// earlier messages (latest first).
func pointsBack(question string, earlier []string) bool {
	return len(earlier) > 0 && strings.TrimSpace(earlier[0]) != "" && lex().refersBack(question)
}

// hasLatin reports whether s holds an ASCII letter.
func hasLatin(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// member is one way of saying a group's term, with its terms.
type member struct {
	text  string
	terms []string // sorted
	zh    bool     // written in Chinese
	ident bool     // an identifier (under_review), not a word of a passage
	// english: an English member read for matching its other forms
	// (readPhrase); nil for one that matches only as written.
	english *phrase
}

// span returns where lowered text first says the member: as written, or
// else (an English member) in another form of its words (memberText).
func (m *member) span(low string, words *memberText) ([2]int, bool) {
	if sp, ok := firstSpan(low, m.text); ok || m.english == nil {
		return sp, ok
	}
	return m.english.firstIn(low, words.get(low))
}

// memberText is a text's lemmaWords, read once when a member first needs them.
type memberText struct {
	words []lemmaWord
	done  bool
}

func (t *memberText) get(low string) []lemmaWord {
	if !t.done {
		t.words, t.done = lemmaWords(low), true
	}
	return t.words
}

// translation is an alias group a question names: the member it says, and
// the group's other members.
type translation struct {
	said   *member
	others []member
	group  int // index of the group in the lexicon
}

// translations lists the alias and glossary groups text names, in file order.
func (l *lexicon) translations(text string, terms map[string]bool) []translation {
	low := strings.ToLower(text)
	var ids []int
	for t := range terms {
		ids = append(ids, l.byTerm[t]...)
	}
	ids = append(ids, l.unkeyed...)
	sort.Ints(ids)
	var out []translation
	var spans [][2]int
	var words memberText
	for k, g := range ids {
		if k > 0 && ids[k-1] == g {
			continue
		}
		ms := l.members[g]
		said, at := -1, [2]int{}
		for i := range ms {
			if said >= 0 && len(ms[i].text) <= at[1]-at[0] {
				continue
			}
			// The group's first member the text says is what it says;
			// its longest is how far its words reach.
			if sp, ok := ms[i].span(low, &words); ok {
				if said < 0 {
					said = i
				}
				at = sp
			}
		}
		if said >= 0 {
			out = append(out, translation{said: &ms[said], others: ms, group: g})
			spans = append(spans, at)
		}
	}
	return withinLonger(out, spans)
}

// withinLonger drops the translations whose words the text says only inside
// the longer words of another group ("power" inside "power supply company",
// "running" inside "keep one running"): the text names the longer thing.
// spans are where each translation's member is said first.
func withinLonger(trs []translation, spans [][2]int) []translation {
	out := trs[:0]
	for i, tr := range trs {
		inside := false
		for j, sp := range spans {
			if j != i && sp[0] <= spans[i][0] && spans[i][1] <= sp[1] && sp[1]-sp[0] > spans[i][1]-spans[i][0] {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, tr)
		}
	}
	return out
}

// Flags of groupTerms.
const (
	termOfMember byte = 1 << iota // a term of some member of the question's groups
	termOfAlias                   // a term of a same-language member the question does not say
)

// groupTerms flags the terms of the question's groups: every member's
// (what translatedWeight looks for in a sentence), and those of the
// same-language members it does not say ("turned down" for rejected), which
// a sentence earns weightExpanded for each of. Nil when there are none.
func groupTerms(trs []translation, question string) map[string]byte {
	if len(trs) == 0 {
		return nil
	}
	out := map[string]byte{}
	low := strings.ToLower(question)
	for _, tr := range trs {
		for _, m := range tr.others {
			f := termOfMember
			// A question word of an answer type ("how fast", "by when")
			// is no synonym to find in a sentence: the type's fit rewards
			// the answer, and "fast chargers" answers no "how quickly".
			if m.zh == tr.said.zh && !m.ident && !strings.Contains(low, m.text) && !lex().typeCues[m.text] {
				f |= termOfAlias
			}
			for _, t := range m.terms {
				out[t] |= f
			}
		}
	}
	return out
}

// crossWeight is how much a term counts that a sentence says through the
// glossary in the other language: nearly a term it says itself, so that a
// sentence in the question's own language wins a tie.
const crossWeight = 0.9

// translatedWeight is what a sentence of terms has earns for saying in the
// other language the question's terms it does not say itself (counted holds
// those it does, and gains those credited here, so overlapping groups credit
// a term once): crossWeight of each term. Members match by their stemmed
// terms, so "water outage" meets "water outages".
func translatedWeight(has map[string]bool, trs []translation, counted map[string]bool) float64 {
	w := 0.0
	for _, tr := range trs {
		if hasAllTerms(has, tr.said.terms) {
			continue
		}
		for _, m := range tr.others {
			if m.zh == tr.said.zh || m.ident || !hasAllTerms(has, m.terms) {
				continue
			}
			for _, t := range tr.said.terms {
				if !counted[t] {
					counted[t] = true
					w += crossWeight * termWeight(t)
				}
			}
			break
		}
	}
	return w
}

func hasAllTerms(has map[string]bool, terms []string) bool {
	for _, t := range terms {
		if !has[t] {
			return false
		}
	}
	return len(terms) > 0
}

// Concepts lists the alias and glossary groups text names, in either
// language, by their index in the lexicon (sorted): a question and a passage
// that name the same group speak of the same thing, whatever their language.
func Concepts(text string) []int {
	trs := lex().translations(text, termSet(text))
	out := make([]int, 0, len(trs))
	for _, tr := range trs {
		out = append(out, tr.group)
	}
	return out
}
