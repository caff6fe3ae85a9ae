package hotline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cityagent/cityagent/store"
)

// TestHotspots: tickets written to the store over two weeks are grouped
// by category and place (address written differently, coordinates in one
// grid cell, a duplicate counted at its original's place), counted against
// the previous week, filtered, ordered and paged.
func TestHotspots(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	to := from.Add(7 * 24 * time.Hour)
	r := newRig(t, rigOptions{noDispatch: true, now: func() time.Time { return to.Add(time.Hour) }})
	ctx := context.Background()
	n := 0
	add := func(category, address string, lat, lon float64, day float64, duplicateOf string) string {
		t.Helper()
		n++
		id := fmt.Sprintf("tkt_%016d", n)
		at := from.Add(time.Duration(day * 24 * float64(time.Hour)))
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "诉求 request", Address: address,
			Type: "complaint", Category: category, Department: "urban_management", Urgency: "normal", Status: "triaged",
			Data: json.RawMessage(`{}`), ReceivedAt: at, CreatedAt: at, Deadline: at.Add(72 * time.Hour)}
		if lat != 0 {
			tk.Lat, tk.Lon = &lat, &lon
		}
		if err := r.db.CreateTicket(ctx, tk, nil); err != nil {
			t.Fatal(err)
		}
		if duplicateOf != "" {
			if err := r.db.LinkDuplicate(ctx, id, duplicateOf); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	// A: street lights on 光明路东段, 3 this week (+1 duplicate without a place), 1 the week before.
	a1 := add("020201", "光明路东段", 0, 0, 0.5, "")
	add("020201", "光明路 东段", 0, 0, 2, "")
	add("020201", "光明路东段", 0, 0, 3, "")
	add("020201", "", 0, 0, 3.5, a1)
	add("020201", "光明路东段", 0, 0, -2, "")
	// B: a water outage at one spot (coordinates ~2 m apart): 2 and 2.
	add("030101", "", 30.58010, 114.27020, 1, "")
	add("030101", "", 30.58012, 114.27018, 4, "")
	add("030101", "", 30.58010, 114.27020, -1, "")
	add("030101", "", 30.58011, 114.27021, -3, "")
	// C: new this week, one address written two ways.
	add("030102", "5 Xingfu Road", 0, 0, 1, "")
	add("030102", "5, Xingfu Rd.", 0, 0, 6.9, "")
	// E: falling, 2 this week and 3 the week before.
	for _, d := range []float64{1, 2, -1, -2, -3} {
		add("010101", "人民路12号", 0, 0, d, "")
	}
	// Below min: one ticket; the same place in another category; after the period.
	add("020201", "人民路12号", 0, 0, 1, "")
	add("030101", "光明路东段", 0, 0, 1, "")
	add("020201", "光明路东段", 0, 0, 7.5, "")

	got, err := r.svc.Hotspots(ctx, HotspotQuery{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		category, place     string
		count, prev, change int
		trend               string
	}
	var rows []row
	for _, h := range got.Hotspots {
		rows = append(rows, row{h.Category, h.Place, h.Count, h.PreviousCount, h.Change, h.Trend})
	}
	want := []row{
		{"020201", "光明路东段", 4, 1, 3, "rising"},
		{"030102", "5xingfurd", 2, 0, 2, "new"},
		{"030101", "30.580,114.270", 2, 2, 0, "steady"},
		{"010101", "人民路12号", 2, 3, -1, "falling"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) || got.Total != 4 || got.NextOffset != nil || !got.PreviousFrom.Equal(from.Add(-7*24*time.Hour)) {
		t.Fatalf("hot spots:\n got %v (total %d)\nwant %v", rows, got.Total, want)
	}
	top := got.Hotspots[0]
	if top.Open != 4 || top.Address != "光明路东段" || top.CategoryName.Zh == "" || len(top.TicketIDs) != 4 || top.TicketIDs[0] != a1 ||
		!top.FirstAt.Equal(from.Add(12*time.Hour)) {
		t.Errorf("top hot spot: %+v", top)
	}
	if b := got.Hotspots[2]; b.Lat == nil || *b.Lat != 30.58010 {
		t.Errorf("grid hot spot without its coordinates: %+v", b)
	}

	page, err := r.svc.Hotspots(ctx, HotspotQuery{From: from, To: to, Limit: 2})
	if err != nil || len(page.Hotspots) != 2 || page.NextOffset == nil || *page.NextOffset != 2 || page.Hotspots[1].Category != "030102" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	page, err = r.svc.Hotspots(ctx, HotspotQuery{From: from, To: to, Limit: 2, Offset: *page.NextOffset})
	if err != nil || len(page.Hotspots) != 2 || page.NextOffset != nil || page.Hotspots[1].Category != "010101" {
		t.Fatalf("second page: %+v %v", page, err)
	}
	if f, _ := r.svc.Hotspots(ctx, HotspotQuery{From: from, To: to, Category: "02"}); len(f.Hotspots) != 1 || f.Hotspots[0].Count != 4 {
		t.Errorf("category 02: %+v", f.Hotspots)
	}
	if f, _ := r.svc.Hotspots(ctx, HotspotQuery{From: from, To: to, Min: 3}); len(f.Hotspots) != 1 {
		t.Errorf("min 3: %+v", f.Hotspots)
	}
	for name, q := range map[string]HotspotQuery{
		"no period": {}, "reversed": {From: to, To: from}, "too long": {From: from.Add(-400 * 24 * time.Hour), To: to},
		"min": {From: from, To: to, Min: -1}, "limit": {From: from, To: to, Limit: 101},
	} {
		if _, err := r.svc.Hotspots(ctx, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestTrend(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		now, before int
		want        string
	}{{3, 0, "new"}, {5, 4, "rising"}, {4, 4, "steady"}, {3, 4, "falling"}, {4, 5, "steady"}} {
		if got := trend(c.now, c.before); got != c.want {
			t.Errorf("trend(%d, %d) = %s, want %s", c.now, c.before, got, c.want)
		}
	}
}

// A place name carries no masked personal data nor the words that
// introduced it: tickets whose address held a phone number group with
// the others at the place.
func TestPlaceNameDropsPersonalData(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"联系135****1234 武昌区积玉桥":             "武昌区积玉桥",
		"武昌区积玉桥，联系电话：010-******56":         "武昌区积玉桥，",
		"联系人张** 光明路东段":                     "光明路东段",
		"5 Xingfu Road, call ***-***-2671": "5 Xingfu Road,",
		"光明路东段12号":                         "光明路东段12号",
	} {
		if got := PlaceName(in); got != want {
			t.Errorf("PlaceName(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := NormalizeAddress("联系135****1234 武昌区积玉桥"), NormalizeAddress("武昌区积玉桥"); a != b {
		t.Errorf("normalised %q vs %q", a, b)
	}
}
