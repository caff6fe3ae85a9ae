package extract

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/cityagent/cityagent/internal/usererr"
)

// extractHTML returns the readable text of an HTML page and its title.
// Headings become Markdown headings ("## …") so that chunks keep their
// heading path; paragraphs, list items, table rows and line breaks become
// lines; scripts, styles, navigation and forms are dropped.
func extractHTML(src string) (text, title string, err error) {
	root, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return "", "", usererr.Errorf("%w: HTML: %v", ErrCorrupt, err)
	}
	w := &htmlText{}
	w.walk(root)
	return w.String(), strings.TrimSpace(collapse(w.title)), nil
}

type htmlText struct {
	sb    strings.Builder
	line  strings.Builder
	title string
}

func (w *htmlText) String() string {
	w.flush()
	return strings.TrimSpace(w.sb.String())
}

// flush ends the current line.
func (w *htmlText) flush() {
	if l := strings.TrimSpace(collapse(w.line.String())); l != "" {
		w.sb.WriteString(l)
		w.sb.WriteString("\n")
	}
	w.line.Reset()
}

// block ends the current line and leaves a blank line: a paragraph break.
func (w *htmlText) block() {
	w.flush()
	if s := w.sb.String(); s != "" && !strings.HasSuffix(s, "\n\n") {
		w.sb.WriteString("\n")
	}
}

var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Form: true, atom.Button: true, atom.Select: true,
	atom.Svg: true, atom.Iframe: true, atom.Object: true, atom.Head: false,
}

var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.Header: true, atom.Footer: true, atom.Aside: true, atom.Blockquote: true,
	atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Pre: true,
	atom.Figure: true, atom.Figcaption: true, atom.Address: true, atom.Hr: true,
}

var headingLevel = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

func (w *htmlText) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.line.WriteString(n.Data)
		return
	case html.ElementNode:
		if skipped[n.DataAtom] {
			return
		}
		switch n.DataAtom {
		case atom.Title:
			if w.title == "" {
				w.title = textOf(n)
			}
			return
		case atom.Br:
			w.flush()
			return
		}
		if lvl, ok := headingLevel[n.DataAtom]; ok {
			w.block()
			if h := strings.TrimSpace(collapse(textOf(n))); h != "" {
				w.sb.WriteString(strings.Repeat("#", lvl) + " " + h + "\n\n")
			}
			return
		}
		switch n.DataAtom {
		case atom.Li, atom.Tr, atom.Dt, atom.Dd:
			w.flush()
		case atom.Td, atom.Th:
			if w.line.Len() > 0 {
				w.line.WriteString(" | ")
			}
		default:
			if blocks[n.DataAtom] {
				w.block()
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if n.Type == html.ElementNode {
		switch {
		case n.DataAtom == atom.Li || n.DataAtom == atom.Tr || n.DataAtom == atom.Dt || n.DataAtom == atom.Dd:
			w.flush()
		case blocks[n.DataAtom]:
			w.block()
		}
	}
}

func textOf(n *html.Node) string {
	var sb strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && skipped[n.DataAtom] {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return sb.String()
}

// collapse turns runs of white space into one space.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
