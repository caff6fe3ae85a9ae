package offline

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// A question that states a share ("only managed forty percent of the cut",
// "做到了六成", "少供了一半的负荷") asks which rule covers it. Rules state
// their shares as ranges and bounds ("50% to 80%", "Below 50%", "20%以上40%以下");
// a sentence whose range holds the question's share is the one that answers.

var (
	pctDigits  = regexp.MustCompile(`(?i)(\d+(?:\.\d+)?)\s*(?:%|％|percent\b|per cent\b)`)
	pctWords   = regexp.MustCompile(`(?i)\b([a-z]+(?:-[a-z]+)?)\s+(?:percent|per cent)\b`)
	pctTenthZh = regexp.MustCompile(`([零一二两三四五六七八九十]+|\d+)成`)
	pctZh      = regexp.MustCompile(`百分之([零一二两三四五六七八九十百]+|\d+(?:\.\d+)?)`)
	halfWord   = regexp.MustCompile(`(?i)一半|\bhalf\b`)

	num        = `(\d+(?:\.\d+)?)\s*[%％]?`
	rangeBoth  = regexp.MustCompile(num + `\s*(?:to|至|到|-|–|~)\s*` + num)
	rangeZh    = regexp.MustCompile(num + `以上\s*` + num + `以下`)
	rangeBelow = regexp.MustCompile(`(?i)(?:below|under|less than|lower than|不足|低于|不到|未达到)\s*` + num)
	rangeUpTo  = regexp.MustCompile(`(?i)` + num + `\s*(?:以下|以内|or less|or lower)`)
	rangeAbove = regexp.MustCompile(`(?i)(?:above|over|more than|exceeds?|exceeding|超过|高于)\s*` + num)
	rangeFrom  = regexp.MustCompile(`(?i)` + num + `\s*(?:以上|or more|and above|or above)`)
)

// questionShares are the percentages a question states.
func questionShares(q string) []float64 {
	var out []float64
	for _, m := range pctDigits.FindAllStringSubmatch(q, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			out = append(out, v)
		}
	}
	for _, m := range pctWords.FindAllStringSubmatch(q, -1) {
		if v, ok := parseNumber(m[1]); ok {
			out = append(out, v)
		}
	}
	for _, m := range pctTenthZh.FindAllStringSubmatch(q, -1) {
		out = append(out, 10*hanOrDigits(m[1]))
	}
	for _, m := range pctZh.FindAllStringSubmatch(q, -1) {
		out = append(out, hanOrDigits(m[1]))
	}
	if halfWord.MatchString(q) {
		out = append(out, 50)
	}
	return out
}

func hanOrDigits(s string) float64 {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v
	}
	return parseHanNumber([]rune(s))
}

// span is a range of percentages a sentence states, lower bound included.
type span struct{ lo, hi float64 }

// sentenceSpans are the percentage ranges and bounds of a sentence.
func sentenceSpans(s string) []span {
	if !strings.ContainsAny(s, "%％") {
		return nil
	}
	var out []span
	f := func(x string) float64 { v, _ := strconv.ParseFloat(x, 64); return v }
	blank := func(re *regexp.Regexp, mk func(m []string) span) {
		s = re.ReplaceAllStringFunc(s, func(x string) string {
			out = append(out, mk(re.FindStringSubmatch(x)))
			return strings.Repeat(" ", len(x))
		})
	}
	inf := math.Inf(1)
	blank(rangeZh, func(m []string) span { return span{f(m[1]), f(m[2])} })
	blank(rangeBoth, func(m []string) span { return span{f(m[1]), f(m[2])} })
	blank(rangeBelow, func(m []string) span { return span{-inf, f(m[1])} })
	blank(rangeUpTo, func(m []string) span { return span{-inf, math.Nextafter(f(m[1]), inf)} })
	blank(rangeAbove, func(m []string) span { return span{math.Nextafter(f(m[1]), inf), inf} })
	blank(rangeFrom, func(m []string) span { return span{f(m[1]), inf} })
	return out
}

// coversShare reports whether one of the sentence's ranges holds one of the shares.
func coversShare(sentence string, shares []float64) bool {
	for _, sp := range sentenceSpans(sentence) {
		for _, v := range shares {
			if v >= sp.lo && v < sp.hi {
				return true
			}
		}
	}
	return false
}

// A question that states a quantity as the condition of a rule ("when
// visibility drops below 100 metres", "积水超过27厘米") asks for the rule
// written for that quantity: of a list of thresholds ("below 200 m: 60 km/h",
// "below 100 m: 40 km/h"), the sentence that states the same number answers.

// statedQuantity is a number a question writes in digits followed by a unit:
// at most three digits before the point, so that neither a year, a hotline
// number (12345) nor an identifier's digits (S062) is read as one.
var statedQuantity = regexp.MustCompile(`(?:^|[^A-Za-z0-9.,\-])(\d{1,3}(?:\.\d+)?)\s*[\p{L}]`)

// questionQuantities are the quantities q states, as written.
func questionQuantities(q string) []string {
	var out []string
	for _, m := range statedQuantity.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}

// statesQuantity reports whether s writes one of the numbers qs as a whole
// number: "100 m" states 100, "1,100" and "100.5" do not.
func statesQuantity(s string, qs []string) bool {
	for _, n := range qs {
		for off := 0; ; {
			i := strings.Index(s[off:], n)
			if i < 0 {
				break
			}
			i += off
			end := i + len(n)
			off = i + 1
			if i > 0 && strings.ContainsRune("0123456789.,", rune(s[i-1])) {
				continue
			}
			if end < len(s) && (isDigitByte(s[end]) || (s[end] == '.' || s[end] == ',') && end+1 < len(s) && isDigitByte(s[end+1])) {
				continue
			}
			return true
		}
	}
	return false
}

func isDigitByte(b byte) bool { return b >= '0' && b <= '9' }
