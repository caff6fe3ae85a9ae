// Package extract turns uploaded files — plain text, Markdown, HTML, PDF and
// CSV — into knowledge documents ready to ingest. It detects the format from
// the file name, the declared content type and the bytes, normalises the text
// (UTF-8, with GB18030 files decoded), keeps document structure where the
// chunker can use it (HTML headings become Markdown headings), and makes one
// document per CSV row. It writes nothing: callers validate every document
// before ingesting any, so that a bad file leaves no trace.
package extract

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/knowledge"
)

// Format is a file format extract understands.
type Format string

// The formats.
const (
	Text     Format = "text"
	Markdown Format = "markdown"
	HTML     Format = "html"
	PDF      Format = "pdf"
	CSV      Format = "csv"
)

// Formats lists every format, in a stable order.
var Formats = []Format{Text, Markdown, HTML, PDF, CSV}

// Errors callers branch on. Messages of errors wrapping them are safe to
// show to the uploader.
var (
	ErrUnsupported = usererr.New("extract", "unsupported format")
	ErrCorrupt     = usererr.New("extract", "corrupt file")
	ErrTooLarge    = usererr.New("extract", "too large")
)

// Limits.
const (
	DefaultMaxRows = 100_000 // CSV rows per file
	MaxCSVFields   = 200
)

// ParseFormat reads a format name ("md" and "htm" are accepted too).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "text", "txt", "plain":
		return Text, nil
	case "markdown", "md":
		return Markdown, nil
	case "html", "htm":
		return HTML, nil
	case "pdf":
		return PDF, nil
	case "csv":
		return CSV, nil
	}
	return "", usererr.Errorf("%w %q (want text, markdown, html, pdf or csv)", ErrUnsupported, s)
}

var byExtension = map[string]Format{
	".txt": Text, ".text": Text,
	".md": Markdown, ".markdown": Markdown,
	".html": HTML, ".htm": HTML,
	".pdf": PDF,
	".csv": CSV,
}

var byMediaType = map[string]Format{
	"text/plain": Text, "text/markdown": Markdown, "text/x-markdown": Markdown,
	"text/html": HTML, "application/xhtml+xml": HTML,
	"application/pdf": PDF,
	"text/csv":        CSV, "application/csv": CSV,
}

// Detect names the format of a file: by its extension, else by its declared
// content type, else by sniffing its first bytes. A file with a known
// extension of another kind (.docx, .png) or of no recognisable kind is
// ErrUnsupported.
func Detect(name, contentType string, data []byte) (Format, error) {
	ext := strings.ToLower(path.Ext(name))
	if f, ok := byExtension[ext]; ok {
		return f, nil
	}
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	if f, ok := byMediaType[mt]; ok {
		return f, nil
	}
	known := ext == "" && (mt == "" || mt == "application/octet-stream")
	if !known {
		return "", usererr.Errorf("%w: %s", ErrUnsupported, describe(name, contentType))
	}
	switch sniffed := http.DetectContentType(data); {
	case strings.HasPrefix(sniffed, "application/pdf"):
		return PDF, nil
	case strings.HasPrefix(sniffed, "text/html"):
		return HTML, nil
	case strings.HasPrefix(sniffed, "text/plain"):
		return Text, nil
	}
	return "", usererr.Errorf("%w: %s is not text, Markdown, HTML, PDF or CSV", ErrUnsupported, describe(name, contentType))
}

func describe(name, contentType string) string {
	switch {
	case name != "" && contentType != "":
		return fmt.Sprintf("%q (%s)", name, contentType)
	case name != "":
		return fmt.Sprintf("%q", name)
	case contentType != "":
		return contentType
	}
	return "the file"
}

// File is one uploaded file.
type File struct {
	Name        string // file name, used for the default id, title and source
	ContentType string // declared media type, may be empty
	Data        []byte
	Format      Format // empty: Detect
}

// Options tune extraction.
type Options struct {
	// CSV: the column whose value names a row's document (default "id"
	// when the header has it, else the row number), the column giving its
	// title (default "title" or "name" when present), and columns copied
	// into its metadata for filtering.
	IDColumn        string
	TitleColumn     string
	MetadataColumns []string
	MaxRows         int // default DefaultMaxRows
}

// Extract returns the documents in f, each starting from base: its id,
// collection, title, source, clearance, metadata and validity apply to every
// document, and where base leaves the id, title or source empty they come
// from the file (its name, its first heading or <title>, its front matter).
// Every format but CSV gives one document; CSV one per row.
func Extract(f File, base knowledge.Document, opts Options) ([]knowledge.Document, error) {
	format := f.Format
	if format == "" {
		var err error
		if format, err = Detect(f.Name, f.ContentType, f.Data); err != nil {
			return nil, err
		}
	}
	docs, err := extract(format, f, base, opts)
	if err != nil {
		return nil, err
	}
	for i := range docs {
		if docs[i].Source == "" && f.Name != "" {
			docs[i].Source = path.Base(strings.ReplaceAll(f.Name, `\`, "/"))
		}
	}
	return docs, nil
}

func extract(format Format, f File, base knowledge.Document, opts Options) ([]knowledge.Document, error) {
	if format == PDF {
		return one(f, base, extractPDF)
	}
	text, err := decodeText(f.Data)
	if err != nil {
		return nil, usererr.Errorf("%w: %s: %v", ErrCorrupt, describe(f.Name, f.ContentType), err)
	}
	switch format {
	case Text:
		return one(f, base, func([]byte) (string, string, error) { return text, "", nil })
	case Markdown:
		return markdown(f, base, text)
	case HTML:
		return one(f, base, func([]byte) (string, string, error) { return extractHTML(text) })
	case CSV:
		return extractCSV(f, base, text, opts)
	}
	return nil, usererr.Errorf("%w %q", ErrUnsupported, format)
}

// one builds the single document of a file whose text and title parse
// returns.
func one(f File, base knowledge.Document, parse func([]byte) (text, title string, err error)) ([]knowledge.Document, error) {
	text, title, err := parse(f.Data)
	if err != nil {
		return nil, err
	}
	doc := base
	doc.Text = text
	if doc.ID == "" {
		doc.ID = knowledge.DocumentID(f.Name)
	}
	if doc.Title == "" {
		doc.Title = title
	}
	if doc.Title == "" {
		doc.Title = firstHeading(text)
	}
	if doc.Title == "" && f.Name != "" {
		doc.Title = strings.TrimSuffix(path.Base(f.Name), path.Ext(f.Name))
	}
	return []knowledge.Document{doc}, nil
}

// firstHeading is the first Markdown ATX heading of text, if any.
func firstHeading(text string) string {
	for line := range strings.Lines(text) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			t = strings.TrimLeft(t, "#")
			if t != "" && (t[0] == ' ' || t[0] == '\t') {
				return strings.TrimSpace(t)
			}
		}
	}
	return ""
}

// decodeText returns data as UTF-8 text: without a byte-order mark, and
// decoded from GB18030 (which covers GBK and GB2312, common for Chinese files)
// when it is not valid UTF-8. Binary data is an error.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return "", errors.New("UTF-16 text is not supported; save it as UTF-8")
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return "", errors.New("binary data (NUL bytes) in a text file")
	}
	if utf8.Valid(data) {
		return string(data), nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil || !utf8.Valid(out) || bytes.ContainsRune(out, utf8.RuneError) {
		return "", errors.New("text is neither UTF-8 nor GB18030")
	}
	return string(out), nil
}
