package embedded

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

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
		switch {
		case r.compact:
			compacts = append(compacts, r)
		case !s.fits(r):
			r.err = fmt.Errorf("collection %s is full (%d chunks): %w", r.rec.doc.Collection, maxSlots, knowledge.ErrInvalid)
		default:
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
		offs := make([]int64, len(writes))
		n := int64(0)
		var err error
		for i, r := range writes {
			offs[i] = before + n
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
			s.failed = fmt.Errorf("embedded: write log: %w: %w", knowledge.ErrUnavailable, err)
			s.failedFlag.Store(true)
			for _, r := range batch {
				r.err = s.failed
			}
			return
		}
		s.logBytes.Add(n)
		s.mu.Lock()
		for i, r := range writes {
			s.apply(r.rec, offs[i], r.pre)
		}
		s.applied = before + n
		s.mu.Unlock()
		s.lastWrite.Store(time.Now().UnixNano())
		s.kick()
	}
	if len(compacts) > 0 {
		err := s.compact()
		for _, r := range compacts {
			r.err = err
		}
	}
}

// fits reports whether a put leaves its collection within maxSlots. Only
// the committer calls it.
func (s *Store) fits(r *request) bool {
	if r.rec.op != opPut {
		return true
	}
	col := s.cols[r.rec.doc.Collection]
	if col == nil {
		return len(r.rec.chunks) <= maxSlots
	}
	grow := len(r.rec.chunks)
	if old := col.docs[r.rec.doc.ID]; old != nil {
		grow -= len(old.slots)
	}
	return col.room(grow)
}

// kick wakes the indexer without waiting.
func (s *Store) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// apply changes memory to reflect rec, which starts at log offset off; pre
// holds the chunks' terms and codes when Put computed them. The caller holds
// mu or is opening the store.
func (s *Store) apply(rec record, off int64, pre []chunkPre) {
	switch rec.op {
	case opPut:
		if s.dim == 0 {
			s.dim = rec.dim
		}
		col := s.collection(rec.doc.Collection)
		if col.dense == nil && s.dim > 0 {
			col.dense = newGraph(s.dim)
			col.dense.exactBelow = s.exactBelow
		}
		if old := col.docs[rec.doc.ID]; old != nil {
			s.garbage.Add(old.size)
		}
		data := make([]chunkData, len(rec.chunks))
		for i, ch := range rec.chunks {
			d := chunkData{chunk: ch, textOff: off + int64(rec.textAt[i]), textLen: rec.textLen[i]}
			d.chunk.Text = ""
			if pre != nil {
				d.terms, d.codes, d.scale = pre[i].terms, pre[i].codes, pre[i].scale
			} else {
				d.terms = termsOf(ch)
				if rec.vecs != nil {
					d.codes = make([]int8, rec.dim)
					d.scale = quantize(d.codes, rec.vecs[i])
				}
			}
			data[i] = d
		}
		e := &docEntry{doc: rec.doc, off: off, size: rec.size}
		col.put(e, data, &s.intern, func(i int32) []string { return s.slotTerms(col, i) })
	case opDelete:
		if col := s.cols[rec.del.Collection]; col != nil {
			if e := col.docs[rec.del.ID]; e != nil {
				s.garbage.Add(e.size)
				col.remove(e, func(i int32) []string { return s.slotTerms(col, i) })
			}
		}
		s.garbage.Add(rec.size)
	case opCollection:
		if s.cols[rec.del.Collection] != nil {
			s.garbage.Add(rec.size)
		}
		s.collection(rec.del.Collection)
	}
}

func (s *Store) collection(name string) *collection {
	col := s.cols[name]
	if col == nil {
		col = newCollection(name, s.dim)
		if col.dense != nil {
			col.dense.exactBelow = s.exactBelow
		}
		s.cols[name] = col
	}
	return col
}

// slotTerms returns the terms slot i was indexed with, tokenising its text
// again from the log. A read error leaves the postings in place: they point
// at a dead slot, which no search allows.
func (s *Store) slotTerms(col *collection, i int32) []string {
	ch, err := s.chunkAt(col, i, true)
	if err != nil {
		return nil
	}
	return knowledge.Tokens(knowledge.IndexText(ch))
}

// load opens the log, migrating a version 1 log, and brings memory up to
// date: from the snapshot when it matches, then by replaying the log.
func (s *Store) load() error {
	for _, tmp := range []string{compactName, snapTmpName} {
		// A compaction or snapshot that did not reach its rename left only
		// a temporary file.
		if err := os.Remove(filepath.Join(s.dir, tmp)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	path := filepath.Join(s.dir, logName)
	if err := s.openLog(path); err != nil {
		return err
	}
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	off := int64(logHeaderSize)
	sn, err := s.readSnapshot(size)
	if err == nil {
		// The snapshot trusts the log up to sn: check that the records
		// written last before it are intact (checksums only, no decoding)
		// — where a crash or a bad disk write would show. A damaged one
		// means the log must be replayed, and cut, from the start.
		from := s.verifyFrom(sn - verifyWindow)
		if bad := verifyLog(s.f, from, sn); bad < sn {
			s.resetMemory()
			err = fmt.Errorf("%w: log damaged at offset %d", errSnapshot, bad)
		}
	}
	if err == nil {
		off = sn
		s.snapLoaded = true
		s.snapAt.Store(sn)
		s.snapGen.Store(s.gen)
	} else if !errors.Is(err, os.ErrNotExist) {
		// A snapshot of another log generation, or damaged: the log has
		// everything.
		s.resetMemory()
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, off, size-off), 1<<20)
	for {
		rec, _, err := readRecord(r, size-off, false)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errCorrupt) {
			s.truncated = size - off
			if err := s.f.Truncate(off); err != nil {
				return err
			}
			if err := s.f.Sync(); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return fmt.Errorf("replay at offset %d: %w", off, err)
		}
		if rec.op == opPut && s.dim != 0 && rec.dim != s.dim {
			return fmt.Errorf("replay at offset %d: vectors of %d dimensions in a store of %d", off, rec.dim, s.dim)
		}
		s.apply(rec, off, nil)
		s.replayed++
		off += rec.size
	}
	s.applied = off
	s.logBytes.Store(off)
	if s.snapLoaded || s.replayed > 0 {
		// Loading allocates much that it drops (read buffers, decoded
		// records): hand that memory back now rather than carry it as
		// resident until the heap grows into it.
		debug.FreeOSMemory()
	}
	return nil
}

// verifyWindow is how much log before a snapshot's end Open checks.
const verifyWindow = 64 << 20

// verifyFrom returns a record boundary at or after target: the start of the
// first document record there (documents' offsets are known), else the
// log's start.
func (s *Store) verifyFrom(target int64) int64 {
	best := int64(-1)
	for _, c := range s.cols {
		for _, e := range c.docs {
			if e.off >= target && (best < 0 || e.off < best) {
				best = e.off
			}
		}
	}
	if best < 0 || target <= int64(logHeaderSize) {
		return int64(logHeaderSize)
	}
	return best
}

// verifyLog checks the checksums of the records in [from, end), from a
// record boundary, and returns the offset of the first damaged one, or end.
func verifyLog(f *os.File, from, end int64) int64 {
	off := from
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 1<<20)
	var hdr [headerSize]byte
	var payload []byte
	for off < end {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off
		}
		size := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if size == 0 || off+headerSize+size > end {
			return off
		}
		if cap(payload) < int(size) {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return off
		}
		off += headerSize + size
	}
	return off
}

func (s *Store) resetMemory() {
	s.dim = 0
	s.cols = map[string]*collection{}
	s.intern = internTable{}
	s.garbage.Store(0)
}

// openLog opens (or creates) the log and reads its generation; a version 1
// log is first rewritten as version 2.
func (s *Store) openLog(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	s.f = f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, min(st.Size(), int64(logHeaderSize)))
	if _, err := io.ReadFull(f, head); err != nil {
		return err
	}
	switch {
	case len(head) == logHeaderSize && string(head[:len(logMagic)]) == logMagic:
		s.gen = binary.LittleEndian.Uint64(head[len(logMagic):])
		return nil
	case len(head) >= len(logMagicV1) && string(head[:len(logMagicV1)]) == logMagicV1:
		f.Close()
		s.f = nil
		if err := migrateV1(s.dir, path); err != nil {
			return fmt.Errorf("migrate %s to version 2: %w", path, err)
		}
		return s.openLog(path)
	case len(head) < logHeaderSize && (string(head) == logMagic[:min(len(head), len(logMagic))] || len(head) == 0):
		// New, or its creation was cut short.
		s.gen = newGeneration()
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Write(logHeader(s.gen)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return syncDir(s.dir)
	}
	return fmt.Errorf("%s is not a knowledge log", path)
}

// migrateV1 rewrites a version 1 log as version 2 with the documents live at
// its end, through a temporary file renamed over it.
func migrateV1(dir, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	type key struct{ collection, id string }
	live := map[key]record{}
	var order []key
	off := int64(len(logMagicV1))
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, st.Size()-off), 1<<20)
	for {
		rec, _, err := readRecord(r, st.Size()-off, true)
		if err == io.EOF || errors.Is(err, errCorrupt) {
			break
		}
		if err != nil {
			return err
		}
		off += rec.size
		switch rec.op {
		case opPut:
			k := key{rec.doc.Collection, rec.doc.ID}
			if _, ok := live[k]; !ok {
				order = append(order, k)
			}
			live[k] = rec
		case opDelete:
			delete(live, key{rec.del.Collection, rec.del.ID})
		}
	}
	tmp := filepath.Join(dir, compactName)
	g, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(g, 1<<20)
	w.Write(logHeader(newGeneration()))
	for _, k := range order {
		rec, ok := live[k]
		if !ok {
			continue
		}
		buf, _, err := encodePut(rec.doc, rec.chunks, rec.vecs, rec.dim)
		if err == nil {
			_, err = w.Write(buf)
		}
		if err != nil {
			g.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		g.Close()
		return err
	}
	if err := g.Sync(); err != nil {
		g.Close()
		return err
	}
	if err := g.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// compact rewrites the log with only the live documents, copying their
// records as they are, to a temporary file, fsync'd, then renamed over the
// log, so that a crash at any point leaves one complete log. Only the
// committer calls it, so the collections cannot change meanwhile; searches
// go on until the swap.
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
	gen := newGeneration()
	w := bufio.NewWriterSize(g, 1<<20)
	w.Write(logHeader(gen))
	total := int64(logHeaderSize)
	newOff := map[*docEntry]int64{}
	names := slices.Sorted(maps.Keys(s.cols))
	for _, name := range names {
		buf, err := encodeJSON(opCollection, deleteBody{Collection: name})
		if err == nil {
			_, err = w.Write(buf)
		}
		if err != nil {
			return fail(err)
		}
		total += int64(len(buf))
	}
	var raw []byte
	for _, name := range names {
		col := s.cols[name]
		for _, id := range slices.Sorted(maps.Keys(col.docs)) {
			e := col.docs[id]
			if cap(raw) < int(e.size) {
				raw = make([]byte, e.size)
			}
			raw = raw[:e.size]
			if _, err := s.f.ReadAt(raw, e.off); err != nil {
				return fail(err)
			}
			if _, err := w.Write(raw); err != nil {
				return fail(err)
			}
			newOff[e] = total
			total += e.size
		}
	}
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
		s.failed = fmt.Errorf("embedded: compact: %w: %w", knowledge.ErrUnavailable, err)
		s.failedFlag.Store(true)
		g.Close()
		return s.failed
	}
	s.mu.Lock()
	old := s.f
	s.f = g
	s.gen = gen
	s.applied = total
	for e, off := range newOff {
		delta := off - e.off
		e.off = off
		col := s.cols[e.doc.Collection]
		for _, sl := range e.slots {
			col.slots[sl].textOff += delta
		}
	}
	s.mu.Unlock()
	old.Close()
	s.logBytes.Store(total)
	s.garbage.Store(0)
	s.kick() // the snapshot describes the old log: write a new one
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
