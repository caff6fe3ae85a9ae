package extract

import (
	"bytes"
	"strings"

	"github.com/ledongthuc/pdf"

	"github.com/cityagent/cityagent/internal/usererr"
)

// maxPDFPages bounds the work one upload can cause.
const maxPDFPages = 2000

// extractPDF returns the text of a PDF's pages, a blank line between pages,
// and its Info title. The parser is pure Go; text drawn as images (scans)
// has no text to extract, and such a PDF comes out empty.
func extractPDF(data []byte) (text, title string, err error) {
	// The parser panics on some malformed files: a corrupt upload is a
	// client error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			text, title, err = "", "", usererr.Errorf("%w: PDF: %v", ErrCorrupt, p)
		}
	}()
	if !bytes.HasPrefix(bytes.TrimLeft(data, "\x00\t\n\r "), []byte("%PDF-")) {
		return "", "", usererr.Errorf("%w: PDF: no %%PDF- header", ErrCorrupt)
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", "", usererr.Errorf("%w: PDF: %v", ErrCorrupt, err)
	}
	n := r.NumPage()
	if n > maxPDFPages {
		return "", "", usererr.Errorf("%w: PDF of %d pages (limit %d)", ErrTooLarge, n, maxPDFPages)
	}
	var sb strings.Builder
	fonts := map[string]*pdf.Font{}
	for i := 1; i <= n; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for name, f := range pageFonts(p) {
			if _, ok := fonts[name]; !ok {
				fonts[name] = f
			}
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return "", "", usererr.Errorf("%w: PDF page %d: %v", ErrCorrupt, i, err)
		}
		if t = strings.TrimSpace(t); t != "" {
			sb.WriteString(t)
			sb.WriteString("\n\n")
		}
	}
	title = strings.TrimSpace(r.Trailer().Key("Info").Key("Title").Text())
	return strings.TrimSpace(sb.String()), title, nil
}

// pageFonts returns the fonts a page declares, so that their character maps
// are parsed once per document rather than once per page.
func pageFonts(p pdf.Page) map[string]*pdf.Font {
	out := map[string]*pdf.Font{}
	for _, name := range p.Fonts() {
		f := p.Font(name)
		out[name] = &f
	}
	return out
}
