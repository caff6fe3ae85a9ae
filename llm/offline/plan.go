package offline

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/cityagent/cityagent/llm"
)

// How much a term counts depending on where a tool mentions it. Enum values
// count least: naming a district says which district, not which tool.
const (
	weightName     = 3.0
	weightDesc     = 2.0
	weightProperty = 1.0
	weightEnum     = 0.5
	// weightPattern counts a value in the question that one of the tool's
	// patterns accepts ("S042" for ^S\d{3}$): an identifier names its tool.
	weightPattern = 2.0
)

const (
	// minScore is the unweighted score a tool needs at all: one word of its
	// description, or a Chinese bigram of it.
	minScore = 2.0
	// closeRatio keeps tools scoring at least this share of the best one.
	closeRatio = 0.45
	// maxCalls is the most tool calls one planning step makes.
	maxCalls = 3
	// followUpTerms: a question with at most this many content terms may be a
	// follow-up ("and why?", "那原因呢？") and borrows the latest earlier
	// question that some tool fits.
	followUpTerms = 6
	// maxPattern bounds the patterns compiled from a schema.
	maxPattern = 512
)

// toolDoc is a tool as the planner sees it. It is built once per distinct
// spec and only read afterwards, so calls share it.
type toolDoc struct {
	spec     llm.ToolSpec
	terms    map[string]float64 // term → the heaviest place the tool mentions it
	props    []property
	alts     [][]string // alternative sets of required properties (anyOf/oneOf)
	callable bool
}

func indexTool(spec llm.ToolSpec) *toolDoc {
	d := &toolDoc{spec: spec, terms: map[string]float64{}}
	add := func(text string, w float64) {
		for _, t := range tokenize(text) {
			if w > d.terms[t] {
				d.terms[t] = w
			}
		}
	}
	add(splitIdent(spec.Name), weightName)
	add(spec.Description, weightDesc)
	d.props, d.alts, d.callable = readParams(spec.Parameters)
	for i := range d.props {
		p := &d.props[i]
		p.prepare()
		add(splitIdent(p.name), weightProperty)
		if p.s == nil {
			continue
		}
		add(p.s.Title+" "+p.s.Description, weightProperty)
		for _, c := range p.choices {
			add(splitIdent(c.text)+" "+c.desc, weightEnum)
		}
	}
	return d
}

// prepare derives what filling the property needs from its schema.
func (p *property) prepare() {
	s := p.s
	if s == nil {
		return
	}
	p.choices = s.choices()
	for i := range p.choices {
		p.choices[i].terms = choiceTerms(p.choices[i])
	}
	p.words = withConcepts(termSet(splitIdent(p.name) + " " + s.Title + " " + s.Description))
	p.numeric = (s.is("integer") || s.is("number")) && len(p.choices) == 0
	if s.Pattern != "" && len(s.Pattern) <= maxPattern {
		p.full, p.loose = compilePattern(s.Pattern)
	}
	if p.required && s.is("string") && len(p.choices) == 0 && s.Pattern == "" {
		p.freeText = p.name == "q"
		for t := range p.words {
			p.freeText = p.freeText || freeTextTerms[t]
		}
	}
}

// patternIn reports whether one of the tool's patterns finds a value in text.
func (d *toolDoc) patternIn(text string) bool {
	for i := range d.props {
		if _, ok := d.props[i].findPattern(text); ok {
			return true
		}
	}
	return false
}

// splitIdent turns traffic_congestion, traffic.congestion and
// trafficCongestion into words.
func splitIdent(s string) string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		switch {
		case r == '_' || r == '.' || r == '-' || r == '/':
			b.WriteByte(' ')
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte(' ')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// scored is a tool's match against a question.
type scored struct {
	doc      *toolDoc
	raw      float64 // how well it matches
	weighted float64 // the same with terms many tools share discounted, for ranking
}

func rank(docs []*toolDoc, question string) []scored {
	q := termSet(question)
	df := make(map[string]int, len(q))
	for t := range q {
		for _, d := range docs {
			if d.terms[t] > 0 {
				df[t]++
			}
		}
	}
	var out []scored
	for _, d := range docs {
		s := scored{doc: d}
		if d.patternIn(question) {
			s.raw += weightPattern
			s.weighted += weightPattern
		}
		for t := range q {
			fw := d.terms[t]
			if fw == 0 {
				continue
			}
			w := termWeight(t) * fw
			s.raw += w
			s.weighted += w / (1 + math.Log(float64(df[t])))
		}
		if s.raw >= minScore {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].weighted != out[j].weighted {
			return out[i].weighted > out[j].weighted
		}
		return out[i].doc.spec.Name < out[j].doc.spec.Name
	})
	return out
}

// need names the tool that fits a question best but lacks required
// arguments, so that the answer can ask for them.
type need struct {
	tool string
	args []property
}

// plan chooses tool calls for question. Only user text reaches it: never a
// document, a tool result or a system prompt, so quoted data cannot steer it.
// When it calls nothing because the best tool lacks arguments, it says which.
func plan(question string, earlier []string, docs []*toolDoc) ([]llm.ToolCall, *need) {
	if len(docs) == 0 {
		return nil, nil
	}
	texts := []string{question}
	ranked := rank(docs, question)
	if len(ranked) == 0 && contentTerms(question) <= followUpTerms {
		for _, e := range earlier {
			if ranked = rank(docs, question+"\n"+e); len(ranked) > 0 {
				texts = append(texts, e)
				break
			}
		}
	}
	srcs := make([]source, len(texts))
	for i, t := range texts {
		srcs[i] = source{text: t, terms: termSet(t), numbers: numberMentions(t)}
	}
	var calls []llm.ToolCall
	var blocked *need
	for _, s := range ranked {
		if len(calls) == maxCalls || s.weighted < closeRatio*ranked[0].weighted {
			break
		}
		args, missing, ok := fillArgs(s.doc, srcs)
		if !ok {
			if blocked == nil && len(missing) > 0 {
				blocked = &need{tool: s.doc.spec.Name, args: missing}
			}
			continue
		}
		calls = append(calls, llm.ToolCall{ID: fmt.Sprintf("call_%d", len(calls)+1), Name: s.doc.spec.Name, Arguments: args})
	}
	if len(calls) > 0 {
		return calls, nil
	}
	return nil, blocked
}

// contentTerms counts the words and Chinese bigrams of s that carry meaning.
func contentTerms(s string) int {
	n := 0
	for t := range termSet(s) {
		if !isSingleHan(t) {
			n++
		}
	}
	return n
}

// source is a text arguments are taken from, read once per planning step.
type source struct {
	text    string
	terms   map[string]bool
	numbers []mention
}

// fillArgs builds a tool's arguments from srcs (the question first, then
// the question it follows up, if any). ok is false when a required argument
// has no value (those are listed in missing) or the schema is unreadable.
func fillArgs(d *toolDoc, srcs []source) (args json.RawMessage, missing []property, ok bool) {
	if !d.callable {
		return nil, nil, false
	}
	vals := map[string]any{}
	for name, v := range fillNumbers(d.props, srcs) {
		vals[name] = v
	}
	for name, v := range fillChoices(d.props, srcs) {
		vals[name] = v
	}
	for _, p := range d.props {
		if _, done := vals[p.name]; done {
			continue
		}
		var v any
		found := false
		if p.s != nil {
			v, found = p.fill(srcs)
		}
		switch {
		case found:
			vals[p.name] = v
		case p.required:
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 && len(d.alts) > 0 {
		missing = d.missingAlternative(vals)
	}
	if len(missing) > 0 {
		return nil, missing, false
	}
	raw, err := json.Marshal(vals)
	if err != nil {
		return nil, nil, false
	}
	return raw, nil, true
}

// missingAlternative returns nothing when vals satisfy one of the tool's
// alternative required sets, else what the first set lacks.
func (d *toolDoc) missingAlternative(vals map[string]any) []property {
	var first []property
	for i, set := range d.alts {
		var lack []property
		for _, name := range set {
			if _, ok := vals[name]; !ok {
				lack = append(lack, d.property(name))
			}
		}
		if len(lack) == 0 {
			return nil
		}
		if i == 0 {
			first = lack
		}
	}
	return first
}

func (d *toolDoc) property(name string) property {
	for _, p := range d.props {
		if p.name == name {
			return p
		}
	}
	return property{name: name}
}

// fill finds one argument's value; numbers and enum values are filled beforehand.
func (p *property) fill(srcs []source) (any, bool) {
	s := p.s
	if present(s.Const) {
		return s.Const, true
	}
	if len(p.choices) == 0 && (s.is("string") || len(s.types()) == 0) {
		for _, src := range srcs {
			if v, ok := p.findString(src.text); ok {
				return v, true
			}
		}
	}
	if present(s.Default) {
		return s.Default, true
	}
	if p.freeText {
		return srcs[0].text, true
	}
	return nil, false
}

// named is an enum value a question names, with the question's terms that name it.
type named struct {
	prop   *property
	choice int
	src    int
	terms  []string
	weight float64
}

// fillChoices picks the enum values the question names. When two arguments
// are named by the same words ("高新区" names the district gaoxin and, by its
// first two characters, the road gaoxin_ave), the argument named by more of
// the question's words keeps them.
func fillChoices(props []property, srcs []source) map[string]any {
	var found []named
	for i := range props {
		p := &props[i]
		if p.s == nil || len(p.choices) == 0 || present(p.s.Const) {
			continue
		}
		for si, src := range srcs {
			if c, terms, ok := pickChoice(p.choices, src.terms); ok {
				n := named{prop: p, choice: c, src: si, terms: terms}
				for _, t := range terms {
					n.weight += termWeight(t)
				}
				found = append(found, n)
				break
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		switch {
		case a.src != b.src:
			return a.src < b.src
		case a.weight != b.weight:
			return a.weight > b.weight
		}
		return a.prop.name < b.prop.name
	})
	type claim struct {
		src  int
		term string
	}
	claimed := map[claim]float64{}
	out := map[string]any{}
	for _, n := range found {
		covered := true
		for _, t := range n.terms {
			if claimed[claim{n.src, t}] <= n.weight {
				covered = false
			}
		}
		if covered {
			continue
		}
		out[n.prop.name] = n.prop.choices[n.choice].value
		for _, t := range n.terms {
			claimed[claim{n.src, t}] = max(claimed[claim{n.src, t}], n.weight)
		}
	}
	return out
}

// pickChoice returns the enum value the question names, if exactly one is
// named best, and the question's terms that name it. Terms shared by many
// values ("district", "城区") count little.
func pickChoice(cs []choice, q map[string]bool) (int, []string, bool) {
	df := map[string]int{}
	for _, c := range cs {
		for t := range c.terms {
			df[t]++
		}
	}
	best, bestScore, second := -1, 0.0, 0.0
	for i, c := range cs {
		score := 0.0
		for t := range c.terms {
			if q[t] {
				score += math.Log(1 + float64(len(cs))/float64(df[t]))
			}
		}
		switch {
		case score > bestScore:
			best, bestScore, second = i, score, bestScore
		case score > second:
			second = score
		}
	}
	if best < 0 || bestScore == second {
		return 0, nil, false
	}
	var terms []string
	for t := range cs[best].terms {
		if q[t] {
			terms = append(terms, t)
		}
	}
	sort.Strings(terms)
	return best, terms, true
}

// choiceTerms are the terms naming an enum value. Single Chinese characters
// are too ambiguous to name a value unless they are all there is.
func choiceTerms(c choice) map[string]bool {
	all := termSet(splitIdent(c.text) + " " + c.desc)
	out := map[string]bool{}
	for t := range all {
		if !isSingleHan(t) {
			out[t] = true
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

var dateRE = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)

// findString extracts a string argument by its pattern or format.
func (p *property) findString(text string) (string, bool) {
	if p.s.Pattern != "" {
		return p.findPattern(text)
	}
	if p.s.Format == "date" {
		if m := dateRE.FindString(text); m != "" {
			return m, true
		}
	}
	return "", false
}

// compilePattern compiles a schema pattern as written (full) and as a
// case-insensitive search without anchors (loose); nil when it is not a
// pattern Go's regexp accepts.
func compilePattern(pattern string) (full, loose *regexp.Regexp) {
	full, err := regexp.Compile(pattern)
	if err != nil {
		return nil, nil
	}
	inner := strings.TrimPrefix(pattern, "^")
	if strings.HasSuffix(inner, "$") && !strings.HasSuffix(inner, `\$`) {
		inner = strings.TrimSuffix(inner, "$")
	}
	loose, err = regexp.Compile("(?i)(?:" + inner + ")")
	if err != nil {
		return nil, nil
	}
	return full, loose
}

// findPattern finds a value matching the property's pattern inside text,
// ignoring case ("s042" for ^S\d{3}$) and then restoring a case the pattern
// accepts. Plain lower-case words are never taken: a loose pattern like
// ^[a-z]+$ would otherwise match any word of the question.
func (p *property) findPattern(text string) (string, bool) {
	if p.loose == nil {
		return "", false
	}
	for _, loc := range p.loose.FindAllStringIndex(text, 16) {
		if loc[0] == loc[1] || !wordBoundary(text, loc[0], loc[1]) {
			continue
		}
		m := text[loc[0]:loc[1]]
		if !distinctive(m) {
			continue
		}
		for _, v := range []string{m, strings.ToUpper(m), strings.ToLower(m)} {
			if p.full.MatchString(v) {
				return v, true
			}
		}
	}
	return "", false
}

// distinctive reports whether a pattern match looks like an identifier the
// user typed (it has a digit or a capital letter) rather than a plain word.
func distinctive(m string) bool {
	for _, r := range m {
		if unicode.IsDigit(r) || unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// freeTextTerms mark a string property meant for the user's own words.
var freeTextTerms = setOf([]string{"query", "keyword", "search", "text", "quest", "关键", "查询", "问题", "搜索", "检索"})
