package hotline

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// request is a citizen's text prepared for the rules: the whole text, its
// clauses weighted by how much their words may decide the type and the
// category, its sentences, and the hazards they describe.
type request struct {
	whole     text
	clauses   []clause
	sentences []text
	questions []text // the sentences that end with a question mark
	// present are the clauses that may tell of a hazard now: not in a
	// sentence that tells of one over or dealt with, not telling of the
	// past only, of a drill, the news or a fear (see presentPart);
	// presentText is each sentence made of its present clauses.
	present     []clause
	presentText []text
	hazards     []*Hazard
	// filing are the hazards whose categories the request is filed under
	// (see filingHazards).
	filing []*Hazard
}

// clause is a part of a request between punctuation marks.
type clause struct {
	t      text
	weight float64
}

// Weights of clauses: what the request says it is not about counts for
// nothing, what someone else said (物业说…) counts for little.
const (
	negatedWeight  = 0
	reportedWeight = 0.3
	focusWeight    = 1.5
)

// clauseBreaks end a clause; sentenceBreaks end a sentence too.
const (
	clauseBreaks   = "，,；;：:\n"
	sentenceBreaks = "。！？!?"
)

// prepareRequest splits s into weighted clauses and sentences and finds its
// hazards.
func (c *Classifier) prepareRequest(s string) *request {
	s, _ = stripInstructions(s) // instructions in the text decide nothing
	r := &request{whole: prepare(s)}
	var sentence, part strings.Builder
	var inSentence []clause // the clauses of the sentence being read
	flushClause := func() {
		if t := prepare(part.String()); strings.TrimSpace(t.norm) != "" {
			cl := clause{t: t, weight: c.clauseWeight(t)}
			r.clauses = append(r.clauses, cl)
			inSentence = append(inSentence, cl)
		}
		part.Reset()
	}
	flushSentence := func(question bool) {
		flushClause()
		if t := prepare(strings.TrimSpace(sentence.String())); strings.TrimSpace(t.norm) != "" {
			r.sentences = append(r.sentences, t)
			if question {
				r.questions = append(r.questions, t)
			}
			var now []string
			if !c.over(t) && !c.dealtWith(t) && !c.explainedAway(t) {
				for _, cl := range inSentence {
					if t, ok := c.presentPart(cl.t); ok {
						cl.t = t
						r.present = append(r.present, cl)
						now = append(now, t.norm)
					}
				}
			}
			r.presentText = append(r.presentText, prepare(strings.Join(now, " ")))
		}
		inSentence = inSentence[:0]
		sentence.Reset()
	}
	rs := []rune(englishClauses(s))
	for i, ch := range rs {
		// "." ends an English sentence, not a decimal number.
		if ch == '.' && (i+1 == len(rs) || rs[i+1] == ' ' || rs[i+1] == '\n') {
			flushSentence(false)
			continue
		}
		// A dash between spaces ("not about X - I want …") ends a clause.
		dash := (ch == '-' || ch == '—' || ch == '–') && i > 0 && rs[i-1] == ' '
		switch {
		case dash:
			sentence.WriteRune(' ')
			flushClause()
		case strings.ContainsRune(sentenceBreaks, ch):
			flushSentence(ch == '?' || ch == '？')
		case strings.ContainsRune(clauseBreaks, ch):
			sentence.WriteRune(' ')
			flushClause()
		default:
			sentence.WriteRune(ch)
			part.WriteRune(ch)
		}
	}
	flushSentence(false)
	// A request told wholly as a setting or as what others said still
	// says what it is about: its words count fully then.
	if !slices.ContainsFunc(r.clauses, func(cl clause) bool { return cl.weight >= 1 }) {
		for i := range r.clauses {
			if r.clauses[i].weight == reportedWeight {
				r.clauses[i].weight = 1
			}
		}
	}
	r.hazards = c.findHazards(withPairs(r.sentences), withPairs(r.presentText))
	r.filing = c.filingHazards(r.hazards)
	return r
}

// filingHazards are the hazards that decide the category: a hazard filed
// under the catch-all category (a person hurt, trapped or in a fire) yields
// to one filed under a specific category, which names the department that
// removes the cause (the driver hurt in a crash is the crash; the old man
// shut in by a burst heating pipe is the pipe). Urgency still counts every
// hazard.
func (c *Classifier) filingHazards(hs []*Hazard) []*Hazard {
	specific := slices.ContainsFunc(hs, func(h *Hazard) bool { return h.Category != "" && h.Category != c.fallback.Code })
	if !specific {
		return hs
	}
	return slices.DeleteFunc(slices.Clone(hs), func(h *Hazard) bool { return h.Category == c.fallback.Code })
}

// newSubject finds an English "and" or "but" that starts a clause with a
// subject of its own ("the lamp post is out and the dog next door barks").
var newSubject = regexp.MustCompile(`(?i)\s+(?:and|but)\s+(?:the|my|our|his|her|their|its|it|it's|there|they|they're|i|i'm|i've|we|we're|we've|he|he's|she|she's|now|nobody|no one|someone)\s`)

// englishClauses marks where an English sentence starts a new clause, so
// that what one clause is about does not decide for the other.
func englishClauses(s string) string {
	if hasHan(s) {
		return s
	}
	return newSubject.ReplaceAllStringFunc(s, func(m string) string { return "," + m })
}

// clauseWeight is how much a clause's words count.
func (c *Classifier) clauseWeight(t text) float64 {
	// "是不是…" asks a question; it does not negate.
	neg := prepare(strings.ReplaceAll(t.norm, "是不是", ""))
	switch {
	case len(c.negated.hits(neg)) > 0:
		return negatedWeight
	case len(c.reported.hits(t)) > 0:
		return reportedWeight
	case len(c.focus.hits(t)) > 0:
		return focusWeight
	}
	return 1
}

// hits are the keywords of m found in t.
func (m matcher) hits(t text) []keyword {
	var out []keyword
	for _, k := range m {
		if k.in(t) {
			out = append(out, k)
		}
	}
	return out
}

// score is the weighted cue score of m over the request's clauses: each
// clause's keywords count with its weight; "a+b" keywords are matched on the
// whole text of the clauses that count. strong reports a keyword of at
// least strongWeight in a clause that counts fully.
func (m matcher) score(r *request, strongWeight float64, landmark func(text, keyword) bool) (total float64, cues []string, strong bool) {
	return m.scoreHits(r, nil, strongWeight, landmark)
}

// hasCompound reports whether m has an "a+b" keyword.
func (m matcher) hasCompound() bool {
	return slices.ContainsFunc(m, func(k keyword) bool { return len(k.all) > 0 })
}

// scoreHits is score with the simple keywords of each clause already found
// (pre[clause]; nil: find them).
func (m matcher) scoreHits(r *request, pre [][]keyword, strongWeight float64, landmark func(text, keyword) bool) (total float64, cues []string, strong bool) {
	compound := false
	var seen map[string]bool
	for ci, cl := range r.clauses {
		if cl.weight == 0 {
			continue
		}
		var hits []keyword
		if pre != nil {
			hits = pre[ci]
			compound = compound || m.hasCompound()
		} else {
			for _, k := range m {
				switch {
				case len(k.all) > 0:
					compound = true
				case k.in(cl.t):
					hits = append(hits, k)
				}
			}
		}
		for _, k := range outermost(hits) {
			w := k.weight * cl.weight
			if landmark != nil && landmark(cl.t, k) {
				w *= landmarkWeight
			}
			total += w
			if strongWeight > 0 && k.weight >= strongWeight && cl.weight >= 1 {
				strong = true
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			if !seen[k.text] {
				seen[k.text] = true
				cues = append(cues, k.text)
			}
		}
	}
	if compound {
		var counted []string
		for _, cl := range r.clauses {
			if cl.weight > 0 {
				counted = append(counted, cl.t.norm)
			}
		}
		var parts matcher
		for _, k := range m {
			if len(k.all) > 0 {
				parts = append(parts, k)
			}
		}
		s, cs := parts.find(prepare(strings.Join(counted, " ")))
		total += s
		cues = append(cues, cs...)
	}
	return total, cues, strong
}

// root is what inflections of an English keyword share.
func (k keyword) root() string {
	if k.stem != "" {
		return k.stem
	}
	for _, suf := range []string{"ing", "ed", "es", "s"} {
		if !k.cjk && strings.HasSuffix(k.norm, suf) && len(k.norm) > len(suf)+2 {
			return strings.TrimSuffix(k.norm, suf)
		}
	}
	return k.norm
}

// landmarkWeight is what a category word naming a place counts.
const landmarkWeight = 0.3

// outermost drops the keywords inside a longer keyword of hits.
func outermost(hits []keyword) []keyword {
	var out []keyword
	roots := map[string]bool{}
	for i, k := range hits {
		inner := false
		for j, o := range hits {
			if i != j && len(o.norm) > len(k.norm) && strings.Contains(o.norm, k.norm) {
				inner = true
				break
			}
		}
		// "overcharged" and "overcharging" are one word said twice.
		if root := k.root(); !inner && !roots[root] {
			roots[root] = true
			out = append(out, k)
		}
	}
	return out
}

// landmark reports whether every occurrence of k in t names a place: a
// Chinese word followed by a place word (公交站旁边), an English one after a
// place preposition ("next to the bus stop").
func (c *Classifier) landmark(t text, k keyword) bool {
	if k.cjk {
		s := t.compact
		found := false
		if !strings.Contains(s, k.norm) {
			// said with a character inserted (公交车站 for 公交站): the
			// place word follows where that occurrence ends
			end := gappedEnd(s, k)
			return end >= 0 && c.placeWord(strings.TrimPrefix(s[end:], "的"))
		}
		for from := 0; ; {
			at := strings.Index(s[from:], k.norm)
			if at < 0 {
				return found
			}
			at += from
			rest := strings.TrimPrefix(s[at+len(k.norm):], "的")
			// the place word may share the name's last character (单元门口)
			_, size := utf8.DecodeLastRuneInString(k.norm)
			if !c.placeWord(rest) && !c.placeWord(k.norm[len(k.norm)-size:]+rest) {
				// one more character of the name first (路灯杆下面)
				if _, n := utf8.DecodeRuneInString(rest); n == 0 || !c.placeWord(strings.TrimPrefix(rest[n:], "的")) {
					return false
				}
			}
			found = true
			from = at + len(k.norm)
		}
	}
	s := t.norm
	found := false
	for from := 0; ; {
		at := strings.Index(s[from:], k.norm)
		if at < 0 {
			return found
		}
		at += from
		before := s[:at]
		after := func(w string) bool { return strings.HasSuffix(before, w) }
		// one word may qualify the place ("by the school bus stop")
		qualified := func(w string) bool {
			b := strings.TrimRight(before, " ")
			if i := strings.LastIndexByte(b, ' '); i >= 0 {
				return strings.HasSuffix(b[:i+1], w)
			}
			return false
		}
		if !slices.ContainsFunc(c.landmarkBefore, after) && !slices.ContainsFunc(c.landmarkBefore, qualified) {
			return false
		}
		found = true
		from = at + len(k.norm)
	}
}

// placeWord reports whether s starts with a place word (旁边, 门口).
func (c *Classifier) placeWord(s string) bool {
	return slices.ContainsFunc(c.landmarkAfter, func(w string) bool { return strings.HasPrefix(s, w) })
}

// gapped reports whether the Chinese keyword k occurs in s with one
// character inserted between two of its characters (没来过水 for 没来水,
// 冒黑烟 for 冒烟): the same words said a little differently.
func gapped(s string, k keyword) bool {
	if len(k.cuts) == 0 || !strings.Contains(s, k.cuts[0][0]) || !strings.Contains(s, k.last) {
		return false
	}
	for _, cut := range k.cuts {
		head, tail := cut[0], cut[1]
		for from := 0; from < len(s); {
			at := strings.Index(s[from:], head)
			if at < 0 {
				break
			}
			at += from + len(head)
			if _, n := utf8.DecodeRuneInString(s[at:]); n > 0 && strings.HasPrefix(s[at+n:], tail) {
				return true
			}
			from = at
		}
	}
	return false
}

// gappedEnd is where the first occurrence of k with one character
// inserted ends in s, or -1.
func gappedEnd(s string, k keyword) int {
	for _, cut := range k.cuts {
		head, tail := cut[0], cut[1]
		for from := 0; from < len(s); {
			at := strings.Index(s[from:], head)
			if at < 0 {
				break
			}
			at += from + len(head)
			if _, n := utf8.DecodeRuneInString(s[at:]); n > 0 && strings.HasPrefix(s[at+n:], tail) {
				return at + n + len(tail)
			}
			from = at
		}
	}
	return -1
}

// gapCuts splits a keyword at each place a character may be inserted.
func gapCuts(kw string) [][2]string {
	var cuts [][2]string
	for i := range kw {
		if i > 0 {
			cuts = append(cuts, [2]string{kw[:i], kw[i:]})
		}
	}
	return cuts
}

// findHazards returns the hazards some sentence describes: one of a
// hazard's things and one of its signs in the same sentence, the sign in a
// clause that tells of now (present[i] is sentences[i] made of those).
func (c *Classifier) findHazards(sentences, present []text) []*Hazard {
	var out []*Hazard
	for i, h := range c.hazards {
		for j, s := range sentences {
			now := present[j]
			if strings.TrimSpace(now.norm) == "" {
				continue
			}
			things := h.things.hits(s)
			// A thing and its sign are two words: a word that is both (嘶嘶,
			// a hiss) needs another of the hazard's things beside it — the
			// hiss of air in a tap is no gas.
			signs := h.signs.hits(now)
			for _, k := range h.signs {
				if slices.ContainsFunc(signs, func(x keyword) bool { return x.norm == k.norm }) {
					continue
				}
				if k.passive && passiveAgent(now.compact, k, h.things) || adverbInside(now, k) {
					signs = append(signs, k)
				}
			}
			if slices.ContainsFunc(signs, func(k keyword) bool {
				return slices.ContainsFunc(things, func(t keyword) bool { return t.norm != k.norm }) && !c.nearMiss(now, k) && !c.pastGap(now, k) && !c.signTaken(i, s, k)
			}) {
				out = append(out, c.hazardDefs[i])
				break
			}
		}
	}
	return out
}

// explainedAway reports whether sentence s finds a cause that is no hazard
// for what it describes: an explanation (一看是, 原来是, "it's just the")
// followed by no hazard's sign and no emergency's word — the rotten-egg
// smell was the bins, the smoke alarm's chirp its battery.
func (c *Classifier) explainedAway(s text) bool {
	for _, k := range c.explained.hits(s) {
		src := s.norm
		if k.cjk {
			src = s.compact
		}
		at := strings.Index(src, k.norm)
		if at < 0 {
			continue // said with a character inserted
		}
		after := prepare(src[at+len(k.norm):])
		// a sign said not to be there (也没着火) is none
		if slices.ContainsFunc(c.hazards, func(h compiledHazard) bool {
			return slices.ContainsFunc(h.signs.hits(after), func(x keyword) bool { return !c.nearMiss(after, x) })
		}) {
			continue
		}
		emergencyWord := false
		for i, u := range c.tax.Urgencies {
			emergencyWord = emergencyWord || u.ID == UrgencyEmergency && len(c.urgent[i].hits(after)) > 0
		}
		if !emergencyWord {
			return true
		}
	}
	return false
}

// adverbs are the Chinese words of degree, time and scope that a caller puts
// inside what a sign says (水已经很深 for 水很深, 门也打不开 for 门打不开).
var adverbs = []string{"已经", "一直", "越来越", "特别", "非常", "有点", "都", "也", "还", "又", "很", "太", "真"}

// auxiliaries are the English words a caller puts inside what a sign says
// ("water is pouring" for "water pouring", "lines are now down").
var auxiliaries = []string{"is", "are", "was", "were", "has", "have", "been", "still", "already", "just", "really", "now", "all", "also"}

// adverbInside reports whether sign k occurs in t with one of adverbs
// inserted between two of its Chinese characters, or one of auxiliaries
// between two of its English words.
func adverbInside(t text, k keyword) bool {
	if len(k.all) > 0 {
		return false
	}
	if !k.cjk {
		words := strings.Fields(k.norm)
		for i := 1; i < len(words); i++ {
			head, tail := strings.Join(words[:i], " "), strings.Join(words[i:], " ")
			for _, a := range auxiliaries {
				if (keyword{norm: head + " " + a + " " + tail}).in(t) {
					return true
				}
			}
		}
		return false
	}
	s := t.compact
	for i := range k.norm {
		if i == 0 {
			continue
		}
		head, tail := k.norm[:i], k.norm[i:]
		for _, a := range adverbs {
			if strings.Contains(s, head+a+tail) {
				return true
			}
		}
	}
	return false
}

// presentPart is what clause t may tell of a hazard now (ok false: nothing):
// not a clause of the past only (上个月…, "last year …" with no word of now),
// nor one of a drill, the news or elsewhere (演练, 新闻, "on the news"), and
// only what comes before a fear (煤气味这么大，万一炸了: the smell, not the blast).
func (c *Classifier) presentPart(t text) (text, bool) {
	if c.over(t) || len(c.unreal.hits(t)) > 0 {
		return text{}, false
	}
	for _, k := range c.hypothetical.hits(t) {
		src := t.norm
		if k.cjk {
			src = t.compact
		}
		if at := strings.Index(src, k.norm); at >= 0 {
			t = prepare(src[:at])
		}
	}
	return t, strings.TrimSpace(t.norm) != ""
}

// dealtWith reports whether sentence s tells of a hazard dealt with (已经扑灭,
// 修好了, 人没事, "put out", "fixed") and not of one back or going on (还, 又,
// 可是, "still", "but"): what it names is not happening now.
func (c *Classifier) dealtWith(s text) bool {
	if len(c.still.hits(s)) > 0 {
		return false
	}
	return slices.ContainsFunc(c.resolved.hits(s), func(k keyword) bool { return !c.nearMiss(s, k) && !notDone(s, k) })
}

// notDoneWords are the words right before a resolution that say it did not
// happen (没能扑灭, 无法修复, "hasn't been fixed", "not put out").
var notDoneWords = []string{"没", "不", "未", "没能", "没法", "无法", "not", "n't", "never", "no"}

// notDone reports whether every occurrence of resolution k in s is said
// not to have happened.
func notDone(s text, k keyword) bool {
	src := s.norm
	if k.cjk {
		src = s.compact
	}
	found := false
	for from := 0; ; {
		at := strings.Index(src[from:], k.norm)
		if at < 0 {
			return found
		}
		at += from
		before := strings.TrimRight(src[:at], " ")
		if !k.cjk {
			// an auxiliary may stand between ("hasn't been fixed" for "fixed")
			for _, aux := range []string{" been", " be", " got", " is", " was"} {
				before = strings.TrimSuffix(before, aux)
			}
		}
		if !slices.ContainsFunc(notDoneWords, func(w string) bool { return strings.HasSuffix(before, w) }) {
			return false
		}
		found = true
		from = at + len(k.norm)
	}
}

// presentScore is the weighted score of emergency cues m over the clauses
// that tell of now, each cue neither a near miss nor told as past (困过人:
// a keyword matched with 过 or a negation inserted is not the keyword).
func (c *Classifier) presentScore(r *request, m matcher) (total float64, cues []string) {
	seen := map[string]bool{}
	for _, cl := range r.present {
		if cl.weight == 0 {
			continue
		}
		var hits []keyword
		for _, k := range m.hits(cl.t) {
			if !c.nearMiss(cl.t, k) && !c.pastGap(cl.t, k) {
				hits = append(hits, k)
			}
		}
		for _, k := range outermost(hits) {
			total += k.weight * cl.weight
			if !seen[k.text] {
				seen[k.text] = true
				cues = append(cues, k.text)
			}
		}
	}
	return total, cues
}

// pastGap reports whether Chinese keyword k occurs in t only with one
// character inserted, and that character tells of the past or negates (电梯困过人
// for 电梯困人, 没困着人): the keyword's event happened once or not at all.
func (c *Classifier) pastGap(t text, k keyword) bool {
	if !k.cjk || !k.gap || strings.Contains(t.compact, k.norm) {
		return false
	}
	s := t.compact
	found := false
	for _, cut := range k.cuts {
		head, tail := cut[0], cut[1]
		for from := 0; from < len(s); {
			at := strings.Index(s[from:], head)
			if at < 0 {
				break
			}
			at += from + len(head)
			if r, n := utf8.DecodeRuneInString(s[at:]); n > 0 && strings.HasPrefix(s[at+n:], tail) {
				if !slices.Contains(c.pastAfter, string(r)) && !slices.Contains(c.nearMisses, string(r)) {
					return false
				}
				found = true
			}
			from = at
		}
	}
	return found
}

// withPairs is the sentences and each two in a row: a hazard's thing and
// its sign may fall in consecutive sentences ("The lift stopped. My son is
// still inside.").
func withPairs(sentences []text) []text {
	out := slices.Clone(sentences)
	for i := 1; i < len(sentences); i++ {
		out = append(out, prepare(sentences[i-1].norm+" "+sentences[i].norm))
	}
	return out
}

// over reports whether sentence s tells of the past only (a Past word and
// no Now word): the hazard it names is not happening.
func (c *Classifier) over(s text) bool {
	return slices.ContainsFunc(c.past.hits(s), func(k keyword) bool { return !onset(s, k) }) && len(c.now.hits(s)) == 0
}

// Words around a past time that make it the start of what goes on now
// (从上周开始, 上个月起, "since last week").
var (
	onsetBefore = []string{"从", "自从", "自", "since", "from"}
	onsetAfter  = []string{"开始", "起", "以来", "到现在", "至今", "onwards"}
)

// onset reports whether every occurrence of past word k in s starts what goes
// on now.
func onset(s text, k keyword) bool {
	src := s.norm
	if k.cjk {
		src = s.compact
	}
	found := false
	for from := 0; ; {
		at := strings.Index(src[from:], k.norm)
		if at < 0 {
			return found
		}
		at += from
		before := strings.TrimRight(src[:at], " ")
		after := strings.TrimLeft(src[at+len(k.norm):], " ")
		if !slices.ContainsFunc(onsetBefore, func(w string) bool { return strings.HasSuffix(before, w) }) &&
			!slices.ContainsFunc(onsetAfter, func(w string) bool { return strings.HasPrefix(after, w) }) {
			return false
		}
		found = true
		from = at + len(k.norm)
	}
}

// signTaken reports whether sign k of hazard i belongs to another hazard in
// s: one with the same sign whose thing stands nearer before it ("a man
// collapsed … on Luoyu Road" is a person, not the road).
func (c *Classifier) signTaken(i int, s text, k keyword) bool {
	mine := c.hazards[i].things.nearestBefore(s, k)
	for j, o := range c.hazards {
		// The other hazard takes the sign only with a sign of its own that
		// the sentence holds ("falling off" does not take a bare "fall").
		if j == i || !slices.ContainsFunc(o.signs, func(x keyword) bool { return sameSign(x, k) && x.in(s) }) {
			continue
		}
		if d := o.things.nearestBefore(s, k); d >= 0 && (mine < 0 || d < mine) {
			return true
		}
	}
	return false
}

// sameSign reports whether two signs are one word (English inflections:
// collapse, collapsed).
func sameSign(a, b keyword) bool {
	if a.norm == b.norm {
		return true
	}
	return !a.cjk && !b.cjk && (strings.HasPrefix(a.norm, b.norm) || strings.HasPrefix(b.norm, a.norm))
}

// nearestBefore is how far before sign k's first occurrence in s the
// nearest of m's keywords ends (bytes), or -1 when none precedes it.
func (m matcher) nearestBefore(s text, k keyword) int {
	src := s.norm
	if k.cjk {
		src = s.compact
	}
	at := strings.Index(src, k.norm)
	if at < 0 {
		return -1
	}
	best := -1
	for _, t := range m {
		if t.cjk != k.cjk || len(t.all) > 0 {
			continue
		}
		if p := strings.LastIndex(src[:at], t.norm); p >= 0 {
			if d := at - (p + len(t.norm)); best < 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// nearMiss reports whether every occurrence of sign k in s is a near miss,
// a fear or a negation ("差点撞了", "怕哪天塌了", "打不着火", "almost hit"), or
// in the past ("困过人"): no hazard now.
func (c *Classifier) nearMiss(s text, k keyword) bool {
	src, kw := s.norm, k.norm
	if k.cjk {
		src = s.compact
	}
	found := false
	for from := 0; ; {
		at := strings.Index(src[from:], kw)
		if at < 0 {
			return found
		}
		at += from
		before := strings.TrimRight(src[:at], " ")
		after := src[at+len(kw):]
		past := k.cjk && slices.ContainsFunc(c.pastAfter, func(w string) bool { return strings.HasPrefix(after, w) })
		if !past && !slices.ContainsFunc(c.nearMisses, func(w string) bool { return strings.HasSuffix(before, w) }) {
			return false
		}
		found = true
		from = at + len(kw)
	}
}

// compiledHazard is a Hazard's lists compiled for matching.
type compiledHazard struct {
	things, signs matcher
}

// asks reports whether the request has a question that opens with one of
// openers ("how do", "what time", "请问"): a strong cue of an inquiry. A
// question that opens with a longer cue of another type ("could you put
// more bins", "能不能增设") proposes or asks for that, not for information.
func asks(r *request, openers []string, others []keyword) bool {
	for _, q := range r.questions {
		if slices.ContainsFunc(others, func(k keyword) bool {
			return strings.HasPrefix(q.norm, k.norm) || strings.HasPrefix(q.compact, k.norm)
		}) {
			continue
		}
		for _, o := range openers {
			if strings.HasPrefix(q.norm, o) || strings.HasPrefix(q.compact, o) {
				return true
			}
		}
	}
	return false
}

// typeOpeners are the strong cues of the types other than i that the
// request's questions hold (see asks).
func (c *Classifier) typeOpeners(r *request, i int) []keyword {
	var ks []keyword
	for j, m := range c.types {
		if j == i {
			continue
		}
		for _, q := range r.questions {
			for _, k := range m.hits(q) {
				if k.weight >= typeKeywordWeight {
					ks = append(ks, k)
				}
			}
		}
	}
	return ks
}

// capLifted reports whether the urgency cap of type i does not apply: the
// type has live cues, and the request describes a hazard, or has a live cue
// and no planned cue ("停水了，请问几点来水？" is as urgent as the outage).
func (c *Classifier) capLifted(r *request, i int, emergency bool) bool {
	if len(c.live[i]) == 0 {
		return false
	}
	if emergency || len(r.hazards) > 0 {
		return true
	}
	if !c.statesInterruption(r) {
		// A live word alone ("现在可以充值吗？") asks about now; the cap
		// lifts only for a service that the request says is interrupted.
		return false
	}
	if len(c.planned[i].hits(r.whole)) == 0 {
		return len(c.live[i].hits(r.whole)) > 0
	}
	// Planned and live both: a sentence that tells of the outage now, with
	// no plan in it ("Is it off again tomorrow? It's off right now").
	for _, s := range r.sentences {
		if len(c.live[i].hits(s)) > 0 && len(c.planned[i].hits(s)) == 0 {
			return true
		}
	}
	return false
}

// statesInterruption reports whether the request says something is down or
// broken: a cue of an urgency above normal (停水, "no power") or of a request
// for help (坏了, 不热, "went out").
func (c *Classifier) statesInterruption(r *request) bool {
	for j, u := range c.tax.Urgencies {
		if u.ID == UrgencyNormal {
			continue
		}
		if score, _, _ := c.urgent[j].score(r, 0, nil); score > 0 {
			return true
		}
	}
	for j, ty := range c.tax.Types {
		if ty.ID == typeDefault {
			if score, _, _ := c.types[j].score(r, 0, nil); score > 0 {
				return true
			}
		}
	}
	return false
}

// englishVariants lets an English keyword ending in an inflection match the
// other inflections of its stem ("flooding" also matches "flooded"): it
// returns the stem, or "" when the keyword has no inflection to strip.
func englishVariants(norm string) string {
	for _, suf := range []string{"ing", "ed"} {
		if strings.HasSuffix(norm, suf) && utf8.RuneCountInString(norm) > len(suf)+2 {
			return strings.TrimSuffix(norm, suf)
		}
	}
	return ""
}

// inflected reports whether s holds stem followed by an inflection
// (ed, ing, s, es, e, es, d) as a whole word.
func inflected(s, stem string) bool {
	for from := 0; from < len(s); {
		at := strings.Index(s[from:], stem)
		if at < 0 {
			return false
		}
		at += from
		end := at + len(stem)
		if (at == 0 || !isWordByte(s[at-1])) && end < len(s) {
			rest := s[end:]
			for _, suf := range []string{"ing", "ed", "es", "e", "s", "d"} {
				if strings.HasPrefix(rest, suf) && (len(rest) == len(suf) || !isWordByte(rest[len(suf)])) {
					return true
				}
			}
		}
		from = at + 1
	}
	return false
}

// ngramIndex finds the category whose keyword the request says in other
// words: the share of a keyword's character bigrams (Chinese) or stemmed
// words (English phrases) that the request holds, times the keyword's
// specificity ("陷下去" shares 陷 with "地陷", "水是黄的" shares 水黄's characters).
type ngramIndex struct {
	keys []ngramKey
}

type ngramKey struct {
	cat    int      // index in Categories()
	grams  []string // bigrams or stemmed words
	weight float64
}

// Least share of a keyword's n-grams, and least score, for a paraphrase match.
const (
	minNgramShare = 0.6
	minNgramScore = 0.8
)

func newNgramIndex(t *Taxonomy) ngramIndex {
	var ix ngramIndex
	for i, c := range t.Categories() {
		for _, k := range compile(c.Keywords, 0) {
			if len(k.all) > 0 {
				continue
			}
			grams := simTerms(k.norm)
			if k.cjk && utf8.RuneCountInString(k.norm) < 3 || !k.cjk && len(grams) < 2 {
				continue // too short to be said in other words
			}
			ix.keys = append(ix.keys, ngramKey{cat: i, grams: grams, weight: k.weight})
		}
	}
	return ix
}

// best returns the category of the best paraphrased keyword (-1 if none).
func (ix ngramIndex) best(t text) (int, float64) {
	have := map[string]bool{}
	for _, g := range simTerms(t.norm) {
		have[g] = true
	}
	best, bestScore := -1, 0.0
	for _, k := range ix.keys {
		n := 0
		for _, g := range k.grams {
			if have[g] {
				n++
			}
		}
		share := float64(n) / float64(len(k.grams))
		if share < minNgramShare {
			continue
		}
		if score := share * k.weight; score > bestScore {
			best, bestScore = k.cat, score
		}
	}
	if bestScore < minNgramScore {
		return -1, 0
	}
	return best, bestScore
}

// categoryHits are the simple keywords of each category found in each
// clause that counts: hits[clause][category].
func (c *Classifier) categoryHits(r *request) [][][]keyword {
	hits := make([][][]keyword, len(r.clauses))
	for ci, cl := range r.clauses {
		if cl.weight == 0 {
			continue
		}
		hits[ci] = make([][]keyword, len(c.cats))
		var names []keyword
		for _, m := range c.depts {
			names = append(names, m.hits(cl.t)...)
		}
		for i, m := range c.cats {
			for _, k := range m.hits(cl.t) {
				if len(k.all) == 0 && !inName(cl.t, k, names) {
					hits[ci][i] = append(hits[ci][i], k)
				}
			}
		}
	}
	return hits
}

// innerWeight is the weight of category i's keywords found only inside a
// longer keyword of another category (灯全黑 in 红绿灯全黑).
func (c *Classifier) innerWeight(r *request, hits [][][]keyword, i int) float64 {
	w := 0.0
	for ci, cl := range r.clauses {
		if cl.weight == 0 || len(hits[ci][i]) == 0 {
			continue
		}
		for _, k := range outermost(hits[ci][i]) {
			for j, other := range hits[ci] {
				if j != i && slices.ContainsFunc(other, func(x keyword) bool {
					return len(x.norm) > len(k.norm) && strings.Contains(x.norm, k.norm)
				}) {
					w += k.weight * cl.weight
					break
				}
			}
		}
	}
	return w
}

// dropInnerTypeCues takes back the weight of a type's cue that is part of a
// longer cue of another type ("help" in "it would help" is a suggestion).
func (c *Classifier) dropInnerTypeCues(r *request, scores []float64, cues [][]string) {
	for _, cl := range r.clauses {
		if cl.weight == 0 {
			continue
		}
		hits := make([][]keyword, len(c.types))
		for i, m := range c.types {
			hits[i] = outermost(m.hits(cl.t))
		}
		for i := range hits {
			for _, k := range hits[i] {
				for j := range hits {
					if j != i && slices.ContainsFunc(hits[j], func(o keyword) bool {
						return len(o.norm) > len(k.norm) && strings.Contains(o.norm, k.norm)
					}) {
						scores[i] -= k.weight * cl.weight
						cues[i] = slices.DeleteFunc(cues[i], func(s string) bool { return s == k.text })
						break
					}
				}
			}
		}
	}
}

// inName reports whether every occurrence of category keyword k in t is
// part of a department's name (燃气 in 燃气公司, "water" in "the water
// company"): the name says who, not what the problem is.
func inName(t text, k keyword, names []keyword) bool {
	src := t.norm
	if k.cjk {
		src = t.compact
	}
	in := 0
	for _, n := range names {
		if n.cjk == k.cjk && len(n.norm) > len(k.norm) && strings.Contains(n.norm, k.norm) {
			in += strings.Count(src, n.norm) * strings.Count(n.norm, k.norm)
		}
	}
	return in > 0 && strings.Count(src, k.norm) <= in
}
