package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/cityagent/cityagent/knowledge"
)

// run is the committer: it takes the writes waiting, appends them, fsyncs
// once, applies them to memory in log order and acknowledges them.
func (s *Store) run() {
	defer close(s.done)
	for {
		var batch []*request
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.stop:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
		if n := s.logBytes.Load(); s.failed == nil && n >= max(s.compactMin, s.retryCompactAt) && 2*s.garbage.Load() >= n {
			// A failed compaction (say, a full disk) leaves the old log in
			// place; try again once the log has grown by half.
			if err := s.compact(); err != nil {
				s.retryCompactAt = n + n/2
			} else {
				s.retryCompactAt = 0
			}
		}
	}
}

func (s *Store) commit(batch []*request) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	var writes, compacts []*request
	for _, r := range batch {
		if r.compact {
			compacts = append(compacts, r)
		} else {
			writes = append(writes, r)
		}
	}
	if s.failed != nil {
		for _, r := range batch {
			r.err = s.failed
		}
		return
	}
	if len(writes) > 0 {
		before := s.logBytes.Load()
		var n int64
		var err error
		for _, r := range writes {
			var m int
			m, err = s.f.Write(r.buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		if err == nil {
			err = s.f.Sync()
		}
		if err != nil {
			// Cut back to the last durable record so that a later replay
			// does not stop at this one; the store refuses writes until it
			// is reopened, as the kernel may have dropped dirty pages.
			if terr := s.f.Truncate(before); terr != nil {
				err = errors.Join(err, terr)
			}
			s.failed = fmt.Errorf("embedded: write log: %w", err)
			for _, r := range batch {
				r.err = s.failed
			}
			return
		}
		s.logBytes.Add(n)
		s.mu.Lock()
		for _, r := range writes {
			s.apply(r.rec)
		}
		s.mu.Unlock()
	}
	if len(compacts) > 0 {
		err := s.compact()
		for _, r := range compacts {
			r.err = err
		}
	}
}

// apply changes memory to reflect rec; the caller holds mu or is replaying.
func (s *Store) apply(rec record) {
	switch rec.op {
	case opPut:
		if s.dim == 0 {
			s.dim = rec.dim
		}
		col := s.cols[rec.doc.Collection]
		if col == nil {
			col = newCollection(rec.doc.Collection, s.dim)
			s.cols[rec.doc.Collection] = col
		}
		key := docKey{rec.doc.Collection, rec.doc.ID}
		s.garbage.Add(s.sizes[key])
		s.sizes[key] = rec.size
		col.put(rec.doc, rec.chunks, rec.vecs, rec.terms)
	case opDelete:
		key := docKey{rec.del.Collection, rec.del.ID}
		if col := s.cols[key.collection]; col != nil {
			if e := col.docs[key.id]; e != nil {
				col.remove(e)
			}
			if len(col.docs) == 0 {
				delete(s.cols, key.collection)
			}
		}
		s.garbage.Add(s.sizes[key] + rec.size)
		delete(s.sizes, key)
	}
}

// compact rewrites the log with only the live documents: to a temporary
// file, fsync'd, then renamed over the log, so that a crash at any point
// leaves one complete log.
func (s *Store) compact() error {
	tmp := filepath.Join(s.dir, compactName)
	g, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("embedded: compact: %w", err)
	}
	fail := func(err error) error {
		g.Close()
		os.Remove(tmp)
		return fmt.Errorf("embedded: compact: %w", err)
	}
	w := bufio.NewWriterSize(g, 1<<20)
	total := int64(len(logMagic))
	sizes := map[docKey]int64{}
	w.WriteString(logMagic)
	s.mu.RLock()
	for _, name := range slices.Sorted(maps.Keys(s.cols)) {
		col := s.cols[name]
		for _, id := range slices.Sorted(maps.Keys(col.docs)) {
			e := col.docs[id]
			chunks := make([]knowledge.Chunk, len(e.slots))
			vecs := make([][]float32, len(e.slots))
			for i, sl := range e.slots {
				chunks[i] = col.slots[sl].chunk
				vecs[i] = col.dense.vector(sl)
			}
			buf, err := encodePut(e.doc, chunks, vecs, s.dim)
			if err == nil {
				_, err = w.Write(buf)
			}
			if err != nil {
				s.mu.RUnlock()
				return fail(err)
			}
			sizes[docKey{name, id}] = int64(len(buf))
			total += int64(len(buf))
		}
	}
	s.mu.RUnlock()
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := g.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, logName)); err != nil {
		return fail(err)
	}
	if err := syncDir(s.dir); err != nil {
		// The rename may not be durable: later writes to the new file
		// could be lost behind the old name. Stop writing.
		s.failed = fmt.Errorf("embedded: compact: %w", err)
		g.Close()
		return s.failed
	}
	s.f.Close()
	s.f = g
	s.sizes = sizes
	s.logBytes.Store(total)
	s.garbage.Store(0)
	return nil
}

// submit hands r to the committer and waits for it to be durable.
func (s *Store) submit(ctx context.Context, r *request) error {
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the write completes within one fsync; waiting for
	// it keeps the answer truthful.
	<-r.done
	return r.err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
