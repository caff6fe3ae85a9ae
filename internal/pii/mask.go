package pii

import (
	"strings"
	"unicode/utf8"
)

// MaskEmail keeps the first character of the user and the domain:
// z***@example.com. Text that is not an address is masked whole.
func MaskEmail(s string) string {
	user, domain, ok := strings.Cut(s, "@")
	if !ok || user == "" {
		return MaskMiddle(s, 0, 0)
	}
	r, _ := utf8.DecodeRuneInString(user)
	return string(r) + "***@" + domain
}

// MaskID keeps the first four and the last four characters of an ID
// number: 1101**********1234.
func MaskID(id string) string { return MaskMiddle(id, 4, 4) }

// MaskName keeps a name's first character (the family name of a Chinese
// name, the initial of an English one): 张**, J***.
func MaskName(s string) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", max(1, min(len(r)-1, 6)))
}

// MaskPhone masks a phone number given on its own (a caller's phone
// field): a number Find recognises is masked its way (138****5678);
// anything else keeps its first three and last two digits.
func MaskPhone(s string) string {
	s = strings.TrimSpace(s)
	if fs := Find(s); len(fs) == 1 && fs[0].Start == 0 && fs[0].End == len(s) && isPhone(fs[0].Kind) {
		return fs[0].Masked
	}
	d := digits(s)
	if len(d) < 6 {
		return strings.Repeat("*", len(d))
	}
	return d[:3] + strings.Repeat("*", len(d)-5) + d[len(d)-2:]
}

func isPhone(k Kind) bool { return k == Mobile || k == Landline || k == Phone }

// MaskMiddle keeps head runes and tail runes of s and stars the rest; a
// string not longer than head+tail is starred whole.
func MaskMiddle(s string, head, tail int) string {
	r := []rune(s)
	if len(r) == 0 {
		return ""
	}
	if len(r) <= head+tail {
		return strings.Repeat("*", len(r))
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}

// MaskAccount masks an account id: its first two and last two
// characters stay, so a person can tell two accounts apart.
func MaskAccount(s string) string { return MaskMiddle(s, 2, 2) }
