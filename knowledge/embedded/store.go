// Package embedded is the default knowledge store: in-process, persistent and
// crash-safe, with no set-up. Documents live in an append-only log of
// checksummed records under one directory, fsync'd before a write is
// acknowledged, and in memory as contiguous vectors plus a BM25 inverted
// index. A search fuses exact dense ranking with lexical ranking.
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
	lockName    = "LOCK"
)

// Errors callers branch on.
var (
	ErrClosed = errors.New("embedded: store closed")
	ErrLocked = errors.New("embedded: directory in use by another store")
)

// DefaultCompactMinBytes is the log size below which garbage is never
// compacted away.
const DefaultCompactMinBytes = 16 << 20

// maxBatch bounds how many writes share one fsync.
const maxBatch = 256

// Store is the embedded knowledge store. It is safe for concurrent use:
// searches run in parallel and see every acknowledged write; writes are
// serialised through one committer that fsyncs concurrent writes together.
type Store struct {
	dir        string
	lock       *os.File
	compactMin int64

	mu   sync.RWMutex // guards dim and cols
	dim  int
	cols map[string]*collection

	// Owned by the committer goroutine once Open returns.
	f      *os.File
	sizes  map[docKey]int64 // bytes of each document's live put record
	failed error            // a write whose outcome is unknown: refuse further writes
	// retryCompactAt is the log size below which a failed compaction is
	// not retried.
	retryCompactAt int64

	logBytes, garbage atomic.Int64
	truncated         int64 // bytes of torn tail dropped by Open

	reqs      chan *request
	stop      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ knowledge.Store   = (*Store)(nil)
	_ knowledge.Catalog = (*Store)(nil)
)

type docKey struct{ collection, id string }

// request is one write handed to the committer.
type request struct {
	buf     []byte // the encoded record; nil for a compaction
	rec     record // what to apply once buf is durable
	compact bool
	err     error
	done    chan struct{}
}

// Option configures a Store.
type Option func(*Store)

// WithCompactMinBytes sets the log size from which the store rewrites the
// log when more than half of it is garbage (replaced or deleted documents).
func WithCompactMinBytes(n int64) Option { return func(s *Store) { s.compactMin = n } }

// Open opens or creates the store in dir. It replays the log; a torn or
// corrupt tail (a write cut short by a crash, never acknowledged) is
// truncated, so a store killed at any moment opens without repair.
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
		cols:       map[string]*collection{},
		sizes:      map[docKey]int64{},
		reqs:       make(chan *request),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
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
	buf, err := encodePut(doc, chunks, unit, len(unit[0]))
	if err != nil {
		return err
	}
	// Tokenising here runs in the caller's goroutine, in parallel, instead
	// of in the committer under the index lock.
	terms := make([]chunkTerms, len(chunks))
	for i, c := range chunks {
		terms[i] = termsOf(c)
	}
	rec := record{op: opPut, doc: doc, chunks: chunks, vecs: unit, terms: terms, dim: len(unit[0]), size: int64(len(buf))}
	if err := s.submit(ctx, &request{buf: buf, rec: rec}); err != nil {
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
	// The first write fixes the store's dimension.
	s.mu.Lock()
	if s.dim == 0 {
		s.dim = dim
	}
	want := s.dim
	s.mu.Unlock()
	if dim != want {
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
	buf, err := encodeDelete(collection, id)
	if err != nil {
		return err
	}
	rec := record{op: opDelete, del: deleteBody{Collection: collection, ID: id}, size: int64(len(buf))}
	if err := s.submit(ctx, &request{buf: buf, rec: rec}); err != nil {
		return fmt.Errorf("embedded: delete %s/%s: %w", collection, id, err)
	}
	return nil
}

// Compact rewrites the log now, dropping replaced and deleted documents.
func (s *Store) Compact(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.submit(ctx, &request{compact: true})
}

// Search ranks the chunks of q.Collection that q allows (clearance,
// metadata filter and validity at q.At, zero meaning now) by exact cosine
// similarity to vector and by BM25 over knowledge.Tokens of q.Text, and
// fuses the two rankings with knowledge.FuseRRF. Chunks q does not allow are
// removed before ranking, so they cannot displace readable ones. Dense
// candidates sharing nothing with the query (cosine ≤ 0) are left out. An
// empty vector searches lexically only.
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
	if qv != nil && len(qv) != s.dim {
		return nil, fmt.Errorf("embedded: search %s: query vector of %d dimensions, want %d: %w", q.Collection, len(qv), s.dim, knowledge.ErrInvalid)
	}
	// Clearance and validity are checked on the slot's precomputed level
	// and bounds, the filter on its metadata: the same rules as
	// knowledge.Query.Allows, without its per-chunk cost.
	maxLevel := q.Clearance.Rank()
	at := nanos(q.At)
	allowed := make([]bool, len(col.slots))
	for i := range col.slots {
		sl := &col.slots[i]
		allowed[i] = sl.live && int(sl.level) <= maxLevel && sl.validAt(at) && matches(sl.chunk.Metadata, q.Filter)
	}
	allow := func(s int32) bool { return allowed[s] }
	n := max(2*k, 20)
	var dense []scored
	if qv != nil {
		dense = col.dense.search(qv, n, allow)
	}
	lex := col.lex.search(terms, n, maxLevel, allow)
	hits := knowledge.FuseRRF(knowledge.DefaultRRFK, col.hits(dense), col.hits(lex))
	if len(hits) > k {
		hits = hits[:k]
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

// hits copies ranked slots out as hits the caller may keep and change.
func (c *collection) hits(ranked []scored) []knowledge.Hit {
	out := make([]knowledge.Hit, len(ranked))
	for i, r := range ranked {
		ch := c.slots[r.slot].chunk
		ch.Metadata = maps.Clone(ch.Metadata)
		ch.HeadingPath = slices.Clone(ch.HeadingPath)
		ch.Effective, ch.Expires = cloneTime(ch.Effective), cloneTime(ch.Expires)
		out[i] = knowledge.Hit{Chunk: ch, Score: r.score}
	}
	return out
}

// Collections lists the collections that hold documents, by name.
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
		out = append(out, copyDoc(col.docs[id].doc))
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
			return copyDoc(e.doc), nil
		}
	}
	return knowledge.Document{}, fmt.Errorf("embedded: document %s/%s: %w", collection, id, knowledge.ErrNotFound)
}

func copyDoc(d knowledge.Document) knowledge.Document {
	d.Metadata = maps.Clone(d.Metadata)
	d.Effective, d.Expires = cloneTime(d.Effective), cloneTime(d.Expires)
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

// Close waits for writes in flight and releases the directory. Later calls
// return ErrClosed.
func (s *Store) Close() error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		err = errors.Join(s.f.Close(), s.lock.Close())
	})
	return err
}
