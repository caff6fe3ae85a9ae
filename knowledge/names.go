package knowledge

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names, so that every backend can store them as keys: a
// collection name is also a Qdrant collection name and part of SQL values.
const (
	MaxCollectionName = 64
	MaxDocumentID     = 200
)

// CheckCollectionName reports whether name can name a collection: 1 to 64
// lower-case ASCII letters, digits, '-' and '_', starting with a letter or
// digit.
func CheckCollectionName(name string) error {
	bad := func(msg string) error { return &FieldError{Field: "collection", Message: msg} }
	switch {
	case name == "":
		return bad("is required")
	case len(name) > MaxCollectionName:
		return bad(fmt.Sprintf("is longer than %d characters", MaxCollectionName))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return bad(fmt.Sprintf("%q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", name))
		}
	}
	return nil
}

// CheckDocumentID reports whether id can name a document: 1 to 200 bytes of
// printable UTF-8 without '#' (which separates a chunk's ordinal), '/' or
// surrounding spaces.
func CheckDocumentID(id string) error {
	bad := func(msg string) error { return &FieldError{Field: "id", Message: msg} }
	switch {
	case id == "":
		return bad("is required")
	case len(id) > MaxDocumentID:
		return bad(fmt.Sprintf("is longer than %d bytes", MaxDocumentID))
	case !utf8.ValidString(id):
		return bad("is not valid UTF-8")
	case strings.TrimSpace(id) != id:
		return bad("has leading or trailing spaces")
	case strings.ContainsAny(id, "#/?"):
		return bad(fmt.Sprintf("%q: must not contain '#', '/' or '?'", id))
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return bad(fmt.Sprintf("%q has a control character", id))
		}
	}
	return nil
}

// DocumentID turns a file name into a document id: the base name without its
// extension, cleaned by CleanID. "Signal Timing (2024).md" becomes
// "Signal-Timing-(2024)".
func DocumentID(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	return CleanID(name)
}

// CleanID makes s a valid document id: runs of spaces and of characters an
// id may not hold become one '-', and it is cut to MaxDocumentID bytes.
func CleanID(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range s {
		if unicode.IsSpace(r) || strings.ContainsRune("#/?", r) || !unicode.IsPrint(r) {
			if !dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			dash = true
			continue
		}
		sb.WriteRune(r)
		dash = false
	}
	id := strings.TrimRight(sb.String(), "-")
	for len(id) > MaxDocumentID {
		_, n := utf8.DecodeLastRuneInString(id)
		id = id[:len(id)-n]
	}
	return id
}
