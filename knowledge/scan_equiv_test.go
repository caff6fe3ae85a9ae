package knowledge

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// scanTermsRef is scanTerms before its ASCII and CJK fast paths and its
// reused word buffer: the reference TestScanTermsMatchesReference holds
// the tokenizer to, since indexes, phrase keys and hashed vectors all
// depend on it term for term.
func scanTermsRef(text string, word func(string), run func([]rune)) {
	var wb strings.Builder
	flushWord := func() {
		if wb.Len() == 0 {
			return
		}
		w := wb.String()
		wb.Reset()
		if _, stop := stopWords[w]; !stop {
			word(foldPluralRef(w))
		}
	}
	var cjk []rune
	flushRun := func() {
		if len(cjk) > 0 {
			run(cjk)
			cjk = cjk[:0]
		}
	}
	var prev rune
	for i, w := 0, 0; i < len(text); i += w {
		var r rune
		r, w = utf8.DecodeRuneInString(text[i:])
		r = foldWidth(r)
		switch {
		case isCJKRef(r):
			flushWord()
			cjk = append(cjk, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushRun()
			wb.WriteRune(unicode.ToLower(r))
		case r == '.' && isDigit(prev) && i+w < len(text) && isDigit(rune(text[i+w])):
			wb.WriteRune(r)
		default:
			flushRun()
			flushWord()
		}
		prev = r
	}
	flushRun()
	flushWord()
}

func foldPluralRef(w string) string {
	n := len(w)
	if n <= 3 || w[n-1] != 's' || isDigit(rune(w[0])) {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "ies") && n > 4:
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "xes"):
		return w[:n-2]
	}
	return w[:n-1]
}

func isCJKRef(r rune) bool {
	if r < 0x2E80 {
		return false
	}
	return unicode.Is(unicode.Han, r) || unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// scanEvents records scanTerms' calls: "w:" words and "r:" runs.
func scanEvents(scan func(string, func(string), func([]rune)), text string) []string {
	var out []string
	scan(text, func(w string) { out = append(out, "w:"+w) }, func(run []rune) { out = append(out, "r:"+string(run)) })
	return out
}

func randomText(r *rand.Rand) string {
	pieces := []string{
		"Permits", "policies", "classes", "boxes", "bus", "THE", "and", "is", "ties", "matches", "wishes", "crisis",
		"R0001234", "2.0", "3.14.15", "v1.2", ".5", "5.", "PRM-2024-0173", "zephyrcode7007", "139-0000-2202",
		"信号配时", "交通信号控制中心审批", "〇々〆", "㐀㐁", "𠀀𠀁", "一", "鿿", "ひらがな", "カタカナ", "한국어",
		"ＡＢＣ", "ｘｙｚ", "１２３", "．", "，", "。", "　", "、", "“quoted”", "\"q\"", "Ünïcödé", "ÉCOLE", "İstanbul",
		"ẞtraße", "Ωmega", "Приказы", "ٱلعربية", "e\u0301", "\xff\xfe", "\xe4\xb8", " ", "\n", "\t", "-", "_", "/", "#",
		"a", "S", "s", "ss", "ies", "xes", "1s", "ａｐｐｌｅｓ",
	}
	var sb strings.Builder
	for range 1 + r.IntN(30) {
		switch r.IntN(4) {
		case 0:
			sb.WriteRune(rune(r.IntN(0x3000)))
		case 1:
			sb.WriteRune(rune(0x2E00 + r.IntN(0xA000)))
		default:
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		if r.IntN(3) == 0 {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// TestScanTermsMatchesReference holds scanTerms, and the phrase keys and
// tokens made from it, to the reference on random mixed-script text.
func TestScanTermsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	scan := func(text string, word func(string), run func([]rune)) {
		scanTerms(text, func(w []byte) { word(string(w)) }, run)
	}
	for i := range 50_000 {
		text := randomText(r)
		got, want := scanEvents(scan, text), scanEvents(scanTermsRef, text)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d %q:\n got %q\nwant %q", i, text, got, want)
		}
	}
}

// TestIsCJKFastPath checks isCJK against the Unicode tables on every code
// point.
func TestIsCJKFastPath(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if isCJK(r) != isCJKRef(r) {
			t.Fatalf("isCJK(%U) = %v", r, isCJK(r))
		}
	}
}

// TestLowerKeepsTerms checks, rune by rune, what Match's verbatim test
// relies on: lower-casing a text does not change its terms.
func TestLowerKeepsTerms(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := "中" + string(r) + "中"
		if a, b := scanEvents(scanTermsRef, s), scanEvents(scanTermsRef, strings.ToLower(s)); !slices.Equal(a, b) {
			t.Fatalf("%U: %q, lower-cased %q", r, a, b)
		}
	}
}

// matchRef is Matcher.Match without the verbatim test.
func (m *Matcher) matchRef(c Chunk) int {
	saved := m.verbatim
	m.verbatim = nil
	defer func() { m.verbatim = saved }()
	return m.Match(c)
}

// TestMatchVerbatimMatchesReference compares Match with and without its
// verbatim shortcut on random queries and texts that often hold them.
func TestMatchVerbatimMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	shortcuts := 0
	for i := range 50_000 {
		q := randomText(r)
		if r.IntN(3) == 0 {
			q = "“" + q + "” " + randomText(r)
		}
		body := randomText(r)
		switch r.IntN(3) {
		case 0:
			body += q + randomText(r)
		case 1:
			body += strings.ToUpper(q) + randomText(r)
		}
		c := Chunk{ID: "d#0", DocID: "d", Title: randomText(r), Text: body}
		m := NewMatcher(q)
		got, want := m.Match(c), m.matchRef(c)
		if got != want {
			t.Fatalf("case %d: query %q, text %q: %d, want %d", i, q, IndexText(c), got, want)
		}
		if m.verbatim != nil && got == MatchPhrase {
			shortcuts++
		}
	}
	if shortcuts < 1000 {
		t.Errorf("only %d cases could take the shortcut", shortcuts)
	}
}
