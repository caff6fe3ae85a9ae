// Package pii finds personal data in free text (Chinese mobile and
// landline numbers, international phone numbers, resident ID numbers,
// licence plates, email addresses), masks it the way Chinese public
// services desensitise it (138****5678), and encrypts what must be kept
// (AES-256-GCM under a key ring that records key ids for rotation).
//
// Detection is tuned against false positives on the identifiers this
// project prints (ticket ids, tokens, permit ids such as BP-20250603-04,
// segment ids such as S012, hashes, Unix nanoseconds), dates, amounts and
// coordinates: a number is personal data only when it has the exact shape
// and is not part of a longer word or number.
package pii

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Kind is a kind of personal data.
type Kind string

// Kinds of personal data Find detects.
const (
	Mobile   Kind = "mobile"   // mainland China mobile number
	Landline Kind = "landline" // mainland China fixed-line number with area code
	Phone    Kind = "phone"    // US or other international number
	IDCard   Kind = "id_card"  // resident identity card number (18 or 15 digits)
	Plate    Kind = "plate"    // vehicle licence plate
	Email    Kind = "email"
	// Name is a person's name where the text introduces one (我叫…,
	// 姓名：…, my name is …); names elsewhere are not detected.
	Name Kind = "name"
)

// Finding is one piece of personal data in a text.
type Finding struct {
	Kind Kind `json:"kind"`
	// Start and End are byte offsets of the finding in the text.
	Start int `json:"start"`
	End   int `json:"end"`
	// Text is the finding as written; Masked is what replaces it.
	Text   string `json:"-"`
	Masked string `json:"masked"`
}

// detector finds one shape; check validates a candidate (its submatch
// indexes in s) and returns its mask, or false.
type detector struct {
	kind  Kind
	re    *regexp.Regexp
	check func(s string, m []int) (masked string, ok bool)
	// group is the submatch that is the finding (0: the whole match); a
	// keyword before it (plate numbers in English) is not masked.
	group int
	// minDigits and cue skip texts that cannot hold the shape (most log
	// lines and texts): no run of that many ASCII digits (longestDigitRun),
	// or none of cue's substrings in the lower-cased text (empty cue: no
	// such test). Go's regexp has no DFA, so skipping is what keeps a log
	// line cheap.
	minDigits int
	cue       []string
}

const (
	provinces   = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
	plateLetter = "A-HJ-NP-Z" // I and O are not used on plates
)

// detectors in priority order: where two findings overlap, the earlier
// detector's wins (an email holding digits is an email; a +86 number is a
// mobile, not an international number).
var detectors = []detector{
	{kind: Email, re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}`), check: checkEmail, cue: []string{"@"}},
	{kind: IDCard, re: regexp.MustCompile(`[1-9]\d{5} ?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) ?\d{3}[0-9Xx]`), check: checkID18, minDigits: 17},
	// After an ID keyword, 18 characters are an ID number even with a wrong
	// check digit (a typo is still the caller's number).
	{kind: IDCard, re: regexp.MustCompile(`(?i:身份证号码|身份证号|身份证|证件号码|证件号|公民身份号码|id number|id no\.?|id card(?: number| no\.?)?|identity card(?: number| no\.?)?)(?: is|是|为)?[:：#]? ?(\d{17}[0-9Xx])`), check: checkIDNamed, group: 1, minDigits: 17, cue: []string{"身份证", "证件号", "身份号码", "id"}},
	{kind: IDCard, re: regexp.MustCompile(`[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}`), check: checkID15, minDigits: 15},
	{kind: Mobile, re: regexp.MustCompile(`(?:(?:\+|00)86[ -]?|\(\+86\) ?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}`), check: checkMobile, minDigits: 11},
	{kind: Landline, re: regexp.MustCompile(`(?:(?:\+|00)86[ -]?(?:10|2\d|[3-9]\d{2})|0(?:10|2\d|[3-9]\d{2})|\(0(?:10|2\d|[3-9]\d{2})\))[ -]?[2-9]\d{2,3}[ -]?\d{4}`), check: checkLandline, minDigits: 10},
	{kind: Phone, re: regexp.MustCompile(`(?:\+1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}|\+1[2-9]\d{2}[2-9]\d{6}`), check: checkUS, minDigits: 10},
	{kind: Phone, re: regexp.MustCompile(`\+[2-9]\d{0,2}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d){5,12}`), check: checkIntl, minDigits: 8, cue: []string{"+"}},
	{kind: Plate, re: regexp.MustCompile(`[` + provinces + `][` + plateLetter + `][·•・.\- ]?(?:[` + plateLetter + `0-9]{5,6}|[` + plateLetter + `0-9]{4}[挂学警港澳])`), check: checkPlate, minDigits: 3, cue: strings.Split(provinces, "")},
	{kind: Name, re: regexp.MustCompile(`(?:我叫|我的名字是|本人姓名|姓名[:：]?|联系人[:：]) ?(\p{Han}{2,4})`), check: checkName, group: 1, cue: []string{"我叫", "名字", "姓名", "联系人"}},
	{kind: Name, re: regexp.MustCompile(`(?i:my name is|name:) ([A-Z][a-z]+(?: [A-Z][a-z]+)?)`), check: checkName, group: 1, cue: []string{"name"}},
	{kind: Plate, re: regexp.MustCompile(`(?i:licen[cs]e plate|number plate|plate number|plate no\.?|plate|registration(?: number| no\.?)?|reg\. ?no\.?)(?: is)?[:#：]? ?([A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,5})`), check: checkPlateEn, group: 1, minDigits: 1, cue: []string{"plate", "reg"}},
}

// Find returns the personal data in s, in order.
func Find(s string) []Finding {
	var out []Finding
	n, lower := longestDigitRun(s), ""
	for _, d := range detectors {
		if n < d.minDigits {
			continue
		}
		if len(d.cue) > 0 {
			if lower == "" {
				lower = strings.ToLower(s)
			}
			if !containsAny(lower, d.cue) {
				continue
			}
		}
		for pos := 0; pos < len(s); {
			var m []int
			if d.group == 0 {
				m = d.re.FindStringIndex(s[pos:]) // no submatches: the fast engine
			} else {
				m = d.re.FindStringSubmatchIndex(s[pos:])
			}
			if m == nil {
				break
			}
			for i := range m {
				if m[i] >= 0 {
					m[i] += pos
				}
			}
			start, end := m[2*d.group], m[2*d.group+1]
			masked, ok := "", false
			if start >= 0 && bounded(s, start, end) && !overlaps(out, start, end) {
				masked, ok = d.check(s, m)
			}
			if !ok {
				_, size := utf8.DecodeRuneInString(s[m[0]:])
				pos = m[0] + max(size, 1)
				continue
			}
			out = append(out, Finding{Kind: d.kind, Start: start, End: end, Text: s[start:end], Masked: masked})
			pos = end
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Mask returns s with every finding replaced by its masked form.
func Mask(s string) string {
	fs := Find(s)
	if len(fs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, f := range fs {
		b.WriteString(s[last:f.Start])
		b.WriteString(f.Masked)
		last = f.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// Contains reports whether s holds personal data.
func Contains(s string) bool { return len(Find(s)) > 0 }

func overlaps(fs []Finding, start, end int) bool {
	for _, f := range fs {
		if start < f.End && f.Start < end {
			return true
		}
	}
	return false
}

// bounded reports whether s[start:end] stands alone: not glued to a
// letter, digit or identifier punctuation before or after (tkt_138…,
// BP-2025…, 0.1381…, a digit run that goes on).
func bounded(s string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:start])
		if isWordRune(r) || r == '_' || r == '/' || r == '#' || r == '@' || r == '+' || r == '=' || r == '%' {
			return false
		}
		if (r == '.' || r == '-' || r == ',' || r == ':') && start > 1 {
			p, _ := utf8.DecodeLastRuneInString(s[:start-1])
			if p >= '0' && p <= '9' || r == '-' && isWordRune(p) {
				return false // 39.1381…, 1,381…, 12:138…, BP-2025…
			}
		}
	}
	if end < len(s) {
		r, _ := utf8.DecodeRuneInString(s[end:])
		if isWordRune(r) || r == '_' || r == '@' || r == '%' {
			return false
		}
		if r == '.' || r == '-' || r == ',' || r == ':' {
			if n, _ := utf8.DecodeRuneInString(s[end+1:]); end+1 < len(s) && isASCIIAlnum(n) {
				return false // 13812345678.5, …-01, a longer id
			}
		}
	}
	return true
}

func isASCIIAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// isWordRune: ASCII letters and digits, and full-width digits and
// letters, which continue a number or an identifier.
func isWordRune(r rune) bool {
	return isASCIIAlnum(r) || r >= '０' && r <= '９' || r >= 'Ａ' && r <= 'Ｚ' || r >= 'ａ' && r <= 'ｚ'
}

// digits returns the ASCII digits of s.
func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func checkEmail(s string, m []int) (string, bool) {
	return MaskEmail(s[m[0]:m[1]]), true
}

// idWeights are the ISO 7064 MOD 11-2 weights of GB 11643's 17 digits.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idRegions are the first two digits of a resident ID: the province.
var idRegions = map[string]bool{}

func init() {
	for _, r := range strings.Fields("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91") {
		idRegions[r] = true
	}
}

// ValidID18 reports whether id is an 18-character resident ID number with
// a known region, a real date and the right check digit.
func ValidID18(id string) bool {
	if len(id) != 18 || !idRegions[id[:2]] || !realDate(id[6:14]) {
		return false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
		sum += int(id[i]-'0') * idWeights[i]
	}
	return "10X98765432"[sum%11] == upper(id[17])
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// realDate reports whether yyyymmdd is a calendar date.
func realDate(yyyymmdd string) bool {
	y, m, d := atoi(yyyymmdd[:4]), atoi(yyyymmdd[4:6]), atoi(yyyymmdd[6:8])
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func checkID18(s string, m []int) (string, bool) {
	id := strings.ReplaceAll(s[m[0]:m[1]], " ", "")
	if !ValidID18(id) {
		return "", false
	}
	return MaskID(id), true
}

// checkIDNamed: 18 characters that a keyword names as an ID number.
func checkIDNamed(s string, m []int) (string, bool) {
	return MaskID(s[m[2]:m[3]]), true
}

// checkID15: the old 15-digit number (yymmdd birth date, no check digit);
// the region and the date must be real.
func checkID15(s string, m []int) (string, bool) {
	id := s[m[0]:m[1]]
	if !idRegions[id[:2]] || !realDate("19"+id[6:12]) {
		return "", false
	}
	return MaskID(id), true
}

func checkMobile(s string, m []int) (string, bool) {
	raw := s[m[0]:m[1]]
	d := digits(raw)
	prefix := ""
	if len(d) == 13 { // 86 + 11
		d, prefix = d[2:], "+86 "
	}
	if len(d) != 11 {
		return "", false
	}
	return prefix + d[:3] + "****" + d[7:], true
}

func checkLandline(s string, m []int) (string, bool) {
	raw := s[m[0]:m[1]]
	d := digits(raw)
	if strings.HasPrefix(raw, "+86") || strings.HasPrefix(raw, "0086") {
		d = "0" + strings.TrimPrefix(strings.TrimPrefix(d, "00"), "86")
	}
	area := 4
	if strings.HasPrefix(d, "010") || strings.HasPrefix(d, "02") {
		area = 3
	}
	sub := len(d) - area
	if sub < 7 || sub > 8 || d[area] < '2' {
		return "", false
	}
	return d[:area] + "-" + strings.Repeat("*", sub-2) + d[len(d)-2:], true
}

func checkUS(s string, m []int) (string, bool) {
	d := digits(s[m[0]:m[1]])
	if len(d) == 11 {
		d = d[1:]
	}
	if len(d) != 10 {
		return "", false
	}
	return "***-***-" + d[6:], true
}

func checkIntl(s string, m []int) (string, bool) {
	raw := s[m[0]:m[1]]
	d := digits(raw)
	if strings.HasPrefix(raw, "+86") || len(d) < 8 || len(d) > 15 {
		return "", false
	}
	cc := raw[1:]
	if i := strings.IndexAny(cc, " .-("); i > 0 && i <= 3 {
		cc = cc[:i]
	} else {
		cc = d[:min(2, len(d))]
	}
	return "+" + cc + " ****" + d[len(d)-4:], true
}

// checkPlate: a Chinese plate has at least three digits after the issuing
// letter (at most two letters), and a six-character new-energy plate has D
// or F first or last.
func checkPlate(s string, m []int) (string, bool) {
	raw := s[m[0]:m[1]]
	head, size := utf8.DecodeRuneInString(raw)
	letter := raw[size : size+1]
	tail := strings.TrimLeft(raw[size+1:], "·•・.- ")
	n, tr := 0, []rune(tail)
	for _, r := range tr {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	if n < 3 {
		return "", false
	}
	if len(tr) == 6 && !strings.ContainsRune("DF", tr[0]) && !strings.ContainsRune("DF", tr[5]) {
		return "", false
	}
	return string(head) + letter + strings.Repeat("*", len(tr)-2) + string(tr[len(tr)-2:]), true
}

// checkPlateEn: a plate named as one in English (plate ABC 1234) has a
// letter and a digit and 5 to 8 characters.
func checkPlateEn(s string, m []int) (string, bool) {
	p := strings.NewReplacer(" ", "", "-", "").Replace(s[m[2]:m[3]])
	if len(p) < 5 || len(p) > 8 || strings.Trim(p, "0123456789") == "" || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		return "", false
	}
	return p[:1] + strings.Repeat("*", len(p)-3) + p[len(p)-2:], true
}

func checkName(s string, m []int) (string, bool) {
	return MaskName(s[m[2]:m[3]]), true
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// longestDigitRun is the most ASCII digits in s with at most two
// separators ( -.()+) between neighbours: 138 1234-5678 is 11.
func longestDigitRun(s string) int {
	best, cur, gap := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if gap > 2 {
				cur = 0
			}
			cur, gap = cur+1, 0
			best = max(best, cur)
		case strings.IndexByte(" -.()+", c) >= 0:
			gap++
		default:
			cur, gap = 0, 0
		}
	}
	return best
}
