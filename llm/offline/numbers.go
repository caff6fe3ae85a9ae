package offline

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A number in the question fills a numeric argument when the words around
// it fit the argument's own words ("top 3" and "limit: how many roads, top
// N"; "过去2小时" and "hours: window in hours"). concepts bridges the usual
// ways of saying a count or a time unit in English and Chinese.
var concepts = map[string]string{
	"top": "#count", "first": "#count", "limit": "#count", "max": "#count", "maximum": "#count",
	"number": "#count", "count": "#count", "many": "#count", "result": "#count",
	"前": "#count", "最多": "#count", "数量": "#count", "条数": "#count", "个数": "#count",
	"hour": "#hour", "hr": "#hour", "小时": "#hour",
	"minut": "#minute", "min": "#minute", "分钟": "#minute",
	"day": "#day", "天": "#day", "日": "#day",
	"week": "#week", "周": "#week", "星期": "#week",
	"month": "#month", "月": "#month",
	"year": "#year", "年": "#year",
	"kilowatt": "#kw", "kw": "#kw", "千瓦": "#kw",
	"megawatt": "#mw", "mw": "#mw", "兆瓦": "#mw",
}

// withConcepts adds the concept of each term to the set.
func withConcepts(set map[string]bool) map[string]bool {
	for t := range set {
		if c, ok := concepts[t]; ok {
			set[c] = true
		}
	}
	return set
}

// mention is a number written in a question, with the terms around it.
type mention struct {
	value float64
	pos   int // rune offset, for stable tie-breaks
	ctx   map[string]bool
	unit  []string // the terms right after it (千瓦, hours), with their concepts: the strongest cue
	end   int      // rune offset just after it, 0 for a period named without a number
}

var numberWords = map[string]float64{
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
	"seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
	"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}

// multipliers scale the number before them: "three thousand", "2 million".
var multipliers = map[string]float64{"hundred": 100, "thousand": 1000, "million": 1e6}

// hanCue and hanMeasure are what must stand before or after a Chinese
// numeral for it to count as a number ("前三条", "两小时", "三千千瓦"), so
// that numerals inside words (统一, 十字路口) are left alone.
var (
	hanNumerals = runeSet("零〇一二两三四五六七八九十百千万")
	hanCue      = runeSet("前近后最")
	hanMeasure  = runeSet("条个天日小时名项家座栋辆次分钟周月年位处份瓦元秒米度")
)

const (
	ctxBefore = 14 // runes of context read before a number
	ctxAfter  = 12 // and after it
)

// numberMentions finds the numbers of text: digits ("3,000"), English
// number words ("ten", "three thousand"), Chinese numerals next to a cue or a
// measure ("三千千瓦", "未来两周"), and calendar periods, which also give
// their length in days and hours ("past six months", "最近一周").
func numberMentions(text string) []mention {
	rs := []rune(text)
	var out []mention
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			j := asciiWordEnd(rs, i)
			word := strings.TrimRight(string(rs[i:j]), "._-:/")
			end := i + len([]rune(word))
			if v, ok := parseNumber(word); ok {
				v, end = scaleNumber(rs, v, end)
				out = appendMention(out, rs, v, i, end)
				i = max(j, end)
				continue
			}
			i = j
		case hanNumerals[r]:
			j := i
			for j < len(rs) && hanNumerals[rs[j]] && j-i < 8 {
				j++
			}
			// The 千 of 千瓦 is the unit, not the number: 三千千瓦, 五万千瓦.
			kilo := rs[j-1] == '千' && j < len(rs) && rs[j] == '瓦'
			if kilo && j-i == 1 {
				i = j + 1 // a bare 千瓦 is the unit of a number read already
				continue
			}
			if kilo {
				j--
			}
			cued := kilo || (i > 0 && hanCue[rs[i-1]]) || (j < len(rs) && hanMeasure[rs[j]])
			article := j-i == 1 && r == '一' && j < len(rs) && rs[j] == '个' && !(i > 0 && hanCue[rs[i-1]]) && unitAt(rs, j) == ""
			if cued && !article {
				out = appendMention(out, rs, parseHanNumber(rs[i:j]), i, j)
			}
			i = j
			if kilo {
				i++ // past the 千 of 千瓦
			}
		default:
			i++
		}
	}
	return append(out, periodMentions(text, rs)...)
}

// asciiWordEnd is the end of the ASCII word at i; a comma between digits
// ("3,000") stays inside it.
func asciiWordEnd(rs []rune, i int) int {
	j := i
	for j < len(rs) && rs[j] < unicode.MaxASCII {
		c := rs[j]
		switch {
		case unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("._-:/", c):
		case c == ',' && j > i && unicode.IsDigit(rs[j-1]) && j+3 < len(rs)+1 && j+1 < len(rs) && unicode.IsDigit(rs[j+1]):
		default:
			return j
		}
		j++
	}
	return j
}

// scaleNumber applies a multiplier after a number: "three thousand",
// "3 thousand", "5万", "3千" (not 3千瓦, which is a unit).
func scaleNumber(rs []rune, v float64, end int) (float64, int) {
	switch {
	case end < len(rs) && rs[end] == '万':
		return v * 10000, end + 1
	case end < len(rs) && rs[end] == '千' && !(end+1 < len(rs) && rs[end+1] == '瓦'):
		return v * 1000, end + 1
	}
	k := end
	for k < len(rs) && rs[k] == ' ' {
		k++
	}
	w := k
	for w < len(rs) && rs[w] < unicode.MaxASCII && unicode.IsLetter(rs[w]) {
		w++
	}
	if m, ok := multipliers[strings.ToLower(string(rs[k:w]))]; ok && k > end {
		return englishRest(rs, v*m, m, w)
	}
	return v, end
}

// englishRest reads the rest of an English number after a multiplier:
// "four thousand | five hundred", "two thousand | and fifty".
func englishRest(rs []rune, v, scale float64, end int) (float64, int) {
	next := func(at int) (string, int, int) {
		k := at
		for k < len(rs) && (rs[k] == ' ' || rs[k] == '-') {
			k++
		}
		w := k
		for w < len(rs) && rs[w] < unicode.MaxASCII && unicode.IsLetter(rs[w]) {
			w++
		}
		return strings.ToLower(string(rs[k:w])), k, w
	}
	for {
		word, k, w := next(end)
		if word == "and" {
			word, k, w = next(w)
		}
		n, ok := numberWords[word]
		if !ok || k == end || n >= scale || word == "hundred" || word == "dozen" {
			return v, end
		}
		if word2, _, w2 := next(w); word2 == "hundred" && n < 10 && scale > 100 {
			n, w = n*100, w2
		} else if n >= 20 && n < 100 {
			// "fifty-five", "twenty five"
			if word2, _, w2 := next(w); numberWords[word2] > 0 && numberWords[word2] < 10 {
				n, w = n+numberWords[word2], w2
			}
		}
		v, end, scale = v+n, w, n
	}
}

// appendMention adds a number and, when a calendar unit follows it ("six
// months", "两周"), its length in days and in hours.
func appendMention(out []mention, rs []rune, v float64, start, end int) []mention {
	ctx := around(rs, start, end)
	days := 0.0
	switch unitAt(rs, end) {
	case "day":
		days = v
	case "week":
		days = v * 7
	case "month":
		days = v * 30
	case "year":
		days = v * 365
	}
	if days == 0 || unitAt(rs, end) == "day" {
		out = append(out, mention{value: v, pos: start, ctx: ctx, unit: unitTerms(rs, end), end: end})
	} else {
		dayCtx := maps.Clone(ctx)
		maps.Copy(dayCtx, dayTerms)
		out = append(out, mention{value: days, pos: start, ctx: dayCtx, end: end})
	}
	if days > 0 {
		out = append(out, mention{value: days * 24, pos: end, ctx: maps.Clone(hourTerms)})
	}
	return out
}

// unitTerms are the terms of what follows a number directly: the next
// word, or the next two Chinese characters.
func unitTerms(rs []rune, end int) []string {
	i := end
	for i < len(rs) && rs[i] == ' ' {
		i++
	}
	j := i
	for j < len(rs) && isASCIILetter(rs[j]) {
		j++
	}
	if j == i {
		j = min(len(rs), i+2)
	}
	ts := tokenize(string(rs[i:j]))
	for _, t := range ts {
		if c, ok := concepts[t]; ok {
			ts = append(ts, c)
		}
	}
	return ts
}

// unitBonus is what a number's unit adds when it is the property's own word.
const unitBonus = 2

// dayTerms and hourTerms are the context of a period's length in days and in hours.
var (
	dayTerms  = map[string]bool{"day": true, "#day": true, "天": true}
	hourTerms = map[string]bool{"hour": true, "#hour": true, "小时": true}
)

// unitAt names the calendar unit that starts at rs[i] (after spaces and a
// 个): "hour", "day", "week", "month", "year", or "".
func unitAt(rs []rune, i int) string {
	u, _ := unitSpan(rs, i)
	return u
}

// withoutUnits is text with each number's calendar unit blanked out: the
// 小时 of 持续一小时 says how long, it names no enum value (hour_ahead).
func withoutUnits(text string, ms []mention) string {
	if len(ms) == 0 {
		return text
	}
	var rs []rune
	changed := false
	for _, m := range ms {
		if m.end == 0 {
			continue // a period named without a number, or its length in hours
		}
		if rs == nil {
			rs = []rune(text)
		}
		end := m.end
		if _, n := unitSpan(rs, end); n > 0 {
			for k := end; k < min(len(rs), end+n); k++ {
				rs[k] = ' '
			}
			changed = true
		}
	}
	if !changed {
		return text
	}
	return string(rs)
}

// unitSpan is unitAt with the number of runes the unit takes.
func unitSpan(rs []rune, i int) (string, int) {
	start := i
	for i < len(rs) && rs[i] == ' ' {
		i++
	}
	measure := i < len(rs) && rs[i] == '个'
	if measure {
		i++
	}
	if i >= len(rs) {
		return "", 0
	}
	// 日 is a unit in 三日 but not in 一个日前响应 or 日常.
	if rs[i] == '日' && (measure || i+1 < len(rs) && strings.ContainsRune("前期常均报志", rs[i+1])) {
		return "", 0
	}
	for _, u := range calendarUnits {
		if n := prefixFold(rs[i:], u.word); n > 0 {
			n += i - start
			for start+n < len(rs) && isASCIILetter(rs[start+n]) {
				n++ // hours, days
			}
			return u.kind, n
		}
	}
	return "", 0
}

var calendarUnits = []struct{ word, kind string }{{"小时", "hour"}, {"hour", "hour"}, {"天", "day"}, {"日", "day"}, {"day", "day"},
	{"周", "week"}, {"星期", "week"}, {"week", "week"}, {"月", "month"}, {"month", "month"}, {"年", "year"}, {"year", "year"}}

// prefixFold is the length in runes of word at the start of rs, ignoring
// ASCII case, or 0.
func prefixFold(rs []rune, word string) int {
	n := 0
	for _, w := range word {
		if n >= len(rs) || unicode.ToLower(rs[n]) != w {
			return 0
		}
		n++
	}
	return n
}

// periodMentions gives the length of periods named without a number ("this
// month", "past week") in days and hours.
func periodMentions(text string, rs []rune) []mention {
	low := strings.ToLower(text)
	var out []mention
	for _, p := range lex().periods {
		if p.Days == 0 {
			continue
		}
		for _, ph := range p.Phrases {
			if !hasPhrase(low, ph) {
				continue
			}
			at := utf8.RuneCountInString(low[:strings.Index(low, ph)])
			// A period spelled with a number ("最近一周") was read already.
			if covered(out, at) || numberNear(rs, at, utf8.RuneCountInString(ph)) {
				break
			}
			out = append(out, mention{value: float64(p.Days), pos: len(rs) + at, ctx: maps.Clone(dayTerms)},
				mention{value: float64(p.Days * 24), pos: len(rs) + at + 1, ctx: maps.Clone(hourTerms)})
			break
		}
	}
	return out
}

func covered(ms []mention, at int) bool {
	for _, m := range ms {
		if m.pos == at {
			return true
		}
	}
	return false
}

// numberNear reports whether the phrase at rs[at:at+n] holds a number the
// scanner reads on its own (digits or a numeral before a unit).
func numberNear(rs []rune, at, n int) bool {
	for k := at; k < min(len(rs), at+n); k++ {
		if unicode.IsDigit(rs[k]) || (hanNumerals[rs[k]] && unitAt(rs, k+1) != "") {
			return true
		}
	}
	return false
}

// periodWords are the words of the periods text names, for enumerated
// period arguments ("这个月" → "month 本月").
//
// A window counted in days that is a period's length names it too
// ("这三十天" → month, "the past 7 days" → week).
func periodWords(text string) string {
	low := strings.ToLower(text)
	var b strings.Builder
	var days map[int]bool
	if strings.Contains(low, "day") || strings.Contains(low, "天") {
		for _, m := range numberMentions(text) {
			if m.end > 0 && (m.ctx["day"] || m.ctx["天"]) && m.value == math.Trunc(m.value) {
				if days == nil {
					days = map[int]bool{}
				}
				days[int(m.value)] = true
			}
		}
	}
	for _, p := range lex().periods {
		named := p.Days > 0 && days[p.Days]
		for _, ph := range p.Phrases {
			if named || hasPhrase(low, ph) {
				b.WriteString(" ; " + p.Words)
				break
			}
		}
	}
	return b.String()
}

func parseNumber(w string) (float64, bool) {
	if v, ok := numberWords[strings.ToLower(w)]; ok {
		return v, true
	}
	if tens, unit, ok := strings.Cut(strings.ToLower(w), "-"); ok { // "sixty-five"
		t, u := numberWords[tens], numberWords[unit]
		if t >= 20 && t < 100 && int(t)%10 == 0 && u > 0 && u < 10 {
			return t + u, true
		}
	}
	w = strings.ReplaceAll(w, ",", "")
	dot := false
	for i, r := range w {
		switch {
		case r >= '0' && r <= '9':
		case r == '.' && !dot && i > 0:
			dot = true
		default:
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(w, 64)
	return v, err == nil && w != ""
}

// parseHanNumber reads Chinese numerals up to the ten thousands: 三, 十五,
// 二十, 一百, 三千, 五万, 两万五千.
func parseHanNumber(rs []rune) float64 {
	total, section, cur := 0, 0, 0
	for _, r := range rs {
		switch r {
		case '十', '百', '千':
			unit := map[rune]int{'十': 10, '百': 100, '千': 1000}[r]
			if cur == 0 {
				cur = 1
			}
			section += cur * unit
			cur = 0
		case '万':
			total += (section + cur) * 10000
			section, cur = 0, 0
		default:
			cur = hanDigits[r]
		}
	}
	return float64(total + section + cur)
}

var hanDigits = map[rune]int{'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}

func around(rs []rune, start, end int) map[string]bool {
	from := max(0, start-ctxBefore)
	to := min(len(rs), end+ctxAfter)
	// What follows a clause mark describes the next item ("压减一千五百千瓦，持续两个小时":
	// the 小时 is not the kilowatts').
	for k := end; k < to; k++ {
		if strings.ContainsRune("，。；,;", rs[k]) {
			to = k
			break
		}
	}
	// Whole words only: "twenty most congested" reads "congested", not "conges".
	for from > 0 && isASCIILetter(rs[from]) && isASCIILetter(rs[from-1]) {
		from--
	}
	for to < len(rs) && isASCIILetter(rs[to-1]) && isASCIILetter(rs[to]) {
		to++
	}
	return withConcepts(termSet(string(rs[from:start]) + " " + string(rs[end:to])))
}

// fillNumbers assigns numbers from srcs to numeric properties whose words
// fit the words around them; each number fills at most one property, and
// numbers in the current question win over those in the question it follows.
func fillNumbers(props []property, srcs []source) map[string]any {
	type pair struct {
		prop  *property
		m     mention
		text  int
		score float64
	}
	var pairs []pair
	// A number whose unit is some property's own word ("1500千瓦", "2
	// hours") fills only a property of that unit.
	unitOf := func(m mention, p *property) bool {
		for _, t := range m.unit {
			if p.words[t] && !isSingleHan(t) || t == "#mw" && p.words["#kw"] {
				return true
			}
		}
		return false
	}
	claimed := map[[2]int]bool{}
	for i := range props {
		if !props[i].numeric {
			continue
		}
		for ti, src := range srcs {
			for _, m := range src.numbers {
				if unitOf(m, &props[i]) {
					claimed[[2]int{ti, m.pos}] = true
				}
			}
		}
	}
	for i := range props {
		p := &props[i]
		if !p.numeric {
			continue
		}
		for ti, src := range srcs {
			if src.only != nil {
				continue
			}
			for _, m := range src.numbers {
				// Counted, then weighted: a sum in map order would differ in
				// its last bits from run to run and flip ties.
				words, han := 0, 0
				for t := range m.ctx {
					switch {
					case !p.words[t]:
					case isSingleHan(t):
						han++
					default:
						words++
					}
				}
				score := float64(words) + hanUnigramWeight*float64(han)
				switch {
				case unitOf(m, p):
					score += unitBonus
				case claimed[[2]int{ti, m.pos}]:
					continue
				}
				if score > 0 {
					pairs = append(pairs, pair{p, m, ti, score})
				}
			}
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool {
		a, b := pairs[i], pairs[j]
		switch {
		case a.text != b.text:
			return a.text < b.text
		case a.score != b.score:
			return a.score > b.score
		case a.m.pos != b.m.pos:
			return a.m.pos < b.m.pos
		}
		return a.prop.name < b.prop.name
	})
	out := map[string]any{}
	used := map[[2]int]bool{}
	for _, p := range pairs {
		key := [2]int{p.text, p.m.pos}
		if _, done := out[p.prop.name]; done || used[key] {
			continue
		}
		value := p.m.value
		if slices.Contains(p.m.unit, "#mw") && p.prop.words["#kw"] && !p.prop.words["#mw"] {
			value *= 1000 // "2 MW" asked of a property in kW
		}
		if v, ok := clampNumber(p.prop.s, value); ok {
			out[p.prop.name] = v
			used[key] = true
		}
	}
	return out
}

// clampNumber fits v into the property's type and range.
func clampNumber(s *schema, v float64) (any, bool) {
	integer := s.is("integer") && !s.is("number")
	if integer {
		v = math.Trunc(v)
	}
	if s.Minimum != nil && v < *s.Minimum {
		v = *s.Minimum
		if integer {
			v = math.Ceil(v)
		}
	}
	if s.Maximum != nil && v > *s.Maximum {
		v = *s.Maximum
		if integer {
			v = math.Floor(v)
		}
	}
	if lo, ok := exclusiveBound(s.ExclusiveMinimum, s.Minimum); ok && v <= lo {
		if !integer {
			return nil, false
		}
		v = math.Floor(lo) + 1
	}
	if hi, ok := exclusiveBound(s.ExclusiveMaximum, s.Maximum); ok && v >= hi {
		if !integer {
			return nil, false
		}
		v = math.Ceil(hi) - 1
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<53 {
		return nil, false
	}
	if integer {
		return int64(v), true
	}
	return v, true
}

// exclusiveBound reads exclusiveMinimum/Maximum as a number (2019 drafts) or
// as draft 4's boolean that makes the plain bound exclusive.
func exclusiveBound(raw json.RawMessage, plain *float64) (float64, bool) {
	if !present(raw) {
		return 0, false
	}
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil && b && plain != nil {
		return *plain, true
	}
	return 0, false
}

func isASCIILetter(r rune) bool { return r < unicode.MaxASCII && unicode.IsLetter(r) }
