package knowledge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Chunking defaults, in runes.
const (
	DefaultChunkSize    = 500
	DefaultChunkOverlap = 80
)

// Chunker splits a document's text into pieces of at most Size runes,
// structure first: Markdown headings start new sections (each piece keeps
// its heading path), then paragraphs are kept whole where they fit, then
// sentences, ended by 。！？； or by . ! ? before a space. A sentence is cut
// only when it alone is longer than Size.
//
// Consecutive pieces of a section share up to Overlap runes: the last whole
// sentences of a piece are repeated at the start of the next, so that a fact
// stated across a boundary is still found in one piece. A sentence longer
// than Overlap is not repeated.
type Chunker struct {
	Size    int // runes per piece; 0 = DefaultChunkSize
	Overlap int // runes repeated between pieces; 0 = DefaultChunkOverlap, < 0 = none
}

// Piece is one chunk of text with the headings above it, outermost first.
type Piece struct {
	HeadingPath []string
	Text        string
}

func (c Chunker) limits() (size, overlap int) {
	size, overlap = c.Size, c.Overlap
	if size <= 0 {
		size = DefaultChunkSize
	}
	switch {
	case overlap == 0:
		overlap = DefaultChunkOverlap
	case overlap < 0:
		overlap = 0
	}
	if overlap > size/2 {
		overlap = size / 2
	}
	return size, overlap
}

// Split returns the pieces of text in order; none for blank text.
func (c Chunker) Split(text string) []Piece {
	size, overlap := c.limits()
	var out []Piece
	for _, sec := range sections(normalizeText(text)) {
		var paras [][]segment
		for i, p := range paragraphs(sec.body) {
			var segs []segment
			for _, s := range sentences(p) {
				for _, part := range cutLong(s, size) {
					segs = append(segs, segment{text: part, n: utf8.RuneCountInString(part), para: i})
				}
			}
			paras = append(paras, segs)
		}
		p := packer{size: size, overlap: overlap, path: sec.path}
		p.pack(paras)
		out = append(out, p.out...)
	}
	return out
}

// normalizeText makes line ends "\n", drops a byte-order mark, NULs and
// invalid UTF-8, so that hashes and chunks do not depend on how a file was
// saved.
func normalizeText(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.TrimPrefix(s, "\uFEFF")
	if strings.ContainsAny(s, "\r\x00") {
		s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "").Replace(s)
	}
	return s
}

type section struct {
	path []string
	body string
}

// sections splits Markdown at ATX headings ("## Title"), outside fenced code.
func sections(text string) []section {
	type heading struct {
		level int
		title string
	}
	var (
		out   []section
		stack []heading
		body  strings.Builder
		fence string
	)
	flush := func() {
		if strings.TrimSpace(body.String()) != "" {
			path := make([]string, len(stack))
			for i, h := range stack {
				path[i] = h.title
			}
			out = append(out, section{path: path, body: body.String()})
		}
		body.Reset()
	}
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			body.WriteString(line)
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			body.WriteString(line)
			continue
		}
		if level, title, ok := atxHeading(line); ok {
			flush()
			for len(stack) > 0 && stack[len(stack)-1].level >= level {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, heading{level, title})
			continue
		}
		body.WriteString(line)
	}
	flush()
	return out
}

// atxHeading parses "# Title", "### Title ###"; up to three leading spaces.
func atxHeading(line string) (level int, title string, ok bool) {
	line = strings.TrimRight(line, "\n")
	s := strings.TrimLeft(line, " ")
	if len(line)-len(s) > 3 {
		return 0, "", false
	}
	for level < len(s) && s[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(s) && s[level] != ' ' && s[level] != '\t') {
		return 0, "", false
	}
	title = strings.TrimSpace(s[level:])
	title = strings.TrimSpace(strings.TrimRight(title, "#"))
	return level, title, title != ""
}

// paragraphs splits at blank lines and trims each paragraph.
func paragraphs(body string) []string {
	var out []string
	var cur []string
	flush := func() {
		if p := strings.TrimSpace(strings.Join(cur, "")); p != "" {
			out = append(out, p)
		}
		cur = cur[:0]
	}
	for line := range strings.Lines(body) {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, strings.TrimRightFunc(line, unicode.IsSpace)+"\n")
	}
	flush()
	return out
}

// sentences splits a paragraph into sentences; concatenated they give back
// the paragraph. A sentence ends after 。！？； (with any closing quotes), after
// . ! ? followed by white space, or at a line break before a list item, table
// row or numbered article.
func sentences(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); {
		r, w := utf8.DecodeRuneInString(p[i:])
		end := -1
		switch r {
		case '。', '！', '？', '；':
			end = skipClosers(p, i+w)
		case '.', '!', '?':
			j := skipClosers(p, i+w)
			if j == len(p) || isSpaceByte(p[j]) {
				end = j
			}
		case '\n':
			if startsBlock(p[i+1:]) {
				end = i + 1
			}
		}
		if end < 0 {
			i += w
			continue
		}
		for end < len(p) && isSpaceByte(p[end]) {
			end++
		}
		out = append(out, p[start:end])
		start, i = end, end
	}
	if start < len(p) {
		out = append(out, p[start:])
	}
	return out
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// skipClosers steps over closing quotes and brackets and repeated sentence
// punctuation ("？！", "?!") that belong to the sentence just ended.
func skipClosers(p string, i int) int {
	for i < len(p) {
		r, w := utf8.DecodeRuneInString(p[i:])
		if !strings.ContainsRune("”’」』）)]\"'。！？；.!?", r) {
			break
		}
		i += w
	}
	return i
}

// startsBlock reports whether a line begins a list item, table row, quote or
// numbered article, which ends the sentence before it even without
// punctuation.
func startsBlock(line string) bool {
	s := strings.TrimLeft(line, " \t")
	if s == "" {
		return false
	}
	switch s[0] {
	case '|', '>':
		return true
	case '-', '*', '+':
		return len(s) > 1 && s[1] == ' '
	}
	if strings.HasPrefix(s, "（") || strings.HasPrefix(s, "第") {
		return true
	}
	// "1." "2)" "3、" "一、" "十二、"
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isDigit(r) && !strings.ContainsRune("一二三四五六七八九十", r) {
			break
		}
		i += w
	}
	if i == 0 || i == len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r == '.' || r == ')' || r == '、' || r == '．'
}

// cutLong splits a sentence longer than size runes, preferring a cut after a
// clause mark or space in the last third of each window.
func cutLong(s string, size int) []string {
	if utf8.RuneCountInString(s) <= size {
		return []string{s}
	}
	var out []string
	rs := []rune(s)
	for len(rs) > size {
		cut := size
		for j := size; j > size*2/3; j-- {
			if strings.ContainsRune("，、,：:；; \t\n", rs[j-1]) {
				cut = j
				break
			}
		}
		out = append(out, string(rs[:cut]))
		rs = rs[cut:]
	}
	if len(rs) > 0 {
		out = append(out, string(rs))
	}
	return out
}

type segment struct {
	text string
	n    int // runes
	para int // paragraph index within the section
}

// packer fills pieces greedily: a paragraph that fits goes whole, one that
// does not fit the current piece but fits an empty one starts the next piece,
// and only a paragraph bigger than a piece is packed sentence by sentence.
type packer struct {
	size, overlap int
	path          []string
	cur           []segment
	curLen        int
	fresh         int // segments in cur that are not overlap from the last piece
	out           []Piece
}

func (p *packer) sepBefore(s segment) int {
	if len(p.cur) == 0 || p.cur[len(p.cur)-1].para == s.para {
		return 0
	}
	return 2 // "\n\n"
}

func (p *packer) add(s segment) {
	p.curLen += p.sepBefore(s) + s.n
	p.cur = append(p.cur, s)
	p.fresh++
}

func (p *packer) pack(paras [][]segment) {
	for _, para := range paras {
		if len(para) == 0 {
			continue
		}
		n := 0
		for _, s := range para {
			n += s.n
		}
		if p.curLen+p.sepBefore(para[0])+n <= p.size {
			for _, s := range para {
				p.add(s)
			}
			continue
		}
		if n <= p.size {
			p.flush(para[0], n)
			for _, s := range para {
				p.add(s)
			}
			continue
		}
		for _, s := range para {
			if p.curLen+p.sepBefore(s)+s.n > p.size {
				p.flush(s, s.n)
			}
			p.add(s)
		}
	}
	if p.fresh > 0 {
		p.emit()
	}
}

// flush emits the current piece and seeds the next with its tail, keeping
// only as much of the tail as leaves room for n runes starting with next.
func (p *packer) flush(next segment, n int) {
	if p.fresh == 0 {
		// Only overlap so far: drop it rather than emit a repeat.
		p.cur, p.curLen = p.cur[:0], 0
	} else {
		p.emit()
	}
	// Take whole segments from the end while they fit the overlap budget.
	k, tail := len(p.cur), 0
	for k > 0 {
		s := p.cur[k-1]
		add := s.n
		if k < len(p.cur) && p.cur[k].para != s.para {
			add += 2
		}
		if tail+add > p.overlap {
			break
		}
		tail += add
		k--
	}
	seed := append([]segment(nil), p.cur[k:]...)
	p.cur, p.curLen, p.fresh = seed, tail, 0
	for len(p.cur) > 0 && p.curLen+p.sepBefore(next)+n > p.size {
		drop := p.cur[0]
		p.cur = p.cur[1:]
		p.curLen -= drop.n
		if len(p.cur) > 0 && p.cur[0].para != drop.para {
			p.curLen -= 2
		}
	}
	if len(p.cur) == 0 {
		p.curLen = 0
	}
}

func (p *packer) emit() {
	var b strings.Builder
	for i, s := range p.cur {
		if i > 0 && p.cur[i-1].para != s.para {
			trimmed := strings.TrimRightFunc(b.String(), unicode.IsSpace)
			b.Reset()
			b.WriteString(trimmed)
			b.WriteString("\n\n")
		}
		b.WriteString(s.text)
	}
	if text := strings.TrimSpace(b.String()); text != "" {
		p.out = append(p.out, Piece{HeadingPath: p.path, Text: text})
	}
}
