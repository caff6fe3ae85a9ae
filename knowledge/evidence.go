package knowledge

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Exact-match evidence, strongest first. A hit with more evidence ranks
// above every hit with less, whatever their fused scores: a chunk that holds
// the identifier or the phrase asked for is the answer, and a merely similar
// chunk must not pass it.
const (
	MatchNone       = 0
	MatchIdentifier = 1 // holds every identifier-like word of the query (permit numbers, codes)
	MatchPhrase     = 2 // holds the query (or each "quoted" part of it) as a phrase
	MatchField      = 3 // the query is its document id, chunk id, title or a metadata value
)

// Matcher finds exact-match evidence of one query in chunks. It is made
// once per search and is cheap when the query has nothing to match on.
type Matcher struct {
	field   string   // the folded query, for field matches
	phrases []string // unit sequences (phraseKey) that must all occur
	idents  []string // unit sequences of identifier-like words
	// need are substrings the raw text (lower-cased) must hold for any
	// phrase or identifier to match: a cheap test before tokenising.
	needPhrase, needIdent []string
	anyLetter             bool // some needed piece has letters: compare lower-cased
	// verbatim holds each phrase as raw text (lower-cased if anyLetter),
	// trimmed to start and end with a CJK character, or is nil when some
	// phrase does not; see Match.
	verbatim []string
}

// NewMatcher prepares query's evidence: its folded whole text (field
// matches), its quoted parts or else the whole query as a phrase of at
// least two terms, and its identifier-like words: words (cut at spaces,
// punctuation and CJK characters) of at least four characters holding a
// digit and a letter or a joiner ("zephyrcode7007", "PRM-2024-0173",
// "139-0000-2202", XK-2026-004417 in "编号XK-2026-004417的").
func NewMatcher(query string) *Matcher {
	m := &Matcher{field: foldField(query)}
	var quoted []string
	rest := query
	for {
		i := strings.IndexAny(rest, "\"“")
		if i < 0 {
			break
		}
		_, w := utf8.DecodeRuneInString(rest[i:])
		j := strings.IndexAny(rest[i+w:], "\"”")
		if j < 0 {
			break
		}
		quoted = append(quoted, rest[i+w:i+w+j])
		_, w2 := utf8.DecodeRuneInString(rest[i+w+j:])
		rest = rest[i+w+j+w2:]
	}
	if len(quoted) == 0 {
		quoted = []string{query}
	}
	var verbatim []string
	for _, q := range quoted {
		if k, n := phraseKey(q); n >= 2 {
			m.phrases = append(m.phrases, k)
			m.needPhrase = append(m.needPhrase, m.pieces(q)...)
			verbatim = append(verbatim, cjkEnds(q))
		}
	}
	// Words end at spaces and punctuation, and at CJK characters too:
	// Chinese is written without spaces, so a code in a Chinese sentence
	// ("编号XK-2026-004417的施工") is a word of its own.
	for _, w := range strings.FieldsFunc(query, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == ';' || r == '"' || r == '“' || r == '”' || r == '(' || r == ')' ||
			(r >= 0x2000 && unicode.IsPunct(r)) || isCJK(foldWidth(r))
	}) {
		w = strings.Trim(w, ".:!?'")
		if k, n := phraseKey(w); n > 0 && identifierLike(w) {
			m.idents = append(m.idents, k)
			m.needIdent = append(m.needIdent, m.pieces(w)...)
		}
	}
	if !slices.Contains(verbatim, "") {
		for i, v := range verbatim {
			if m.anyLetter {
				verbatim[i] = strings.ToLower(v)
			}
		}
		m.verbatim = verbatim
	}
	return m
}

// cjkEnds returns q without the separators (runes that make no term) at
// its ends, or "" unless what is left starts and ends with a CJK
// character. A text holding the result as a substring then holds q as a
// phrase: the terms of a stretch of text depend on its runes alone when
// both of its ends are CJK characters, each a term by itself.
func cjkEnds(q string) string {
	v := strings.TrimFunc(q, func(r rune) bool {
		r = foldWidth(r)
		return !isCJK(r) && !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	if v == "" || !isCJK(foldWidth(first)) || !isCJK(foldWidth(last)) {
		return ""
	}
	return v
}

// pieces returns substrings that any text matching q as a phrase holds in
// its raw form (lower-cased): each CJK character, and each word cut before
// its last letter (so that a folded plural still matches: "policy" from
// "policies", "permit" from "permits").
func (m *Matcher) pieces(q string) []string {
	var out []string
	scanTerms(q, func(b []byte) {
		w := string(b)
		if n := len(w); n > 3 && !isDigit(rune(w[n-1])) {
			w = w[:n-1]
		}
		for _, r := range w {
			if unicode.IsLetter(r) {
				m.anyLetter = true
				break
			}
		}
		out = append(out, w)
	}, func(run []rune) {
		for _, r := range run {
			out = append(out, string(r))
		}
	})
	return out
}

// hasFullWidthAlnum reports whether s holds a full-width digit or letter
// (U+FF10–FF19, U+FF21–FF3A, U+FF41–FF5A).
func hasFullWidthAlnum(s string) bool {
	for {
		i := strings.IndexByte(s, 0xef)
		if i < 0 || i+2 >= len(s) {
			return false
		}
		b1, b2 := s[i+1], s[i+2]
		if (b1 == 0xbc && (b2 >= 0x90 && b2 <= 0x99 || b2 >= 0xa1 && b2 <= 0xba)) || (b1 == 0xbd && b2 >= 0x81 && b2 <= 0x9a) {
			return true
		}
		s = s[i+1:]
	}
}

// mayHold reports whether raw (title, headings and text) can hold all of
// pieces; false only when it certainly cannot.
func mayHold(raw string, pieces []string) bool {
	for _, p := range pieces {
		if !strings.Contains(raw, p) {
			return false
		}
	}
	return true
}

// identifierLike reports whether w reads as a code rather than a word.
func identifierLike(w string) bool {
	if utf8.RuneCountInString(w) < 4 {
		return false
	}
	var digit, letter, joiner bool
	for _, r := range w {
		switch {
		case isCJK(r):
			return false
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLetter(r):
			letter = true
		case strings.ContainsRune("-_/#.:", r):
			joiner = true
		}
	}
	return digit && (letter || joiner)
}

// Empty reports whether the query has nothing but its field form to match.
func (m *Matcher) Empty() bool { return len(m.phrases) == 0 && len(m.idents) == 0 && m.field == "" }

// Match returns the evidence that chunk c answers the query exactly.
func (m *Matcher) Match(c Chunk) int {
	if m.field != "" {
		if m.field == foldField(c.DocID) || m.field == foldField(c.ID) || m.field == foldField(c.Title) {
			return MatchField
		}
		for _, v := range c.Metadata {
			if m.field == foldField(v) {
				return MatchField
			}
		}
	}
	if len(m.phrases) == 0 && len(m.idents) == 0 {
		return MatchNone
	}
	raw := IndexText(c)
	if m.anyLetter {
		raw = strings.ToLower(raw)
	}
	// Full-width letters and digits fold to ASCII only when tokenising:
	// the raw test would miss them, so skip it for texts that have any.
	fullWidth := hasFullWidthAlnum(raw)
	phrase := len(m.phrases) > 0 && (fullWidth || mayHold(raw, m.needPhrase))
	ident := len(m.idents) > 0 && (fullWidth || mayHold(raw, m.needIdent))
	if !phrase && !ident {
		return MatchNone
	}
	if phrase && m.verbatim != nil && mayHold(raw, m.verbatim) {
		// Certain without spelling the text out (cjkEnds), and common:
		// the query copied from the text.
		return MatchPhrase
	}
	text, _ := phraseKey(raw)
	if phrase && all(m.phrases, text) {
		return MatchPhrase
	}
	if ident && all(m.idents, text) {
		return MatchIdentifier
	}
	return MatchNone
}

func all(keys []string, text string) bool {
	for _, k := range keys {
		if !strings.Contains(text, k) {
			return false
		}
	}
	return true
}

// phraseKey spells text as the sequence of its terms (the words Tokens
// keeps, and each CJK character), each followed by a separator, so that a
// phrase occurs in a text exactly when its key is a substring of the
// text's. It returns the number of terms.
func phraseKey(text string) (string, int) {
	var sb strings.Builder
	sb.Grow(len(text) + len(text)/3 + 1) // a CJK character's 3 bytes take 4
	sb.WriteByte(0)
	n := 0
	scanTerms(text, func(w []byte) {
		sb.Write(w)
		sb.WriteByte(0)
		n++
	}, func(run []rune) {
		for _, r := range run {
			sb.WriteRune(r)
			sb.WriteByte(0)
			n++
		}
	})
	return sb.String(), n
}

// foldField is s trimmed, lower-cased and width-folded, for field matches.
func foldField(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return strings.Map(func(r rune) rune { return unicode.ToLower(foldWidth(r)) }, s)
}

// OrderByEvidence moves the hits with more exact-match evidence of query
// ahead of those with less, keeping the order within each level. Every
// store's hits pass through it in Base.Search, so the rule is the same on
// every backend.
func OrderByEvidence(query string, hits []Hit) []Hit {
	m := NewMatcher(query)
	if m.Empty() || len(hits) < 2 {
		return hits
	}
	type ev struct {
		hit   Hit
		level int
	}
	evs := make([]ev, len(hits))
	moved := false
	for i, h := range hits {
		evs[i] = ev{h, m.Match(h.Chunk)}
		if i > 0 && evs[i].level > evs[i-1].level {
			moved = true
		}
	}
	if !moved {
		return hits
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return cmp.Compare(b.level, a.level) })
	for i := range evs {
		hits[i] = evs[i].hit
	}
	return hits
}
