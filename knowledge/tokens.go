package knowledge

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TokenizerVersion names the way Tokens splits text. Indexes built with
// another version are rebuilt: the content hash of a document covers it (so
// re-ingesting rewrites the document) and the embedded store's snapshot
// records it.
const TokenizerVersion = "tokens-2:cjk-unigram+bigram"

// Tokens splits text into the terms that lexical search matches on:
// lower-cased words of alphabetic scripts without common English stop words
// and with plurals folded ("permits" → "permit"), numbers kept whole ("2.0",
// "12345"), and for runs of CJK characters each character and each
// overlapping pair of characters. Chinese has no spaces; n-grams match it
// without a dictionary. On the demo city's 55 labelled Chinese questions
// (mostly paraphrases), hybrid search finds an answering document in the
// top 5 for 96% of them with characters plus pairs, against 89% with pairs
// alone; BM25 alone: 96% against 76% (pairs), 86% (the gse dictionary
// segmenter) and 31% (triples) — see knowledge/quality and
// docs/knowledge.md. Single characters match paraphrases that reword a
// term; pairs keep phrases ranked above scattered characters.
func Tokens(text string) []string {
	var out []string
	scanTerms(text, func(w []byte) {
		out = append(out, string(w))
	}, func(run []rune) {
		for _, r := range run {
			out = append(out, string(r))
		}
		for i := 0; i+1 < len(run); i++ {
			out = append(out, string(run[i:i+2]))
		}
	})
	return out
}

// scanTerms walks text once, calling word for each kept word or number (already
// lower-cased and folded) and run for each maximal run of CJK characters. Both
// slices are reused between calls: a caller that keeps a term copies it (most
// only hash or append it, and a word then costs no allocation).
func scanTerms(text string, word func([]byte), run func([]rune)) {
	var wb []byte
	flushWord := func() {
		if len(wb) == 0 {
			return
		}
		if !isStopWord(wb) {
			word(foldPlural(wb))
		}
		wb = wb[:0]
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
		if c := text[i]; c < utf8.RuneSelf {
			r, w = rune(c), 1 // foldWidth keeps ASCII
		} else {
			r, w = utf8.DecodeRuneInString(text[i:])
			r = foldWidth(r)
		}
		switch {
		case isCJK(r):
			flushWord()
			cjk = append(cjk, r)
		case r < utf8.RuneSelf && (isDigit(r) || 'a' <= r|0x20 && r|0x20 <= 'z'):
			// ASCII letters and digits, the common case of the next one.
			flushRun()
			c := byte(r)
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			wb = append(wb, c)
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			flushRun()
			wb = utf8.AppendRune(wb, unicode.ToLower(r))
		case r == '.' && isDigit(prev) && i+w < len(text) && isDigit(rune(text[i+w])):
			// A decimal point inside a number: "2.0" stays one term.
			wb = append(wb, '.')
		default:
			flushRun()
			flushWord()
		}
		prev = r
	}
	flushRun()
	flushWord()
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isCJK reports whether r belongs to a script written without spaces between
// words: Han, the Japanese kana and Hangul.
func isCJK(r rune) bool {
	if r < 0x2E80 {
		return false
	}
	if r >= 0x4E00 && r <= 0x9FFF {
		return true // CJK Unified Ideographs, all Han (TestIsCJKFastPath)
	}
	return unicode.Is(unicode.Han, r) || unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// foldWidth maps full-width ASCII forms (Ａ, １, ．) to ASCII, as Chinese text
// often mixes the two.
func foldWidth(r rune) rune {
	if r >= 0xFF01 && r <= 0xFF5E {
		return r - 0xFEE0
	}
	if r == 0x3000 {
		return ' '
	}
	return r
}

// foldPlural strips a regular English plural so that "permits" matches
// "permit". It is deliberately tiny: both the documents and the queries pass
// through it, so consistency matters more than linguistic accuracy.
// It may change w in place.
func foldPlural(w []byte) []byte {
	n := len(w)
	if n <= 3 || w[n-1] != 's' || isDigit(rune(w[0])) {
		return w
	}
	switch {
	case bytes.HasSuffix(w, []byte("ss")), bytes.HasSuffix(w, []byte("us")), bytes.HasSuffix(w, []byte("is")):
		return w
	case bytes.HasSuffix(w, []byte("ies")) && n > 4:
		return append(w[:n-3], 'y')
	case bytes.HasSuffix(w, []byte("sses")), bytes.HasSuffix(w, []byte("ches")), bytes.HasSuffix(w, []byte("shes")), bytes.HasSuffix(w, []byte("xes")):
		return w[:n-2]
	}
	return w[:n-1]
}

func isStopWord(w []byte) bool {
	if len(w) > stopWordMaxLen || w[0] < 'a' || w[0] > 'z' {
		return false // the cheap test first: most words miss the map
	}
	_, ok := stopWords[string(w)]
	return ok
}

// stopWordMaxLen is the length of the longest stop word.
var stopWordMaxLen = func() int {
	n := 0
	for w := range stopWords {
		n = max(n, len(w))
	}
	return n
}()

var stopWords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does
		for from had has have how i if in into is it its may me my no not of on or our
		should so than that the their them then there these they this those to was we
		were what when where which who whom why will with would you your`) {
		m[w] = struct{}{}
	}
	return m
}()
