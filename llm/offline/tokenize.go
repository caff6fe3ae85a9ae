package offline

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The tokenizer is deliberately small: English words lower-cased and lightly
// stemmed, Chinese as character unigrams and bigrams. It only has to make a
// question and a tool description meet on the same terms; it is not a
// linguistic analyser.

// hanUnigramWeight is how much a single Chinese character counts against a
// word or a bigram: single characters are ambiguous, bigrams carry meaning.
const hanUnigramWeight = 0.4

// termWeight is the weight of one term in a query.
func termWeight(t string) float64 {
	if isSingleHan(t) {
		return hanUnigramWeight
	}
	return 1
}

func isHan(r rune) bool { return r >= 0x2E80 && unicode.Is(unicode.Han, r) }

func isSingleHan(t string) bool {
	for i, r := range t {
		return i == 0 && isHan(r) && len(t) == len(string(r))
	}
	return false
}

func hasHan(s string) bool {
	for _, r := range s {
		if isHan(r) {
			return true
		}
	}
	return false
}

// tokenize splits s into terms, in order and with repeats. Terms are
// substrings of s wherever they can be (Chinese unigrams and bigrams, words
// already in lower case), so that tokenizing allocates little.
func tokenize(s string) []string {
	out := make([]string, 0, len(s)/2)
	wordStart, wordEnd := -1, -1
	lastStart, lastEnd := -1, -1 // the word before, for a hyphenated pair
	upper := false
	var han []int // byte offsets of the current run of Chinese characters, and its end
	flushWord := func() {
		if wordStart < 0 {
			return
		}
		w := s[wordStart:wordEnd]
		if upper {
			w = strings.ToLower(w)
		}
		// A stop word is dropped as written: stemmed, "does", "these" and
		// "there" would pass as "doe", "thes" and "ther".
		if !stopWords[w] {
			if w = stem(w); keepWord(w) {
				out = append(out, w)
			}
		}
		// "clean-up", "re-inspection", "e-bike" are also the words
		// written as one: "cleanup", "reinspection", "ebike".
		if lastEnd >= 0 && wordStart == lastEnd+1 && s[lastEnd] == '-' {
			if j := stem(strings.ToLower(s[lastStart:lastEnd] + s[wordStart:wordEnd])); keepWord(j) && !stopWords[j] {
				out = append(out, j)
			}
		}
		lastStart, lastEnd = wordStart, wordEnd
		wordStart, upper = -1, false
	}
	flushHan := func(end int) {
		n := len(han)
		for i, off := range han {
			next := end
			if i+1 < n {
				next = han[i+1]
			}
			r, _ := utf8.DecodeRuneInString(s[off:])
			if !stopHan[r] {
				out = append(out, s[off:next])
			}
			if i+1 < n {
				after := end
				if i+2 < n {
					after = han[i+2]
				}
				if bg := s[off:after]; !stopBigrams[bg] {
					out = append(out, bg)
				}
			}
		}
		han = han[:0]
	}
	for i, r := range s {
		_, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case isHan(r):
			flushWord()
			if particles[r] {
				flushHan(i)
				continue
			}
			han = append(han, i)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if len(han) > 0 {
				flushHan(i)
			}
			if wordStart < 0 {
				wordStart = i
			}
			wordEnd = i + size
			upper = upper || unicode.ToLower(r) != r
		default:
			flushWord()
			if len(han) > 0 {
				flushHan(i)
			}
		}
	}
	flushWord()
	flushHan(len(s))
	return out
}

// totalWeight is the sum of the terms' weights, independent of map order.
func totalWeight(set map[string]bool) float64 {
	words, han := 0, 0
	for t := range set {
		if isSingleHan(t) {
			han++
		} else {
			words++
		}
	}
	return float64(words) + hanUnigramWeight*float64(han)
}

// sortedTerms lists a term set in order, so that sums over it are the same
// in every run.
func sortedTerms(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// termSet is tokenize as a set.
func termSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, t := range tokenize(s) {
		set[t] = true
	}
	return set
}

func keepWord(w string) bool {
	if len([]rune(w)) < 2 || stopWords[w] {
		return false
	}
	for _, r := range w {
		if !unicode.IsDigit(r) {
			return true
		}
	}
	return false // bare numbers say nothing about which tool fits
}

// stem removes common English inflections so that "congested", "congestion"
// and "congest" meet, and reads British spellings as American ones
// ("centre" and "center", "licence" and "license" meet). Both sides of every
// comparison go through it, so it only has to be consistent, not correct.
func stem(w string) string {
	s := stemBase(w)
	if a, ok := britishStems[s]; ok {
		return a
	}
	return s
}

// stemBase is stem with British spellings left as written.
func stemBase(w string) string {
	for _, r := range w {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) {
			return w // identifiers like s042 and non-English words stay whole
		}
	}
	if len(w) <= 3 {
		return w
	}
	if b, ok := compass[w]; ok {
		return b
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "iest") && len(w) > 6:
		w = w[:len(w)-4] + "y"
	case strings.HasSuffix(w, "ied") && len(w) > 5:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "ing") && len(w) >= 7:
		w = undouble(w[:len(w)-3])
	case strings.HasSuffix(w, "ed") && len(w) >= 6:
		w = undouble(w[:len(w)-2])
	case strings.HasSuffix(w, "nsion") && len(w) >= 8:
		// extension, suspension, expansion: extend, suspend, expand
		w = w[:len(w)-4] + "d"
	case strings.HasSuffix(w, "ion") && len(w) >= 8:
		w = w[:len(w)-3]
	}
	if strings.HasSuffix(w, "e") && len(w) > 4 {
		w = w[:len(w)-1]
	}
	return w
}

// compass reads the compass adjectives as their nouns: "the northern Ring
// Expressway" is the Ring Expressway North.
var compass = map[string]string{"northern": "north", "southern": "south", "eastern": "east", "western": "west"}

// undouble turns "permitt" back into "permit".
func undouble(w string) string {
	n := len(w)
	if n >= 4 && w[n-1] == w[n-2] && !strings.ContainsRune("aeioulsz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

// stopWords are English function words, with what contractions leave of
// them once the apostrophe splits them ("isn't" → isn, "they're" → re).
var stopWords = setOf(strings.Fields(`
a about above after again all also am an and any are as at be been before being below between both but by
can could current currently did do does doing down during each few for from further get give had has have having
he her here hers him his how i if in into is it its itself just let many may me might more most much must my no nor not now of off on
once only or other our ours out over own please same shall she should show so some such tell than that the their theirs
them then there these they this those through to today too under until up us very was we were what whats when where
which while who whom whose why will with would you your yours
isn aren wasn weren don doesn didn hasn haven hadn wouldn couldn shouldn mustn needn re ve ll
`))

// particles end a run of Chinese text: they glue phrases and never carry
// meaning on their own.
var particles = runeSet("的了吗呢吧啊么呀嘛哦")

// stopHan are characters dropped as unigrams (they still form bigrams).
var stopHan = runeSet("是在和与及或请把被给哪什怎我你他她它们这那些个有都也就还很又要能会对为从到吗")

var stopBigrams = setOf([]string{"什么", "哪些", "哪个", "哪里", "怎么", "怎样", "如何", "请问", "一下", "是否",
	"可以", "我们", "你们", "他们", "这个", "那个", "这些", "那些", "现在", "目前"})

func setOf(ws []string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

func runeSet(s string) map[rune]bool {
	m := map[rune]bool{}
	for _, r := range s {
		m[r] = true
	}
	return m
}

// estimateTokens approximates a tokenizer: one token per Chinese character,
// one per four other characters.
func estimateTokens(s string) int {
	han, other := 0, 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			other++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if isHan(r) {
			han++
		} else {
			other++
		}
		i += size
	}
	return han + (other+3)/4
}
