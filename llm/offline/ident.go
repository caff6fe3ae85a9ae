package offline

import (
	"regexp"
	"strings"
	"unicode"
)

// An identifier argument (segment_id, permit_id, building_id) is filled from
// what the schema says of the source's own ids, not from the demo city's:
// its pattern, the shape of the examples its description gives ("e.g.
// 1309", "Valid ids: 1309–88", the examples keyword), and a noun the
// question writes right before a token ("segment 1309", "permit no.
// 100900001", "路段1309", "许可证号100900001"). A token after a noun is an id
// only when the noun names the property, so the numbers of "the 10 worst"
// and "3000 kW" stay quantities.

// ident is what the planner knows of an identifier property.
type ident struct {
	nouns []string       // English nouns naming it, lower-case: segment, permit
	han   []string       // Chinese nouns naming it: 路段, 许可证
	shape *regexp.Regexp // the shape of its examples, when it has no pattern
	// bare: the shape is distinctive enough to take a token without a noun
	// (chi-lsd-nb-1 is; 1309 is not, it could be a quantity).
	bare bool
}

// idCue is a token holding a digit, with the noun written right before it.
type idCue struct {
	noun       string // the ASCII word before it, lower-case, without a plural s
	han        string // the Chinese characters right before it
	value      string
	start, end int // rune offsets
}

// idFillers may stand between a noun and its id: "segment id 1309", "permit no. 5".
var idFillers = setOf([]string{"id", "no", "number", "num", "code", "ids", "nr"})

// hanFillers may stand between a Chinese noun and its id: 路段编号1309, 许可证号5.
var hanFillers = []string{"编号", "编码", "号码", "号", "的"}

var (
	exampleRE = regexp.MustCompile(`(?i)(?:e\.g\.|for example|such as|例如|如)[:：]?\s*([A-Za-z0-9][A-Za-z0-9_\-./]*[A-Za-z0-9]|[0-9])`)
	rangeRE   = regexp.MustCompile(`(?i)valid ids?[^:：]*[:：]\s*([A-Za-z0-9_\-./]+?)\s*[–—~]\s*([A-Za-z0-9_\-./]*[A-Za-z0-9])`)
	hanNounRE = regexp.MustCompile(`(\p{Han}{2,6}?)(?:编号|编码|号码|号)`)
)

// identOf reads an identifier property; nil when p is not one.
func identOf(p *property) *ident {
	s := p.s
	if s == nil || len(p.choices) > 0 || !(s.is("string") || len(s.types()) == 0) {
		return nil
	}
	words := strings.Fields(strings.ToLower(splitIdent(p.name)))
	if len(words) < 2 || !idFillers[words[len(words)-1]] {
		return nil
	}
	id := &ident{}
	for _, w := range words[:len(words)-1] {
		id.nouns = appendNew(id.nouns, singular(w))
	}
	desc := s.Title + " " + s.Description
	if w := wordBefore(desc); w != "" {
		id.nouns = appendNew(id.nouns, w)
	}
	for _, m := range hanNounRE.FindAllStringSubmatch(desc, -1) {
		id.han = appendNew(id.han, m[1])
	}
	if p.full == nil {
		id.shape, id.bare = exampleShape(append(s.exampleTexts(), describedExamples(desc)...))
	}
	return id
}

// wordBefore is the noun a description puts before "id" or "number" ("Road
// segment id (…)" → segment).
func wordBefore(desc string) string {
	ws := strings.Fields(strings.ToLower(desc))
	for i := 1; i < len(ws) && i < 6; i++ {
		if w := strings.Trim(ws[i], ".,;:()"); idFillers[w] {
			return singular(strings.Trim(ws[i-1], ".,;:()"))
		}
	}
	return ""
}

// exampleTexts are the string values of the examples keyword.
func (s *schema) exampleTexts() []string {
	var out []string
	for _, raw := range s.Examples {
		if present(raw) {
			out = append(out, valueText(raw))
		}
	}
	return out
}

// describedExamples are the ids a description gives as examples or as a range.
func describedExamples(desc string) []string {
	var out []string
	for _, m := range exampleRE.FindAllStringSubmatch(desc, 4) {
		out = append(out, m[1])
	}
	if m := rangeRE.FindStringSubmatch(desc); m != nil {
		out = append(out, m[1], m[2])
	}
	return out
}

// exampleShape is a pattern every example fits, built from the first one:
// each run of digits, lower-case or upper-case letters becomes its class.
// It is nil when the examples disagree or give nothing to go on.
func exampleShape(examples []string) (*regexp.Regexp, bool) {
	if len(examples) == 0 || !hasDigit(examples[0]) {
		return nil, false
	}
	var b strings.Builder
	b.WriteString("^")
	var last string
	letters := false
	for _, r := range examples[0] {
		class := string(r)
		switch {
		case r >= '0' && r <= '9':
			class = `\d+`
		case r >= 'a' && r <= 'z':
			class, letters = `[a-z]+`, true
		case r >= 'A' && r <= 'Z':
			class, letters = `[A-Z]+`, true
		default:
			class = regexp.QuoteMeta(class)
		}
		run := class == `\d+` || class == `[a-z]+` || class == `[A-Z]+`
		if !run || class != last {
			b.WriteString(class)
		}
		last = class
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, false
	}
	for _, e := range examples[1:] {
		if !re.MatchString(e) {
			return nil, false
		}
	}
	return re, letters
}

// idCues finds the tokens of text that hold a digit, with the noun before each.
func idCues(text string) []idCue {
	if !hasDigit(text) {
		return nil
	}
	rs := []rune(text)
	var out []idCue
	for i := 0; i < len(rs); {
		if !isIDRune(rs[i]) {
			i++
			continue
		}
		j := i
		for j < len(rs) && (isIDRune(rs[j]) || strings.ContainsRune("-_./", rs[j]) && j+1 < len(rs) && isIDRune(rs[j+1])) {
			j++
		}
		if tok := string(rs[i:j]); hasDigit(tok) {
			c := cueBefore(rs, i)
			c.value, c.start, c.end = tok, i, j
			if c.noun != "" || c.han != "" {
				out = append(out, c)
			}
		}
		i = j
	}
	return out
}

// cueBefore reads the noun written before rs[i]: "segment", "permit no.",
// "路段", "许可证号".
func cueBefore(rs []rune, i int) idCue {
	k := skipBack(rs, i, " \t#:：.")
	if k > 0 && isHan(rs[k-1]) {
		start := k
		for start > 0 && isHan(rs[start-1]) && k-start < 8 {
			start--
		}
		han := string(rs[start:k])
		for _, f := range hanFillers {
			han = strings.TrimSuffix(han, f)
		}
		return idCue{han: han}
	}
	for tries := 0; tries < 2; tries++ {
		end := k
		for k > 0 && isASCIILetter(rs[k-1]) {
			k--
		}
		w := strings.ToLower(string(rs[k:end]))
		if w == "" {
			return idCue{}
		}
		if !idFillers[w] {
			return idCue{noun: singular(w)}
		}
		k = skipBack(rs, k, " \t#:：.")
	}
	return idCue{}
}

func skipBack(rs []rune, k int, chars string) int {
	for k > 0 && strings.ContainsRune(chars, rs[k-1]) {
		k--
	}
	return k
}

// names reports whether the cue's noun names the identifier.
func (id *ident) names(c idCue) bool {
	for _, n := range id.nouns {
		if c.noun == n {
			return true
		}
	}
	for _, h := range id.han {
		if c.han != "" && strings.HasSuffix(c.han, h) {
			return true
		}
	}
	return false
}

// findIdent is the identifier text gives: a token after a noun naming it that
// its pattern, if any, accepts; else a token of its examples' distinctive shape.
func (p *property) findIdent(text string, cues []idCue) (idCue, bool) {
	id := p.ident
	for _, c := range cues {
		if id.names(c) && (p.full == nil || p.full.MatchString(c.value)) {
			return c, true
		}
	}
	if id.shape == nil || !id.bare {
		return idCue{}, false
	}
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !isIDRune(r) && !strings.ContainsRune("-_./", r) }) {
		if f = strings.Trim(f, "-_./"); id.shape.MatchString(f) {
			return idCue{value: f}, true
		}
	}
	return idCue{}, false
}

// identIn reports whether text names one of the tool's identifiers.
func (d *toolDoc) identIn(text string, cues []idCue) bool {
	for i := range d.props {
		if p := &d.props[i]; p.ident != nil {
			if _, ok := p.findIdent(text, cues); ok {
				return true
			}
		}
	}
	return false
}

// withoutIDNumbers drops from srcs the numbers that are the tool's
// identifiers ("segment 1309" is no count of 1309).
func (d *toolDoc) withoutIDNumbers(srcs []source) []source {
	var out []source
	for si, src := range srcs {
		drop := map[int]bool{}
		for _, c := range idCues(src.text) {
			for i := range d.props {
				if p := &d.props[i]; p.ident != nil && p.ident.names(c) {
					drop[c.start] = true
				}
			}
		}
		if len(drop) == 0 {
			continue
		}
		if out == nil {
			out = append([]source(nil), srcs...)
		}
		kept := make([]mention, 0, len(src.numbers))
		for _, m := range src.numbers {
			if !drop[m.pos] {
				kept = append(kept, m)
			}
		}
		out[si].numbers = kept
	}
	if out == nil {
		return srcs
	}
	return out
}

func isIDRune(r rune) bool { return r < unicode.MaxASCII && isASCIIAlnum(byte(r)) && r != '_' }

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// singular drops an English plural s: segments → segment.
func singular(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

func appendNew(list []string, v string) []string {
	if v == "" {
		return list
	}
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
