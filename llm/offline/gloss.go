package offline

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A quoted sentence in the other language than the question's (an English
// question answered by a Chinese-only rule, and the reverse) is followed by
// a gloss in the question's language: its figures with their units and
// limits ("15分钟内" → "within 15 minutes") and the glossary's names of the
// city terms it says ("市能源管理办公室" → "City Energy Management Office"). It is
// not a translation and says so; it lets the reader see what the quoted
// rule is about and what it fixes.

const (
	maxGlossFigures = 6
	maxGlossTerms   = 6
)

// Chinese figures: an optional limit before, a number, a unit, an optional
// limit after ("不超过3次", "15分钟内", "200千瓦以上").
var zhFigure = regexp.MustCompile(`(不超过|不少于|不低于|不高于|最多|至多|最少|至少|超过|低于|高于)?(\d+(?:\.\d+)?)\s*(个工作日|工作日|个小时|小时|分钟|个月|千瓦时|千瓦|兆瓦|万元|元|次|天|日|年|周|%|％|倍|分|米|公里|户|栋|人|摄氏度|度)(以内|之内|内|以上|以下|之前|以前|前)?`)

// Clock times: "16:00前", "9:00至20:00".
var zhClock = regexp.MustCompile(`(\d{1,2}:\d{2})(?:\s*(?:至|到|-|—|~)\s*(\d{1,2}:\d{2}))?(之前|以前|前)?`)

// English figures: an optional limit, a number, a unit.
var enFigure = regexp.MustCompile(`(?i)\b(within|at most|at least|no more than|no less than|not more than|not less than|more than|less than|up to|capped at|over|under|above|below)?\s*(\d+(?:[.,]\d+)*)\s*(working days?|hours?|minutes?|months?|kWh|kW|MW|yuan|times|days?|years?|weeks?|%|percent|points?|metres?|meters?|km|households?|buildings?|people|degrees)\b`)

var zhUnitsEN = map[string][2]string{ // singular, plural
	"个工作日": {"working day", "working days"}, "工作日": {"working day", "working days"},
	"个小时": {"hour", "hours"}, "小时": {"hour", "hours"}, "分钟": {"minute", "minutes"},
	"个月": {"month", "months"}, "千瓦时": {"kWh", "kWh"}, "度": {"kWh", "kWh"}, "千瓦": {"kW", "kW"},
	"兆瓦": {"MW", "MW"}, "元": {"yuan", "yuan"}, "次": {"time", "times"},
	"天": {"day", "days"}, "日": {"day", "days"}, "年": {"year", "years"}, "周": {"week", "weeks"},
	"倍": {"times", "times"}, "分": {"point", "points"}, "米": {"metre", "metres"},
	"公里": {"km", "km"}, "户": {"household", "households"}, "栋": {"building", "buildings"},
	"人": {"person", "people"}, "摄氏度": {"°C", "°C"},
}

var zhLimitsEN = map[string]string{
	"不超过": "at most", "不高于": "at most", "最多": "at most", "至多": "at most",
	"不少于": "at least", "不低于": "at least", "最少": "at least", "至少": "at least",
	"超过": "more than", "高于": "more than", "低于": "less than",
}

var enUnitsZH = map[string]string{
	"working day": "个工作日", "hour": "小时", "minute": "分钟", "month": "个月", "kwh": "千瓦时",
	"kw": "千瓦", "mw": "兆瓦", "yuan": "元", "times": "次", "day": "天", "year": "年", "week": "周",
	"%": "%", "percent": "%", "point": "分", "metre": "米", "meter": "米", "km": "公里",
	"household": "户", "building": "栋", "people": "人", "degrees": "摄氏度",
}

// enLimitsZH: the Chinese words before and after the figure.
var enLimitsZH = map[string][2]string{
	"within": {"", "内"}, "at most": {"不超过", ""}, "no more than": {"不超过", ""},
	"not more than": {"不超过", ""}, "up to": {"最多", ""}, "capped at": {"最多", ""},
	"at least": {"不少于", ""}, "no less than": {"不少于", ""}, "not less than": {"不少于", ""},
	"more than": {"超过", ""}, "over": {"超过", ""}, "above": {"超过", ""},
	"less than": {"不到", ""}, "under": {"不到", ""}, "below": {"低于", ""},
}

// gloss returns the figures and glossary terms of sentence in the
// question's language (toZh), or "" when the sentence is already in it or
// names nothing the gloss can render.
func gloss(sentence string, toZh bool) string {
	if (hanShare(sentence) >= 0.2) == toZh {
		return ""
	}
	type item struct {
		at   int
		text string
	}
	var items []item
	seen := map[string]bool{}
	add := func(at int, text string) {
		if text == "" || seen[text] {
			return
		}
		seen[text] = true
		items = append(items, item{at, text})
	}
	figures := 0
	if toZh {
		for _, m := range enFigure.FindAllStringSubmatchIndex(sentence, -1) {
			if figures == maxGlossFigures {
				break
			}
			limit := strings.ToLower(sub(sentence, m, 1))
			num := strings.ReplaceAll(sub(sentence, m, 2), ",", "")
			unit := enUnitZH(sub(sentence, m, 3))
			lz := enLimitsZH[limit]
			add(m[0], lz[0]+num+unit+lz[1])
			figures++
		}
	} else {
		for _, m := range zhClock.FindAllStringSubmatchIndex(sentence, -1) {
			from, to, before := sub(sentence, m, 1), sub(sentence, m, 2), sub(sentence, m, 3)
			switch {
			case to != "":
				add(m[0], from+" to "+to)
			case before != "":
				add(m[0], "by "+from)
			}
		}
		for _, m := range zhFigure.FindAllStringSubmatchIndex(sentence, -1) {
			if figures == maxGlossFigures {
				break
			}
			add(m[0], zhFigureEN(sub(sentence, m, 1), sub(sentence, m, 2), sub(sentence, m, 3), sub(sentence, m, 4)))
			figures++
		}
	}
	terms := 0
	low := strings.ToLower(sentence)
	for _, tr := range lex().translations(sentence, termSet(sentence)) {
		if terms == maxGlossTerms {
			break
		}
		if tr.said.zh == toZh || tr.said.ident || len([]rune(tr.said.text)) < 2 {
			continue
		}
		for _, m := range tr.others {
			if m.zh == toZh && !m.ident {
				add(strings.Index(low, tr.said.text), m.text)
				terms++
				break
			}
		}
	}
	if len(items) == 0 {
		return ""
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.text
	}
	if toZh {
		return "（要点：" + strings.Join(parts, "；") + "）"
	}
	return " (key terms: " + strings.Join(parts, "; ") + ")"
}

func sub(s string, m []int, g int) string {
	if m[2*g] < 0 {
		return ""
	}
	return s[m[2*g]:m[2*g+1]]
}

func zhFigureEN(limit, num, unit, after string) string {
	u, ok := zhUnitsEN[unit]
	if !ok && unit != "%" && unit != "％" {
		return ""
	}
	var fig string
	switch unit {
	case "%", "％":
		fig = num + "%"
	case "万元":
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return ""
		}
		fig = strconv.FormatFloat(v*10000, 'f', -1, 64) + " yuan"
	default:
		name := u[1]
		if num == "1" {
			name = u[0]
		}
		fig = num + " " + name
	}
	if l := zhLimitsEN[limit]; l != "" {
		fig = l + " " + fig
	}
	switch after {
	case "内", "以内", "之内":
		fig = "within " + fig
	case "以上":
		fig += " or more"
	case "以下":
		fig += " or less"
	case "前", "以前", "之前":
		fig += " before"
	}
	return fig
}

func enUnitZH(unit string) string {
	u := strings.ToLower(unit)
	if z, ok := enUnitsZH[u]; ok {
		return z
	}
	if z, ok := enUnitsZH[strings.TrimSuffix(u, "s")]; ok {
		return z
	}
	return u
}

// hanShare is the share of s's letters that are Han characters.
func hanShare(s string) float64 {
	han, letters := 0, 0
	for _, r := range s {
		switch {
		case isHan(r):
			han++
			letters++
		case r < 0x80 && (r|0x20 >= 'a' && r|0x20 <= 'z'):
			letters++
		}
	}
	if letters == 0 {
		return 0
	}
	return float64(han) / float64(letters)
}

// sourceLabel renders a passage's label for an answer in one language: of
// a bilingual part ("EV Charging Infrastructure and Prices / 电动汽车充电设施与收费")
// the half in the answer's language, and a part that repeats the one before
// it (a document's title, then its first heading with the same words) once.
func sourceLabel(label string, zh bool) string {
	parts := strings.Split(label, " › ")
	out := parts[:0]
	for _, p := range parts {
		if a, b, ok := strings.Cut(p, " / "); ok && hasHan(a) != hasHan(b) {
			if hasHan(a) == zh {
				p = a
			} else {
				p = b
			}
		}
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, " › ")
}
