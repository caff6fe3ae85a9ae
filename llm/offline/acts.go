package offline

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// act is what a message does: ask (answer only) or request an action
// (propose). Text the user quotes — a citizen's words, an e-mail — is data
// inside either: it never makes a message a request and never fills a
// proposal.
type act int

const (
	actQuestion act = iota
	actRequest
)

func (a act) String() string {
	if a == actRequest {
		return "request"
	}
	return "question"
}

// reading is a message as the planner reads it.
type reading struct {
	act    act
	own    string   // the user's own words: the message without what it quotes
	quoted []string // the quoted material, in order
}

// minQuoted is the shortest quotation treated as quoted material; shorter
// quotes ("green wave") are names the user puts in quotes.
const minQuoted = 12

// quotePairs open and close quotations.
var quotePairs = map[rune]rune{'“': '”', '「': '」', '『': '』', '"': '"', '«': '»', '＂': '＂'}

// readMessage classifies a message and separates what it quotes.
func readMessage(s string) reading {
	own, quoted := splitQuoted(s)
	r := reading{own: own, quoted: quoted}
	for _, c := range clauses(own) {
		if isRequestClause(c.text, c.asked) {
			r.act = actRequest
			break
		}
	}
	return r
}

// splitQuoted removes quotations of at least minQuoted runes and lines
// quoted with ">", returning the rest and the quotations.
func splitQuoted(s string) (string, []string) {
	if !strings.ContainsAny(s, "“「『\"«＂>＞") {
		return s, nil
	}
	var own strings.Builder
	var quoted []string
	lines := strings.Split(s, "\n")
	for li, line := range lines {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, ">") || strings.HasPrefix(t, "＞") {
			quoted = append(quoted, strings.TrimSpace(strings.TrimLeft(t, ">＞ ")))
			continue
		}
		rs := []rune(line)
		for i := 0; i < len(rs); i++ {
			closeR, ok := quotePairs[rs[i]]
			if ok {
				if j := indexRune(rs, closeR, i+1); j > i && j-i-1 >= minQuoted {
					quoted = append(quoted, string(rs[i+1:j]))
					own.WriteString(quoteMark)
					i = j
					continue
				}
			}
			own.WriteRune(rs[i])
		}
		if li+1 < len(lines) {
			own.WriteByte('\n')
		}
	}
	return own.String(), quoted
}

// quoteMark stands in a message's own words where a quotation was.
const quoteMark = " … "

func indexRune(rs []rune, r rune, from int) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// clause is a stretch of a message between sentence or clause marks, with
// whether it ends in a question mark.
type clause struct {
	text  string
	asked bool
}

func clauses(s string) []clause {
	var out []clause
	var cur strings.Builder
	flush := func(asked bool) {
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, clause{text: t, asked: asked})
		}
		cur.Reset()
	}
	for _, r := range s {
		switch r {
		case '?', '？':
			flush(true)
		case '.', '!', '！', '。', ';', '；', ',', '，', '—', '–', ':', '：', '\n':
			flush(false)
		default:
			cur.WriteRune(r)
		}
	}
	flush(false)
	// A question mark covers the clauses of its sentence: "BP-1, when is it?".
	for i := len(out) - 2; i >= 0; i-- {
		if out[i+1].asked && !endsSentence(s, out[i].text) {
			out[i].asked = true
		}
	}
	return out
}

// endsSentence reports whether the clause c of s is followed by a full stop
// rather than a comma.
func endsSentence(s, c string) bool {
	at := strings.Index(s, c)
	if at < 0 {
		return true
	}
	rest := strings.TrimLeft(s[at+len(c):], " ")
	r, _ := utf8.DecodeRuneInString(rest)
	return strings.ContainsRune(".!！。;；\n", r)
}

// isRequestClause decides one clause. English: it opens with an action verb
// ("propose a retiming", "please send a crew"), or a request frame precedes
// one ("could you schedule…"). Chinese: it holds an action verb and either
// is no question or carries a request frame ("请…", "帮我…").
func isRequestClause(c string, asked bool) bool {
	l := lex()
	if hasHan(c) {
		for _, n := range l.negationsZH {
			if strings.Contains(c, n) {
				return false
			}
		}
		framed := false
		for _, f := range l.requestFramesZH {
			if strings.Contains(c, f) {
				framed = true
				break
			}
		}
		if !framed && (asked || zhQuestion(c)) {
			return false
		}
		for _, v := range l.requestVerbsZH {
			if strings.Contains(c, v) {
				return true
			}
		}
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(c), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' && r != '-'
	})
	if len(words) == 0 {
		return false
	}
	low := " " + strings.Join(words, " ") + " "
	for _, n := range l.negationsEN {
		if strings.Contains(low, " "+n+" ") {
			return false
		}
	}
	framed := false
	for _, f := range l.framesEN {
		if at := strings.Index(low, " "+f+" "); at >= 0 {
			rest := strings.Fields(low[at+len(f)+2:])
			for len(rest) > 0 && (rest[0] == "please" || rest[0] == "now" || rest[0] == "also") {
				rest = rest[1:]
			}
			if l.verbStarts(rest) {
				return true
			}
			framed = true
		}
	}
	if !asked && l.needs(low) {
		return true
	}
	if l.openersEN[words[0]] && !framed {
		return false
	}
	i := 0
	for i < len(words)-1 && (words[i] == "now" || words[i] == "then" || words[i] == "so" || words[i] == "ok" || words[i] == "okay" || words[i] == "and" || words[i] == "also") {
		i++
	}
	return l.verbStarts(words[i:])
}

// verbStarts reports whether words open with an English request verb, one
// word ("schedule") or several ("set up").
// needs tells a statement of need that asks for an action ("We need a
// day-ahead DR event in Dongcheng tomorrow to cut 3000 kW."): low opens with
// a need frame and a request verb follows a later "to". Without one ("We
// need the figures for Nanhu.") it asks for nothing.
func (l *lexicon) needs(low string) bool {
	for _, f := range l.needFramesEN {
		if !strings.HasPrefix(low, " "+f+" ") {
			continue
		}
		rest := strings.Fields(low[len(f)+2:])
		for i := 0; i+1 < len(rest); i++ {
			if rest[i] == "to" && l.verbStarts(rest[i+1:]) {
				return true
			}
		}
	}
	return false
}

func (l *lexicon) verbStarts(words []string) bool {
	if len(words) == 0 {
		return false
	}
	if l.requestVerbsEN[words[0]] {
		return true
	}
	for n := 2; n <= 3 && n <= len(words); n++ {
		if l.requestVerbsEN[strings.Join(words[:n], " ")] {
			return true
		}
	}
	return false
}

// zhQuestion reports whether a Chinese clause asks something. A cue that
// ends in 没 ("修了没") asks only at the clause's end or before 有 or a
// particle: "垃圾桶满了没人清" says that nobody clears the bins.
func zhQuestion(c string) bool {
	for _, q := range lex().cuesZH {
		if !strings.HasSuffix(q, "没") {
			if strings.Contains(c, q) {
				return true
			}
			continue
		}
		for rest := c; ; {
			at := strings.Index(rest, q)
			if at < 0 {
				break
			}
			rest = rest[at+len(q):]
			next, _ := utf8.DecodeRuneInString(rest)
			if rest == "" || strings.ContainsRune("有呀啊呢吧嘛", next) || !isHan(next) {
				return true
			}
		}
	}
	return false
}
