package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// Strict input: what decodeJSON refuses before a body reaches a handler.
// The media type must be JSON; the bytes must be UTF-8 (encoding/json would
// silently replace bad bytes with U+FFFD); no string may carry control
// characters or bidirectional overrides; names and identifiers also may
// not carry invisible characters.

func unsupportedMediaType(detail string) *Problem {
	return &Problem{Status: fiber.StatusUnsupportedMediaType, Title: "Unsupported Media Type", Detail: detail}
}

// checkJSONMediaType accepts application/json and application/*+json, in
// any case, with any parameters except a charset other than UTF-8.
func checkJSONMediaType(c *fiber.Ctx) error {
	raw := strings.TrimSpace(string(c.Request().Header.ContentType()))
	if raw == "" {
		// Accepted as JSON: several clients and tests in this repository post
		// chat bodies without a Content-Type. To require one, return
		// unsupportedMediaType("the request has no Content-Type; send Content-Type: application/json").
		return nil
	}
	mt, params, err := mime.ParseMediaType(raw)
	if err != nil {
		return unsupportedMediaType("the Content-Type header is malformed; send Content-Type: application/json")
	}
	if !isJSONMediaType(mt) {
		return unsupportedMediaType(fmt.Sprintf("%s is not accepted; send the body as application/json", mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupportedMediaType(fmt.Sprintf("charset %s is not accepted; send UTF-8 (charset=utf-8, or no charset)", cs))
	}
	return nil
}

// isJSONMediaType reports whether mt (lower case, as mime.ParseMediaType
// returns it) is application/json or a structured-syntax +json type.
func isJSONMediaType(mt string) bool {
	if mt == fiber.MIMEApplicationJSON {
		return true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && len(sub) > len("+json") && strings.HasSuffix(sub, "+json")
}

// identifierFields are the body fields (paths with [] for any index) that
// hold names and identifiers; every object key is one too. Everything else
// is free text.
var identifierFields = map[string]bool{
	"name": true, "id": true, "session_id": true, "agent": true, "model": true, "kind": true, "role": true,
	"clearance": true, "format": true, "channel": true, "method": true, "category": true, "department": true,
	"tools[]": true, "documents[].id": true, "documents[].clearance": true, "documents[].format": true,
}

// checkJSONStrings checks the raw body: valid UTF-8, no unpaired surrogate
// escapes, and every string acceptable as text or, where it is a name, as a
// name. A body that is not well-formed JSON passes, for the decoder to
// report.
func checkJSONStrings(body []byte) error {
	badByte := -1
	if !utf8.Valid(body) {
		badByte = firstInvalidUTF8(body)
	}
	w := jsonWalker{dec: json.NewDecoder(bytes.NewReader(body))}
	w.dec.UseNumber()
	var prev int64
	for {
		tok, err := w.dec.Token()
		if err != nil {
			break
		}
		end := w.dec.InputOffset()
		raw := body[prev:end]
		start := prev
		prev = end
		d, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (d == '}' || d == ']'):
			w.stack = w.stack[:len(w.stack)-1]
			continue
		case w.atKey():
			key := tok.(string)
			w.top().key, w.top().wantKey = key, false
			if p := stringProblem(key, raw, badByte, start, end, true); p != "" {
				return badRequest("a field name is not acceptable", FieldError{w.path(false), p})
			}
			continue
		}
		w.valueStarts()
		switch t := tok.(type) {
		case json.Delim:
			w.stack = append(w.stack, walkFrame{object: t == '{', wantKey: t == '{', index: -1})
		case string:
			name := identifierFields[w.path(true)]
			if p := stringProblem(t, raw, badByte, start, end, name); p != "" {
				return badRequest("a field holds text that is not acceptable", FieldError{w.path(false), p})
			}
		}
	}
	if badByte >= 0 {
		return badRequest(fmt.Sprintf("the body is not valid UTF-8 (byte %d)", badByte))
	}
	return nil
}

// stringProblem says what is wrong with the string s whose token spans
// body[start:end] (raw), or "".
func stringProblem(s string, raw []byte, badByte int, start, end int64, name bool) string {
	if badByte >= 0 && int64(badByte) >= start && int64(badByte) < end {
		return fmt.Sprintf("must be valid UTF-8 (byte %d is not)", badByte)
	}
	if n := strings.Count(s, "\uFFFD"); n > 0 && n > replacementsIn(raw) {
		return "must not contain an unpaired UTF-16 surrogate escape"
	}
	if name {
		return nameProblem(s)
	}
	return textProblem(s)
}

// formValueProblem checks one value of a form field by the same rules as a
// JSON string, or says "".
func formValueProblem(field, v string) string {
	if !utf8.ValidString(v) {
		return "must be valid UTF-8"
	}
	if identifierFields[field] {
		return nameProblem(v)
	}
	return textProblem(v)
}

// replacementsIn counts the U+FFFD a raw JSON token spells out, literally
// or escaped; the decoder adds one for each unpaired surrogate escape.
func replacementsIn(raw []byte) int {
	return bytes.Count(raw, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(raw), []byte(`\ufffd`))
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// textProblem checks free text (a ticket, a chat message, a document): tabs
// and line breaks are text, other control characters are not. Bidirectional
// overrides and isolates are refused too: they make text display in another
// order than it is stored (Trojan Source), so what a supervisor reads in
// the audit trail or the console could differ from what the agent acted on.
// Direction marks (U+200E, U+200F, U+061C) stay: right-to-left text needs them.
func textProblem(s string) string {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case isControl(r):
			return fmt.Sprintf("must not contain the control character %U", r)
		case isBidiOverride(r):
			return fmt.Sprintf("must not contain the bidirectional control %U", r)
		}
	}
	return ""
}

// nameProblem checks a name or identifier: no control characters at all,
// no bidirectional controls and no invisible characters, so two names that
// look the same are the same.
func nameProblem(s string) string {
	for _, r := range s {
		switch {
		case isControl(r):
			return fmt.Sprintf("must not contain the control character %U", r)
		case isBidiOverride(r), r == '\u200E', r == '\u200F', r == '\u061C':
			return fmt.Sprintf("must not contain the bidirectional control %U", r)
		case r == '\u200B', r == '\u2060', r == '\uFEFF', r == '\u00AD', r == '\u180E':
			return fmt.Sprintf("must not contain the invisible character %U", r)
		}
	}
	return ""
}

// isControl reports C0, DEL and C1 control characters.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7F && r <= 0x9F) }

// isBidiOverride reports the embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
func isBidiOverride(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// jsonWalker follows where a token stream is: the path of the current key
// or value.
type jsonWalker struct {
	dec   *json.Decoder
	stack []walkFrame
}

type walkFrame struct {
	object  bool
	wantKey bool   // object: the next token is a key (or the end)
	key     string // object: the current key
	index   int    // array: the current index
}

func (w *jsonWalker) top() *walkFrame { return &w.stack[len(w.stack)-1] }

func (w *jsonWalker) atKey() bool {
	return len(w.stack) > 0 && w.top().object && w.top().wantKey
}

// valueStarts moves the enclosing container past the value that starts.
func (w *jsonWalker) valueStarts() {
	if len(w.stack) == 0 {
		return
	}
	if f := w.top(); f.object {
		f.wantKey = true
	} else {
		f.index++
	}
}

// path is where the walker is: "documents[2].id", or with generic true
// "documents[].id", the form identifierFields uses.
func (w *jsonWalker) path(generic bool) string {
	var b strings.Builder
	for _, f := range w.stack {
		switch {
		case f.object:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		case generic:
			b.WriteString("[]")
		default:
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}
