package knowledge

import (
	"time"
)

// Allows reports whether a query may see chunk c: the caller's clearance
// covers the chunk's, every Filter key matches its metadata exactly, and the
// chunk is in force at q.At (Effective ≤ At < Expires). Stores that filter in
// memory use it; the others must agree with it.
func (q Query) Allows(c Chunk) bool {
	if !q.Clearance.Covers(c.Clearance) {
		return false
	}
	for k, v := range q.Filter {
		if got, ok := c.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return ValidAt(c.Effective, c.Expires, q.At)
}

// ValidAt reports whether something in force from effective (nil: always)
// until expires (nil: never) is in force at t.
func ValidAt(effective, expires *time.Time, t time.Time) bool {
	if effective != nil && t.Before(*effective) {
		return false
	}
	if expires != nil && !t.Before(*expires) {
		return false
	}
	return true
}
