package democity

import (
	"sync"

	"github.com/cityagent/cityagent/tools/traffic"
)

// slotCache memoises slotIncidents, a pure function of the seed and the
// slot: every live traffic question draws the incidents of the last
// maxIncidentHours+1 slots, so a busy server used to redraw the same hours
// (hashes, formatting, descriptions) several times per turn. Resolutions
// are applied after the cache (incidentsBetween), so the cache never goes
// stale. It is bounded: when full it starts over.
type slotCache struct {
	mu    sync.Mutex
	slots map[int64][]traffic.Incident
}

// maxCachedSlots bounds the cache: a day and a half of hours covers live
// questions and short histories; long histories just recompute.
const maxCachedSlots = 36

// cachedSlotIncidents is slotIncidents through the cache. The returned
// slice is shared: callers copy elements, never write to it.
func (c *City) cachedSlotIncidents(slot int64) []traffic.Incident {
	sc := &c.slotCache
	sc.mu.Lock()
	incs, ok := sc.slots[slot]
	sc.mu.Unlock()
	if ok {
		return incs
	}
	incs = c.slotIncidents(slot)
	sc.mu.Lock()
	if sc.slots == nil || len(sc.slots) >= maxCachedSlots {
		sc.slots = make(map[int64][]traffic.Incident, maxCachedSlots)
	}
	sc.slots[slot] = incs
	sc.mu.Unlock()
	return incs
}
