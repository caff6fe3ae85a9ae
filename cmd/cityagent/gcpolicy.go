package main

import (
	"runtime/debug"
)

// serveGCPercent is the garbage collector's target for `serve` when the
// operator sets neither GOGC nor GOMEMLIMIT. A chat turn allocates a few
// hundred kilobytes that die with it, over a live heap of about 50 MB on the
// embedded default, so the default GOGC=100 collects often for little.
// Measured with `make bench-load` (docs/performance.md): server CPU per turn
// fell about 15 % at 200 and about 20 % at 400, for about +30 MB and +95 MB
// of RSS. 200 keeps most of the gain while the heap stays within three times
// the live data (the 1M-chunk knowledge store must stay under 1 GB).
const serveGCPercent = 200

// applyGCPolicy sets serveGCPercent unless the environment sets the
// collector itself (the runtime has read GOGC and GOMEMLIMIT already).
func applyGCPolicy(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(serveGCPercent)
}
