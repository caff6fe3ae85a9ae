package offline

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
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
	spec   llm.ToolSpec
	terms  map[string]float64 // term → the heaviest place the tool mentions it
	filter map[string]bool    // terms of its entity properties (district, road…) and their values: which one it looks at
	// named: the terms of those properties' values only (nanhu, jiefang):
	// the kind's own word ("buildings", "a road") names no entity.
	named    map[string]bool
	props    []property
	alts     [][]string // alternative sets of required properties (anyOf/oneOf)
	callable bool
}

func indexTool(spec llm.ToolSpec) *toolDoc {
	d := &toolDoc{spec: spec, terms: map[string]float64{}, filter: map[string]bool{}, named: map[string]bool{}}
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
		place := lex().propKinds[p.name] != "" // a district, road, permit…: which one, not what
		if place {
			d.addFilter(splitIdent(p.name))
		}
		if p.s == nil {
			continue
		}
		add(p.s.Title+" "+p.s.Description, weightProperty)
		for _, c := range p.choices {
			add(splitIdent(c.text)+" "+c.desc, weightEnum)
			if place {
				d.addFilter(splitIdent(c.text) + " " + c.desc)
				for _, t := range tokenize(splitIdent(c.text) + " " + c.desc) {
					d.named[t] = true
				}
			}
		}
	}
	return d
}

func (d *toolDoc) addFilter(text string) {
	for _, t := range tokenize(text) {
		d.filter[t] = true
	}
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
		p.choices[i].termList = sortedTerms(p.choices[i].terms)
	}
	weighChoices(p.choices)
	p.words = withConcepts(termSet(splitIdent(p.name) + " " + s.Title + " " + s.Description))
	p.numeric = (s.is("integer") || s.is("number")) && len(p.choices) == 0
	if s.Pattern != "" && len(s.Pattern) <= maxPattern {
		p.full, p.loose = compilePattern(s.Pattern)
	}
	p.ident = identOf(p)
	p.window, _ = p.describedWindow()
	if p.required && s.is("string") && len(p.choices) == 0 && s.Pattern == "" {
		p.freeText = p.name == "q"
		for t := range p.words {
			p.freeText = p.freeText || freeTextTerms[t]
		}
	}
}

// patternIn reports whether one of the tool's patterns or identifiers finds
// a value in text, whose id cues are given.
func (d *toolDoc) patternIn(text string, cues []idCue) bool {
	if d.identIn(text, cues) {
		return true
	}
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
	// subject: the question names what the tool gives (a word of its name
	// or description that is not a property or a value), or an identifier
	// it takes — not only a value it filters by ("Nanhu district").
	subject bool
}

// weightExpanded is how much a term counts that the question does not hold
// but one of its aliases or glossary entries brings.
const weightExpanded = 0.5

func rank(docs []*toolDoc, question string) []scored {
	return rankTerms(docs, question, planTerms(question, termSet(question)))
}

// terms are a text's own terms and those its aliases add (extra, which
// holds no own term), kept apart so that each counts its own weight.
type terms struct{ own, extra map[string]bool }

func (ts terms) has(t string) bool { return ts.own[t] || ts.extra[t] }

// rankTerms is rank for a question whose terms are known.
func rankTerms(docs []*toolDoc, question string, ts terms) []scored {
	own := ts.own
	df := make(map[string]int, len(own)+len(ts.extra))
	for _, set := range []map[string]bool{own, ts.extra} {
		for t := range set {
			for _, d := range docs {
				if d.terms[t] > 0 {
					df[t]++
				}
			}
		}
	}
	var out []scored
	cues := idCues(question)
	for _, d := range docs {
		s := scored{doc: d}
		if d.patternIn(question, cues) {
			s.raw += weightPattern
			s.weighted += weightPattern
			s.subject = true
		}
		// Summed in fixed point: integer sums do not depend on the order
		// the map gives the terms in, so ties break the same in every run.
		var raw, weighted, extraRaw, extraWeighted int64
		for t := range own {
			if fw := d.terms[t]; fw > 0 {
				s.subject = s.subject || !d.filter[t] && !isSingleHan(t)
				w := termWeight(t) * fw
				raw += fixed(w)
				weighted += fixed(w / (1 + math.Log(float64(df[t]))))
			}
		}
		for t := range ts.extra {
			if fw := d.terms[t]; fw > 0 {
				s.subject = s.subject || !d.filter[t] && !isSingleHan(t)
				w := termWeight(t) * fw * weightExpanded
				extraRaw += fixed(w)
				extraWeighted += fixed(w / (1 + math.Log(float64(df[t]))))
			}
		}
		// Aliases reinforce a tool the question's own words fit; they never
		// make one fit on their own, nor more than double its score.
		s.raw += unfixed(raw + min(extraRaw, raw))
		s.weighted += unfixed(weighted + min(extraWeighted, weighted))
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

// fixedScale is the resolution of fixed-point score sums.
const fixedScale = 1 << 30

func fixed(w float64) int64   { return int64(math.Round(w * fixedScale)) }
func unfixed(v int64) float64 { return float64(v) / fixedScale }

// need names the tool that fits a question best but lacks required
// arguments, so that the answer can ask for them.
type need struct {
	tool string
	args []property
}

// plan chooses tool calls for question. Only user text reaches it: never a
// document, a tool result or a system prompt, so quoted data cannot steer it.
// A question (not a request) is never offered the propose_ tools, and text
// the user quotes neither ranks tools nor fills arguments, except the
// free-text ones. When it calls nothing because the best tool lacks
// arguments, it says which.
func plan(question string, earlier, answers []string, seen []llm.DataBlock, docs []*toolDoc) ([]llm.ToolCall, *need) {
	if len(docs) == 0 {
		return nil, nil
	}
	rd := readMessage(question)
	own := strings.TrimSpace(rd.own)
	first := newSource(own)
	first.full = question
	srcs := []source{first}
	ranked := rankTerms(docs, own, first.terms)
	// "And in Gaoxin over the same period?": the window the earlier
	// message named ranks no tool; entitySources fills it from there.
	bare := lex().withoutWindowRefs(own)
	if bare != own {
		ranked = rank(docs, bare)
	}
	if len(ranked) == 0 && contentTerms(bare) <= followUpTerms {
		for _, e := range earlier {
			if ranked = rank(docs, bare+"\n"+e); len(ranked) > 0 {
				srcs = append(srcs, newSource(e))
				break
			}
		}
	}
	if lex().namesConcept(own) && !lex().isLive(own) {
		ranked = withSubject(ranked)
	}
	srcs = append(srcs, entitySources(own, earlier[min(len(earlier), len(srcs)-1):], answers)...)
	if rd.act == actRequest && len(srcs) == 1 && pointsBack(own, earlier) {
		// "OK, dispatch it to them." after the citizen's words: the user's
		// own earlier message says what the action is about (the request,
		// its place, the department its words name) and is the request text;
		// what an answer quoted never is.
		srcs = append(srcs, newSource(earlier[0]))
		srcs[0].full = earlier[0]
	}
	if s, ok := seenSource(own, seen); ok {
		srcs = append(srcs, s)
	}
	if rd.act != actRequest {
		// Dropped after ranking, so that a tool ranking far below the
		// action the words fit best is not called in its place.
		return pick(withoutActions(ranked, own), srcs)
	}
	calls, blocked := pick(ranked, srcs)
	if len(calls) == 0 && blocked != nil && isAction(blocked.tool) {
		// The action lacks what live data may give ("the most congested
		// corridor"): look it up first; followOn proposes next step.
		var data []scored
		for _, s := range ranked {
			if !isAction(s.doc.spec.Name) {
				data = append(data, s)
			}
		}
		if lookups, _ := pick(data, srcs); len(lookups) > 0 {
			return lookups, nil
		}
		// "Send a tow truck there." after "Which segment is the most
		// congested?": the earlier question's lookup is run again, and
		// followOn proposes on what it finds, as for a request in one message.
		if pointsBack(own, earlier) {
			if lookups, _ := pick(withoutActions(rank(docs, earlier[0]), earlier[0]), []source{newSource(earlier[0])}); len(lookups) > 0 {
				return lookups, nil
			}
		}
	}
	return calls, blocked
}

// withSubject drops the tools a question names only by what they filter
// on, for a question about a city concept of the glossary without a word of
// live data: "What is the population of Nanhu district?" names the district
// every live tool takes, but asks for none of them ("…today" would).
func withSubject(ranked []scored) []scored {
	out := ranked[:0:0]
	for _, s := range ranked {
		if s.subject {
			out = append(out, s)
		}
	}
	return out
}

// pick calls the tools that rank close to the best, in rank order, with the
// arguments srcs give them.
func pick(ranked []scored, srcs []source) ([]llm.ToolCall, *need) {
	var calls []llm.ToolCall
	var blocked *need
	for _, s := range ranked {
		if len(calls) == maxCalls || s.weighted < closeRatio*ranked[0].weighted {
			break
		}
		if s.doc == nil {
			continue // the bar left by withoutActions
		}
		args, missing, ok := fillArgs(s.doc, forTool(s.doc, srcs))
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

// actionPrefix starts the name of every tool that proposes a governed action.
const actionPrefix = "propose_"

func isAction(name string) bool { return strings.HasPrefix(name, actionPrefix) }

// withoutActions drops the propose_ tools from a ranking, keeping the best
// score as the bar the others are measured against — unless the question
// names an identifier a remaining tool takes ("Is a crew already on
// S042?"): then the question is about that entity's live data.
func withoutActions(ranked []scored, question string) []scored {
	if len(ranked) == 0 {
		return nil
	}
	out := []scored{{weighted: ranked[0].weighted}}
	cues := idCues(question)
	for _, s := range ranked {
		if isAction(s.doc.spec.Name) {
			continue
		}
		if len(out) == 1 && s.doc.patternIn(question, cues) {
			out[0].weighted = s.weighted
		}
		out = append(out, s)
	}
	return out
}

// planTerms are what the planner matches tools against: the terms of the
// user's words (own) with those of the aliases and period words they name.
func planTerms(s string, own map[string]bool) terms {
	ranking, _ := lex().expansions(s, own)
	return withExtra(own, ranking+periodWords(s))
}

// withExtra is own with the terms of text it lacks as extra.
func withExtra(own map[string]bool, text string) terms {
	ts := terms{own: own}
	for _, t := range tokenize(text) {
		if !own[t] {
			if ts.extra == nil {
				ts.extra = map[string]bool{}
			}
			ts.extra[t] = true
		}
	}
	return ts
}

// newSource reads a text once for ranking and filling: its terms with the
// aliases that rank tools (terms), and, for enum values, with every alias
// and glossary term and without the units of its numbers (choice: the 小时
// of 持续一小时 names no hour_ahead event; periods are read as written, so
// 最近一周 still names a week).
func newSource(text string) source {
	own := termSet(text)
	src := source{text: text, full: text, own: own, numbers: numberMentions(text)}
	periods := periodWords(text)
	ranking, other := lex().expansions(text, own)
	src.terms = withExtra(own, ranking+periods)
	switch bare := withoutUnits(text, src.numbers); {
	case bare != text:
		bareTerms := termSet(bare)
		r, o := lex().expansions(bare, bareTerms)
		src.choice = withExtra(bareTerms, r+o+periods)
	case other == "":
		src.choice = src.terms
	default:
		src.choice = withExtra(own, ranking+other+periods)
	}
	return src
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
// An entity source (an earlier question the current one refers back to)
// fills only the properties named in only.
type source struct {
	text    string
	full    string          // text with what it quotes, for free-text arguments
	own     map[string]bool // the terms of text
	terms   terms           // own, with the aliases that rank tools and the periods it names
	choice  terms           // with every alias, and without the units of numbers, for enum values
	numbers []mention
	only    map[string]bool
	answer  bool              // an earlier answer: fills lookups, never an action's arguments
	ids     map[string]string // identifiers by property, from earlier tool results (seen.go)
}

// fills reports whether the source may give the property a value.
func (s *source) fills(name string) bool { return s.only == nil || s.only[name] }

// fillArgs builds a tool's arguments from srcs (the question first, then
// the question it follows up, if any). ok is false when a required argument
// has no value (those are listed in missing) or the schema is unreadable.
func fillArgs(d *toolDoc, srcs []source) (args json.RawMessage, missing []property, ok bool) {
	if !d.callable {
		return nil, nil, false
	}
	vals := map[string]any{}
	for name, v := range fillNumbers(d.props, d.withoutIDNumbers(srcs)) {
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
	if len(missing) > 0 && slices.ContainsFunc(missing, func(p property) bool { return p.window != nil }) && lex().isLive(srcs[0].text) {
		// "What are the current processing times?": a window of time the
		// question about the present leaves open is the one the tool
		// describes as its usual one.
		lack := missing[:0:0]
		for _, p := range missing {
			if p.window != nil {
				vals[p.name] = p.window
			} else {
				lack = append(lack, p)
			}
		}
		if missing = lack; len(missing) == 0 && len(d.alts) > 0 {
			missing = d.missingAlternative(vals)
		}
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
			if !src.fills(p.name) {
				continue
			}
			if v, ok := src.ids[p.name]; ok && p.ident != nil {
				return v, true
			}
			if v, ok := p.findString(src.text); ok {
				return v, true
			}
		}
	}
	if present(s.Default) {
		return s.Default, true
	}
	if v, ok := p.describedDefault(); ok && p.required {
		return v, true
	}
	if p.freeText {
		return srcs[0].full, true
	}
	return nil, false
}

// describedDefault is the one enum value whose description calls it the
// default ("more_main_green: … (the recommended default)"), for a required
// choice the question leaves open.
func (p *property) describedDefault() (json.RawMessage, bool) {
	var found json.RawMessage
	for _, c := range p.choices {
		d := strings.ToLower(c.desc)
		if strings.Contains(d, "default") || strings.Contains(d, "默认") {
			if found != nil {
				return nil, false
			}
			found = c.value
		}
	}
	return found, found != nil
}

// describedWindow is the usual value a window of time describes ("Window in
// days: permits issued in the last N days (最近N天发证); omit for the last 90
// days", "…, e.g. 90"), for a question about the present that names none
// ("What are the current processing times…?", "目前办理要多久？"): any recent
// window answers it, and the one the tool's author suggests is the one to use.
func (p *property) describedWindow() (json.RawMessage, bool) {
	if p.s == nil || !p.s.is("integer") && !p.s.is("number") || !windowRE.MatchString(p.s.Description) {
		return nil, false
	}
	var usual []string
	for _, m := range usualRE.FindAllStringSubmatch(p.s.Description, -1) {
		usual = append(usual, m[1]+m[2]+m[3])
	}
	for _, ex := range append(append(usual, p.s.exampleTexts()...), describedExamples(p.s.Description)...) {
		n, err := strconv.Atoi(ex)
		if err != nil || p.s.Minimum != nil && float64(n) < *p.s.Minimum || p.s.Maximum != nil && float64(n) > *p.s.Maximum {
			continue
		}
		return json.RawMessage(ex), true
	}
	return nil, false
}

// windowRE finds a window of time in a description: "the last N days", "最近N天".
var windowRE = regexp.MustCompile(`(?i)\b(?:last|past) N\b|最近N`)

// usualRE finds the value a description gives for an omitted argument:
// "omit for the last 90 days", "默认90天", "7 when omitted".
var usualRE = regexp.MustCompile(`(?i)omit(?:ted)? for (?:the )?(?:last |past )?(\d+)|默认(\d+)|\b(\d+) when omitted`)

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
			if !src.fills(p.name) {
				continue
			}
			if c, terms, ok := pickChoice(p.choices, src.choice); ok {
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
func pickChoice(cs []choice, q terms) (int, []string, bool) {
	best, bestScore, second := -1, 0.0, 0.0
	for i, c := range cs {
		score := 0.0
		for k, t := range c.termList {
			if q.has(t) {
				score += c.idf[k]
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
	var naming []string
	for _, t := range cs[best].termList {
		if q.has(t) {
			naming = append(naming, t)
		}
	}
	return best, naming, true
}

// weighChoices gives each term of each enum value its weight, once per
// tool: terms shared by many values ("district", "城区") count little.
func weighChoices(cs []choice) {
	df := map[string]int{}
	for _, c := range cs {
		for t := range c.terms {
			df[t]++
		}
	}
	for i := range cs {
		cs[i].idf = make([]float64, len(cs[i].termList))
		for k, t := range cs[i].termList {
			cs[i].idf[k] = math.Log(1 + float64(len(cs))/float64(df[t]))
		}
	}
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

// findString extracts a string argument by its pattern or format, or as an
// identifier named in text.
func (p *property) findString(text string) (string, bool) {
	if p.ident != nil {
		if c, ok := p.findIdent(text, idCues(text)); ok {
			return c.value, true
		}
	}
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

// withoutLookups drops the calls to lookup tools — those with no required
// property, which only read data — keeping the calls that record or
// classify something the turn is for (hotline_triage).
func withoutLookups(calls []llm.ToolCall, tools []*toolDoc) []llm.ToolCall {
	byName := make(map[string]*toolDoc, len(tools))
	for _, d := range tools {
		byName[d.spec.Name] = d
	}
	out := calls[:0:0]
	for _, c := range calls {
		d := byName[c.Name]
		if d == nil || !d.lookup() {
			out = append(out, c)
		}
	}
	return out
}

// lookup reports whether the tool only reads data: no property is required.
func (d *toolDoc) lookup() bool {
	for _, p := range d.props {
		if p.required {
			return false
		}
	}
	return len(d.alts) == 0
}

// answeredShare is how much of a rules question the best document sentence
// must say, beyond fitting the question's type, for the documents alone to
// answer it.
const answeredShare = 0.4

// documentsAnswer reports whether a rules question is answered by this
// turn's passages, so that no live tool is called beside them: a question
// (not a request) of a rules type ("how long may…", "多少钱", "who is
// responsible"), or of no type in normative words ("must each stairwell
// keep one running?"), with no word of live data and no entity a tool looks at
// (a district, a road, an identifier), whose best sentence fits its type and
// says at least answeredShare of it. "同一个用户一个季度最多调用多少次" is a
// rule; "How long has the crash on Jiefang Road been there?" is not.
func documentsAnswer(t turn, tools []*toolDoc) bool {
	if len(t.docs) == 0 {
		return false
	}
	rd := readMessage(t.question)
	if rd.act == actRequest {
		return false
	}
	own := withoutFrames(rd.own)
	types := askedTypes(own, t.earlier)
	normative := lex().isNormative(own)
	// A question of no type asks what a rule requires when its words are
	// normative: "Must each stairwell still keep one running?".
	if len(types) == 0 && !normative || lex().isLive(own) {
		return false
	}
	for _, a := range types {
		if !a.Rules && !normative {
			return false
		}
	}
	terms := termSet(own)
	cues := idCues(own)
	for _, d := range tools {
		if d.patternIn(own, cues) {
			return false
		}
		for t := range terms {
			if d.named[t] && !isSingleHan(t) {
				return false
			}
		}
	}
	quotes := pickSentences(own, nil, types, t.docs)
	if len(quotes) == 0 {
		return false
	}
	// Measured against the question's terms that some passage says, as the
	// sentence picker's bar is: a colloquial question's other words cannot
	// be met by any sentence.
	bar := fitBonus*totalWeight(terms) + answeredShare*max(totalWeight(saidTerms(terms, t.docs)), 1)
	return (len(types) == 0 || fitsAny(types, quotes[0].text, strings.ToLower(own))) && quotes[0].score >= bar
}
