package httptool

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Body content types a tool can send.
const (
	ContentJSON      = "application/json"
	ContentForm      = "application/x-www-form-urlencoded"
	ContentMultipart = "multipart/form-data"
	ContentText      = "text/plain"
	// ContentBinary stands for any other media type: the argument is
	// base64 text and its bytes are the body.
	ContentBinary = "binary"
)

// Body describes an operation's request body (OpenAPI).
type Body struct {
	// Arg is the argument that holds the body.
	Arg string `json:"arg"`
	// ContentType is application/json (or a +json type),
	// application/x-www-form-urlencoded, multipart/form-data or text/plain.
	ContentType string `json:"content_type"`
	// Files are the properties of a multipart body sent as file parts:
	// their arguments are base64 text.
	Files []string `json:"files,omitempty"`
}

// BodyKind reports which encoder sends content type ct, or "" if none does.
func BodyKind(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	switch {
	case mt == ContentJSON || strings.HasSuffix(mt, "+json"):
		return ContentJSON
	case mt == ContentForm, mt == ContentMultipart, mt == ContentText:
		return mt
	case strings.Contains(mt, "/") && !strings.HasSuffix(mt, "/*"):
		return ContentBinary
	}
	return ""
}

// encodeBody writes v in b's content type and returns the bytes and the
// Content-Type header to send.
func encodeBody(b *Body, v any) ([]byte, string, error) {
	switch BodyKind(b.ContentType) {
	case ContentForm:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("a form body must be an object")
		}
		return []byte(formEncode(obj)), ContentForm, nil
	case ContentMultipart:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("a multipart body must be an object")
		}
		return multipartEncode(obj, b.Files)
	case ContentText:
		return []byte(scalarText(v)), "text/plain; charset=utf-8", nil
	case ContentBinary:
		s, _ := v.(string)
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, "", fmt.Errorf("the body must be base64: %v", err)
		}
		return raw, b.ContentType, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return raw, b.ContentType, nil
}

// formEncode writes an object as application/x-www-form-urlencoded: arrays
// repeat the name (form, exploded), nested objects are JSON text.
func formEncode(obj map[string]any) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := []any{obj[k]}
		if list, ok := obj[k].([]any); ok {
			vals = list
		}
		for _, v := range vals {
			parts = append(parts, formEscape(k)+"="+formEscape(scalarText(v)))
		}
	}
	return strings.Join(parts, "&")
}

// formEscape is the HTML form encoding: unreserved kept, space as +.
func formEscape(s string) string { return url.QueryEscape(s) }

// multipartEncode writes an object as multipart/form-data with one part
// per property (sorted); files are decoded from base64.
func multipartEncode(obj map[string]any, files []string) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := writePart(w, k, obj[k], slices.Contains(files, k)); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// dispositionEscaper escapes a name in a quoted Content-Disposition
// parameter as HTML forms do (RFC 7578 §4.2).
var dispositionEscaper = strings.NewReplacer(`"`, "%22", "\r", "%0D", "\n", "%0A")

// disposition writes form-data; name="…" and, for a file, filename="…".
func disposition(name, filename string) string {
	d := `form-data; name="` + dispositionEscaper.Replace(name) + `"`
	if filename != "" {
		d += `; filename="` + dispositionEscaper.Replace(filename) + `"`
	}
	return d
}

// filePart is a file argument: base64 text, or an object with the base64
// content and optionally the file's name and media type.
type filePart struct {
	Content     string `json:"content"`
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type,omitempty"`
}

func fileOf(name string, v any) (filePart, error) {
	f := filePart{}
	switch x := v.(type) {
	case string:
		f.Content = x
	case map[string]any:
		raw, _ := json.Marshal(x)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return f, fmt.Errorf("%s must be base64 text or {content, filename?, content_type?}: %v", name, err)
		}
	default:
		return f, fmt.Errorf("%s must be base64 text or {content, filename?, content_type?}", name)
	}
	if f.Filename == "" {
		f.Filename = name
	}
	if _, _, err := mime.ParseMediaType(f.ContentType); f.ContentType == "" || err != nil {
		f.ContentType = "application/octet-stream"
	}
	return f, nil
}

func writePart(w *multipart.Writer, name string, v any, file bool) error {
	h := textproto.MIMEHeader{}
	var data []byte
	switch {
	case file:
		f, err := fileOf(name, v)
		if err != nil {
			return err
		}
		raw, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return fmt.Errorf("%s must be base64: %v", name, err)
		}
		h.Set("Content-Disposition", disposition(name, f.Filename))
		h.Set("Content-Type", f.ContentType)
		data = raw
	default:
		h.Set("Content-Disposition", disposition(name, ""))
		switch v.(type) {
		case map[string]any, []any:
			h.Set("Content-Type", ContentJSON)
			data, _ = json.Marshal(v)
		default:
			data = []byte(scalarText(v))
		}
	}
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = pw.Write(data)
	return err
}
