package hotline

import (
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Classification is what the rules classifier finds in a request: each
// field with the cues that decided it and how sure it is.
type Classification struct {
	Type     string `json:"type"`
	Category string `json:"category"`
	// Department leads the category (the taxonomy's owner), unless the
	// request names another department the category admits.
	Department string `json:"department"`
	Urgency    string `json:"urgency"`

	TypeCues     []string `json:"type_cues,omitempty"`
	CategoryCues []string `json:"category_cues,omitempty"`
	UrgencyCues  []string `json:"urgency_cues,omitempty"`
	// Strong marks fields decided by explicit cues (a keyword of the type,
	// a keyword of the category) rather than by defaults or similarity.
	TypeStrong, CategoryStrong bool `json:"-"`
	// Via says how the category was found: "keywords", "paraphrase" (most
	// of a keyword's character bigrams or words), "similarity" or
	// "default" (nothing matched; the catch-all category) or "examples"
	// (the labelled requests' model, when the rules were unsure).
	Via string `json:"via"`
	// Others are further categories the request also mentions (mixed issues).
	Others []string `json:"others,omitempty"`
	Lang   string   `json:"lang"`
	// Instructions are the parts of the text that read like instructions
	// to the triage (ignore previous…, 请派发给 X, type=…): left out of
	// the classification and flagged.
	Instructions []string `json:"instructions,omitempty"`

	// What the text says for every value, for checking a model's choice:
	// the cue weight of each type and category, and the urgencies that
	// have cues.
	typeEvidence    map[string]float64
	catEvidence     map[string]float64
	urgencyEvidence map[string]bool
	// Hazards names the hazards to life or property the request describes.
	Hazards []string `json:"hazards,omitempty"`

	// capLifted: the type's urgency cap does not apply (a live outage or a
	// hazard), for decide to keep.
	capLifted bool
	// hazardCats are the categories the request's hazards are filed under.
	hazardCats []string
	// interrupted: the category was put first as the interruption of a
	// service the request states (interruptionFirst).
	interrupted bool
	// examplesEmergency: the example model raised the urgency to emergency.
	examplesEmergency bool
	// questionDiscounted: the request's questions were read as asking
	// about a problem it describes (停水了，什么时候来水？ asks for help).
	questionDiscounted bool
}

// Classifier is the deterministic triage: keyword rules from the taxonomy,
// then lexical similarity over the categories' names and keywords (a small
// retrieval index) when no keyword matches, and a naive Bayes model of
// labelled requests (examples.go) for what those leave unsure. It is the
// fallback when the model is slow, down or wrong, and the check on what the
// model says.
type Classifier struct {
	tax      *Taxonomy
	types    []matcher // by taxonomy type order
	cats     []matcher // by Categories() order
	urgent   []matcher // by taxonomy urgency order
	emerg    []matcher // category emergency keywords, by Categories() order
	depts    []matcher // department aliases, by taxonomy department order
	index    simIndex
	ngrams   ngramIndex
	fallback *Category

	live, planned     []matcher  // by taxonomy type order
	openers           [][]string // by taxonomy type order, normalised
	negated, reported matcher    // the taxonomy's mentions
	focus             matcher
	landmarkAfter     []string // normalised, for Chinese
	landmarkBefore    []string // normalised, for English
	nearMisses        []string // normalised
	pastAfter         []string // normalised
	past, now         matcher
	unreal, resolved  matcher // the taxonomy's mentions
	still, explained  matcher
	hypothetical      matcher
	hazards           []compiledHazard
	hazardDefs        []*Hazard
	hazardUrgency     []string // the urgency of each hazard
	// examples is the naive Bayes model over labelled requests (nil: none).
	examples *exampleModel
}

// keyword is one compiled cue. A keyword written "a+b" matches when both
// parts occur anywhere in the text.
type keyword struct {
	text   string      // as written
	norm   string      // normalised for matching
	cjk    bool        // matched on text without spaces
	stem   string      // an English keyword's stem, matched with any inflection
	gap    bool        // a Chinese keyword also matched with one character inserted
	cuts   [][2]string // where a character may be inserted (gap)
	last   string      // the keyword's last character (gap)
	weight float64
	all    []keyword // the parts of an "a+b" keyword
	// passive: a hazard's sign in the passive (被偷, 被掀), also found with
	// who did it said after 被 (被谁掀走了; see passiveAgent).
	passive bool
}

type matcher []keyword

// Weights of cues: strong type keywords against hints, and the bonus of a
// department named in the request for the categories it owns.
const (
	typeKeywordWeight = 3.0
	typeHintWeight    = 1.0
	deptNamedBonus    = 0.75
	// minSimilarity is the similarity a category needs when no keyword matched.
	minSimilarity = 1.5
	// minKeywordScore is the keyword score below which (a place, a word in
	// a reported clause) similarity is tried before the keywords' choice.
	minKeywordScore = 0.5
	// hazardBonus is the category score a hazard adds to the item such a
	// hazard is usually filed under.
	hazardBonus = 2.0
	// minGappedRunes is the length from which a Chinese keyword also
	// matches with one character inserted.
	minGappedRunes = 3
	// hazardHelpBonus is the help type's score in a request with a hazard.
	hazardHelpBonus = 2.0
	// closeScore: a runner-up category with this share of the leader's
	// keyword score nearly ties with it; closeSimilarity is how much more
	// similar to the whole request it must be to lead instead.
	closeScore      = 0.8
	closeSimilarity = 1.2
)

// NewClassifier compiles the taxonomy's cues.
func NewClassifier(t *Taxonomy) *Classifier {
	c := &Classifier{tax: t}
	for _, ty := range t.Types {
		var m matcher
		m = append(m, compile(ty.Keywords, typeKeywordWeight)...)
		m = append(m, compile(ty.Hints, typeHintWeight)...)
		c.types = append(c.types, m)
		c.live = append(c.live, compile(ty.Live, 1))
		c.planned = append(c.planned, compile(ty.Planned, 1))
		var open []string
		for _, o := range ty.Openers {
			open = append(open, normalize(o))
		}
		c.openers = append(c.openers, open)
	}
	c.negated = compile(t.Mentions.Negated, 1)
	c.reported = compile(append(slices.Clone(t.Mentions.Reported), t.Mentions.Setting...), 1)
	c.focus = compile(t.Mentions.Focus, 1)
	c.past = compile(t.Mentions.Past, 1)
	c.now = compile(t.Mentions.Now, 1)
	c.unreal = compile(t.Mentions.Unreal, 1)
	c.resolved = compile(t.Mentions.Resolved, 1)
	c.still = compile(t.Mentions.Still, 1)
	c.explained = compile(t.Mentions.Explained, 1)
	c.hypothetical = compile(t.Mentions.Hypothetical, 1)
	for _, w := range t.Mentions.LandmarkAfter {
		c.landmarkAfter = append(c.landmarkAfter, strings.Join(strings.Fields(normalize(w)), ""))
	}
	for _, w := range t.Mentions.NearMiss {
		n := normalize(w)
		if hasHan(n) {
			n = strings.Join(strings.Fields(n), "")
		}
		c.nearMisses = append(c.nearMisses, n)
	}
	for _, w := range t.Mentions.PastAfter {
		c.pastAfter = append(c.pastAfter, strings.Join(strings.Fields(normalize(w)), ""))
	}
	for _, w := range t.Mentions.LandmarkBefore {
		c.landmarkBefore = append(c.landmarkBefore, normalize(w)+" ")
	}
	for _, cat := range t.Categories() {
		c.cats = append(c.cats, compile(append([]string{cat.NameZh}, cat.Keywords...), 0))
		c.emerg = append(c.emerg, compile(cat.EmergencyKeywords, 1))
	}
	for _, u := range t.Urgencies {
		c.urgent = append(c.urgent, compile(u.Keywords, 1))
		for i := range u.Hazards {
			h := &u.Hazards[i]
			signs := compile(h.Signs, 1)
			for i, k := range signs {
				signs[i].passive = k.cjk && strings.HasPrefix(k.norm, "被") && utf8.RuneCountInString(k.norm) >= 2
			}
			c.hazards = append(c.hazards, compiledHazard{things: compile(h.Things, 1), signs: signs})
			c.hazardDefs = append(c.hazardDefs, h)
			c.hazardUrgency = append(c.hazardUrgency, u.ID)
		}
	}
	for _, d := range t.Departments {
		c.depts = append(c.depts, compile(append([]string{d.NameZh}, d.Aliases...), 1))
	}
	c.index = newSimIndex(t)
	c.ngrams = newNgramIndex(t)
	c.examples = builtinExampleModel(t)
	c.fallback = t.Categories()[len(t.Categories())-1]
	for _, cat := range t.Categories() {
		if cat.Department == "district_office" && strings.HasPrefix(cat.NameZh, "其他") {
			c.fallback = cat
		}
	}
	return c
}

func compile(words []string, weight float64) matcher {
	var m matcher
	for _, w := range words {
		if parts := strings.Split(w, "+"); len(parts) > 1 && !slices.Contains(parts, "") {
			k := keyword{text: w, norm: normalize(w), all: compile(parts, weight), weight: weight}
			if weight == 0 {
				k.weight = 0
				for _, p := range k.all {
					k.weight += p.weight
				}
			}
			m = append(m, k)
			continue
		}
		n := normalize(w)
		if strings.TrimSpace(n) == "" {
			continue
		}
		k := keyword{text: w, norm: n, cjk: hasHan(n)}
		if k.cjk {
			k.norm = strings.Join(strings.Fields(n), "")
			k.gap = utf8.RuneCountInString(k.norm) >= minGappedRunes
			if k.gap {
				k.cuts = gapCuts(k.norm)
				_, size := utf8.DecodeLastRuneInString(k.norm)
				k.last = k.norm[len(k.norm)-size:]
			}
		} else {
			k.stem = englishVariants(n)
		}
		k.weight = weight
		if weight == 0 {
			k.weight = specificity(k)
		}
		m = append(m, k)
	}
	return m
}

// specificity weighs a category keyword by how much it says: longer
// Chinese words and English phrases are more specific than single words.
func specificity(k keyword) float64 {
	if k.cjk {
		n := utf8.RuneCountInString(k.norm)
		switch {
		case n <= 1:
			return 0.3
		case n == 2:
			return 1
		case n == 3:
			return 1.4
		}
		return 1.8
	}
	if len(strings.Fields(k.norm)) > 1 {
		return 1.6
	}
	return 1
}

// text is a request prepared for matching.
type text struct {
	norm    string // lower case, full-width folded
	compact string // norm without spaces (for Chinese)
}

func prepare(s string) text {
	n := normalize(s)
	return text{norm: n, compact: strings.Join(strings.Fields(n), "")}
}

// normalize lower-cases s and folds full-width ASCII and spaces.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		case r == 0x3000:
			r = ' '
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// find returns the keywords of m that occur in t and their total weight.
// A keyword inside a longer matched keyword of the same matcher is not
// counted twice.
func (m matcher) find(t text) (float64, []string) {
	var hits []keyword
	for _, k := range m {
		if k.in(t) {
			hits = append(hits, k)
		}
	}
	total := 0.0
	var cues []string
	for i, k := range hits {
		inner := false
		for j, o := range hits {
			if i != j && len(o.norm) > len(k.norm) && strings.Contains(o.norm, k.norm) {
				inner = true
				break
			}
		}
		if inner {
			continue
		}
		total += k.weight
		cues = append(cues, k.text)
	}
	return total, cues
}

func (k keyword) in(t text) bool {
	if len(k.all) > 0 {
		for _, p := range k.all {
			if !p.in(t) {
				return false
			}
		}
		return true
	}
	if k.cjk {
		return strings.Contains(t.compact, k.norm) || k.gap && gapped(t.compact, k)
	}
	if k.stem != "" && inflected(t.norm, k.stem) {
		return true
	}
	s := t.norm
	for from := 0; from < len(s); {
		at := strings.Index(s[from:], k.norm)
		if at < 0 {
			return false
		}
		at += from
		end := at + len(k.norm)
		if boundary(s, at, end, k.norm) {
			return true
		}
		from = at + 1
	}
	return false
}

// maxAgentRunes is how long the doer said between 被 and the verb may be.
const maxAgentRunes = 3

// passiveAgent reports whether passive keyword k (被 and a verb) occurs in s
// with its doer said between them (被谁掀 for 被掀, 被一辆车撞 for 被撞) after
// one of things: the thing is what it was done to (井盖被谁掀走了; the
// railing 被车撞歪 is no crash).
func passiveAgent(s string, k keyword, things matcher) bool {
	verb := strings.TrimPrefix(k.norm, "被")
	for from := 0; ; {
		at := strings.Index(s[from:], "被")
		if at < 0 {
			return false
		}
		at += from
		before := prepare(s[:at])
		rest := s[at+len("被"):]
		for n := 1; n <= maxAgentRunes && rest != ""; n++ {
			r, size := utf8.DecodeRuneInString(rest)
			if !unicode.Is(unicode.Han, r) {
				break
			}
			rest = rest[size:]
			if strings.HasPrefix(rest, verb) && len(things.hits(before)) > 0 {
				return true
			}
		}
		from = at + len("被")
	}
}

// boundary reports whether s[start:end] is not part of a longer ASCII word
// (English keywords match whole words, with a plural or -ed/-ing allowed).
func boundary(s string, start, end int, kw string) bool {
	if start > 0 && isWordByte(s[start-1]) && isWordByte(kw[0]) {
		return false
	}
	if end < len(s) && isWordByte(s[end]) && isWordByte(kw[len(kw)-1]) {
		rest := s[end:]
		for _, suf := range []string{"s", "es", "ed", "ing", "d"} {
			if strings.HasPrefix(rest, suf) && (len(rest) == len(suf) || !isWordByte(rest[len(suf)])) {
				return true
			}
		}
		return false
	}
	return true
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '\''
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Language returns LangZh for text with Chinese characters, else LangEn.
func Language(s string) string {
	han, latin := 0, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case r < 128 && unicode.IsLetter(r):
			latin++
		}
	}
	if han > 0 && han*4 >= latin/4 {
		return LangZh
	}
	return LangEn
}

// Classify triages text by the rules. It never fails: with no cue at all the
// request is a request for help in the catch-all category.
func (c *Classifier) Classify(s string) Classification {
	r := c.prepareRequest(s)
	out := Classification{Lang: Language(s)}
	_, out.Instructions = stripInstructions(s)
	for _, h := range r.hazards {
		out.Hazards = append(out.Hazards, h.Name)
	}
	for _, h := range r.filing {
		if h.Category != "" {
			out.hazardCats = append(out.hazardCats, h.Category)
		}
	}
	c.classifyCategory(r, &out)
	c.classifyType(r, &out)
	c.classifyUrgency(r, &out)
	if c.examples != nil {
		c.withExamples(r, s, &out)
	}
	return out
}

// hazardMutes reports whether a present hazard silences the cues of type
// typ: a request that tells of a hazard now asks for help, however it asks
// (请问…该找谁？) or whatever it complains of besides (我要投诉物业…还有，楼道里有
// 煤气味). No emergency of the dev set is labelled an inquiry or a complaint.
func hazardMutes(typ string) bool { return typ == "inquiry" || typ == "complaint" }

// typeDefault is the type of a request with no type cue in a category
// that names no usual type: most hotline calls ask for something to be fixed.
const typeDefault = "help"

// Weights of the type decision besides the cues: the prior of the
// category's usual type, and the discount of question cues in a request
// that describes a problem ("停水了，什么时候来水？" asks for help).
const (
	typePrior         = 1.5
	questionDiscount  = 0.4
	questionMarkBonus = 1.0
)

func (c *Classifier) classifyType(r *request, out *Classification) {
	t := r.whole
	scores := make([]float64, len(c.types))
	cues := make([][]string, len(c.types))
	strong := make([]bool, len(c.types))
	for i, m := range c.types {
		scores[i], cues[i], strong[i] = m.score(r, typeKeywordWeight, nil)
	}
	c.dropInnerTypeCues(r, scores, cues)
	for i := range c.tax.Types {
		if len(c.openers[i]) > 0 && asks(r, c.openers[i], c.typeOpeners(r, i)) {
			scores[i] += typeKeywordWeight
			strong[i] = true
			cues[i] = append(cues[i], "question")
		}
	}
	out.typeEvidence = map[string]float64{}
	for i, ty := range c.tax.Types {
		out.typeEvidence[ty.ID] = scores[i]
	}
	prior := typeDefault
	if cat, ok := c.tax.Category(out.Category); ok && cat.Type != "" && out.Via != "default" {
		prior = cat.Type
	}
	if len(r.hazards) > 0 {
		// A hazard to life or property asks for help, whatever else it says
		// or asks (see hazardMutes).
		for i, ty := range c.tax.Types {
			if ty.ID == typeDefault {
				scores[i] += hazardHelpBonus
			}
			if hazardMutes(ty.ID) {
				scores[i], strong[i], cues[i] = 0, false, nil
				out.typeEvidence[ty.ID] = 0
			}
		}
	}
	problem := false
	inquiry := -1
	for i, ty := range c.tax.Types {
		switch ty.ID {
		case "help", "complaint", "report":
			problem = problem || scores[i] > 0
		case "inquiry":
			inquiry = i
		}
		if ty.ID == prior {
			scores[i] += c.priorWeight(prior, scores[i], out)
		}
	}
	// A request made only of questions, with no cue of a problem, asks for
	// information even without an inquiry keyword ("峰谷电价是怎么算的？"),
	// unless its category is a problem in itself (水是白的，还能喝吗？).
	onlyQuestions := !problem && len(r.sentences) > 0 && len(r.questions) == len(r.sentences)
	if cat, ok := c.tax.Category(out.Category); ok && cat.Urgency != "" && cat.Urgency != UrgencyNormal {
		onlyQuestions = false
	}
	if inquiry >= 0 {
		if problem || prior != typeDefault || out.CategoryStrong && !strong[inquiry] && !onlyQuestions {
			if !strong[inquiry] {
				scores[inquiry] *= questionDiscount
				out.questionDiscounted = true
			}
		} else if strings.HasSuffix(strings.TrimRight(t.compact, "!！。. "), "?") {
			scores[inquiry] += questionMarkBonus
			if onlyQuestions && prior == typeDefault {
				scores[inquiry] += typePrior
			}
		}
	}
	for i, ty := range c.tax.Types {
		if ty.ID == "praise" && politeClosing(t) && !strong[i] {
			scores[i] = 0
		}
		if ty.ID == "praise" && strong[i] {
			// Praise tells of work done: its help words (抢修, 修好) are
			// what the department did, not what the caller asks for.
			for j, other := range c.tax.Types {
				if other.ID == typeDefault {
					scores[j] *= questionDiscount
				}
			}
		}
	}
	best := -1
	for i := range scores {
		if scores[i] > 0 && (best < 0 || scores[i] > scores[best]) {
			best = i
		}
	}
	if best < 0 {
		out.Type = prior
		if _, ok := c.tax.Type(prior); !ok {
			out.Type = c.tax.Types[0].ID
		}
		return
	}
	out.Type = c.tax.Types[best].ID
	out.TypeCues = cues[best]
	out.TypeStrong = strong[best]
}

// priorWeight is what the prior type adds to its score. The catch-all
// default (help, when the category names no usual type) is only a guess:
// without a cue of its own it weighs less than one cue of another type, so
// that a request with a complaint's or a praise's cue and no cue of help is
// not help ("扫地的师傅一个礼拜都没露过面"), unless its category is an
// interruption of a service.
func (c *Classifier) priorWeight(prior string, score float64, out *Classification) float64 {
	if prior != typeDefault || score > 0 {
		return typePrior
	}
	// A category whose least urgency is above normal is an interruption
	// of a service (停水, 停电): asking for it back is its usual type.
	if cat, ok := c.tax.Category(out.Category); ok && (cat.Type != "" || cat.Urgency != "" && cat.Urgency != UrgencyNormal) {
		return typePrior
	}
	return typeHintWeight / 2
}

// politeClosing reports a "thank you" that only closes a request.
func politeClosing(t text) bool {
	end := strings.TrimRight(t.norm, "!！。. ~")
	for _, closing := range []string{"谢谢", "谢谢了", "感谢", "thanks", "thank you"} {
		if strings.HasSuffix(end, closing) {
			return true
		}
	}
	return false
}

func (c *Classifier) classifyCategory(r *request, out *Classification) {
	t := r.whole
	cats := c.tax.Categories()
	named := c.namedDepartments(r)
	bonus := map[string]float64{}
	for _, h := range r.filing {
		if h.Category != "" {
			bonus[h.Category] = hazardBonus
		}
	}
	type scored struct {
		i     int
		score float64
		cues  []string
	}
	var found []scored
	out.catEvidence = map[string]float64{}
	clauseHits := c.categoryHits(r)
	for i, m := range c.cats {
		pre := make([][]keyword, len(r.clauses))
		for ci := range r.clauses {
			if clauseHits[ci] != nil {
				pre[ci] = clauseHits[ci][i]
			}
		}
		score, cues, _ := m.scoreHits(r, pre, 0, c.landmark)
		score -= c.innerWeight(r, clauseHits, i)
		if b := bonus[cats[i].Code]; b > 0 {
			score += b
			cues = append(cues, "hazard")
		}
		if score == 0 {
			continue
		}
		out.catEvidence[cats[i].Code] = score
		if named[cats[i].Department] {
			score += deptNamedBonus
		}
		found = append(found, scored{i, score, cues})
	}
	sort.SliceStable(found, func(a, b int) bool { return found[a].score > found[b].score })
	c.hazardFirst(r, len(found), func(i int) int { return found[i].i }, func(a, b int) { found[a], found[b] = found[b], found[a] })
	if len(r.filing) == 0 {
		out.interrupted = c.interruptionFirst(r, len(found), func(i int) int { return found[i].i }, func(i int) float64 { return found[i].score },
			func(a, b int) { found[a], found[b] = found[b], found[a] })
		if !out.interrupted && len(found) > 1 && found[1].score >= closeScore*found[0].score &&
			c.index.score(t, found[1].i) > closeSimilarity*c.index.score(t, found[0].i) {
			// Two categories' keywords nearly tie: the main issue is the
			// one more of the request's words are about.
			found[0], found[1] = found[1], found[0]
		}
	}
	var cat *Category
	if len(found) > 0 && found[0].score < minKeywordScore {
		// Only places and passing words matched: let similarity try first.
		if i, _ := c.ngrams.best(t); i >= 0 {
			found = nil
		} else if i, score := c.index.best(t); i >= 0 && score >= minSimilarity {
			found = nil
		}
	}
	switch {
	case len(found) > 0:
		cat = cats[found[0].i]
		out.CategoryCues = found[0].cues
		out.CategoryStrong = found[0].score >= 1
		out.Via = "keywords"
		for _, f := range found[1:] {
			if f.score >= 1 && len(out.Others) < 3 {
				out.Others = append(out.Others, cats[f.i].Code)
			}
		}
	default:
		if i, _ := c.ngrams.best(t); i >= 0 {
			cat = cats[i]
			out.Via = "paraphrase"
		} else if i := c.namedDepartmentCategory(t, named); i >= 0 {
			// No keyword, but the request names who it is about (水务的师傅):
			// that department's closest category, not a stranger's.
			cat = cats[i]
			out.Via = "similarity"
		} else if i, score := c.index.best(t); i >= 0 && score >= minSimilarity {
			cat = cats[i]
			out.Via = "similarity"
		} else {
			cat = c.fallback
			out.Via = "default"
		}
	}
	out.Category = cat.Code
	out.Department = cat.Department
	for d := range named {
		if d != cat.Department && cat.Owns(d) {
			out.Department = d
		}
	}
}

// hazardFirst moves to the front the best-scored category a hazard of the
// request is filed under, unless the leading category is itself such a
// category or has an emergency cue of its own: a hazard to life or property
// is the main issue of the request, whatever else it mentions in passing
// (the bus stop beside a collapsed road, the car park a child is locked in).
func (c *Classifier) hazardFirst(r *request, n int, cat func(int) int, swap func(a, b int)) {
	if len(r.filing) == 0 || n == 0 {
		return
	}
	cats := c.tax.Categories()
	hazardCat := func(i int) bool {
		code := cats[cat(i)].Code
		return slices.ContainsFunc(r.filing, func(h *Hazard) bool { return h.Category == code })
	}
	if hazardCat(0) {
		return
	}
	if score, _ := c.presentScore(r, c.emerg[cat(0)]); score > 0 {
		return
	}
	for i := 1; i < n; i++ {
		if hazardCat(i) {
			for j := i; j > 0; j-- {
				swap(j, j-1)
			}
			return
		}
	}
}

// interruptionFirst moves to the front the best-scored category of a
// service interruption (a category whose least urgency lies between normal
// and emergency, such as 停电 or 停水) when the request states an
// interruption (a cue of such an urgency) and the leading category is none:
// the outage is the main issue, what it looks like (黑灯瞎火, the lift
// stopped) follows from it.
func (c *Classifier) interruptionFirst(r *request, n int, cat func(int) int, score func(int) float64, swap func(a, b int)) bool {
	if n < 2 {
		return false
	}
	cats := c.tax.Categories()
	between := func(u string) bool { return u != "" && u != UrgencyNormal && u != UrgencyEmergency }
	interruption := func(i int) bool { return c.interruption(cats[cat(i)].Code) }
	if interruption(0) {
		return false
	}
	stated := false
	for j, u := range c.tax.Urgencies {
		if between(u.ID) {
			s, _, _ := c.urgent[j].score(r, 0, nil)
			stated = stated || s >= 1
		}
	}
	if !stated {
		return false
	}
	for i := 1; i < n; i++ {
		if interruption(i) && score(i) >= 1 {
			for j := i; j > 0; j-- {
				swap(j, j-1)
			}
			return true
		}
	}
	return false
}

// namedDepartmentCategory is, when the request names exactly one
// department, the category it leads that is most like the text (its first
// when none is), else -1.
func (c *Classifier) namedDepartmentCategory(t text, named map[string]bool) int {
	if len(named) != 1 {
		return -1
	}
	cats := c.tax.Categories()
	leads := func(i int) bool { return named[cats[i].Department] }
	if i, score := c.index.bestWhere(t, leads); i >= 0 && score > 0 {
		return i
	}
	for i := range cats {
		if leads(i) {
			return i
		}
	}
	return -1
}

// namedDepartments are the departments the request names, in a clause
// that counts fully and not as a place (社区门口 names a place).
func (c *Classifier) namedDepartments(r *request) map[string]bool {
	named := map[string]bool{}
	for i, m := range c.depts {
		if score, _, _ := m.score(r, 0, c.landmark); score >= 1 {
			named[c.tax.Departments[i].ID] = true
		}
	}
	return named
}

func (c *Classifier) classifyUrgency(r *request, out *Classification) {
	cat, _ := c.tax.Category(out.Category)
	urgency := cat.Urgency
	if out.Via != "keywords" && urgency == UrgencyEmergency {
		// A category found by similarity alone is a guess: its emergency
		// needs the text's cues (hazards, urgency keywords) to apply.
		urgency = UrgencyNormal
	}
	out.urgencyEvidence = map[string]bool{urgency: true}
	for i, cs := range c.tax.Categories() {
		if cs.Code != cat.Code {
			continue
		}
		if urgency == UrgencyEmergency {
			// A category that is an emergency in itself (a crash, a gas
			// leak) is one only where its words tell of now: not of the
			// past, a drill, the news or a fear ("万一哪天漏气").
			if score, _ := c.presentScore(r, c.cats[i]); score == 0 {
				urgency = UrgencyNormal
				out.urgencyEvidence = map[string]bool{urgency: true}
			}
		}
		if score, cues := c.presentScore(r, c.emerg[i]); score > 0 {
			urgency = c.tax.moreUrgent(urgency, UrgencyEmergency)
			out.UrgencyCues = append(out.UrgencyCues, cues...)
			out.urgencyEvidence[UrgencyEmergency] = true
		}
	}
	for i, h := range c.hazardDefs {
		if slices.Contains(r.hazards, h) {
			u := c.hazardUrgency[i]
			out.urgencyEvidence[u] = true
			if more := c.tax.moreUrgent(urgency, u); more != urgency {
				urgency = more
			}
			out.UrgencyCues = append(out.UrgencyCues, "hazard: "+h.Name)
		}
	}
	for i, u := range c.tax.Urgencies {
		score, cues, _ := c.urgent[i].score(r, 0, nil)
		if u.ID == UrgencyEmergency {
			// An emergency's words count where they tell of now.
			score, cues = c.presentScore(r, c.urgent[i])
		}
		if score > 0 {
			out.urgencyEvidence[u.ID] = true
			if more := c.tax.moreUrgent(urgency, u.ID); more != urgency {
				urgency = more
				out.UrgencyCues = append(out.UrgencyCues, cues...)
			}
		}
	}
	// A hazard to life or property is never capped by the request's type:
	// a suggestion or a thank-you that tells of one is as urgent as it.
	out.capLifted = len(r.hazards) > 0
	for i, ty := range c.tax.Types {
		if ty.ID == out.Type && !out.capLifted {
			out.capLifted = c.capLifted(r, i, urgency == UrgencyEmergency)
		}
	}
	if ty, ok := c.tax.Type(out.Type); ok && !out.capLifted && ty.MaxUrgency != "" && c.tax.moreUrgent(urgency, ty.MaxUrgency) == urgency && urgency != ty.MaxUrgency {
		urgency = ty.MaxUrgency
		out.UrgencyCues = nil
	}
	out.Urgency = urgency
}

// simIndex ranks categories by lexical similarity to a request: Chinese
// character bigrams and English words of each category's names and
// keywords, weighted by inverse document frequency over the categories.
type simIndex struct {
	docs []map[string]bool
	idf  map[string]float64
}

func newSimIndex(t *Taxonomy) simIndex {
	ix := simIndex{idf: map[string]float64{}}
	df := map[string]int{}
	for _, c := range t.Categories() {
		terms := map[string]bool{}
		for _, s := range append([]string{c.Name, c.NameZh, c.Path}, c.Keywords...) {
			for _, term := range simTerms(normalize(s)) {
				terms[term] = true
			}
		}
		for term := range terms {
			df[term]++
		}
		ix.docs = append(ix.docs, terms)
	}
	n := float64(len(ix.docs))
	for term, d := range df {
		ix.idf[term] = math.Log(1 + n/float64(d))
	}
	return ix
}

// best returns the most similar category's index and its score (-1 if none).
func (ix simIndex) best(t text) (int, float64) { return ix.bestWhere(t, nil) }

// score is category i's similarity to t.
func (ix simIndex) score(t text, i int) float64 {
	seen := map[string]bool{}
	score := 0.0
	for _, term := range simTerms(t.norm) {
		if !seen[term] && ix.docs[i][term] {
			seen[term] = true
			score += ix.idf[term]
		}
	}
	return score
}

// bestWhere is best among the categories ok admits (nil: all).
func (ix simIndex) bestWhere(t text, ok func(int) bool) (int, float64) {
	q := map[string]bool{}
	for _, term := range simTerms(t.norm) {
		q[term] = true
	}
	best, bestScore := -1, 0.0
	for i, d := range ix.docs {
		if ok != nil && !ok(i) {
			continue
		}
		score := 0.0
		for term := range q {
			if d[term] {
				score += ix.idf[term]
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best, bestScore
}

// stopWords are English words too common to say which category a request
// is about.
var stopWords = map[string]bool{"the": true, "and": true, "for": true, "are": true, "was": true, "were": true, "with": true,
	"this": true, "that": true, "there": true, "have": true, "has": true, "been": true, "from": true, "our": true, "you": true,
	"your": true, "not": true, "but": true, "they": true, "their": true, "them": true, "can": true, "will": true, "would": true,
	"please": true, "since": true, "into": true, "out": true, "all": true, "any": true, "its": true, "who": true, "what": true,
	"every": true, "day": true, "had": true, "also": true, "just": true, "still": true, "some": true, "more": true, "very": true,
	"too": true, "one": true, "two": true, "then": true, "now": true, "when": true, "where": true, "how": true, "why": true,
	"which": true, "could": true, "should": true, "someone": true, "get": true, "got": true, "keep": true, "like": true,
	"make": true, "near": true, "next": true, "outside": true, "over": true, "after": true, "before": true, "about": true,
	"around": true, "here": true, "him": true, "her": true, "his": true, "she": true, "does": true, "did": true, "put": true,
	"way": true, "week": true, "weeks": true, "month": true, "months": true, "morning": true, "evening": true, "today": true,
	"yesterday": true, "again": true, "well": true, "even": true, "than": true, "these": true, "those": true, "because": true}

// simStem strips an English word's inflection for similarity.
func simStem(w string) string {
	for _, suf := range []string{"ing", "ed", "es", "s"} {
		if strings.HasSuffix(w, suf) && len(w) > len(suf)+2 {
			return strings.TrimSuffix(w, suf)
		}
	}
	return w
}

// simTerms splits s into Chinese character bigrams and English words.
func simTerms(s string) []string {
	var out []string
	var han, word []rune
	flushHan := func() {
		for i := 0; i+1 < len(han); i++ {
			out = append(out, string(han[i:i+2]))
		}
		han = han[:0]
	}
	flushWord := func() {
		if w := string(word); len(word) > 2 && !stopWords[w] {
			out = append(out, simStem(w))
		}
		word = word[:0]
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushHan()
			word = append(word, r)
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return out
}
