package hotline

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/cityagent/cityagent/store"
)

// Hot spots: recurring problems by place and category — the cases the city
// should fix at the root. A ticket's place is its normalised address, else
// its coordinates on a grid of about 110 m; a ticket linked as a duplicate
// counts at the place of the ticket it repeats.

// HotspotStore is the part of the state store hot spots read; *store.DB
// implements it.
type HotspotStore interface {
	HotspotRows(ctx context.Context, from, to time.Time, category string, limit int) ([]store.HotspotRow, error)
}

var _ HotspotStore = (*store.DB)(nil)

// HotspotQuery selects hot spots.
type HotspotQuery struct {
	From, To time.Time
	Category string // a code or a code prefix; "" any
	Min      int    // fewest tickets in the period for a hot spot; default 2
	Limit    int    // default 20, at most 100
	Offset   int
}

// Hotspots is one page of hot spots, most tickets first.
type Hotspots struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	PreviousFrom time.Time `json:"previous_from"` // the previous period is [previous_from, from)
	Hotspots     []Hotspot `json:"hotspots"`
	Total        int       `json:"total"`       // hot spots in all pages
	NextOffset   *int      `json:"next_offset"` // null on the last page
	Truncated    bool      `json:"truncated"`   // more tickets than one query reads: counts are partial
}

// Hotspot is one recurring problem at one place.
type Hotspot struct {
	Category      string    `json:"category"`
	CategoryName  Text      `json:"category_name"`
	Place         string    `json:"place"` // the normalised address, or "lat,lon" of the grid cell
	Address       string    `json:"address,omitempty"`
	Lat           *float64  `json:"lat,omitempty"`
	Lon           *float64  `json:"lon,omitempty"`
	Count         int       `json:"count"`          // tickets in the period
	Open          int       `json:"open"`           // of those, not closed or merged
	PreviousCount int       `json:"previous_count"` // tickets in the previous period of equal length
	Change        int       `json:"change"`         // count − previous_count
	Trend         string    `json:"trend"`          // new, rising, steady or falling
	FirstAt       time.Time `json:"first_at"`
	LastAt        time.Time `json:"last_at"`
	TicketIDs     []string  `json:"ticket_ids"` // the latest ten
}

// Hotspots lists recurring problems in [q.From, q.To) with their trend
// against the previous period of the same length.
func (s *Service) Hotspots(ctx context.Context, q HotspotQuery) (Hotspots, error) {
	if err := CheckPeriod(q.From, q.To); err != nil {
		return Hotspots{}, err
	}
	if q.Min == 0 {
		q.Min = 2
	}
	if q.Limit == 0 {
		q.Limit = 20
	}
	switch {
	case q.Min < 1 || q.Min > 10000:
		return Hotspots{}, &InputError{"min", "must be an integer from 1 to 10000"}
	case q.Limit < 1 || q.Limit > 100:
		return Hotspots{}, &InputError{"limit", "must be an integer from 1 to 100"}
	case q.Offset < 0:
		return Hotspots{}, &InputError{"offset", "must not be negative"}
	}
	hs, ok := s.store.(HotspotStore)
	if !ok {
		return Hotspots{}, ErrNoResults
	}
	prev := q.From.Add(-q.To.Sub(q.From))
	rows, err := hs.HotspotRows(ctx, prev, q.To, q.Category, store.MaxHotspotRows)
	if err != nil {
		return Hotspots{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	all := s.groupHotspots(rows, q.From, q.Min)
	out := Hotspots{From: q.From.UTC(), To: q.To.UTC(), PreviousFrom: prev.UTC(), Hotspots: []Hotspot{}, Total: len(all),
		Truncated: len(rows) >= store.MaxHotspotRows}
	if q.Offset < len(all) {
		end := min(q.Offset+q.Limit, len(all))
		out.Hotspots = all[q.Offset:end]
		if end < len(all) {
			out.NextOffset = &end
		}
	}
	return out, nil
}

// hotspotKey is a category at a place.
type hotspotKey struct{ category, place string }

// groupHotspots counts rows (oldest first) by category and place: those
// received from `from` on in the period, the earlier ones in the previous
// period. Places with fewer than min tickets in the period are dropped.
func (s *Service) groupHotspots(rows []store.HotspotRow, from time.Time, minCount int) []Hotspot {
	placeOf := map[string]string{} // ticket id → place key, for duplicates
	by := map[hotspotKey]*Hotspot{}
	for _, r := range rows {
		key := rowPlace(r)
		if p, ok := placeOf[r.DuplicateOf]; ok && r.DuplicateOf != "" {
			key = p
		}
		if key == "" {
			continue
		}
		placeOf[r.ID] = key
		k := hotspotKey{r.Category, key}
		h := by[k]
		if h == nil {
			h = &Hotspot{Category: r.Category, Place: key, TicketIDs: []string{}}
			by[k] = h
		}
		if r.ReceivedAt.Before(from) {
			h.PreviousCount++
			continue
		}
		h.Count++
		if r.Status != StatusClosed && r.Status != "merged" {
			h.Open++
		}
		if h.FirstAt.IsZero() {
			h.FirstAt = r.ReceivedAt
		}
		h.LastAt = r.ReceivedAt
		h.TicketIDs = append(h.TicketIDs, r.ID)
		if h.Address == "" && PlaceName(r.Address) != "" {
			h.Address = PlaceName(r.Address)
		}
		if h.Lat == nil && r.Lat != nil {
			h.Lat, h.Lon = r.Lat, r.Lon
		}
	}
	out := []Hotspot{}
	for _, h := range by {
		if h.Count < minCount {
			continue
		}
		h.Change = h.Count - h.PreviousCount
		h.Trend = trend(h.Count, h.PreviousCount)
		if n := len(h.TicketIDs); n > 10 {
			h.TicketIDs = h.TicketIDs[n-10:]
		}
		if c, ok := s.tax.Category(h.Category); ok {
			h.CategoryName = Text{Zh: c.NameZh, En: c.Name}
		}
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Change != b.Change {
			return a.Change > b.Change
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		return a.Place < b.Place
	})
	return out
}

// rowPlace is a ticket's place key: its normalised address, else its grid
// cell, else "" (no place).
func rowPlace(r store.HotspotRow) string {
	if a := NormalizeAddress(r.Address); a != "" {
		return a
	}
	if r.Lat != nil && r.Lon != nil {
		cell := func(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', 3, 64) }
		return cell(*r.Lat) + "," + cell(*r.Lon)
	}
	return ""
}

// trend compares a period's count with the previous period's: new (none
// before), rising or falling (by a quarter or more), else steady.
func trend(now, before int) string {
	switch {
	case before == 0:
		return "new"
	case float64(now) >= 1.25*float64(before):
		return "rising"
	case float64(now) <= 0.75*float64(before):
		return "falling"
	}
	return "steady"
}
