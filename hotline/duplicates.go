package hotline

import (
	"context"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/cityagent/cityagent/store"
)

// Duplicate detection: a new ticket about the same problem at the same place
// as an open one (same category, same or near location or the same
// normalised address, within DuplicateWindow, similar text) is linked to it
// (duplicate_of). The ticket is still created and handled; merging it is a
// lifecycle transition.

// Bounds of duplicate detection.
const (
	// DuplicateWindow is how far back open tickets are compared.
	DuplicateWindow = 7 * 24 * time.Hour
	// maxDuplicateCandidates bounds the open tickets compared per create.
	maxDuplicateCandidates = 200
	// nearMetres: two coordinates this close are one place.
	nearMetres = 150
	// dupSimilarity: texts at one known place this similar are one problem.
	dupSimilarity = 0.2
	// dupSimilarityNoPlace: without a place to compare, texts must be this
	// similar.
	dupSimilarityNoPlace = 0.5
)

// DuplicateStore is the part of the state store duplicate detection uses;
// *store.DB implements it.
type DuplicateStore interface {
	DuplicateCandidates(ctx context.Context, category string, since time.Time, limit int) ([]store.DuplicateCandidate, error)
	LinkDuplicate(ctx context.Context, id, of string) error
	CountDuplicates(ctx context.Context, id string) (int, error)
}

var _ DuplicateStore = (*store.DB)(nil)

// markDuplicate links the stored ticket t to the open ticket it repeats, if
// any, and returns t with DuplicateOf set. Detection is a hint: a failure
// is logged and the ticket goes on as it is.
func (s *Service) markDuplicate(ctx context.Context, t Ticket) Ticket {
	ds, ok := s.store.(DuplicateStore)
	if !ok || t.Category == "" {
		return t
	}
	cands, err := ds.DuplicateCandidates(ctx, t.Category, t.CreatedAt.Add(-DuplicateWindow), maxDuplicateCandidates)
	if err != nil {
		s.log.Warn("hotline: duplicate detection failed", "ticket", t.ID, "err", err)
		return t
	}
	of := bestDuplicate(t, cands)
	if of == "" {
		return t
	}
	if err := ds.LinkDuplicate(ctx, t.ID, of); err != nil {
		s.log.Warn("hotline: linking a duplicate failed", "ticket", t.ID, "of", of, "err", err)
		return t
	}
	t.DuplicateOf = of
	return t
}

// withDuplicates fills the count of tickets linked as duplicates of t.
func (s *Service) withDuplicates(ctx context.Context, t Ticket) Ticket {
	if ds, ok := s.store.(DuplicateStore); ok {
		if n, err := ds.CountDuplicates(ctx, t.ID); err == nil {
			t.Duplicates = n
		} else {
			s.log.Warn("hotline: counting duplicates failed", "ticket", t.ID, "err", err)
		}
	}
	return t
}

// bestDuplicate returns the id of the candidate t most likely repeats, or "".
func bestDuplicate(t Ticket, cands []store.DuplicateCandidate) string {
	mine := place{}
	if t.Location != nil {
		mine = place{address: t.Location.Address, lat: t.Location.Lat, lon: t.Location.Lon}
	}
	feats := textFeatures(t.Text)
	best, bestScore := "", 0.0
	for _, c := range cands {
		if c.ID == t.ID {
			continue
		}
		same, known := mine.same(place{address: c.Address, lat: c.Lat, lon: c.Lon})
		if known && !same {
			continue
		}
		need := dupSimilarity
		if !known {
			need = dupSimilarityNoPlace
		}
		// The place is compared above: naming it in the text says nothing
		// about the problem.
		addr := textFeatures(mine.address + "\n" + c.Address)
		score := jaccard(without(feats, addr), without(textFeatures(c.Text), addr))
		if score >= need && score > bestScore {
			best, bestScore = c.ID, score
		}
	}
	return best
}

// place is where a ticket is about.
type place struct {
	address  string
	lat, lon *float64
}

// same reports whether p and o are one place, and whether that could be
// told (known is false when they share no kind of location).
func (p place) same(o place) (same, known bool) {
	if p.lat != nil && p.lon != nil && o.lat != nil && o.lon != nil {
		if metres(*p.lat, *p.lon, *o.lat, *o.lon) <= nearMetres {
			return true, true
		}
		// Coordinates apart, but an address may still name one place.
		same, _ = sameAddress(p.address, o.address)
		return same, true
	}
	return sameAddress(p.address, o.address)
}

// sameAddress compares normalised addresses: equal, or one containing the
// other (a building within its compound) when the shorter has ≥ 4 runes.
func sameAddress(a, b string) (same, known bool) {
	a, b = NormalizeAddress(a), NormalizeAddress(b)
	if a == "" || b == "" {
		return false, false
	}
	if len([]rune(a)) > len([]rune(b)) {
		a, b = b, a
	}
	return a == b || (len([]rune(a)) >= 4 && strings.Contains(b, a)), true
}

// NormalizeAddress folds an address for comparison: full-width forms to
// ASCII, lower case, without spaces and punctuation, and common English
// street words shortened ("road" → "rd").
func NormalizeAddress(s string) string {
	var b strings.Builder
	for _, r := range PlaceName(s) {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case r == ' ' && b.Len() > 0:
			b.WriteRune(' ')
		}
	}
	words := strings.Fields(b.String())
	for i, w := range words {
		if short, ok := streetWords[w]; ok {
			words[i] = short
		}
	}
	return strings.Join(words, "")
}

// maskedRE is masked personal data (138****5678, 张**, A****34) and
// contactRE the phrases that introduce it (联系, 电话, tel, call …).
var (
	maskedRE  = regexp.MustCompile(`[\p{L}\p{N}+()\-]*\*+[\p{L}\p{N}()\-]*(@[\w.\-]+)?`)
	contactRE = regexp.MustCompile(`(?i)(联系人|联系电话|联系方式|联系我|联系|电话|手机号?|座机|\b(tel|phone|mobile|contact|call me on|call|email)\b)\s*[:：]?`)
)

// PlaceName is an address without the masked personal data and contact
// phrases written into it ("联系135****1234 武昌区积玉桥" → "武昌区积玉桥"):
// what a hot spot is named and grouped by.
func PlaceName(s string) string {
	s = maskedRE.ReplaceAllString(s, " ")
	s = contactRE.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

var streetWords = map[string]string{"road": "rd", "street": "st", "avenue": "ave", "lane": "ln", "no": "", "number": "",
	"building": "bldg", "the": ""}

// metres is the great-circle distance between two coordinates.
func metres(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// textFeatures are what texts are compared by: each Han character and each
// pair of adjacent Han characters (Chinese has no spaces; bigrams carry
// most of the meaning), and each other word lower-cased, stemmed roughly,
// without stop words.
func textFeatures(s string) map[string]struct{} {
	out := map[string]struct{}{}
	var prev rune
	var word []rune
	flush := func() {
		if len(word) > 0 {
			if w := stem(string(word)); w != "" && !dupStopWords[w] {
				out[w] = struct{}{}
			}
			word = word[:0]
		}
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			flush()
			if !dupStopHan[r] {
				out[string(r)] = struct{}{}
			}
			if prev != 0 {
				out[string([]rune{prev, r})] = struct{}{}
			}
			prev = r
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word = append(word, unicode.ToLower(r))
		default:
			flush()
		}
		prev = 0
	}
	flush()
	return out
}

// stem strips common English endings so that "lights" and "light",
// "flooding" and "flooded" compare equal.
func stem(w string) string {
	for _, suf := range []string{"ing", "ed", "es", "s"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			return strings.TrimSuffix(w, suf)
		}
	}
	return w
}

var dupStopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields("a an the and or of in on at to for from by with is are was were be been it its this that there here " +
		"has have had not no my our we i you he she they them me us please can could would will just very so but as also since " +
		"do doe did ha wa thi") {
		m[w] = true
	}
	return m
}()

// dupStopHan are Han characters too common to say anything alone (they still
// count inside bigrams).
var dupStopHan = map[rune]bool{'的': true, '了': true, '是': true, '我': true, '们': true, '在': true, '有': true, '也': true,
	'都': true, '就': true, '还': true, '很': true, '这': true, '那': true, '个': true, '请': true, '吗': true, '呢': true, '啊': true}

// without is a less the keys of b.
func without(a, b map[string]struct{}) map[string]struct{} {
	if len(b) == 0 {
		return a
	}
	out := make(map[string]struct{}, len(a))
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = struct{}{}
		}
	}
	return out
}

// jaccard is |a ∩ b| / |a ∪ b|.
func jaccard(a, b map[string]struct{}) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	n := 0
	for k := range a {
		if _, ok := b[k]; ok {
			n++
		}
	}
	return float64(n) / float64(len(a)+len(b)-n)
}
