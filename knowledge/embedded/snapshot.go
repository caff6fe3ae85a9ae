package embedded

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// A snapshot is the whole in-memory index — documents, slots, postings,
// graph — as of a log offset, so that opening a store reads it in one pass
// and replays only the log written after it. It is
//
//	snapMagic, body…, CRC-32C of everything before it, snapEnd
//
// written to a temporary file, fsync'd and renamed, so that a crash leaves
// the previous snapshot or the new one, never a mix. It names the log
// generation it belongs to; after a compaction the old snapshot no longer
// matches and is ignored until the next one is written.
const (
	snapMagic = "CAKBSNP1"
	snapEnd   = "CAKBEND1"
)

var errSnapshot = errors.New("embedded: snapshot does not match the log")

// snapshotLinked is how many vectors linked since the last snapshot make a
// new one worth writing: linking them again after a restart would cost
// seconds.
const snapshotLinked = 20_000

// snapshotDue reports whether enough has changed since the last snapshot:
// the log was rewritten, or has grown by snapMin and a quarter, or a
// quarter of the vectors (at least snapshotLinked) were linked. Growing
// thresholds keep the cost of snapshots, which grow with the store, a
// bounded share of the work.
func (s *Store) snapshotDue() bool {
	s.mu.RLock()
	applied, gen := s.applied, s.gen
	chunks := 0
	for _, c := range s.cols {
		chunks += c.chunks
	}
	s.mu.RUnlock()
	if s.snapGen.Load() != gen {
		return applied > int64(logHeaderSize)
	}
	grown := applied - s.snapAt.Load()
	// Linking a large backlog is work a snapshot saves the next Open.
	return grown >= max(s.snapMin, applied/4) || s.linkedSince.Load() >= int64(max(snapshotLinked, chunks/4))
}

// writeSnapshot writes the current index if it differs from the last
// snapshot. Writers wait while it is encoded (to the page cache), not while
// it is fsync'd.
func (s *Store) writeSnapshot() error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.RLock()
	if s.gen == s.snapGen.Load() && s.applied == s.snapAt.Load() && s.linkedSince.Load() == 0 {
		s.mu.RUnlock()
		return nil
	}
	linked := s.linkedSince.Load()
	tmp := filepath.Join(s.dir, snapTmpName)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		s.mu.RUnlock()
		return s.snapFailed(err)
	}
	gen, applied := s.gen, s.applied
	w := newSnapWriter(f)
	s.encodeSnapshot(w)
	s.mu.RUnlock()
	err = w.finish()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, snapName))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		os.Remove(tmp)
		return s.snapFailed(err)
	}
	s.snapAt.Store(applied)
	s.snapGen.Store(gen)
	s.linkedSince.Add(-linked)
	s.snapErr.Store(nil)
	return nil
}

func (s *Store) snapFailed(err error) error {
	err = fmt.Errorf("embedded: write snapshot: %w", err)
	s.snapErr.Store(&err)
	return err
}

// encodeSnapshot writes the index; the caller holds mu.
func (s *Store) encodeSnapshot(w *snapWriter) {
	w.str(knowledge.TokenizerVersion)
	w.u64(s.gen)
	w.i64(s.applied)
	w.i64(s.garbage.Load())
	w.u32(uint32(s.dim))
	names := slices.Sorted(maps.Keys(s.cols))
	w.u32(uint32(len(names)))
	for _, name := range names {
		s.cols[name].encode(w)
	}
}

func (c *collection) encode(w *snapWriter) {
	w.str(c.name)
	// Documents, numbered in id order; slots refer to them by number.
	ids := slices.Sorted(maps.Keys(c.docs))
	num := make(map[*docEntry]uint32, len(ids))
	w.u32(uint32(len(ids)))
	for i, id := range ids {
		e := c.docs[id]
		num[e] = uint32(i)
		w.doc(e.doc)
		w.i64(e.off)
		w.i64(e.size)
		w.i32s(e.slots)
	}
	// Heading paths, shared.
	paths := map[string]uint32{}
	var table [][]string
	for i := range c.slots {
		if h := c.slots[i].heading; c.slots[i].live && len(h) > 0 {
			if _, ok := paths[joinPath(h)]; !ok {
				paths[joinPath(h)] = uint32(len(table) + 1)
				table = append(table, h)
			}
		}
	}
	w.u32(uint32(len(table)))
	for _, h := range table {
		w.strs(h)
	}
	w.u32(uint32(len(c.slots)))
	for i := range c.slots {
		sl := &c.slots[i]
		if !sl.live {
			w.u8(0)
			continue
		}
		w.u8(1)
		w.u32(num[sl.doc])
		w.str(sl.id)
		if len(sl.heading) > 0 {
			w.u32(paths[joinPath(sl.heading)])
		} else {
			w.u32(0)
		}
		w.i64(sl.textOff)
		w.i32(sl.textLen)
		w.i32(sl.ordinal)
		w.i32(sl.node)
		w.u8(uint8(sl.level))
		w.i64(sl.from)
		w.i64(sl.until)
		if x := sl.extra; x != nil {
			w.u8(1)
			w.str(x.title)
			w.str(x.source)
			w.meta(x.metadata)
			w.time(x.effective)
			w.time(x.expires)
		} else {
			w.u8(0)
		}
	}
	w.i32s(c.free)
	w.u32(uint32(c.chunks))
	// Lexical index.
	x := &c.lex
	for l := range levels {
		w.i64(int64(x.n[l]))
		w.i64(x.total[l])
	}
	w.i32s(x.length)
	w.u32(uint32(len(x.terms)))
	for term, pl := range x.terms {
		w.str(term)
		for l := range levels {
			w.i32(pl.df[l])
		}
		w.u32s(pl.posts)
	}
	// Graph.
	if c.dense == nil {
		w.u8(0)
		return
	}
	w.u8(1)
	g := c.dense
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.pmu.Lock()
	defer g.pmu.Unlock()
	slotOf, dead := g.slotOf, g.dead
	if len(g.tombs) > 0 {
		slotOf = slices.Clone(slotOf)
		for _, t := range g.tombs {
			if slotOf[t] >= 0 {
				slotOf[t] = -1
				dead++
			}
		}
	}
	for _, v := range []int32{int32(g.dim), int32(g.m), int32(g.m0), int32(g.efC), g.entry, int32(g.top), int32(dead)} {
		w.i32(v)
	}
	w.i8s(g.codes)
	w.f32s(g.scales)
	w.i32s(slotOf)
	w.bytes(g.levels)
	w.i32s(g.nbr0)
	w.bytes(g.cnt0)
	w.u32(uint32(len(g.upper)))
	for _, n := range slices.Sorted(maps.Keys(g.upper)) {
		w.i32(n)
		w.i32s(g.upper[n])
	}
	w.u32(uint32(len(g.pend)))
	for _, p := range g.pend {
		w.i32(p.slot)
		w.u32(math.Float32bits(p.scale))
		w.i8s(p.codes)
	}
}

// readSnapshot loads the snapshot if it belongs to the open log (of size
// bytes) and returns the log offset it covers. Memory changes only when the
// whole snapshot has been read and its checksum matches.
func (s *Store) readSnapshot(size int64) (int64, error) {
	f, err := os.Open(filepath.Join(s.dir, snapName))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := newSnapReader(f)
	if magic := r.fixed(len(snapMagic)); string(magic) != snapMagic {
		return 0, fmt.Errorf("%w: bad magic", errSnapshot)
	}
	// Postings made by another tokenizer would not match the queries, nor
	// be removable: replay the log instead.
	if v := r.str(); r.err == nil && v != knowledge.TokenizerVersion {
		return 0, fmt.Errorf("%w: tokenizer %q, this build uses %q", errSnapshot, v, knowledge.TokenizerVersion)
	}
	gen, applied, garbage, dim := r.u64(), r.i64(), r.i64(), int(r.u32())
	if r.err == nil && (gen != s.gen || applied > size || applied < int64(logHeaderSize)) {
		return 0, fmt.Errorf("%w: generation %x at %d, log %x of %d bytes", errSnapshot, gen, applied, s.gen, size)
	}
	cols := map[string]*collection{}
	var intern internTable
	n := int(r.u32())
	for i := 0; i < n && r.err == nil; i++ {
		c := r.collection(dim, &intern)
		if c != nil {
			cols[c.name] = c
		}
	}
	if err := r.finish(); err != nil {
		return 0, err
	}
	s.dim, s.cols, s.intern = dim, cols, intern
	s.setExactBelow()
	s.garbage.Store(garbage)
	return applied, nil
}

func (r *snapReader) collection(dim int, intern *internTable) *collection {
	c := newCollection(r.str(), 0)
	nd := int(r.u32())
	docs := make([]*docEntry, 0, min(nd, 1<<20))
	for i := 0; i < nd && r.err == nil; i++ {
		e := &docEntry{doc: r.doc()}
		e.off, e.size = r.i64(), r.i64()
		e.slots = r.i32s()
		c.docs[e.doc.ID] = e
		docs = append(docs, e)
	}
	nh := int(r.u32())
	table := make([][]string, 0, min(nh, 1<<20)+1)
	table = append(table, nil)
	for i := 0; i < nh && r.err == nil; i++ {
		table = append(table, intern.path(r.strs()))
	}
	ns := int(r.u32())
	if r.err != nil || ns > maxSlots {
		r.fail("slot count")
		return nil
	}
	c.slots = make([]slot, ns)
	for i := range c.slots {
		if r.err != nil {
			return nil
		}
		sl := &c.slots[i]
		sl.node = -1
		if r.u8() == 0 {
			continue
		}
		d := r.u32()
		if int(d) >= len(docs) {
			r.fail("document number")
			return nil
		}
		sl.doc = docs[d]
		sl.id = r.str()
		hp := r.u32()
		if int(hp) >= len(table) {
			r.fail("heading number")
			return nil
		}
		sl.heading = table[hp]
		sl.textOff, sl.textLen, sl.ordinal, sl.node = r.i64(), r.i32(), r.i32(), r.i32()
		sl.level = int8(r.u8())
		sl.from, sl.until = r.i64(), r.i64()
		sl.live = true
		if int(sl.level) >= levels {
			r.fail("clearance level")
			return nil
		}
		if r.u8() == 1 {
			sl.extra = &chunkExtra{title: r.str(), source: r.str(), metadata: r.meta(), effective: r.time(), expires: r.time()}
		}
	}
	c.free = r.i32s()
	c.chunks = int(r.u32())
	x := &c.lex
	for l := range levels {
		x.n[l] = int(r.i64())
		x.total[l] = r.i64()
	}
	x.length = r.i32s()
	nt := int(r.u32())
	for i := 0; i < nt && r.err == nil; i++ {
		term := r.str()
		pl := &postingList{}
		for l := range levels {
			pl.df[l] = r.i32()
		}
		pl.posts = sortPosts(r.u32s())
		x.terms[term] = pl
	}
	if r.u8() == 0 {
		return c
	}
	var hdr [7]int32
	for i := range hdr {
		hdr[i] = r.i32()
	}
	g := newGraph(int(hdr[0]))
	g.m, g.m0, g.efC, g.entry, g.top, g.dead = int(hdr[1]), int(hdr[2]), int(hdr[3]), hdr[4], int(hdr[5]), int(hdr[6])
	g.codes = r.i8s()
	g.scales = r.f32s()
	g.slotOf = r.i32s()
	g.levels = r.bytes()
	g.nbr0 = r.i32s()
	g.cnt0 = r.bytes()
	nu := int(r.u32())
	for i := 0; i < nu && r.err == nil; i++ {
		node := r.i32()
		g.upper[node] = r.i32s()
	}
	np := int(r.u32())
	for i := 0; i < np && r.err == nil; i++ {
		p := pendingVec{slot: r.i32(), scale: math.Float32frombits(r.u32()), codes: r.i8s()}
		if len(p.codes) != g.dim {
			r.fail("pending vector")
		}
		g.pend = append(g.pend, p)
	}
	nodes := len(g.slotOf)
	if r.err == nil && (g.dim != dim || g.m0 <= 0 || len(g.codes) != nodes*g.dim || len(g.scales) != nodes || len(g.levels) != nodes ||
		len(g.nbr0) != nodes*g.m0 || len(g.cnt0) != nodes || int(g.entry) >= nodes) {
		r.fail("graph sizes")
		return nil
	}
	if r.err != nil {
		return nil
	}
	g.countInDegrees()
	g.admit = int32(nodes)
	g.added = int32(nodes + len(g.pend))
	c.dense = g
	return c
}

// setExactBelow applies the store's option to graphs read from a snapshot.
func (s *Store) setExactBelow() {
	for _, c := range s.cols {
		if c.dense != nil {
			c.dense.exactBelow = s.exactBelow
		}
	}
}

// snapWriter encodes little-endian fields and checksums them.
type snapWriter struct {
	f     *os.File
	w     *bufio.Writer
	crc   hash.Hash32
	buf   [8]byte
	chunk []byte // reused by the array writers
	err   error
}

func newSnapWriter(f *os.File) *snapWriter {
	sw := &snapWriter{f: f, crc: crc32.New(castagnoli), chunk: make([]byte, 0, 64<<10)}
	sw.w = bufio.NewWriterSize(io.MultiWriter(f, sw.crc), 1<<20)
	sw.w.WriteString(snapMagic)
	return sw
}

func (w *snapWriter) write(p []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(p)
	}
}

func (w *snapWriter) u8(v uint8) { w.write([]byte{v}) }
func (w *snapWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(w.buf[:], v)
	w.write(w.buf[:4])
}
func (w *snapWriter) i32(v int32) { w.u32(uint32(v)) }
func (w *snapWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(w.buf[:], v)
	w.write(w.buf[:8])
}
func (w *snapWriter) i64(v int64) { w.u64(uint64(v)) }
func (w *snapWriter) str(s string) {
	w.u32(uint32(len(s)))
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}
func (w *snapWriter) strs(ss []string) {
	w.u32(uint32(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}
func (w *snapWriter) bytes(b []byte) {
	w.u32(uint32(len(b)))
	w.write(b)
}
func (w *snapWriter) i8s(v []int8) {
	w.u32(uint32(len(v)))
	chunk := w.chunk[:0]
	for i, x := range v {
		chunk = append(chunk, byte(x))
		if len(chunk) == cap(chunk) || i == len(v)-1 {
			w.write(chunk)
			chunk = chunk[:0]
		}
	}
}
func (w *snapWriter) u32s(v []uint32) {
	w.u32(uint32(len(v)))
	chunk := w.chunk[:0]
	for i, x := range v {
		chunk = binary.LittleEndian.AppendUint32(chunk, x)
		if len(chunk) == cap(chunk) || i == len(v)-1 {
			w.write(chunk)
			chunk = chunk[:0]
		}
	}
}
func (w *snapWriter) i32s(v []int32) {
	w.u32(uint32(len(v)))
	chunk := w.chunk[:0]
	for i, x := range v {
		chunk = binary.LittleEndian.AppendUint32(chunk, uint32(x))
		if len(chunk) == cap(chunk) || i == len(v)-1 {
			w.write(chunk)
			chunk = chunk[:0]
		}
	}
}
func (w *snapWriter) f32s(v []float32) {
	w.u32(uint32(len(v)))
	chunk := w.chunk[:0]
	for i, x := range v {
		chunk = binary.LittleEndian.AppendUint32(chunk, math.Float32bits(x))
		if len(chunk) == cap(chunk) || i == len(v)-1 {
			w.write(chunk)
			chunk = chunk[:0]
		}
	}
}
func (w *snapWriter) time(t *time.Time) {
	if t == nil {
		w.u8(0)
		return
	}
	b, err := t.MarshalBinary()
	if err != nil && w.err == nil {
		w.err = err
	}
	w.u8(1)
	w.bytes(b)
}
func (w *snapWriter) meta(m map[string]string) {
	if m == nil {
		w.u32(math.MaxUint32)
		return
	}
	w.u32(uint32(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.str(k)
		w.str(m[k])
	}
}
func (w *snapWriter) doc(d knowledge.Document) {
	w.str(d.ID)
	w.str(d.Collection)
	w.str(d.Title)
	w.str(d.Source)
	w.str(string(d.Clearance))
	w.str(d.Hash)
	w.meta(d.Metadata)
	w.time(d.Effective)
	w.time(d.Expires)
}

// finish writes the checksum and the end marker and flushes.
func (w *snapWriter) finish() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	sum := w.crc.Sum32()
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], sum)
	if _, err := w.f.Write(append(tail[:], snapEnd...)); err != nil {
		return err
	}
	return nil
}

// snapReader decodes what snapWriter wrote; the first error sticks and
// every later read returns zero values.
type snapReader struct {
	r     *bufio.Reader
	crc   hash.Hash32
	buf   [8]byte
	chunk []byte // reused by words
	err   error
}

func newSnapReader(f *os.File) *snapReader {
	return &snapReader{r: bufio.NewReaderSize(f, 1<<20), crc: crc32.New(castagnoli), chunk: make([]byte, 64<<10)}
}

func (r *snapReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", errSnapshot, what)
	}
}

func (r *snapReader) read(p []byte) {
	if r.err != nil {
		clear(p)
		return
	}
	if _, err := io.ReadFull(r.r, p); err != nil {
		r.err = fmt.Errorf("%w: %v", errSnapshot, err)
		clear(p)
		return
	}
	r.crc.Write(p)
}

func (r *snapReader) fixed(n int) []byte { b := make([]byte, n); r.read(b); return b }
func (r *snapReader) u8() uint8          { r.read(r.buf[:1]); return r.buf[0] }
func (r *snapReader) u32() uint32        { r.read(r.buf[:4]); return binary.LittleEndian.Uint32(r.buf[:4]) }
func (r *snapReader) i32() int32         { return int32(r.u32()) }
func (r *snapReader) u64() uint64        { r.read(r.buf[:8]); return binary.LittleEndian.Uint64(r.buf[:8]) }
func (r *snapReader) i64() int64         { return int64(r.u64()) }

// count reads a length and checks that it is plausible for elements of
// size bytes, so that a damaged length cannot make a huge allocation.
func (r *snapReader) count(size int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(size) > maxRecordSize*4 {
		r.fail("length")
		return 0
	}
	return int(n)
}

func (r *snapReader) str() string { return string(r.fixed(r.count(1))) }
func (r *snapReader) strs() []string {
	n := r.count(4)
	out := make([]string, 0, min(n, 1024))
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.str())
	}
	return out
}
func (r *snapReader) bytes() []byte { return r.fixed(r.count(1)) }
func (r *snapReader) i8s() []int8 {
	b := r.bytes()
	out := make([]int8, len(b))
	for i, x := range b {
		out[i] = int8(x)
	}
	return out
}

// words reads n 4-byte words in chunks, calling put for each.
func (r *snapReader) words(n int, put func(i int, w uint32)) {
	chunk := r.chunk
	for i := 0; i < n && r.err == nil; {
		m := min(n-i, len(chunk)/4)
		b := chunk[:4*m]
		r.read(b)
		for j := range m {
			put(i+j, binary.LittleEndian.Uint32(b[4*j:]))
		}
		i += m
	}
}
func (r *snapReader) u32s() []uint32 {
	n := r.count(4)
	out := make([]uint32, n)
	r.words(n, func(i int, w uint32) { out[i] = w })
	return out
}
func (r *snapReader) i32s() []int32 {
	n := r.count(4)
	out := make([]int32, n)
	r.words(n, func(i int, w uint32) { out[i] = int32(w) })
	return out
}
func (r *snapReader) f32s() []float32 {
	n := r.count(4)
	out := make([]float32, n)
	r.words(n, func(i int, w uint32) { out[i] = math.Float32frombits(w) })
	return out
}
func (r *snapReader) time() *time.Time {
	if r.u8() == 0 {
		return nil
	}
	var t time.Time
	if err := t.UnmarshalBinary(r.bytes()); err != nil {
		r.fail("time")
		return nil
	}
	return &t
}
func (r *snapReader) meta() map[string]string {
	n := r.u32()
	if n == math.MaxUint32 || r.err != nil {
		return nil
	}
	if n > 1<<20 {
		r.fail("metadata size")
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < int(n) && r.err == nil; i++ {
		k := r.str()
		m[k] = r.str()
	}
	return m
}
func (r *snapReader) doc() knowledge.Document {
	d := knowledge.Document{ID: r.str(), Collection: r.str(), Title: r.str(), Source: r.str(), Clearance: access.Clearance(r.str()), Hash: r.str()}
	d.Metadata = r.meta()
	d.Effective = r.time()
	d.Expires = r.time()
	return d
}

// finish checks the checksum and the end marker.
func (r *snapReader) finish() error {
	if r.err != nil {
		return r.err
	}
	want := r.crc.Sum32()
	tail := make([]byte, 4+len(snapEnd))
	if _, err := io.ReadFull(r.r, tail); err != nil {
		return fmt.Errorf("%w: %v", errSnapshot, err)
	}
	if binary.LittleEndian.Uint32(tail) != want || string(tail[4:]) != snapEnd {
		return fmt.Errorf("%w: checksum mismatch", errSnapshot)
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the end", errSnapshot)
	}
	return nil
}
