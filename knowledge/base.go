package knowledge

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
)

// Search limits.
const (
	DefaultK = 5
	MaxK     = 50
)

// ErrInvalid is wrapped by every FieldError.
var ErrInvalid = errors.New("knowledge: invalid input")

// FieldError says which field of a document or query is wrong. Its message is
// safe to show to the caller. It unwraps to ErrInvalid and, where there is
// one, to a more specific cause (ErrEmptyDocument, access.ErrUnknownClearance).
type FieldError struct {
	Field   string
	Message string
	Err     error // more specific cause, may be nil
}

func (e *FieldError) Error() string { return "knowledge: " + e.Field + ": " + e.Message }

// Unwrap makes errors.Is hold for ErrInvalid and for the specific cause.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// Catalog is the optional ability of a Store to say what it holds. Documents
// come back as ingested (with Hash) but without Text: stores keep chunks, not
// whole texts. Document returns ErrNotFound for an unknown document or
// collection.
type Catalog interface {
	Collections(ctx context.Context) ([]CollectionInfo, error)
	Documents(ctx context.Context, collection string) ([]Document, error)
	Document(ctx context.Context, collection, id string) (Document, error)
}

// CollectionInfo counts what a collection holds.
type CollectionInfo struct {
	Name      string `json:"name"`
	Documents int    `json:"documents"`
	Chunks    int    `json:"chunks"`
}

// IngestStatus says what Ingest did.
type IngestStatus string

// What Ingest can do with a document.
const (
	IngestCreated   IngestStatus = "created"
	IngestUpdated   IngestStatus = "updated"
	IngestUnchanged IngestStatus = "unchanged"
)

// IngestResult reports one Ingest. Chunks counts the chunks written by this
// call, 0 when the document was unchanged.
type IngestResult struct {
	DocID      string       `json:"doc_id"`
	Collection string       `json:"collection"`
	Hash       string       `json:"hash"`
	Chunks     int          `json:"chunks"`
	Status     IngestStatus `json:"status"`
}

// Base is the knowledge base that agents and the server use: it chunks and
// embeds documents into a Store and answers searches with at most one hit per
// document. It is safe for concurrent use if its Store and Embedder are.
type Base struct {
	store   Store
	emb     Embedder
	chunker Chunker
	batch   int
	now     func() time.Time

	reranker    Reranker // nil: none
	rerankDepth int
}

// Option configures a Base.
type Option func(*Base)

// WithChunker sets how documents are split (default: Chunker{}).
func WithChunker(c Chunker) Option { return func(b *Base) { b.chunker = c } }

// WithBatchSize sets how many chunks go to the embedder per call (default 64).
func WithBatchSize(n int) Option {
	return func(b *Base) {
		if n > 0 {
			b.batch = n
		}
	}
}

// WithClock sets the clock that dates a query without Query.At.
func WithClock(now func() time.Time) Option { return func(b *Base) { b.now = now } }

// NewBase returns a knowledge base over store, embedding with emb.
func NewBase(store Store, emb Embedder, opts ...Option) *Base {
	b := &Base{store: store, emb: emb, batch: 64, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Store returns the store the base writes to.
func (b *Base) Store() Store { return b.store }

// Embedder returns the embedder the base uses.
func (b *Base) Embedder() Embedder { return b.emb }

// Ingest validates, chunks, embeds and stores doc, replacing any earlier
// version of it. A document whose content hash matches the stored one is left
// alone and reported as IngestUnchanged (this needs a Store that is a
// Catalog; otherwise every call rewrites). The hash covers the text, title,
// source, clearance, metadata and validity dates, and also the embedder and
// chunk sizes, so that changing the pipeline re-indexes on the next ingest.
func (b *Base) Ingest(ctx context.Context, doc Document) (IngestResult, error) {
	doc, err := b.normalize(doc)
	if err != nil {
		return IngestResult{}, fmt.Errorf("knowledge: ingest %s/%s: %w", doc.Collection, doc.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return IngestResult{}, err
	}
	doc.Hash = b.contentHash(doc)
	res := IngestResult{DocID: doc.ID, Collection: doc.Collection, Hash: doc.Hash, Status: IngestCreated}
	if cat, ok := b.store.(Catalog); ok {
		old, err := cat.Document(ctx, doc.Collection, doc.ID)
		switch {
		case err == nil && old.Hash == doc.Hash:
			res.Status = IngestUnchanged
			return res, nil
		case err == nil:
			res.Status = IngestUpdated
		case !errors.Is(err, ErrNotFound):
			return IngestResult{}, fmt.Errorf("knowledge: ingest %s/%s: %w", doc.Collection, doc.ID, err)
		}
	}
	chunks := b.Chunks(doc)
	if len(chunks) == 0 {
		return IngestResult{}, fmt.Errorf("knowledge: ingest %s/%s: %w", doc.Collection, doc.ID,
			&FieldError{Field: "text", Message: "has no words", Err: ErrEmptyDocument})
	}
	vectors, err := b.embedChunks(ctx, chunks)
	if err != nil {
		return IngestResult{}, fmt.Errorf("knowledge: ingest %s/%s: %w", doc.Collection, doc.ID, err)
	}
	if err := b.store.Put(ctx, doc, chunks, vectors); err != nil {
		return IngestResult{}, fmt.Errorf("knowledge: ingest %s/%s: %w", doc.Collection, doc.ID, err)
	}
	res.Chunks = len(chunks)
	return res, nil
}

// ingestWorkers is how many documents IngestMany has in flight: enough for
// a durable store to share each fsync among several writes.
const ingestWorkers = 8

// IngestMany ingests docs concurrently and returns their results in order.
// The error joins those of the documents that failed (their results are
// zero); the others are ingested regardless. With a store that fsyncs each
// write, this is much faster than calling Ingest in a loop.
func (b *Base) IngestMany(ctx context.Context, docs []Document) ([]IngestResult, error) {
	results, errs := b.IngestEach(ctx, docs)
	return results, errors.Join(errs...)
}

// IngestEach is IngestMany with one error per document (nil for those
// ingested).
func (b *Base) IngestEach(ctx context.Context, docs []Document) ([]IngestResult, []error) {
	results := make([]IngestResult, len(docs))
	errs := make([]error, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(ingestWorkers, len(docs)) {
		wg.Go(func() {
			for i := range next {
				results[i], errs[i] = b.Ingest(ctx, docs[i])
			}
		})
	}
	for i := range docs {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errs
}

// Validate reports, without writing anything, whether Ingest would accept
// doc: its fields are valid and its text yields at least one chunk. Callers
// that ingest several documents as one request check them all first, so
// that bad input writes nothing.
func (b *Base) Validate(doc Document) error {
	doc, err := b.normalize(doc)
	if err != nil {
		return err
	}
	if len(b.chunker.Split(doc.Text)) == 0 {
		return &FieldError{Field: "text", Message: "has no words", Err: ErrEmptyDocument}
	}
	return nil
}

// CreateCollection makes an empty collection in a store that can hold one
// (a CollectionCreator) and reports whether it is new. Other stores create
// collections on the first write, and this only checks the name.
func (b *Base) CreateCollection(ctx context.Context, name string) (bool, error) {
	if err := CheckCollectionName(name); err != nil {
		return false, err
	}
	cc, ok := b.store.(CollectionCreator)
	if !ok {
		return false, nil
	}
	created, err := cc.CreateCollection(ctx, name)
	if err != nil {
		return false, fmt.Errorf("knowledge: create collection %s: %w", name, err)
	}
	return created, nil
}

// HasCollection reports whether the store holds the collection.
func (b *Base) HasCollection(ctx context.Context, name string) (bool, error) {
	if cc, ok := b.store.(CollectionChecker); ok {
		return cc.HasCollection(ctx, name)
	}
	cols, err := b.Collections(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range cols {
		if c.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// Ping reports whether the store's backend is reachable (always, for a store
// that is not a Pinger).
func (b *Base) Ping(ctx context.Context) error {
	if p, ok := b.store.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Chunks splits a validated document into its chunks, without embedding them.
func (b *Base) Chunks(doc Document) []Chunk {
	pieces := b.chunker.Split(doc.Text)
	chunks := make([]Chunk, len(pieces))
	for i, p := range pieces {
		chunks[i] = Chunk{
			ID:          ChunkID(doc.ID, i),
			DocID:       doc.ID,
			Collection:  doc.Collection,
			Ordinal:     i,
			Title:       doc.Title,
			HeadingPath: p.HeadingPath,
			Source:      doc.Source,
			Text:        p.Text,
			Clearance:   doc.Clearance,
			Metadata:    doc.Metadata,
			Effective:   doc.Effective,
			Expires:     doc.Expires,
		}
	}
	return chunks
}

// ChunkID names the ordinal-th chunk of a document.
func ChunkID(docID string, ordinal int) string { return docID + "#" + strconv.Itoa(ordinal) }

// IndexText is what gets embedded and lexically indexed for a chunk: its
// document title and heading path above its text, so that a chunk is found by
// the words of the headings it sits under. Every backend indexes this.
func IndexText(c Chunk) string {
	var sb strings.Builder
	sb.WriteString(c.Title)
	for _, h := range c.HeadingPath {
		sb.WriteString(" / ")
		sb.WriteString(h)
	}
	sb.WriteString("\n")
	sb.WriteString(c.Text)
	return sb.String()
}

func (b *Base) embedChunks(ctx context.Context, chunks []Chunk) ([][]float32, error) {
	vectors := make([][]float32, 0, len(chunks))
	texts := make([]string, 0, min(b.batch, len(chunks)))
	for start := 0; start < len(chunks); start += b.batch {
		texts = texts[:0]
		for _, c := range chunks[start:min(start+b.batch, len(chunks))] {
			texts = append(texts, IndexText(c))
		}
		vs, err := b.emb.Embed(ctx, texts)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		if len(vs) != len(texts) {
			return nil, fmt.Errorf("embed: %s returned %d vectors for %d texts", b.emb.Name(), len(vs), len(texts))
		}
		for _, v := range vs {
			if len(v) != b.emb.Dim() {
				return nil, fmt.Errorf("embed: %s returned a vector of %d dimensions, want %d", b.emb.Name(), len(v), b.emb.Dim())
			}
		}
		vectors = append(vectors, vs...)
	}
	return vectors, nil
}

// Search returns up to q.K chunks (default DefaultK, at most MaxK) that a
// caller of q.Clearance may read, best first, at most one per document.
func (b *Base) Search(ctx context.Context, q Query) ([]Hit, error) {
	q.Collection = strings.TrimSpace(q.Collection)
	if q.Collection == "" {
		return nil, &FieldError{Field: "collection", Message: "is required"}
	}
	if strings.TrimSpace(q.Text) == "" {
		return nil, &FieldError{Field: "query", Message: "is required"}
	}
	c, err := checkClearance(q.Clearance)
	if err != nil {
		return nil, err
	}
	q.Clearance = c
	k := q.K
	switch {
	case k <= 0:
		k = DefaultK
	case k > MaxK:
		k = MaxK
	}
	if q.At.IsZero() {
		q.At = b.now()
	}
	vs, err := b.emb.Embed(ctx, []string{q.Text})
	if err != nil {
		return nil, fmt.Errorf("knowledge: search %s: embed: %w", q.Collection, err)
	}
	if len(vs) != 1 || len(vs[0]) != b.emb.Dim() {
		return nil, fmt.Errorf("knowledge: search %s: embed: %s returned no vector of %d dimensions", q.Collection, b.emb.Name(), b.emb.Dim())
	}
	// Ask for more chunks than wanted: several may come from one document.
	q.K = min(4*k, 4*MaxK)
	hits, err := b.store.Search(ctx, q, vs[0])
	if err != nil {
		return nil, fmt.Errorf("knowledge: search %s: %w", q.Collection, err)
	}
	if hits, err = b.rerank(ctx, q.Text, hits); err != nil {
		return nil, fmt.Errorf("knowledge: search %s: %w", q.Collection, err)
	}
	return dedupByDocument(OrderByEvidence(q.Text, hits), k), nil
}

// dedupByDocument keeps the first (best) hit of each document, up to k, and
// gives each the next MaxAlso chunks of its document among the candidates.
func dedupByDocument(hits []Hit, k int) []Hit {
	at := map[string]int{}
	out := hits[:0:0]
	for _, h := range hits {
		if i, ok := at[h.DocID]; ok {
			if len(out[i].Also) < MaxAlso {
				out[i].Also = append(out[i].Also, h.Chunk)
			}
			continue
		}
		if len(out) == k {
			continue
		}
		at[h.DocID] = len(out)
		h.Also = nil
		out = append(out, h)
	}
	return out
}

// Delete removes a document and its chunks.
func (b *Base) Delete(ctx context.Context, collection, id string) error {
	if err := b.store.Delete(ctx, collection, id); err != nil {
		return fmt.Errorf("knowledge: delete %s/%s: %w", collection, id, err)
	}
	return nil
}

// Collections lists the collections of a store that is a Catalog.
func (b *Base) Collections(ctx context.Context) ([]CollectionInfo, error) {
	cat, err := b.catalog()
	if err != nil {
		return nil, err
	}
	return cat.Collections(ctx)
}

// Documents lists the documents of a collection, sorted by id.
func (b *Base) Documents(ctx context.Context, collection string) ([]Document, error) {
	cat, err := b.catalog()
	if err != nil {
		return nil, err
	}
	return cat.Documents(ctx, collection)
}

// Document returns one document, without its text.
func (b *Base) Document(ctx context.Context, collection, id string) (Document, error) {
	cat, err := b.catalog()
	if err != nil {
		return Document{}, err
	}
	return cat.Document(ctx, collection, id)
}

func (b *Base) catalog() (Catalog, error) {
	cat, ok := b.store.(Catalog)
	if !ok {
		return nil, fmt.Errorf("knowledge: %T cannot list its contents: %w", b.store, errors.ErrUnsupported)
	}
	return cat, nil
}

// normalize checks doc and returns it with trimmed ids, a known clearance
// (empty means public), normalised text and its own copy of the metadata.
func (b *Base) normalize(doc Document) (Document, error) {
	doc.ID = strings.TrimSpace(doc.ID)
	doc.Collection = strings.TrimSpace(doc.Collection)
	doc.Text = strings.TrimSpace(normalizeText(doc.Text))
	if err := CheckDocumentID(doc.ID); err != nil {
		return doc, err
	}
	if err := CheckCollectionName(doc.Collection); err != nil {
		return doc, err
	}
	switch {
	case doc.Text == "":
		return doc, &FieldError{Field: "text", Message: "is empty", Err: ErrEmptyDocument}
	case doc.Effective != nil && doc.Expires != nil && !doc.Expires.After(*doc.Effective):
		return doc, &FieldError{Field: "expires", Message: "must be after effective"}
	}
	c, err := checkClearance(doc.Clearance)
	if err != nil {
		return doc, err
	}
	doc.Clearance = c
	if len(doc.Metadata) > 0 {
		doc.Metadata = maps.Clone(doc.Metadata)
		if _, ok := doc.Metadata[""]; ok {
			return doc, &FieldError{Field: "metadata", Message: "has an empty key"}
		}
	} else {
		doc.Metadata = nil
	}
	return doc, nil
}

// checkClearance maps empty to public and refuses unknown levels.
func checkClearance(c access.Clearance) (access.Clearance, error) {
	p, err := access.ParseClearance(string(c))
	if err != nil {
		return "", &FieldError{Field: "clearance", Message: fmt.Sprintf("unknown level %q", c), Err: access.ErrUnknownClearance}
	}
	return p, nil
}

// contentHash is a SHA-256 over length-prefixed fields, so that no two
// different documents share the byte stream.
func (b *Base) contentHash(doc Document) string {
	h := sha256.New()
	size, overlap := b.chunker.limits()
	field(h, "cityagent-knowledge-v1")
	field(h, TokenizerVersion)
	field(h, b.emb.Name())
	field(h, strconv.Itoa(b.emb.Dim()))
	field(h, strconv.Itoa(size)+"/"+strconv.Itoa(overlap))
	field(h, doc.Collection)
	field(h, doc.Title)
	field(h, doc.Source)
	field(h, string(doc.Clearance))
	field(h, doc.Text)
	field(h, strconv.Itoa(len(doc.Metadata)))
	for _, k := range slices.Sorted(maps.Keys(doc.Metadata)) {
		field(h, k)
		field(h, doc.Metadata[k])
	}
	for _, t := range []*time.Time{doc.Effective, doc.Expires} {
		if t == nil {
			field(h, "")
		} else {
			field(h, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func field(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}
