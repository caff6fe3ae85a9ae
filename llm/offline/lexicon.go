package offline

import (
	"embed"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The engine's word lists live in data/ as YAML: alias groups and the
// bilingual glossary (aliases.yaml), and how a message is read — request
// verbs, references back to the conversation, calendar periods
// (language.yaml). They are embedded and read once; lexicon is immutable.

//go:embed data/aliases.yaml data/language.yaml
var dataFS embed.FS

// lexicon is the parsed data/ directory.
type lexicon struct {
	groups   [][]string       // alias groups, lower-cased
	members  [][]member       // the groups' members, read for the sentence picker
	ranks    []bool           // whether group i may also rank tools (statuses, actions)
	quoting  []bool           // whether group i only meets passages (places), never the planner
	concept  []bool           // whether group i is a city concept of the glossary (population, deadline)
	followUp []string         // words that point back at an earlier message
	openers  []string         // words that open a follow-up ("And …", "那…")
	byTerm   map[string][]int // first distinctive term of a member → groups to check
	unkeyed  []int            // groups with a member that has no such term ("how much")

	requestVerbsEN, requestFramesEN, openersEN map[string]bool
	framesEN                                   []string
	needFramesEN                               []string // "we need": a statement of need, a request with "… to cut 3000 kW"
	requestVerbsZH, requestFramesZH, cuesZH    []string
	negationsEN, negationsZH                   []string

	refs      map[string][]string // entity kind → phrases referring back to it
	refKinds  []string            // the kinds, sorted
	propKinds map[string]string   // property name → entity kind
	periods   []period
	answers   []answerType
	typeCues  map[string]bool // the question cues of the answer types ("how quickly", 多久)
	live      []string
	// normative: words that make a question about what a rule requires
	normative []string
	// thresholdQ ask for a target or floor; thresholdA state one
	thresholdQ, thresholdA []string
}

// answerType is a kind of answer a question asks for ("how much": an amount
// of money) and what a sentence that gives it holds.
type answerType struct {
	Name   string `yaml:"name"`
	Number bool   `yaml:"number"`
	// Rules: the type asks what a rule says (a fee, a time limit, who is
	// responsible) unless a word of live data or a named entity says
	// otherwise; "how many" does not.
	Rules bool `yaml:"rules"`
	// Echo: an answer cue counts even when the question says it too.
	Echo     bool     `yaml:"echo"`
	Question []string `yaml:"question"`
	Answer   []string `yaml:"answer"`
	// AfterNumber: units that fit only right after a number that is not a
	// day of a month ("提前7日" is a duration, "3月31日" a date).
	AfterNumber []string `yaml:"after_number"`
}

// period is a calendar period named without a number ("this month").
type period struct {
	Phrases []string `yaml:"phrases"`
	Days    int      `yaml:"days"`
	Words   string   `yaml:"words"`
}

type aliasFile struct {
	Statuses    [][]string `yaml:"statuses"`
	Measures    [][]string `yaml:"measures"`
	Departments [][]string `yaml:"departments"`
	Actions     [][]string `yaml:"actions"`
	Glossary    [][]string `yaml:"glossary"`
	Places      [][]string `yaml:"places"`
}

type languageFile struct {
	Acts struct {
		RequestVerbsEN    []string `yaml:"request_verbs_en"`
		RequestFramesEN   []string `yaml:"request_frames_en"`
		NeedFramesEN      []string `yaml:"need_frames_en"`
		QuestionOpenersEN []string `yaml:"question_openers_en"`
		RequestVerbsZH    []string `yaml:"request_verbs_zh"`
		RequestFramesZH   []string `yaml:"request_frames_zh"`
		QuestionCuesZH    []string `yaml:"question_cues_zh"`
		NegationsEN       []string `yaml:"negations_en"`
		NegationsZH       []string `yaml:"negations_zh"`
	} `yaml:"acts"`
	AnswerTypes    []answerType `yaml:"answer_types"`
	LiveWords      []string     `yaml:"live_words"`
	NormativeWords []string     `yaml:"normative_words"`
	Threshold      struct {
		Question []string `yaml:"question"`
		Answer   []string `yaml:"answer"`
	} `yaml:"threshold"`
	References       map[string][]string `yaml:"references"`
	FollowUpWords    []string            `yaml:"follow_up_words"`
	FollowUpOpeners  []string            `yaml:"follow_up_openers"`
	EntityProperties map[string][]string `yaml:"entity_properties"`
	Periods          []period            `yaml:"periods"`
}

// lex returns the embedded lexicon. The data ships with the binary and a
// test reads it, so a parse failure is a build defect: it panics.
var lex = sync.OnceValue(func() *lexicon {
	l, err := loadLexicon(dataFS)
	if err != nil {
		panic(err)
	}
	return l
})

func loadLexicon(fsys embed.FS) (*lexicon, error) {
	var af aliasFile
	var lf languageFile
	for name, v := range map[string]any{"data/aliases.yaml": &af, "data/language.yaml": &lf} {
		raw, err := fsys.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("offline: read %s: %w", name, err)
		}
		if err := yaml.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("offline: parse %s: %w", name, err)
		}
	}
	l := &lexicon{byTerm: map[string][]int{}, refs: map[string][]string{}, propKinds: map[string]string{}, periods: lf.Periods}
	// Statuses, actions and measures name what a tool does; departments and
	// city terms only name values and match sentences (交警 names a
	// department, not the traffic tools).
	for i, list := range [][][]string{af.Statuses, af.Actions, af.Measures, af.Departments, af.Glossary, af.Places} {
		for _, g := range list {
			l.addGroup(g, i < 3, i == 5, i == 4)
		}
	}
	a := lf.Acts
	l.requestVerbsEN, l.requestFramesEN, l.openersEN = setOf(lower(a.RequestVerbsEN)), setOf(lower(a.RequestFramesEN)), setOf(lower(a.QuestionOpenersEN))
	l.framesEN = lower(a.RequestFramesEN)
	l.needFramesEN = lower(a.NeedFramesEN)
	l.requestVerbsZH, l.requestFramesZH, l.cuesZH = a.RequestVerbsZH, a.RequestFramesZH, a.QuestionCuesZH
	l.negationsEN, l.negationsZH = lower(a.NegationsEN), a.NegationsZH
	for kind, ps := range lf.References {
		l.refs[kind] = lower(ps)
		l.refKinds = append(l.refKinds, kind)
	}
	sort.Strings(l.refKinds)
	for kind, props := range lf.EntityProperties {
		for _, p := range props {
			l.propKinds[p] = kind
		}
	}
	l.live = lower(lf.LiveWords)
	l.normative = lower(lf.NormativeWords)
	l.thresholdQ, l.thresholdA = lower(lf.Threshold.Question), lower(lf.Threshold.Answer)
	l.followUp = lower(lf.FollowUpWords)
	l.openers = lower(lf.FollowUpOpeners)
	l.typeCues = map[string]bool{}
	for _, a := range lf.AnswerTypes {
		a.Question, a.Answer = lower(a.Question), lower(a.Answer)
		l.answers = append(l.answers, a)
		for _, q := range a.Question {
			l.typeCues[q] = true
		}
	}
	for i := range l.periods {
		l.periods[i].Phrases = lower(l.periods[i].Phrases)
	}
	if len(l.groups) == 0 || len(l.requestVerbsEN) == 0 || len(l.requestVerbsZH) == 0 {
		return nil, fmt.Errorf("offline: lexicon data is empty")
	}
	return l, nil
}

func (l *lexicon) addGroup(g []string, ranks, quoting, concept bool) {
	g = lower(g)
	if len(g) < 2 {
		return
	}
	i := len(l.groups)
	l.groups = append(l.groups, g)
	ms := make([]member, len(g))
	for i, m := range g {
		ms[i] = member{text: m, terms: sortedTerms(termSet(m)), zh: hasHan(m), ident: strings.Contains(m, "_")}
		ms[i].english = readPhrase(m)
	}
	enumerated(ms)
	l.members = append(l.members, ms)
	l.ranks = append(l.ranks, ranks)
	l.quoting = append(l.quoting, quoting)
	l.concept = append(l.concept, concept)
	keyed := map[string]bool{}
	for _, m := range g {
		key, ok := firstTerm(m)
		if !ok {
			l.unkeyed = append(l.unkeyed, i)
			continue
		}
		if !keyed[key] {
			keyed[key] = true
			l.byTerm[key] = append(l.byTerm[key], i)
		}
	}
}

// enumerated keeps to its listed forms a one-word member whose group lists
// other forms of the word: the group of disclosure lists "leaks" and
// "leaked" but not the "leak" of gas, the one of phone calls "calls" but
// not the verb "call".
func enumerated(ms []member) {
	count := map[string]int{}
	for _, m := range ms {
		if m.english == nil {
			continue
		}
		seen := map[string]bool{}
		for _, w := range m.english.words {
			if !seen[w.lemma] {
				seen[w.lemma] = true
				count[w.lemma]++
			}
		}
	}
	for i := range ms {
		if e := ms[i].english; e != nil && len(e.words) == 1 && count[e.words[0].lemma] > 1 {
			ms[i].english = nil
		}
	}
}

// firstTerm is the term a phrase is found by: its first word, or its first
// Chinese bigram.
func firstTerm(phrase string) (string, bool) {
	ts := tokenize(phrase)
	for _, t := range ts {
		if !isSingleHan(t) {
			return t, true
		}
	}
	if len(ts) > 0 {
		return ts[0], true
	}
	return "", false
}

func lower(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// hasPhrase reports whether lowered text holds the lowered phrase: as whole
// words when it starts and ends with ASCII letters or digits, else anywhere.
func hasPhrase(text, phrase string) bool {
	if phrase == "" {
		return false
	}
	wordy := isASCIIAlnum(phrase[0]) || isASCIIAlnum(phrase[len(phrase)-1])
	for from := 0; from <= len(text)-len(phrase); {
		at := strings.Index(text[from:], phrase)
		if at < 0 {
			return false
		}
		at += from
		if !wordy || wordBoundary(text, at, at+len(phrase)) {
			return true
		}
		from = at + 1
	}
	return false
}

// expand returns the alias and glossary terms a text names, beyond its own:
// for "被驳回的许可" the words of the refused group. Groups are visited in file
// order, so the result is the same for the same text.
func (l *lexicon) expand(text string) string {
	return l.expandTerms(text, termSet(text), false)
}

// expandTerms is expand for a text whose terms are known; rankOnly keeps
// the groups that may rank tools.
func (l *lexicon) expandTerms(text string, terms map[string]bool, rankOnly bool) string {
	ranking, other := l.expansions(text, terms)
	if rankOnly {
		return ranking
	}
	return ranking + other
}

// expansions returns, in one pass, the expansion by the groups that may
// rank tools and the one by the other groups.
func (l *lexicon) expansions(text string, terms map[string]bool) (ranking, other string) {
	low := strings.ToLower(text)
	var ids []int
	for t := range terms {
		ids = append(ids, l.byTerm[t]...)
	}
	ids = append(ids, l.unkeyed...)
	if len(ids) == 0 {
		return "", ""
	}
	sort.Ints(ids)
	var rb, ob strings.Builder
	var words memberText
	for k, g := range ids {
		if k > 0 && ids[k-1] == g || l.quoting[g] {
			continue
		}
		members := l.groups[g]
		hit := -1
		for i := range l.members[g] {
			if _, ok := l.members[g][i].span(low, &words); ok {
				hit = i
				break
			}
		}
		if hit < 0 {
			continue
		}
		b := &ob
		if l.ranks[g] {
			b = &rb
		}
		for i, m := range members {
			if i != hit && !strings.Contains(low, m) {
				b.WriteString(" ; ")
				b.WriteString(m)
			}
		}
	}
	return rb.String(), ob.String()
}

// referred lists the entity kinds text refers back to ("that road" → road).
func (l *lexicon) referred(text string) map[string]bool {
	low := strings.ToLower(text)
	var out map[string]bool
	for _, kind := range l.refKinds {
		for _, p := range l.refs[kind] {
			if hasPhrase(low, p) {
				if out == nil {
					out = map[string]bool{}
				}
				out[kind] = true
				break
			}
		}
	}
	return out
}

// withoutWindowRefs is text with its references back to an earlier window
// of time ("over the same period") blanked: they name the window the earlier
// message gave, not a tool ("period" is energy_peak_load's argument).
func (l *lexicon) withoutWindowRefs(text string) string {
	low := strings.ToLower(text)
	for _, p := range l.refs["window"] {
		for _, sp := range phraseSpans(low, p) {
			if len(low) == len(text) {
				text = text[:sp[0]] + strings.Repeat(" ", sp[1]-sp[0]) + text[sp[1]:]
			}
		}
	}
	return text
}

// answerTypes lists the kinds of answer a question asks for, in file order.
// A type recognised only by cues that sit inside a longer cue of another
// type ("how many" inside "how many times", 多少 inside 交多少) is not what
// is asked.
func (l *lexicon) answerTypes(question string) []*answerType {
	low := strings.ToLower(question)
	var out []*answerType
	var spans [][][2]int // per type found: where its cues occur
	for i := range l.answers {
		var at [][2]int
		for _, q := range l.answers[i].Question {
			at = append(at, phraseSpans(low, q)...)
		}
		if len(at) > 0 {
			out = append(out, &l.answers[i])
			spans = append(spans, at)
		}
	}
	kept := out[:0]
	for i, a := range out {
		inside := true
		for _, s := range spans[i] {
			if !within(s, spans, i) {
				inside = false
				break
			}
		}
		if !inside {
			kept = append(kept, a)
		}
	}
	return kept
}

// within reports whether span s lies inside a longer span of a type other
// than the i-th.
func within(s [2]int, spans [][][2]int, i int) bool {
	for j, other := range spans {
		if j == i {
			continue
		}
		for _, o := range other {
			if o[0] <= s[0] && s[1] <= o[1] && o[1]-o[0] > s[1]-s[0] {
				return true
			}
		}
	}
	return false
}

// firstSpan returns where phrase first occurs in text, as hasPhrase matches it.
func firstSpan(text, phrase string) ([2]int, bool) {
	if phrase == "" {
		return [2]int{}, false
	}
	wordy := isASCIIAlnum(phrase[0]) || isASCIIAlnum(phrase[len(phrase)-1])
	for from := 0; from <= len(text)-len(phrase); {
		at := strings.Index(text[from:], phrase)
		if at < 0 {
			break
		}
		at += from
		if !wordy || wordBoundary(text, at, at+len(phrase)) {
			return [2]int{at, at + len(phrase)}, true
		}
		from = at + 1
	}
	return [2]int{}, false
}

// phraseSpans returns where phrase occurs in text, as hasPhrase matches it.
func phraseSpans(text, phrase string) [][2]int {
	if phrase == "" {
		return nil
	}
	var out [][2]int
	wordy := isASCIIAlnum(phrase[0]) || isASCIIAlnum(phrase[len(phrase)-1])
	for from := 0; from <= len(text)-len(phrase); {
		at := strings.Index(text[from:], phrase)
		if at < 0 {
			break
		}
		at += from
		if !wordy || wordBoundary(text, at, at+len(phrase)) {
			out = append(out, [2]int{at, at + len(phrase)})
		}
		from = at + 1
	}
	return out
}

// isNormative reports whether a question asks what a rule requires or
// allows ("are operators expected to", "应当", "不得"): of a type that is
// not a rules type on its own ("what share"), it is a rules question.
func (l *lexicon) isNormative(question string) bool {
	return hasAnyPhrase(strings.ToLower(question), l.normative)
}

// asksThreshold reports whether a question asks for a target or a floor
// ("What satisfaction rate must departments reach?").
func (l *lexicon) asksThreshold(question string) bool {
	return hasAnyPhrase(strings.ToLower(question), l.thresholdQ)
}

// statesThreshold reports whether a sentence states a target or a floor
// ("目标值: ≥90%", "不低于95%", "at least 3 metres").
func (l *lexicon) statesThreshold(sentence string) bool {
	low := strings.ToLower(sentence)
	for _, w := range l.thresholdA {
		if hasCue(low, w) {
			return true
		}
	}
	return false
}

// hasAnyPhrase reports whether low holds one of phrases, as hasPhrase matches.
func hasAnyPhrase(low string, phrases []string) bool {
	for _, w := range phrases {
		if hasPhrase(low, w) {
			return true
		}
	}
	return false
}

// isLive reports whether a question asks about live data: it holds a live
// word ("now", "最近") or names a calendar period ("this month", "本周"),
// which only the city's records answer.
func (l *lexicon) isLive(question string) bool {
	low := strings.ToLower(question)
	if hasAnyPhrase(low, l.live) {
		return true
	}
	for _, p := range l.periods {
		if hasAnyPhrase(low, p.Phrases) {
			return true
		}
	}
	return false
}

// fits reports whether a sentence gives the kind of answer a asks for. A
// cue the question itself holds proves nothing ("which department" and a
// sentence about departments).
func (a *answerType) fits(sentence, lowQuestion string) bool {
	if a.Number && !statesNumber(sentence) {
		return false
	}
	if len(a.Answer) == 0 && len(a.AfterNumber) == 0 {
		return true
	}
	for _, u := range a.AfterNumber {
		if unitAfterNumber(sentence, u) {
			return true
		}
	}
	low := strings.ToLower(sentence)
	for _, w := range a.Answer {
		if !hasCue(low, w) {
			continue
		}
		// The question's own word proves nothing ("which department"),
		// unless a number says it: "15 minutes" answers "how many minutes".
		if a.Echo || !strings.Contains(lowQuestion, strings.TrimSpace(w)) || a.Number && unitAfterNumber(low, strings.TrimSpace(w)) {
			return true
		}
	}
	return false
}

// unitAfterNumber reports whether unit follows a number in s (a digit or a
// Chinese numeral, and maybe a space) that does not follow 月: "提前7日",
// "十日内", "15 minutes", not "3月31日".
func unitAfterNumber(s, unit string) bool {
	for from := 0; ; {
		at := strings.Index(s[from:], unit)
		if at < 0 {
			return false
		}
		at += from
		before := []rune(strings.TrimRight(s[:at], " "))
		n := len(before)
		i := n
		for i > 0 && (unicode.IsDigit(before[i-1]) || strings.ContainsRune("〇零一二两三四五六七八九十百", before[i-1])) {
			i--
		}
		if i < n && (i == 0 || before[i-1] != '月') {
			return true
		}
		from = at + len(unit)
	}
}

// statesNumber reports whether a sentence says a number: in digits, in
// words ("ten days", "三个工作日") or as a count of times ("twice", "once").
func statesNumber(sentence string) bool {
	if strings.ContainsAny(sentence, "0123456789") {
		return true
	}
	low := strings.ToLower(sentence)
	for _, w := range []string{"once", "twice", "thrice"} {
		if hasCue(low, w) {
			return true
		}
	}
	return len(numberMentions(sentence)) > 0
}

// refersBack reports whether text points back at an earlier message: a
// reference to an entity ("that road") or a word such as "them" or 这个.
func (l *lexicon) refersBack(text string) bool {
	if len(l.referred(text)) > 0 {
		return true
	}
	low := strings.ToLower(text)
	for _, w := range l.followUp {
		if hasPhrase(low, w) {
			return true
		}
	}
	return l.continues(text)
}

// continues reports whether text opens as a continuation of the message
// before ("And…", "What about…", "那…") or is an elliptical question
// ("昨天呢？"): it asks the earlier question again about what it names.
func (l *lexicon) continues(text string) bool {
	start := strings.TrimLeft(strings.ToLower(text), " \t\n\"'“「")
	for _, w := range l.openers {
		if strings.HasPrefix(start, w) && (hasHan(w) || wordBoundary(start, 0, len(w))) {
			return true
		}
	}
	return elliptical(text)
}

// maxElliptical is the longest message, in characters, that elliptical
// takes for a continuation.
const maxElliptical = 12

// elliptical reports whether text is a short Chinese question that names
// only what changes and ends in 呢 ("昨天呢？", "公用事业的呢？", "东城区呢"):
// it asks the earlier question again about that.
func elliptical(text string) bool {
	t := strings.TrimRight(strings.TrimSpace(text), "？?。.！! ")
	return strings.HasSuffix(t, "呢") && utf8.RuneCountInString(t) <= maxElliptical
}

// namesConcept reports whether text names a city concept of the glossary.
func (l *lexicon) namesConcept(text string) bool {
	for _, tr := range l.translations(text, termSet(text)) {
		if l.concept[tr.group] {
			return true
		}
	}
	return false
}

// hasCue reports whether lowered text holds an answer cue: an English cue
// as a word or its plural ("bureau", "bureaus", never the "office" of
// "officer"), a Chinese one anywhere.
func hasCue(text, cue string) bool {
	n := len(cue)
	if n == 0 || !isASCIIAlnum(cue[n-1]) {
		return strings.Contains(text, cue)
	}
	for from := 0; ; {
		at := strings.Index(text[from:], cue)
		if at < 0 {
			return false
		}
		end := from + at + n
		switch {
		case end == len(text) || !isASCIIAlnum(text[end]):
			return true
		case text[end] == 's' && (end+1 == len(text) || !isASCIIAlnum(text[end+1])):
			return true
		}
		from += at + 1
	}
}
