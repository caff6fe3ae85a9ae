package hotline

import (
	"context"
	"testing"
	"time"

	"github.com/cityagent/cityagent/store"
)

// TestDuplicateSimilarity: paraphrases of one problem score above the
// threshold in both languages; another problem at the same place scores
// below it.
func TestDuplicateSimilarity(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		a, b string
		dup  bool
	}{
		"zh_paraphrase":             {"幸福里小区5栋从早上开始停水，到现在还没来水。", "我们幸福里5栋一早就停水了，到现在都没有来水", true},
		"zh_paraphrase_streetlight": {"光明路东段的路灯坏了，晚上一片漆黑", "光明路东段路灯不亮，晚上很黑", true},
		"en_paraphrase":             {"No water in building 5 since this morning, the taps are dry", "Building 5 has had no water all morning; taps dry", true},
		"zh_other_problem":          {"幸福里小区5栋从早上开始停水，到现在还没来水。", "幸福里小区门口的垃圾桶满了没人清理", false},
		"en_other_problem":          {"No water in building 5 since this morning, the taps are dry", "Loud construction noise at night next to building 5", false},
	}
	for name, c := range cases {
		s := jaccard(textFeatures(c.a), textFeatures(c.b))
		t.Logf("%s: %.3f", name, s)
		if (s >= dupSimilarity) != c.dup {
			t.Errorf("%s: similarity %.3f, threshold %.2f, want duplicate=%v", name, s, dupSimilarity, c.dup)
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"5 Xingfu Road":          "5xingfurd",
		"5, Xingfu Rd.":          "5xingfurd",
		"幸福里小区　５栋":               "幸福里小区5栋",
		"  No. 12 Renmin Street": "12renminst",
	} {
		if got := NormalizeAddress(in); got != want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDuplicateLinked creates tickets through the service on the SQLite
// store: a repeat of an open ticket's problem at the same place (near
// coordinates, or the same address written differently), in Chinese and in
// English, is linked to it and counted on it; the same text at another
// place, in another category or about another problem is not.
func TestDuplicateLinked(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noDispatch: true})
	ctx := context.Background()
	create := func(text, category, address string, lat, lon float64) Ticket {
		t.Helper()
		loc := &Location{Address: address}
		if lat != 0 {
			loc.Lat, loc.Lon = &lat, &lon
		}
		out, err := r.svc.Create(ctx, CreateRequest{Text: text, Location: loc}, CreateOptions{Principal: hotlineKey, Category: category})
		if err != nil {
			t.Fatal(err)
		}
		return out.Ticket
	}
	zh := create("幸福里小区5栋从早上开始停水，到现在还没来水。", "030101", "幸福里小区5栋", 30.5801, 114.2702)
	light := create("光明路东段的路灯坏了，晚上一片漆黑", "020201", "光明路东段", 0, 0)
	en := create("No water in building 5 of Xingfu Road since this morning, the taps are dry", "030101", "5 Xingfu Road", 0, 0)
	cases := []struct {
		name, text, category, address string
		lat, lon                      float64
		want                          string
	}{
		{"zh_near_coordinates", "我们幸福里5栋一早就停水了，到现在都没有来水", "030101", "", 30.5804, 114.2705, zh.ID},
		{"zh_same_address", "幸福里5栋停水一上午了，还没来水", "030101", "幸福里小区 5栋", 0, 0, zh.ID},
		{"en_same_address", "Building 5 on Xingfu Rd has had no water all morning; taps dry", "030101", "5, Xingfu Rd.", 0, 0, en.ID},
		{"zh_same_address_streetlight", "光明路东段路灯不亮，晚上很黑", "020201", "光明路 东段", 0, 0, light.ID},
		{"en_other_problem", "Loud construction noise at night next to building 5", "030101", "5 Xingfu Road", 0, 0, ""},
		{"zh_other_place", "我们幸福里5栋一早就停水了，到现在都没有来水", "030101", "", 30.6001, 114.2702, ""},
		{"zh_other_category", "幸福里小区5栋从早上开始停水，到现在还没来水。", "020201", "幸福里小区5栋", 30.5801, 114.2702, ""},
		{"zh_other_problem", "幸福里小区5栋门口水管爆了，满地都是水", "030101", "幸福里小区5栋", 30.5801, 114.2702, ""},
	}
	for _, c := range cases {
		got := create(c.text, c.category, c.address, c.lat, c.lon)
		if got.DuplicateOf != c.want {
			t.Errorf("%s: duplicate_of %q, want %q", c.name, got.DuplicateOf, c.want)
		}
		stored, err := r.svc.Get(ctx, got.ID)
		if err != nil || stored.DuplicateOf != c.want {
			t.Errorf("%s: stored duplicate_of %q (%v), want %q", c.name, stored.DuplicateOf, err, c.want)
		}
	}
	for id, want := range map[string]int{zh.ID: 2, en.ID: 1} {
		if got, err := r.svc.Get(ctx, id); err != nil || got.Duplicates != want {
			t.Errorf("ticket %s: %d duplicates (%v), want %d", id, got.Duplicates, err, want)
		}
	}
}

// TestBestDuplicateBounds: the ticket itself, and candidates whose
// coordinates are far apart, are never picked; without any place the text
// must be nearly the same.
func TestBestDuplicateBounds(t *testing.T) {
	t.Parallel()
	lat, lon, far := 30.58, 114.27, 30.59
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	text := "光明路东段的路灯坏了，晚上一片漆黑"
	tk := Ticket{ID: "tkt_new", Text: text, Location: &Location{Lat: &lat, Lon: &lon}, CreatedAt: now}
	cands := []store.DuplicateCandidate{
		{ID: "tkt_new", Text: text, Lat: &lat, Lon: &lon},
		{ID: "tkt_far", Text: text, Lat: &far, Lon: &lon},
	}
	if got := bestDuplicate(tk, cands); got != "" {
		t.Errorf("picked %q", got)
	}
	noPlace := Ticket{ID: "tkt_x", Text: "光明路东段路灯不亮，晚上很黑"}
	if got := bestDuplicate(noPlace, []store.DuplicateCandidate{{ID: "tkt_a", Text: text}}); got != "" {
		t.Errorf("a paraphrase without a place picked %q", got)
	}
	if got := bestDuplicate(Ticket{ID: "tkt_y", Text: text}, []store.DuplicateCandidate{{ID: "tkt_a", Text: text}}); got != "tkt_a" {
		t.Errorf("the same text without a place picked %q", got)
	}
}
