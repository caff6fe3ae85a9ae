package embedded

import "time"

// The indexer gives way to ingestion: while writes keep coming and fewer
// than deferLinking vectors wait, it waits for a pause of quiet in the
// writes, so that a burst of ingestion has both cores (pending vectors cost
// searches an exact scan: 100,000 take about 2 ms).
const (
	deferLinking = 100_000
	quiet        = 100 * time.Millisecond
)

// indexLoop is the indexer: it links pending vectors into their
// collections' graphs, a few at a time so that it notices Close, and writes
// a snapshot when enough log has been written since the last one. Searches
// never wait for it.
func (s *Store) indexLoop() {
	defer close(s.idxDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			if wait := s.linkingWait(); wait > 0 {
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
				continue
			}
			worked := false
			for _, g := range s.pendingGraphs() {
				for i := 0; i < 64 && g.linkNext(); i++ {
					worked = true
					s.linkedSince.Add(1)
				}
				select {
				case <-s.stop:
					return
				default:
				}
			}
			if s.snapshotDue() {
				s.writeSnapshot() // a failure is kept for IndexStats; the log has everything
			}
			if !worked {
				break
			}
		}
	}
}

// pendingGraphs returns the graphs with vectors to link.
func (s *Store) pendingGraphs() []*graph {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*graph
	for _, c := range s.cols {
		if c.dense != nil && c.dense.pending() > 0 {
			out = append(out, c.dense)
		}
	}
	return out
}

// linkingWait is how long the indexer should wait before linking more.
func (s *Store) linkingWait() time.Duration {
	since := time.Since(time.Unix(0, s.lastWrite.Load()))
	if since >= quiet {
		return 0
	}
	pending := 0
	for _, g := range s.pendingGraphs() {
		pending += g.pending()
	}
	if pending >= deferLinking || pending == 0 {
		return 0
	}
	return quiet - since
}
