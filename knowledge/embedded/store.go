// Package embedded is the default knowledge store: in-process, persistent and
// crash-safe, with no set-up. Documents live in an append-only log of
// checksummed records under one directory, fsync'd before a write is
// acknowledged. In memory a collection keeps a BM25 inverted index and an
// approximate nearest-neighbour index (HNSW over int8-quantised vectors);
// chunk texts stay in the log and are read back for the hits returned. A
// search fuses dense and lexical ranking with knowledge.Fuse.
//
// A background indexer links new vectors into the graph (searches scan the
// few not linked yet exactly) and from time to time writes a snapshot of the
// whole in-memory index, so that opening a large store reads the snapshot
// and replays only the log written after it. The log stays the source of
// truth: a missing, stale or damaged snapshot is ignored and the log
// replayed in full.
package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// File names under the store's directory.
const (
	logName     = "knowledge.log"
	compactName = "knowledge.log.compact"
	snapName    = "knowledge.snap"
	snapTmpName = "knowledge.snap.tmp"
	lockName    = "LOCK"
)

// Errors callers branch on.
var (
	// ErrClosed is knowledge.ErrUnavailable to callers that do not know
	// this package.
	ErrClosed = fmt.Errorf("embedded: store closed: %w", knowledge.ErrUnavailable)
	ErrLocked = errors.New("embedded: directory in use by another store")
)

// Defaults of the options.
const (
	// DefaultCompactMinBytes is the log size below which garbage is never
	// compacted away.
	DefaultCompactMinBytes = 16 << 20
	// DefaultSnapshotMinBytes is how much log written since the last
	// snapshot makes the indexer write a new one.
	DefaultSnapshotMinBytes = 32 << 20
)

// maxBatch bounds how many writes share one fsync.
const maxBatch = 256

// Store is the embedded knowledge store. It is safe for concurrent use:
// searches run in parallel and see every acknowledged write; writes are
// serialised through one committer that fsyncs concurrent writes together.
type Store struct {
	dir        string
	lock       *os.File
	compactMin int64
	snapMin    int64
	efSearch   int
	exactBelow int

	// mu guards the fields below for readers. They change only in the
	// committer goroutine (and in Open, before it starts), under the write
	// lock, so the committer itself may read them without locking.
	mu      sync.RWMutex
	dim     int
	cols    map[string]*collection
	gen     uint64 // the log's generation
	applied int64  // log bytes reflected in memory
	f       *os.File
	intern  internTable

	// Owned by the committer goroutine once Open returns.
	failed         error // a write whose outcome is unknown: refuse further writes
	retryCompactAt int64 // log size below which a failed compaction is not retried

	logBytes, garbage atomic.Int64
	lastWrite         atomic.Int64 // Unix nanoseconds of the last commit
	failedFlag        atomic.Bool
	truncated         int64 // bytes of torn tail dropped by Open

	snapMu  sync.Mutex   // one snapshot writer at a time
	snapAt  atomic.Int64 // log offset the last snapshot covers
	snapGen atomic.Uint64
	// linkedSince counts vectors linked since the last snapshot (which
	// has them pending).
	linkedSince atomic.Int64
	snapErr     atomic.Pointer[error]
	snapLoaded  bool // Open read a snapshot
	replayed    int  // records Open replayed from the log

	reqs      chan *request
	wake      chan struct{} // tells the indexer there is work
	stop      chan struct{}
	done      chan struct{} // committer exited
	idxDone   chan struct{} // indexer exited
	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ knowledge.Store             = (*Store)(nil)
	_ knowledge.Catalog           = (*Store)(nil)
	_ knowledge.CollectionCreator = (*Store)(nil)
	_ knowledge.Pinger            = (*Store)(nil)
	_ knowledge.CollectionChecker = (*Store)(nil)
)

// request is one write handed to the committer.
type request struct {
	buf     []byte // the encoded record; nil for a compaction
	rec     record // what to apply once buf is durable
	pre     []chunkPre
	compact bool
	err     error
	done    chan struct{}
}

// chunkPre is what Put computes for a chunk in the caller's goroutine, so
// that the committer does not: its terms and quantised vector.
type chunkPre struct {
	terms chunkTerms
	codes []int8
	scale float32
}

// Option configures a Store.
type Option func(*Store)

// WithCompactMinBytes sets the log size from which the store rewrites the
// log when more than half of it is garbage (replaced or deleted documents).
func WithCompactMinBytes(n int64) Option { return func(s *Store) { s.compactMin = n } }

// WithSnapshotMinBytes sets how many bytes of log written since the last
// snapshot make the store write a new one; smaller means faster opening
// after a crash and more writing.
func WithSnapshotMinBytes(n int64) Option { return func(s *Store) { s.snapMin = n } }

// WithEfSearch sets the beam width of graph searches (default
// DefaultEfSearch); wider is slower and finds more true neighbours.
func WithEfSearch(n int) Option { return func(s *Store) { s.efSearch = n } }

// WithExactScanBelow sets the collection size (in vectors) up to which
// dense search scans every vector instead of walking the graph (default
// 10,000: a scan that size takes about 0.2 ms).
func WithExactScanBelow(n int) Option { return func(s *Store) { s.exactBelow = n } }

// Open opens or creates the store in dir. It loads the latest snapshot if
// it matches the log and replays the log after it; a torn or corrupt tail (a
// write cut short by a crash, never acknowledged) is truncated, so a store
// killed at any moment opens without repair.
func Open(dir string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	lock, err := lockFile(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	s := &Store{
		dir:        dir,
		lock:       lock,
		compactMin: DefaultCompactMinBytes,
		snapMin:    DefaultSnapshotMinBytes,
		efSearch:   DefaultEfSearch,
		exactBelow: exactBelow,
		cols:       map[string]*collection{},
		reqs:       make(chan *request),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		idxDone:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.load(); err != nil {
		lock.Close()
		if s.f != nil {
			s.f.Close()
		}
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	go s.run()
	go s.indexLoop()
	s.kick()
	return s, nil
}

// Put replaces the document's chunks with chunks and their vectors. It
// returns once the change is on disk (fsync'd) and visible to searches.
func (s *Store) Put(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	doc, chunks, unit, err := s.prepare(doc, chunks, vectors)
	if err != nil {
		return err
	}
	dim := len(unit[0])
	buf, at, err := encodePut(doc, chunks, unit, dim)
	if err != nil {
		return err
	}
	// Tokenising and quantising here runs in the caller's goroutine, in
	// parallel, instead of in the committer.
	pre := make([]chunkPre, len(chunks))
	for i, c := range chunks {
		pre[i].terms = termsOf(c)
		pre[i].codes = make([]int8, dim)
		pre[i].scale = quantize(pre[i].codes, unit[i])
	}
	rec := record{op: opPut, doc: doc, chunks: chunks, dim: dim, textAt: at, size: int64(len(buf))}
	rec.textLen = make([]int32, len(chunks))
	for i := range chunks {
		rec.textLen[i] = int32(len(chunks[i].Text))
		rec.chunks[i].Text = ""
	}
	if err := s.submit(ctx, &request{buf: buf, rec: rec, pre: pre}); err != nil {
		return fmt.Errorf("embedded: put %s/%s: %w", doc.Collection, doc.ID, err)
	}
	return nil
}

// prepare validates a put and returns private copies: the store keeps no
// memory the caller could change later, vectors are scaled to unit length,
// and no chunk is readable below the clearance its document declares.
func (s *Store) prepare(doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) (knowledge.Document, []knowledge.Chunk, [][]float32, error) {
	bad := func(format string, args ...any) (knowledge.Document, []knowledge.Chunk, [][]float32, error) {
		return doc, nil, nil, fmt.Errorf("embedded: put %s/%s: %s: %w", doc.Collection, doc.ID, fmt.Sprintf(format, args...), knowledge.ErrInvalid)
	}
	if doc.ID == "" || doc.Collection == "" {
		return bad("document id and collection are required")
	}
	if len(chunks) == 0 {
		return doc, nil, nil, fmt.Errorf("embedded: put %s/%s: no chunks: %w", doc.Collection, doc.ID, knowledge.ErrEmptyDocument)
	}
	if len(vectors) != len(chunks) {
		return bad("%d vectors for %d chunks", len(vectors), len(chunks))
	}
	dc, err := access.ParseClearance(string(doc.Clearance))
	if err != nil {
		return doc, nil, nil, fmt.Errorf("embedded: put %s/%s: %w", doc.Collection, doc.ID, err)
	}
	dim := len(vectors[0])
	if dim == 0 {
		return bad("empty vector")
	}

	doc.Clearance = dc
	doc.Text = ""
	doc.Chunks = 0
	doc.Metadata = maps.Clone(doc.Metadata)
	doc.Effective, doc.Expires = cloneTime(doc.Effective), cloneTime(doc.Expires)
	out := make([]knowledge.Chunk, len(chunks))
	flat := make([]float32, len(chunks)*dim)
	unit := make([][]float32, len(chunks))
	ids := make(map[string]bool, len(chunks))
	for i, c := range chunks {
		if c.ID == "" || ids[c.ID] {
			return bad("chunk %d: missing or repeated id %q", i, c.ID)
		}
		ids[c.ID] = true
		if c.DocID != doc.ID || c.Collection != doc.Collection {
			return bad("chunk %s belongs to %s/%s", c.ID, c.Collection, c.DocID)
		}
		cc, err := access.ParseClearance(string(c.Clearance))
		if err != nil {
			return doc, nil, nil, fmt.Errorf("embedded: put %s/%s: chunk %s: %w", doc.Collection, doc.ID, c.ID, err)
		}
		if cc.Rank() < dc.Rank() {
			cc = dc
		}
		c.Clearance = cc
		if maps.Equal(c.Metadata, doc.Metadata) {
			c.Metadata = doc.Metadata
		} else {
			c.Metadata = maps.Clone(c.Metadata)
		}
		c.HeadingPath = slices.Clone(c.HeadingPath)
		c.Effective, c.Expires = cloneTime(c.Effective), cloneTime(c.Expires)
		out[i] = c

		v := vectors[i]
		if len(v) != dim {
			return bad("chunk %s: vector of %d dimensions, want %d", c.ID, len(v), dim)
		}
		u := flat[i*dim : (i+1)*dim : (i+1)*dim]
		if !normalize(u, v) {
			return bad("chunk %s: vector is not finite", c.ID)
		}
		unit[i] = u
	}
	s.mu.RLock()
	want := s.dim
	s.mu.RUnlock()
	if want != 0 && dim != want {
		return bad("vectors of %d dimensions in a store of %d", dim, want)
	}
	return doc, out, unit, nil
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// normalize writes v scaled to unit length into dst (a zero vector stays
// zero); it reports false for NaN or infinite components.
func normalize(dst, v []float32) bool {
	var sum float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		sum += f * f
	}
	copy(dst, v)
	if sum == 0 || math.IsInf(sum, 0) {
		return sum == 0
	}
	inv := 1 / math.Sqrt(sum)
	for i := range dst {
		dst[i] = float32(float64(dst[i]) * inv)
	}
	return true
}

// Delete removes a document and its chunks; ErrNotFound if there is none.
func (s *Store) Delete(ctx context.Context, collection, id string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.mu.RLock()
	col := s.cols[collection]
	found := col != nil && col.docs[id] != nil
	s.mu.RUnlock()
	if !found {
		return fmt.Errorf("embedded: delete %s/%s: %w", collection, id, knowledge.ErrNotFound)
	}
	body := deleteBody{Collection: collection, ID: id}
	buf, err := encodeJSON(opDelete, body)
	if err != nil {
		return err
	}
	rec := record{op: opDelete, del: body, size: int64(len(buf))}
	if err := s.submit(ctx, &request{buf: buf, rec: rec}); err != nil {
		return fmt.Errorf("embedded: delete %s/%s: %w", collection, id, err)
	}
	return nil
}

// CreateCollection makes an empty collection; it reports false if the
// collection exists.
func (s *Store) CreateCollection(ctx context.Context, name string) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	if err := knowledge.CheckCollectionName(name); err != nil {
		return false, err
	}
	s.mu.RLock()
	exists := s.cols[name] != nil
	s.mu.RUnlock()
	if exists {
		return false, nil
	}
	body := deleteBody{Collection: name}
	buf, err := encodeJSON(opCollection, body)
	if err != nil {
		return false, err
	}
	if err := s.submit(ctx, &request{buf: buf, rec: record{op: opCollection, del: body, size: int64(len(buf))}}); err != nil {
		return false, fmt.Errorf("embedded: create collection %s: %w", name, err)
	}
	return true, nil
}

// HasCollection reports whether the collection exists.
func (s *Store) HasCollection(ctx context.Context, name string) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cols[name] != nil, nil
}

// Compact rewrites the log now, dropping replaced and deleted documents.
func (s *Store) Compact(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.submit(ctx, &request{compact: true})
}

// Ping reports whether the store can take writes.
func (s *Store) Ping(ctx context.Context) error {
	switch {
	case s.closed.Load():
		return ErrClosed
	case s.failedFlag.Load():
		return fmt.Errorf("embedded: an earlier write failed; reopen the store: %w", knowledge.ErrUnavailable)
	}
	return nil
}

// Search ranks the chunks of q.Collection that q allows (clearance,
// metadata filter and validity at q.At, zero meaning now) by similarity to
// vector in the approximate nearest-neighbour index and by BM25 over
// knowledge.Tokens of q.Text, and fuses the two rankings with
// knowledge.Fuse. Chunks q does not allow are skipped while ranking, so
// they cannot displace readable ones. Dense candidates sharing nothing with
// the query (cosine ≤ 0) are left out. An empty vector searches lexically
// only.
func (s *Store) Search(ctx context.Context, q knowledge.Query, vector []float32) ([]knowledge.Hit, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := access.ParseClearance(string(q.Clearance))
	if err != nil {
		return nil, fmt.Errorf("embedded: search %s: %w", q.Collection, err)
	}
	q.Clearance = c
	if q.At.IsZero() {
		q.At = time.Now()
	}
	k := q.K
	if k <= 0 {
		k = knowledge.DefaultK
	}
	k = min(k, 1000)
	var qv []float32
	if len(vector) > 0 {
		qv = make([]float32, len(vector))
		if !normalize(qv, vector) {
			return nil, fmt.Errorf("embedded: search %s: query vector is not finite: %w", q.Collection, knowledge.ErrInvalid)
		}
	}
	terms := knowledge.Tokens(q.Text)

	s.mu.RLock()
	defer s.mu.RUnlock()
	col := s.cols[q.Collection]
	if col == nil {
		return nil, fmt.Errorf("embedded: search %q: %w", q.Collection, knowledge.ErrUnknownCollection)
	}
	if qv != nil && s.dim != 0 && len(qv) != s.dim {
		return nil, fmt.Errorf("embedded: search %s: query vector of %d dimensions, want %d: %w", q.Collection, len(qv), s.dim, knowledge.ErrInvalid)
	}
	// Clearance and validity are checked on the slot's precomputed level
	// and bounds, the filter on its metadata: the same rules as
	// knowledge.Query.Allows, without its per-chunk cost. Without a filter
	// the metadata is not read: the graph walk asks about thousands of
	// slots, and each document is one more cache miss.
	maxLevel := q.Clearance.Rank()
	at := nanos(q.At)
	allow := func(i int32) bool {
		sl := &col.slots[i]
		return sl.live && int(sl.level) <= maxLevel && sl.validAt(at) && (len(q.Filter) == 0 || matches(sl.metadata(), q.Filter))
	}
	n := max(2*k, 20)
	var dense []scored
	if qv != nil && col.dense != nil {
		dense = col.dense.search(qv, n, s.efSearch, func(slot, node int32) bool {
			return col.slots[slot].node == node && allow(slot)
		})
	}
	lex := col.lex.search(terms, n, maxLevel, allow)
	if qv != nil && col.dense != nil && len(lex) > 0 {
		// The lexical candidates' similarities, exactly: the graph's
		// recall is lowest on the hashed embedder's vectors, which are
		// lexical themselves, so the chunks that share the query's words
		// are where it matters.
		nodes := make([]int32, len(lex))
		for i, r := range lex {
			nodes[i] = col.slots[r.slot].node
		}
		dense = mergeDense(dense, col.dense.rescore(qv, nodes, func(slot, node int32) bool {
			return col.slots[slot].node == node
		}), n)
	}
	// Fuse on bare keys, then read the texts of only the hits kept.
	bySlot := make(map[string]int32, len(dense)+len(lex))
	keys := func(ranked []scored) []knowledge.Hit {
		out := make([]knowledge.Hit, len(ranked))
		for i, r := range ranked {
			sl := &col.slots[r.slot]
			id := sl.chunkID()
			bySlot[id] = r.slot
			out[i] = knowledge.Hit{Chunk: knowledge.Chunk{ID: id, DocID: sl.doc.doc.ID, Collection: col.name}, Score: r.score}
		}
		return out
	}
	hits := knowledge.Fuse(keys(dense), keys(lex))
	if len(hits) > k {
		hits = hits[:k]
	}
	for i := range hits {
		ch, err := s.chunkAt(col, bySlot[hits[i].ID], true)
		if err != nil {
			return nil, fmt.Errorf("embedded: search %s: %w", q.Collection, err)
		}
		hits[i].Chunk = ch
	}
	return hits, nil
}

func matches(meta, filter map[string]string) bool {
	for k, v := range filter {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// chunkAt rebuilds slot i as a chunk the caller may keep and change, with
// its text read from the log when withText. The caller holds mu.
func (s *Store) chunkAt(col *collection, i int32, withText bool) (knowledge.Chunk, error) {
	sl := &col.slots[i]
	d := &sl.doc.doc
	ch := knowledge.Chunk{ID: sl.chunkID(), DocID: d.ID, Collection: col.name, Ordinal: int(sl.ordinal),
		Title: d.Title, HeadingPath: slices.Clone(sl.heading), Source: d.Source, Clearance: clearanceOf(sl.level),
		Metadata: maps.Clone(d.Metadata), Effective: cloneTime(d.Effective), Expires: cloneTime(d.Expires)}
	if x := sl.extra; x != nil {
		ch.Title, ch.Source, ch.Metadata = x.title, x.source, maps.Clone(x.metadata)
		ch.Effective, ch.Expires = cloneTime(x.effective), cloneTime(x.expires)
	}
	if withText {
		buf := make([]byte, sl.textLen)
		if _, err := s.f.ReadAt(buf, sl.textOff); err != nil {
			return ch, fmt.Errorf("read chunk %s from the log: %w", ch.ID, err)
		}
		ch.Text = string(buf)
	}
	return ch, nil
}

// Collections lists the collections, by name.
func (s *Store) Collections(ctx context.Context) ([]knowledge.CollectionInfo, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]knowledge.CollectionInfo, 0, len(s.cols))
	for _, c := range s.cols {
		out = append(out, knowledge.CollectionInfo{Name: c.name, Documents: len(c.docs), Chunks: c.chunks})
	}
	slices.SortFunc(out, func(a, b knowledge.CollectionInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Documents lists a collection's documents by id, without their text.
func (s *Store) Documents(ctx context.Context, collection string) ([]knowledge.Document, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	col := s.cols[collection]
	if col == nil {
		return nil, fmt.Errorf("embedded: documents %q: %w", collection, knowledge.ErrUnknownCollection)
	}
	out := make([]knowledge.Document, 0, len(col.docs))
	for _, id := range slices.Sorted(maps.Keys(col.docs)) {
		out = append(out, copyDoc(col.docs[id]))
	}
	return out, nil
}

// Document returns one document without its text; ErrNotFound if the
// collection or the document does not exist.
func (s *Store) Document(ctx context.Context, collection, id string) (knowledge.Document, error) {
	if s.closed.Load() {
		return knowledge.Document{}, ErrClosed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if col := s.cols[collection]; col != nil {
		if e := col.docs[id]; e != nil {
			return copyDoc(e), nil
		}
	}
	return knowledge.Document{}, fmt.Errorf("embedded: document %s/%s: %w", collection, id, knowledge.ErrNotFound)
}

func copyDoc(e *docEntry) knowledge.Document {
	d := e.doc
	d.Metadata = maps.Clone(d.Metadata)
	d.Effective, d.Expires = cloneTime(d.Effective), cloneTime(d.Expires)
	d.Chunks = len(e.slots)
	return d
}

// Stats describes the store's contents and its log.
type Stats struct {
	Dim            int   `json:"dim"`
	Collections    int   `json:"collections"`
	Documents      int   `json:"documents"`
	Chunks         int   `json:"chunks"`
	LogBytes       int64 `json:"log_bytes"`
	GarbageBytes   int64 `json:"garbage_bytes"`   // replaced or deleted, until compaction
	TruncatedBytes int64 `json:"truncated_bytes"` // torn tail dropped when opened
}

// Stats returns the store's current figures.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Dim: s.dim, Collections: len(s.cols), LogBytes: s.logBytes.Load(), GarbageBytes: s.garbage.Load(), TruncatedBytes: s.truncated}
	for _, c := range s.cols {
		st.Documents += len(c.docs)
		st.Chunks += c.chunks
	}
	return st
}

// IndexStats describes the approximate nearest-neighbour index and how the
// store was opened.
type IndexStats struct {
	Vectors        int    `json:"vectors"`         // nodes, tombstones included
	Pending        int    `json:"pending"`         // not linked into the graph yet
	Tombstones     int    `json:"tombstones"`      // deleted, still routing
	SnapshotLoaded bool   `json:"snapshot_loaded"` // Open read a snapshot
	Replayed       int    `json:"replayed"`        // log records Open replayed
	SnapshotBytes  int64  `json:"snapshot_bytes"`  // log covered by the last snapshot
	SnapshotError  string `json:"snapshot_error,omitempty"`
	Terms          int    `json:"terms"`    // distinct lexical terms, over collections
	Postings       int64  `json:"postings"` // (term, chunk) pairs in the lexical index
}

// IndexStats returns the index's current figures.
func (s *Store) IndexStats() IndexStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := IndexStats{SnapshotLoaded: s.snapLoaded, Replayed: s.replayed, SnapshotBytes: s.snapAt.Load()}
	if p := s.snapErr.Load(); p != nil {
		st.SnapshotError = (*p).Error()
	}
	for _, c := range s.cols {
		st.Terms += len(c.lex.terms)
		for _, pl := range c.lex.terms {
			st.Postings += int64(len(pl.posts))
		}
		if c.dense == nil {
			continue
		}
		linked, pending, dead := c.dense.counts()
		st.Vectors += linked + pending
		st.Pending += pending
		st.Tombstones += dead
	}
	return st
}

// WaitIndexed blocks until every vector is linked into the graph or ctx
// ends; searches never need it (pending vectors are scanned), benchmarks
// and tests do.
func (s *Store) WaitIndexed(ctx context.Context) error {
	for {
		if s.IndexStats().Pending == 0 {
			return nil
		}
		s.kick()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Close waits for writes in flight, writes a snapshot if the log has grown
// since the last one, and releases the directory. Later calls return
// ErrClosed.
func (s *Store) Close() error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		<-s.idxDone
		var serr error
		if !s.failedFlag.Load() {
			serr = s.writeSnapshot()
		}
		err = errors.Join(serr, s.f.Close(), s.lock.Close())
	})
	return err
}
