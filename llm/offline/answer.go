package offline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cityagent/cityagent/llm"
)

// The words the writer uses, per language. The answer's language is the
// question's: Chinese when it has Han characters, English otherwise.
type phrases struct {
	dataFrom   string // tool name, citation marker
	failed     string // tool name, reason
	docsLead   string
	sources    string
	nothing    string
	toolsHint  string // tool names
	missing    string // tool name, arguments
	modelLine  string
	listSep    string
	sep        string // goes before a quote or a citation marker
	items      func(n int) string
	quote      func(s string) string
	paren      func(s string) string
	sourceLine func(label, source, asOf string) string
}

var english = phrases{
	dataFrom:  "Data from %s %s:",
	failed:    "The tool %s failed: %s.",
	docsLead:  "From the documents:",
	sources:   "Sources:",
	nothing:   "I found nothing in the city data or the knowledge base that answers this question.",
	toolsHint: "Tools available to this agent: %s.",
	modelLine: "— Answered by cityagent offline engine (extractive, not a large language model).",
	items: func(n int) string {
		if n == 1 {
			return "1 item"
		}
		return fmt.Sprintf("%d items", n)
	},
	quote: func(s string) string { return "“" + s + "”" },
	sourceLine: func(label, source, asOf string) string {
		var parts []string
		if source != "" {
			parts = append(parts, source)
		}
		if asOf != "" {
			parts = append(parts, "as of "+asOf)
		}
		if len(parts) == 0 {
			return label
		}
		return label + " — " + strings.Join(parts, ", ")
	},
	listSep: ", ",
	sep:     " ",
	paren:   func(s string) string { return " (" + s + ")" },
	missing: "To use %s I need %s.",
}

var chinese = phrases{
	dataFrom:  "%s 的数据 %s：",
	failed:    "工具 %s 调用失败：%s。",
	docsLead:  "文档摘录：",
	sources:   "来源：",
	nothing:   "在城市数据和知识库中没有找到能回答这个问题的内容。",
	toolsHint: "本智能体可用的工具：%s。",
	modelLine: "——由 cityagent 离线引擎生成（抽取式回答，非大语言模型）。",
	items:     func(n int) string { return fmt.Sprintf("共 %d 项", n) },
	quote:     func(s string) string { return "「" + s + "」" },
	sourceLine: func(label, source, asOf string) string {
		var parts []string
		if source != "" {
			parts = append(parts, source)
		}
		if asOf != "" {
			parts = append(parts, "截至 "+asOf)
		}
		if len(parts) == 0 {
			return label
		}
		return label + " — " + strings.Join(parts, "，")
	},
	listSep: "、",
	paren:   func(s string) string { return "（" + s + "）" },
	missing: "调用 %s 需要提供 %s。",
}

const (
	maxQuoted     = 2   // document sentences quoted per answer
	maxSentence   = 240 // runes of a quoted sentence
	maxFieldText  = 160 // runes of one rendered value
	maxFieldLines = 10  // lines rendered per tool result
	maxItems      = 3   // array items rendered
	maxErrText    = 160 // runes of a tool's error
)

// askedTypes are the kinds of answer a question asks for; a follow-up that
// names none ("And an urgent one?", "公用事业的呢？") asks what the earlier
// message it points back at asked.
func askedTypes(question string, earlier []string) []*answerType {
	types := lex().answerTypes(question)
	if len(types) == 0 && pointsBack(question, earlier) {
		types = lex().answerTypes(earlier[0])
	}
	return types
}

// writeAnswer composes the extractive answer for a turn.
func writeAnswer(t turn, specs []llm.ToolSpec, blocked *need) string {
	zh := hasHan(t.question)
	ph := english
	if zh {
		ph = chinese
	}
	var body, sources []string
	cite := func(b llm.DataBlock) string {
		label := sourceLabel(b.Title, zh)
		if label == "" {
			label = b.Ref
		}
		n := len(sources) + 1
		sources = append(sources, fmt.Sprintf("[%d] %s", n, ph.sourceLine(label, b.Source, b.AsOf)))
		return fmt.Sprintf("[%d]", n)
	}
	// A rules question ("how much is the fee", "who is responsible") with
	// no word of live data is answered from the documents first, so that a
	// tool called beside them does not drown the rule.
	types := askedTypes(t.question, t.earlier)
	rulesFirst := len(types) > 0 && !lex().isLive(t.question)
	if !rulesFirst {
		for _, r := range t.results {
			body = append(body, renderResult(r, zh, ph, cite)...)
		}
	}
	// What the user quotes (a citizen's words) is data: it says what the
	// question is about, but the user's own words say what is asked.
	rd := readMessage(t.question)
	asked, context := t.question, map[string]float64{}
	if len(rd.quoted) > 0 && strings.TrimSpace(rd.own) != "" {
		asked = withoutFrames(rd.own)
		addContext(context, strings.Join(rd.quoted, " "), quotedWeight)
	}
	if pointsBack(t.question, t.earlier) {
		addContext(context, t.earlier[0], contextWeight)
	}
	if quotes := pickSentences(asked, context, types, t.docs); len(quotes) > 0 {
		line := ph.docsLead
		marks := map[int]string{}
		for _, q := range quotes {
			m, ok := marks[q.doc]
			if !ok {
				m = cite(t.docs[q.doc])
				marks[q.doc] = m
			}
			line += ph.sep + ph.quote(q.text) + ph.sep + m + gloss(q.text, zh)
		}
		body = append(body, line)
	}
	if rulesFirst {
		for _, r := range t.results {
			body = append(body, renderResult(r, zh, ph, cite)...)
		}
	}
	if len(sources) == 0 {
		body = append(body, ph.nothing)
		switch {
		case blocked != nil:
			var args []string
			for _, p := range blocked.args {
				a := p.name
				if p.s != nil && p.s.Description != "" {
					a += ph.paren(truncate(oneLine(p.s.Description), 80))
				}
				args = append(args, a)
			}
			body = append(body, fmt.Sprintf(ph.missing, blocked.tool, strings.Join(args, ph.listSep)))
		case len(t.results) == 0 && len(specs) > 0:
			names := make([]string, 0, len(specs))
			for _, s := range specs {
				names = append(names, s.Name)
			}
			sort.Strings(names)
			body = append(body, fmt.Sprintf(ph.toolsHint, strings.Join(names, ph.listSep)))
		}
	}
	var b strings.Builder
	b.WriteString(strings.Join(body, "\n"))
	if len(sources) > 0 {
		b.WriteString("\n\n" + ph.sources + "\n" + strings.Join(sources, "\n"))
	}
	b.WriteString("\n\n" + ph.modelLine)
	return b.String()
}

// renderResult writes one tool result: its summary in the question's
// language if it has one, otherwise its fields; a failure is reported, not cited.
func renderResult(r llm.DataBlock, zh bool, ph phrases, cite func(llm.DataBlock) string) []string {
	body := strings.TrimSpace(r.Body)
	v, err := parseOrdered(body)
	if err != nil {
		switch {
		case body == "":
			return nil
		case looksLikeError(body):
			return []string{fmt.Sprintf(ph.failed, r.Ref, reason(body))}
		}
		return []string{truncate(oneLine(body), maxFieldText*2) + ph.sep + cite(r)}
	}
	if msg, ok := v.errorText(); ok {
		return []string{fmt.Sprintf(ph.failed, r.Ref, reason(msg))}
	}
	first, second := "summary", "summary_zh"
	if zh {
		first, second = second, first
	}
	for _, k := range []string{first, second} {
		if s, ok := v.field(k); ok && s.kind == kindString && strings.TrimSpace(s.text) != "" {
			return []string{strings.TrimSpace(s.text) + ph.sep + cite(r)}
		}
	}
	lines := renderValue(v, ph)
	if len(lines) == 0 {
		return nil
	}
	return append([]string{fmt.Sprintf(ph.dataFrom, r.Ref, cite(r))}, lines...)
}

// reason shortens a tool's error for the answer.
func reason(s string) string {
	return truncate(strings.TrimRight(oneLine(s), ".。 "), maxErrText)
}

var errorWords = []string{"error", "fail", "invalid", "timed out", "timeout", "denied", "forbidden", "unavailable", "错误", "失败", "超时", "无效"}

func looksLikeError(s string) bool {
	l := strings.ToLower(s)
	for _, w := range errorWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// renderValue renders JSON as a short list of "key: value" lines, with the
// first items of arrays nested under their key.
func renderValue(v *ordered, ph phrases) []string {
	var lines []string
	switch v.kind {
	case kindObject:
		for i, k := range v.keys {
			if len(lines) >= maxFieldLines {
				break
			}
			f := v.vals[i]
			switch f.kind {
			case kindArray:
				if f.scalars() {
					lines = append(lines, "- "+k+": "+f.compact())
					continue
				}
				lines = append(lines, fmt.Sprintf("- %s (%s):", k, ph.items(len(f.items))))
				for _, it := range f.items[:min(maxItems, len(f.items))] {
					lines = append(lines, "  - "+it.compact())
				}
			default:
				lines = append(lines, "- "+k+": "+f.compact())
			}
		}
	case kindArray:
		lines = append(lines, "- "+ph.items(len(v.items))+":")
		for _, it := range v.items[:min(maxItems, len(v.items))] {
			lines = append(lines, "  - "+it.compact())
		}
	default:
		if s := v.compact(); s != "" {
			lines = append(lines, "- "+s)
		}
	}
	return lines
}

// quoted is a sentence chosen from a retrieved passage.
type quoted struct {
	text  string
	doc   int
	pos   int
	score float64
	// translated: the sentence meets the question through the glossary in
	// the other language
	translated bool
	// fit: the sentence gives the kind of answer the question asks for
	fit bool
}

// definedLabel returns the label a definition sentence gives before its
// last colon ("（三）三级故障：单个灯头损坏…" → "三级故障", "Level 3
// faults: a single lamp…" → "Level 3 faults"), or "" when there is none of
// at most maxLabel characters.
func definedLabel(s string) string {
	colon := max(strings.LastIndex(s, "："), strings.LastIndex(s, ": "))
	if colon <= 0 {
		return ""
	}
	head := s[:colon]
	from := 0
	for _, b := range []string{"：", ": ", "；", "; ", "。", "）", ")", ". "} {
		if i := strings.LastIndex(head, b); i >= 0 && i+len(b) > from {
			from = i + len(b)
		}
	}
	label := strings.TrimSpace(head[from:])
	if n := utf8.RuneCountInString(label); n == 0 || n > maxLabel {
		return ""
	}
	return label
}

// maxLabel is the longest label definedLabel takes, in characters.
const maxLabel = 24

// quantityWeight is the share of the fit bonus, and more, a sentence gains
// for stating the very quantity the question states: the number names the
// rule more surely than any of the words around it.
const quantityWeight = 2

// unitWeight is the share of the fit bonus a sentence gains for giving a
// number in the very unit the question asks for.
const unitWeight = 0.5

// askedUnits are the units a question can ask a number in, the longest of
// a family first ("working day" before "day").
var askedUnits = []string{"working day", "business day", "calendar day", "minute", "hour", "day", "week", "month", "year",
	"工作日", "分钟", "小时", "天", "周", "个月", "年"}

// askedUnit returns the unit a question asks a number in ("how many
// working days" → "working day", "多少分钟" → "分钟"), or "".
func askedUnit(lowQuestion string) string {
	for _, u := range askedUnits {
		for _, lead := range []string{"how many ", "多少个", "多少", "几个", "几"} {
			if hasHan(u) != hasHan(lead) {
				continue
			}
			if strings.Contains(lowQuestion, lead+u) {
				return u
			}
		}
	}
	return ""
}

// bridgeWeight is how much a term counts that a fitting sentence shares with
// the sentence that meets the question best without answering it.
const bridgeWeight = 0.5

// bridge lets the sentence that meets the question best without giving the
// kind of answer asked for lead to the rule that does, through the label the
// matching sentence defines: "（三）三级故障：单个灯头损坏…" to
// "（三）三级故障：维护单位24小时内修复". Each fitting candidate gains
// bridgeWeight for every term of the label beyond the question's own. A
// sentence without a short label before its last colon leads nowhere.
func bridge(cands []quoted, via string, own map[string]bool) {
	label := definedLabel(via)
	if label == "" {
		return
	}
	terms := map[string]bool{}
	for _, t := range tokenize(label) {
		if !own[t] {
			terms[t] = true
		}
	}
	seen := map[string]bool{}
	for i := range cands {
		if !cands[i].fit {
			continue
		}
		clear(seen)
		for _, t := range tokenize(cands[i].text) {
			if terms[t] && !seen[t] {
				seen[t] = true
				cands[i].score += bridgeWeight * termWeight(t)
			}
		}
	}
}

// Question types move sentences up or down: one that gives the kind of
// answer asked for (an amount for "how much", a duration for "how long", a
// department for "who") gains fitBonus of the question's weight; one that
// does not loses misfitCut of its score.
const (
	fitBonus = 0.35
	// contextWeight is how much a term of the earlier message a follow-up
	// points back at counts, against one of the question's own.
	contextWeight = 1.0
	// quotedWeight is how much a term of the text a question quotes counts.
	quotedWeight = 0.5
	// swapCut is what a sentence keeps of its earlier-message score when
	// an English continuation ("And on the Ring Expressway?") names what
	// changes and the sentence says none of it: the row the earlier
	// question asked about is not the one asked now.
	swapCut = 0.5

	misfitCut = 0.4

	// docPrior is what a sentence of the best-ranked passage gains over one
	// of the last: less than one shared word.
	docPrior = 0.5

	// titleWeight is how much a term of the question counts that a
	// sentence does not say but its passage's title does.
	titleWeight = 0.4
)

// pickSentences returns the passages' sentences that share most terms with
// the question, best first. A sentence that says one of the question's
// terms only in other words (the glossary's name in the other language, or
// an alias) earns most of that term's weight, or half of it for an alias.
//
// context weighs the terms of what the question is about without asking
// it: the earlier message a follow-up points back at ("Which department will
// fix them?" after "The street lights are out" meets the street-light
// rule), the text a question quotes. Nil when there is none.
func pickSentences(question string, context map[string]float64, types []*answerType, docs []llm.DataBlock) []quoted {
	if len(docs) == 0 {
		return nil
	}
	own := termSet(question)

	trs := lex().translations(question, own)
	flags := groupTerms(trs, question)
	total := totalWeight(own)
	// The bar is a share of the question's terms that some passage says:
	// the words of a long, colloquial question that no passage holds ("我家
	// 楼下…一个星期了") cannot be met by any sentence, and only raise the bar
	// — though never below half the question.
	threshold := max(1, 0.2*max(totalWeight(saidTerms(own, docs)), total/2))
	lowQuestion := strings.ToLower(question)
	shares := questionShares(question)
	quantities := questionQuantities(question)
	asksThreshold := lex().asksThreshold(question)
	unit := askedUnit(lowQuestion)
	swaps := len(context) > 0 && !hasHan(question) && lex().continues(question)
	var cands []quoted
	var bestMisfit quoted // the sentence that meets the question best but not its type
	bestFitRaw := 0.0
	counted, has := map[string]bool{}, map[string]bool{}
	for di, d := range docs {
		// The question's words the passage's title says (the document
		// and its section: "Outdoor Advertising Permits › Duration") are
		// what each of its sentences is about, said or not. Words only:
		// a title's Chinese bigrams (收费, 回访) name whole families of rules.
		var titled []string
		for _, t := range tokenize(d.Title) {
			if own[t] && !hasHan(t) && !slices.Contains(titled, t) {
				titled = append(titled, t)
			}
		}
		for si, whole := range splitSentences(d.Body) {
			// A sentence too long to quote whole is read clause by clause,
			// or its truncated quote would lose the clause that answers;
			// at most one clause of it is quoted.
			one := [1]string{whole}
			clauses := one[:]
			if utf8.RuneCountInString(whole) > maxSentence {
				clauses = appendClauses(nil, whole)
			}
			for _, s := range clauses {
				clear(counted)
				clear(has)
				words, han, aliases, earlier := 0, 0, 0.0, 0.0
				for _, t := range tokenize(s) {
					f := flags[t]
					if f&termOfMember != 0 {
						has[t] = true
					}
					if w := context[t]; w > 0 && !own[t] && !counted[t] {
						counted[t] = true
						earlier += w * termWeight(t)
						continue
					}
					if counted[t] || !own[t] && f&termOfAlias == 0 {
						continue
					}
					counted[t] = true
					switch {
					case !own[t]:
						// A synonym the question does not say counts as a
						// translation does, by each of its words and bigrams.
						if !isSingleHan(t) {
							aliases += crossWeight
						}
					case isSingleHan(t):
						han++
					default:
						words++
					}
				}
				cross := translatedWeight(has, trs, counted)
				if swaps && words+han == 0 && aliases+cross == 0 {
					earlier *= swapCut
				}
				score := float64(words) + hanUnigramWeight*float64(han) + aliases + cross
				for _, t := range titled {
					if !counted[t] {
						score += titleWeight * termWeight(t)
					}
				}
				score += earlier
				// Retrieval ranked the passages by the whole question: of
				// sentences that meet it as well, the better passage's wins.
				score += docPrior * float64(len(docs)-di) / float64(len(docs))
				if len(shares) > 0 && coversShare(s, shares) {
					// The rule whose range holds the share the question
					// states answers it, in whatever words it says so.
					score += max(threshold, fitBonus*total)
				}
				if len(quantities) > 0 && statesQuantity(s, quantities) {
					// The rule written for the quantity the question states
					// ("below 100 metres") is the one it asks for.
					score += quantityWeight * fitBonus * total
				}
				if score < threshold && earlier == 0 {
					continue
				}
				// A question may read as several types ("承办单位要在几天内" is
				// who and how long): a sentence that fits one of them fits.
				if asksThreshold && statesNumber(s) && lex().statesThreshold(s) {
					score += fitBonus * total
				}
				if unit != "" && unitAfterNumber(strings.ToLower(s), unit) {
					// "how many working days" is answered in working days.
					score += unitWeight * fitBonus * total
				}
				raw, fit := score, true
				if len(types) > 0 {
					if fit = fitsAny(types, s, lowQuestion); fit {
						score += fitBonus * total
					} else {
						score *= 1 - misfitCut
					}
				}
				if !fit && raw > bestMisfit.score {
					bestMisfit = quoted{text: s, score: raw}
				}
				if fit && raw > bestFitRaw {
					bestFitRaw = raw
				}
				// A sentence met through the earlier message must also say
				// what the question asks for ("这个归哪个单位处理？" after a
				// burst pipe: the rule naming the pipe's department).
				if score < threshold {
					continue
				}
				cands = append(cands, quoted{text: truncate(s, maxSentence), doc: di, pos: si, score: score, translated: cross > 0, fit: fit})
			}
		}
	}
	if len(types) > 0 && bestMisfit.score > bestFitRaw {
		bridge(cands, bestMisfit.text, own)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	seen := map[string]bool{}
	quotedDoc := map[int]bool{}
	english, hanQuoted := !hasHan(question), false
	var out []quoted
	for _, c := range cands {
		if len(out) == maxQuoted {
			break
		}
		// An English question is answered in English: one Chinese
		// sentence (the rule only a Chinese passage states) is quoted
		// with its gloss, a second would make the answer Chinese.
		if english && hanQuoted && hanShare(c.text) >= 0.5 {
			continue
		}
		// A bilingual passage says the same rule twice: once quoted from
		// it, its other-language twin adds nothing.
		if seen[c.text] || c.translated && quotedDoc[c.doc] || overlapsQuoted(out, c) {
			continue
		}
		seen[c.text] = true
		quotedDoc[c.doc] = true
		hanQuoted = hanQuoted || hanShare(c.text) >= 0.5
		out = append(out, c)
	}
	return out
}

// overlapsQuoted reports whether c and a sentence already quoted from the
// same passage are one the start of the other: a list's lead-in ("Calls
// that belong to an emergency service are transferred…:") and the lead-in
// joined to one of its items say the lead-in twice. Two clauses of one long
// sentence overlap too.
func overlapsQuoted(out []quoted, c quoted) bool {
	a := strings.TrimRight(c.text, ":：")
	for _, o := range out {
		b := strings.TrimRight(o.text, ":：")
		if o.doc == c.doc && (o.pos == c.pos || strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
			return true
		}
	}
	return false
}

// withoutFrames drops from a message's own words the clauses that only
// introduce a quotation ("A caller said:", "市民来电称："): a word of the frame
// ("caller") says nothing of what is asked.
func withoutFrames(own string) string {
	parts := strings.Split(own, quoteMark)
	for i := 0; i+1 < len(parts); i++ {
		p := strings.TrimRight(parts[i], " \t\n")
		if !strings.HasSuffix(p, ":") && !strings.HasSuffix(p, "：") {
			continue
		}
		// The frame is the last clause before the quotation.
		cut := strings.LastIndexAny(p[:len(p)-1], ".?!。？！\n")
		parts[i] = p[:cut+1]
	}
	return strings.Join(parts, " ")
}

// saidTerms are the terms of own that some passage of docs holds.
func saidTerms(own map[string]bool, docs []llm.DataBlock) map[string]bool {
	said := map[string]bool{}
	for _, d := range docs {
		for _, t := range tokenize(d.Body) {
			if own[t] {
				said[t] = true
			}
		}
	}
	return said
}

// addContext gives the terms of text weight w in context, keeping a
// heavier weight a term already has.
func addContext(context map[string]float64, text string, w float64) {
	for t := range termSet(text) {
		context[t] = max(context[t], w)
	}
}

func fitsAny(types []*answerType, sentence, lowQuestion string) bool {
	for _, a := range types {
		if a.fits(sentence, lowQuestion) {
			return true
		}
	}
	return false
}

// splitSentences cuts text at Chinese and English sentence ends and at line
// breaks, dropping Markdown list and heading marks. A Markdown table row
// becomes one sentence naming each cell by its column ("Road class: Arterial
// road, Fee: 8 yuan"); the header and rule rows are not sentences.
func splitSentences(text string) []string {
	var out []string
	var header, pending []string
	lead := "" // a clause that introduces a list ("承办单位应当在下列时限内办结：")
	for _, line := range strings.Split(text, "\n") {
		cells, ok := tableCells(line)
		if !ok {
			if pending != nil {
				out = append(out, strings.Join(pending, ", "))
			}
			header, pending = nil, nil
			t := strings.TrimSpace(line)
			switch {
			case t == "":
			case lead != "" && isListItem(t):
				// An item alone ("（三）一般诉求：7日内办结；") does not say
				// what it lists: it is quoted with the clause before it.
				n := len(out)
				out = appendSentences(out, line)
				if len(out) > n {
					out[n] = lead + " " + out[n]
				}
			default:
				lead = ""
				n := len(out)
				out = appendSentences(out, line)
				if len(out) > n && (strings.HasSuffix(t, "：") || strings.HasSuffix(t, ":")) {
					lead = out[len(out)-1]
				}
			}
			continue
		}
		switch {
		case isRule(cells):
			header, pending = pending, nil
		case pending != nil:
			out = append(out, strings.Join(pending, ", "))
			pending = cells
		case header == nil:
			pending = cells
		default:
			out = append(out, rowSentence(header, cells))
		}
	}
	if pending != nil {
		out = append(out, strings.Join(pending, ", "))
	}
	return out
}

// isListItem reports whether a trimmed line is an item of a list: a
// Markdown bullet, "1." / "1)" / "1、", or a Chinese "（一）" / "(1)".
func isListItem(t string) bool {
	if strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "• ") ||
		strings.HasPrefix(t, "（") || strings.HasPrefix(t, "(") {
		return true
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i == len(t) {
		return false
	}
	return t[i] == '.' || t[i] == ')' || strings.HasPrefix(t[i:], "、")
}

// tableCells splits a Markdown table row into its cells.
func tableCells(line string) ([]string, bool) {
	t := strings.TrimSpace(line)
	if len(t) < 2 || t[0] != '|' {
		return nil, false
	}
	parts := strings.Split(strings.Trim(t, "|"), "|")
	cells := make([]string, len(parts))
	for i, p := range parts {
		cells[i] = strings.TrimSpace(p)
	}
	return cells, true
}

// isRule reports whether cells are a table's |---|:--:| rule.
func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" || c == "" {
			return false
		}
	}
	return true
}

func rowSentence(header, cells []string) string {
	parts := make([]string, 0, len(cells))
	for i, c := range cells {
		if c == "" {
			continue
		}
		if i < len(header) && header[i] != "" {
			c = header[i] + ": " + c
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, ", ")
}

// appendSentences adds the sentences of one line of prose, as substrings
// of it. A ； joins the clauses of one rule ("黄灯时间为3秒；…的路口为4秒"):
// quoting one clause alone would give the exception without the rule.
func appendSentences(out []string, line string) []string {
	start := 0
	flush := func(end int) {
		s := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line[start:end]), "#*->•·"))
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if utf8.RuneCountInString(s) >= 4 {
			out = append(out, s)
		}
		start = end
	}
	for i, r := range line {
		switch r {
		case '\r':
			flush(i)
			start = i + 1
		case '。', '！', '？':
			flush(i + utf8.RuneLen(r))
		case '.', '!', '?':
			if i+1 == len(line) || line[i+1] == ' ' {
				flush(i + 1)
			}
		}
	}
	flush(len(line))
	return out
}

// appendClauses adds the clauses of a sentence too long to quote, cut after
// each semicolon ("…within 3 months; a road occupation permit lasts at most
// 90 days…; a night works permit covers at most 15 nights."); a sentence
// without one stays whole.
func appendClauses(out []string, s string) []string {
	start := 0
	for i, r := range s {
		if r != ';' && r != '；' {
			continue
		}
		if c := strings.TrimSpace(s[start : i+utf8.RuneLen(r)]); utf8.RuneCountInString(c) >= 4 {
			out = append(out, c)
		}
		start = i + utf8.RuneLen(r)
	}
	if c := strings.TrimSpace(s[start:]); utf8.RuneCountInString(c) >= 4 {
		out = append(out, c)
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// chunks splits text for streaming, by line and, within long lines, by
// sentence. Joined, they are the text again.
func chunks(text string) []string {
	var out []string
	for len(text) > 0 {
		end := strings.IndexByte(text, '\n') + 1
		if end == 0 {
			end = len(text)
		}
		line := text[:end]
		text = text[end:]
		for len(line) > 0 {
			cut := len(line)
			if utf8.RuneCountInString(line) > 80 {
				if i := sentenceEnd(line); i > 0 {
					cut = i
				}
			}
			out = append(out, line[:cut])
			line = line[cut:]
		}
	}
	return out
}

// sentenceEnd returns the byte offset just after the first sentence end in
// line: Chinese 。！？； anywhere, or . ! ? followed by a space (so that
// decimals such as 1.31 are never split); 0 if there is none.
func sentenceEnd(line string) int {
	for i, r := range line {
		switch r {
		case '。', '！', '？', '；':
			return i + utf8.RuneLen(r)
		case '.', '!', '?':
			if next := i + 1; next < len(line) && line[next] == ' ' {
				return next + 1
			}
		}
	}
	return 0
}

// ordered is a JSON value that keeps its object keys in the order the tool
// wrote them, so that rendering follows the tool's own layout.
type ordered struct {
	kind  kind
	text  string // scalars as written (strings unquoted)
	keys  []string
	vals  []*ordered
	items []*ordered
}

type kind int

const (
	kindNull kind = iota
	kindString
	kindNumber
	kindBool
	kindObject
	kindArray
)

var errTrailing = errors.New("offline: trailing data after JSON value")

func parseOrdered(s string) (*ordered, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errTrailing
	}
	return v, nil
}

func decodeOrdered(dec *json.Decoder) (*ordered, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &ordered{kind: kindObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				val, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k)
				v.vals = append(v.vals, val)
			}
			_, err := dec.Token()
			return v, err
		case '[':
			v := &ordered{kind: kindArray}
			for dec.More() {
				it, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, it)
			}
			_, err := dec.Token()
			return v, err
		}
		return nil, fmt.Errorf("offline: unexpected %v", t)
	case string:
		return &ordered{kind: kindString, text: t}, nil
	case json.Number:
		return &ordered{kind: kindNumber, text: t.String()}, nil
	case bool:
		return &ordered{kind: kindBool, text: fmt.Sprint(t)}, nil
	default:
		return &ordered{kind: kindNull, text: "null"}, nil
	}
}

func (v *ordered) field(k string) (*ordered, bool) {
	if v.kind != kindObject {
		return nil, false
	}
	for i, key := range v.keys {
		if key == k {
			return v.vals[i], true
		}
	}
	return nil, false
}

// errorText finds the error a failed call reports: {"error": "…"} or
// {"error": {"message": "…"}}.
func (v *ordered) errorText() (string, bool) {
	e, ok := v.field("error")
	if !ok {
		return "", false
	}
	switch e.kind {
	case kindString:
		return e.text, e.text != ""
	case kindObject:
		if m, ok := e.field("message"); ok && m.kind == kindString {
			return m.text, true
		}
		return e.compact(), true
	}
	return "", false
}

func (v *ordered) scalars() bool {
	for _, it := range v.items {
		if it.kind == kindObject || it.kind == kindArray {
			return false
		}
	}
	return true
}

// compact renders a value on one line: objects as "k: v, k: v" (scalar
// fields only), arrays of scalars as "a, b, c".
func (v *ordered) compact() string {
	switch v.kind {
	case kindObject:
		var parts []string
		for i, k := range v.keys {
			f := v.vals[i]
			switch f.kind {
			case kindObject:
				continue
			case kindArray:
				if !f.scalars() {
					parts = append(parts, fmt.Sprintf("%s: [%d]", k, len(f.items)))
					continue
				}
			}
			parts = append(parts, k+": "+f.compact())
			if len(parts) == 6 {
				break
			}
		}
		return truncate(strings.Join(parts, ", "), maxFieldText*2)
	case kindArray:
		var parts []string
		for _, it := range v.items[:min(5, len(v.items))] {
			if it.kind != kindObject && it.kind != kindArray {
				parts = append(parts, it.compact())
			}
		}
		s := strings.Join(parts, ", ")
		if len(v.items) > 5 {
			s += ", …"
		}
		return s
	}
	return truncate(oneLine(v.text), maxFieldText)
}
