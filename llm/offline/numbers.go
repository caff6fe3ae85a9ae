package offline

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
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
}

var numberWords = map[string]float64{
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50, "hundred": 100,
}

// hanCue and hanMeasure are what must stand before or after a Chinese
// numeral for it to count as a number ("前三条", "两小时"), so that
// numerals inside words (统一, 十字路口) are left alone.
var (
	hanNumerals = runeSet("零〇一二两三四五六七八九十百")
	hanCue      = runeSet("前近后最")
	hanMeasure  = runeSet("条个天日小时名项家座栋辆次分钟周月年位处份")
)

const (
	ctxBefore = 14 // runes of context read before a number
	ctxAfter  = 12 // and after it
)

func numberMentions(text string) []mention {
	rs := []rune(text)
	var out []mention
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			j := i
			for j < len(rs) && rs[j] < unicode.MaxASCII && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || strings.ContainsRune("._-:/", rs[j])) {
				j++
			}
			word := strings.TrimRight(string(rs[i:j]), "._-:/")
			end := i + len([]rune(word))
			if v, ok := parseNumber(word); ok {
				out = append(out, mention{value: v, pos: i, ctx: around(rs, i, end)})
			}
			i = j
		case hanNumerals[r]:
			j := i
			for j < len(rs) && hanNumerals[rs[j]] && j-i < 5 {
				j++
			}
			cued := (i > 0 && hanCue[rs[i-1]]) || (j < len(rs) && hanMeasure[rs[j]])
			if cued {
				out = append(out, mention{value: parseHanNumber(rs[i:j]), pos: i, ctx: around(rs, i, j)})
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func parseNumber(w string) (float64, bool) {
	if v, ok := numberWords[strings.ToLower(w)]; ok {
		return v, true
	}
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

// parseHanNumber reads simple Chinese numerals up to the hundreds: 三, 十五, 二十, 一百.
func parseHanNumber(rs []rune) float64 {
	digits := map[rune]int{'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
	total, cur := 0, 0
	for _, r := range rs {
		switch r {
		case '十':
			if cur == 0 {
				cur = 1
			}
			total += cur * 10
			cur = 0
		case '百':
			if cur == 0 {
				cur = 1
			}
			total += cur * 100
			cur = 0
		default:
			cur = digits[r]
		}
	}
	return float64(total + cur)
}

func around(rs []rune, start, end int) map[string]bool {
	from := max(0, start-ctxBefore)
	to := min(len(rs), end+ctxAfter)
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
	for i := range props {
		p := &props[i]
		if !p.numeric {
			continue
		}
		for ti, src := range srcs {
			for _, m := range src.numbers {
				score := 0.0
				for t := range m.ctx {
					if p.words[t] {
						score += termWeight(t)
					}
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
		if v, ok := clampNumber(p.prop.s, p.m.value); ok {
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
