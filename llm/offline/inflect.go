package offline

import (
	"slices"
	"strings"
)

// English phrases of the alias groups and the glossary match the forms a
// question writes them in, not only as listed: "skipping stops" says the
// listed "skips stops", "the signal cycles" the listed "cycle", "a
// neighbour's complaint" a listed "neighbor complaint", "road-excavation"
// "road excavation", "clean-up" "cleanup". Both sides are read word by word
// as lemmas — plural, past and -ing endings removed, British spellings read
// as American — and an article the one writes and the other does not ("send
// the ticket back", "send ticket back") is skipped. A lemma is deliberately
// conservative: it only joins forms of one word, never derivations
// ("permit" and "permission" stay apart, "park" and "parking" too).

// Inflection classes of an English word: its bare form, a plural or third
// person ("stops"), a past ("stopped", "sent") or an -ing form ("stopping").
const (
	formBare byte = iota
	formS
	formEd
	formIng
)

// lemma returns the form the inflections of an English word share, and
// which inflection w is: "stops", "stopped", "stopping" → "stop"; "closes",
// "closed", "closing", "close" → "clos"; "enquiries" → "enquiry"; "centres"
// → "center". w is lower case.
func lemma(w string) (string, byte) {
	l, f := lemmaBase(w)
	if a, ok := britishLemmas[l]; ok {
		l = a
	}
	return l, f
}

// lemmaBase is lemma with British spellings left as written.
func lemmaBase(w string) (string, byte) {
	if len(w) <= 3 {
		return w, formBare
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 'a' || c > 'z' {
			return w, formBare // numbers, identifiers, other scripts stay as written
		}
	}
	if b, ok := irregular[w]; ok {
		l, _ := lemmaBase(b.base) // no base of the list is itself listed
		return l, b.form
	}
	if asWritten[w] {
		return w, formBare
	}
	n := len(w)
	form := formBare
	switch {
	case strings.HasSuffix(w, "ies") && n > 4:
		w, form = w[:n-3]+"y", formS
	case strings.HasSuffix(w, "ied") && n > 4:
		w, form = w[:n-3]+"y", formEd
	case strings.HasSuffix(w, "sses"):
		w, form = w[:n-2], formS
	case strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zzes"):
		w, form = w[:n-2], formS
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w, form = w[:n-1], formS
	case strings.HasSuffix(w, "ing") && n >= 6 && hasVowel(w[:n-3]):
		w, form = undoubleLemma(w[:n-3]), formIng
	case strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed") && n >= 5 && hasVowel(w[:n-2]):
		w, form = undoubleLemma(w[:n-2]), formEd
	}
	if n := len(w); n > 3 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	return w, form
}

// sameWord reports whether two inflections of one lemma say the same word:
// a bare form and its plural ("stop", "stops"), a past and an -ing form
// ("flooded", "flooding"), and inside a phrase, before its last word, any
// two of the verb's forms ("skipping stops", "skips stops"). A bare form is
// never its past or -ing form ("lasting" is not "last", "closed to" not
// "close to"), nor a plural a past ("lifts" are not "lifted").
func sameWord(a, b byte, inside bool) bool {
	switch {
	case a == b:
		return true
	case a > b:
		a, b = b, a
	}
	return a == formBare && b == formS || a == formEd && b == formIng || inside && a != formBare
}

// undoubleLemma turns "stopp", "skipp" back into "stop", "skip", and the
// British "cancell", "travell" into "cancel", "travel"; "call", "pass" and
// "buzz" keep their doubled letter.
func undoubleLemma(w string) string {
	n := len(w)
	if n < 4 || w[n-1] != w[n-2] {
		return w
	}
	if w[n-1] == 'l' {
		if n > 5 && w[n-3] == 'e' {
			return w[:n-1]
		}
		return w
	}
	if strings.IndexByte("aeiousz", w[n-1]) >= 0 {
		return w
	}
	return w[:n-1]
}

func hasVowel(s string) bool { return strings.ContainsAny(s, "aeiouy") }

// irregular lists the irregular forms a city question uses, with their
// bare form. "led" (LED screens), "left" (a left turn), "drawn" (a
// drawing) and "lost" are left out on purpose.
var irregular = func() map[string]struct {
	base string
	form byte
} {
	out := map[string]struct {
		base string
		form byte
	}{}
	for _, p := range strings.Fields(`sent:send paid:pay built:build held:hold kept:keep broken:break broke:break
brought:bring taken:take took:take given:give gave:give made:make gone:go went:go fallen:fall spent:spend
told:tell sold:sell bought:buy caught:catch thrown:throw driven:drive drove:drive written:write wrote:write
chosen:choose stolen:steal dealt:deal shown:show seen:see done:do came:come began:begin begun:begin ran:run
rang:ring rung:ring said:say felt:feel heard:hear`) {
		k, v, _ := strings.Cut(p, ":")
		out[k] = struct {
			base string
			form byte
		}{v, formEd}
	}
	for _, p := range strings.Fields(`goes:go does:do children:child women:woman`) {
		k, v, _ := strings.Cut(p, ":")
		out[k] = struct {
			base string
			form byte
		}{v, formS}
	}
	return out
}()

// asWritten are words whose ending is not an inflection of the word
// without it: -ing nouns ("parking" is not "park", the "charging" of a
// charger not the "charge" of a fee) and plurals of their own ("mains" are
// not the "main" road, roadworks "works" are not "work", "3 times" is not
// "time", "goods" are not "good") and "last", mostly "the last 3 hours",
// not what "lasts".
var asWritten = setOf(strings.Fields(`
parking charging building morning evening meeting ceiling housing warning crossing heating lighting
planning funding marking signing spring string during nothing something anything everything
bring thing ring king wing sing sting swing
mains works goods times news means arms premises customs savings headquarters glasses damages
last lasts
`))

// British spellings are read as American ones ("neighbour", "centre",
// "kilometre", "licence", "kerb", "programme", "organise", "travelled"), by
// the stem and the lemma they give: britishStems and britishLemmas map
// those of the British forms to those of the American ones, so that
// reading a word costs one map look-up.
var britishStems, britishLemmas = britishMaps()

// britishParts are the British spellings and the American ones; an entry
// changes the part of a word it names ("neighbourhood").
var britishParts = [][2]string{
	{"neighbour", "neighbor"}, {"colour", "color"}, {"behaviour", "behavior"}, {"labour", "labor"},
	{"favour", "favor"}, {"honour", "honor"}, {"harbour", "harbor"}, {"odour", "odor"},
	{"centre", "center"}, {"kilometre", "kilometer"}, {"centimetre", "centimeter"}, {"millimetre", "millimeter"},
	{"theatre", "theater"}, {"fibre", "fiber"}, {"licence", "license"}, {"offence", "offense"},
	{"defence", "defense"}, {"programme", "program"}, {"kerb", "curb"}, {"tyre", "tire"}, {"grey", "gray"},
	{"aluminium", "aluminum"}, {"catalogue", "catalog"}, {"jewellery", "jewelry"}, {"manoeuvre", "maneuver"},
	{"plough", "plow"}, {"travell", "travel"}, {"cancell", "cancel"}, {"labell", "label"}, {"modell", "model"},
	{"signall", "signal"}, {"fuell", "fuel"}, {"levell", "level"}, {"channell", "channel"},
}

// britishWords are the words britishParts are found in.
var britishWords = strings.Fields(`neighbour neighbourhood neighbouring colour behaviour labour favour honour
harbour odour centre kilometre centimetre millimetre theatre fibre licence offence defence programme kerb
kerbside tyre grey aluminium catalogue jewellery manoeuvre plough travelled travelling cancelled cancelling
labelled labelling modelled modelling signalled signalling fuelled levelled channelled`)

// iseRoots take -ise where American English writes -ize ("organise",
// "organisation").
var iseRoots = strings.Fields(`organ real priorit author recogn minim maxim optim standard util anonym apolog
final summar categor critic normal central visual modern subsid legal stabil mobil penal synchron digit
special local custom energ jeopard sanit`)

// american is the American spelling of a British word.
func american(w string) string {
	for _, p := range britishParts {
		if i := strings.Index(w, p[0]); i >= 0 {
			return w[:i] + p[1] + w[i+len(p[0]):]
		}
	}
	for _, root := range iseRoots {
		if rest, ok := strings.CutPrefix(w, root); ok && strings.HasPrefix(rest, "is") {
			return root + "iz" + rest[2:]
		}
	}
	return w
}

func britishMaps() (stems, lemmas map[string]string) {
	stems, lemmas = map[string]string{}, map[string]string{}
	words := slices.Clone(britishWords)
	for _, root := range iseRoots {
		words = append(words, root+"ise", root+"ised", root+"ises", root+"ising", root+"isation", root+"isations")
	}
	for _, b := range words {
		// The other forms of a word have its stem and lemma.
		for _, f := range []string{b, b + "s"} {
			a := american(f)
			if sb, sa := stemBase(f), stemBase(a); sb != sa && stems[sb] == "" {
				stems[sb] = sa
			}
			lb, _ := lemmaBase(f)
			if la, _ := lemmaBase(a); lb != la && lemmas[lb] == "" {
				lemmas[lb] = la
			}
		}
	}
	return stems, lemmas
}

// lemmaWord is a word of a lowered text or of a phrase, read for matching.
type lemmaWord struct {
	lemma      string
	form       byte // formBare, formS, formEd or formIng
	start, end int  // the word's bytes in the text
	hyphen     bool // the next word follows a hyphen ("clean-up", "day-ahead")
	// joined and joinedForm: the lemma of this word and the next written
	// as one, when a hyphen joins them ("clean-up" → "cleanup")
	joined     string
	joinedForm byte
}

// lemmaWords splits lowered text into its ASCII words with their lemmas; a
// possessive ending ("caller's", "callers'") is part of no word. Nil for a
// text without Latin letters.
func lemmaWords(low string) []lemmaWord {
	var out []lemmaWord
	for i := 0; i < len(low); {
		if !isASCIIAlnum(low[i]) {
			i++
			continue
		}
		j := i
		for j < len(low) && isASCIIAlnum(low[j]) {
			j++
		}
		if w := low[i:j]; !(w == "s" && i > 0 && isApostrophe(low, i)) {
			l, f := lemma(w)
			out = append(out, lemmaWord{lemma: l, form: f, start: i, end: j, hyphen: j+1 < len(low) && low[j] == '-' && isASCIIAlnum(low[j+1])})
		}
		i = j
	}
	for k := 0; k+1 < len(out); k++ {
		if a, b := &out[k], out[k+1]; a.hyphen && !b.hyphen {
			a.joined, a.joinedForm = lemma(low[a.start:a.end] + low[b.start:b.end])
		}
	}
	return out
}

// isApostrophe reports whether an apostrophe (' or ’) ends just before at.
func isApostrophe(s string, at int) bool {
	return s[at-1] == '\'' || at >= 3 && s[at-3:at] == "’"
}

// phrase is an English phrase read for matching by lemmas.
type phrase struct {
	text   string
	words  []lemmaWord
	joined []lemmaWord // joined[i]: words i and i+1 written as one ("clean up" → "cleanup")
}

// readPhrase reads an English phrase for matching by lemmas: nil for one
// with a character other than ASCII letters, digits, spaces, hyphens and
// apostrophes (Chinese, identifiers such as under_review, "24/7"), which
// matches only as written.
func readPhrase(text string) *phrase {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !isASCIIAlnum(c) && c != ' ' && c != '-' && c != '\'' || c == '_' {
			return nil
		}
	}
	p := &phrase{text: text, words: lemmaWords(text)}
	if len(p.words) == 0 {
		return nil
	}
	p.joined = make([]lemmaWord, len(p.words))
	for i := 0; i+1 < len(p.words); i++ {
		a, b := p.words[i], p.words[i+1]
		l, f := lemma(text[a.start:a.end] + text[b.start:b.end])
		p.joined[i] = lemmaWord{lemma: l, form: f, hyphen: b.hyphen}
	}
	return p
}

// timeUnits are the lemmas of the units of time.
var timeUnits = setOf([]string{"second", "minut", "hour", "day", "week", "month", "year"})

// articles are skipped inside a phrase: "send the ticket back" says "send
// ticket back". Never at a phrase's ends ("class a" is not "class").
var articles = setOf([]string{"the", "a", "an"})

// firstIn returns where lowered text (words: its lemmaWords) first says
// the phrase in another form of its words, in the text's bytes.
func (p *phrase) firstIn(low string, words []lemmaWord) ([2]int, bool) {
	first, joined := p.words[0].lemma, p.joined[0].lemma
	for s, w := range words {
		// Most words start no match: their lemma is none the phrase
		// starts with.
		if w.lemma != first && (joined == "" || w.lemma != joined) && (w.joined == "" || w.joined != first) {
			continue
		}
		if end, ok := p.matchAt(low, words, s); ok {
			return [2]int{words[s].start, words[end].end}, true
		}
	}
	return [2]int{}, false
}

// wordMatches reports whether text word t (raw: as written) says phrase
// word w (as written: pw); inside: w is not the phrase's last word. A word
// before a hyphen matches only as written: "hours ahead" is not
// "hour-ahead".
func wordMatches(t lemmaWord, raw string, w lemmaWord, pw string, inside bool) bool {
	switch {
	case t.hyphen || w.hyphen:
		return raw == pw
	case t.lemma != w.lemma:
		return false
	case inside && timeUnits[w.lemma]:
		// "a day-ahead event", "3 days ahead": a unit of time before
		// another word is singular, and its plural says something else.
		return t.lemma == w.lemma && t.form == w.form
	}
	return t.lemma == w.lemma && sameWord(t.form, w.form, inside)
}

// matchAt reports whether the phrase starts at text word s, and the last
// text word it covers.
func (p *phrase) matchAt(low string, text []lemmaWord, s int) (int, bool) {
	n := len(p.words)
	i, j := 0, s
	for j < len(text) {
		t, w := text[j], p.words[i]
		raw, pw := low[t.start:t.end], p.text[w.start:w.end]
		switch {
		case wordMatches(t, raw, w, pw, i+1 < n):
			i, j = i+1, j+1
		case i+1 < n && !t.hyphen && !p.joined[i].hyphen && t.lemma == p.joined[i].lemma && sameWord(t.form, p.joined[i].form, i+2 < n):
			i, j = i+2, j+1 // "cleanup" says "clean up"
		case t.joined != "" && !w.hyphen && t.joined == w.lemma && sameWord(t.joinedForm, w.form, i+1 < n):
			i, j = i+1, j+2 // "clean-up" says "cleanup"
		case i > 0 && articles[raw]:
			j++
		case i > 0 && i+1 < n && articles[pw]:
			i++
			continue
		default:
			return 0, false
		}
		if i == n {
			return j - 1, true
		}
	}
	return 0, false
}
