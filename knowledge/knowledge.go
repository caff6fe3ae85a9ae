// Package knowledge is the city's knowledge base: documents, chunking,
// CJK-aware tokenising, embedders and hybrid (dense + lexical) retrieval with
// citations and clearance filtering. Storage backends live in subpackages and
// satisfy Store.
package knowledge

import (
	"context"
	"errors"
	"time"

	"github.com/cityagent/cityagent/access"
)

// Document is one source document before chunking.
type Document struct {
	ID         string            `json:"id"`
	Collection string            `json:"collection"`
	Title      string            `json:"title"`
	Source     string            `json:"source"`
	Text       string            `json:"text"`
	Clearance  access.Clearance  `json:"clearance"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Effective  *time.Time        `json:"effective,omitempty"`
	Expires    *time.Time        `json:"expires,omitempty"`
	Hash       string            `json:"hash,omitempty"` // content hash, set at ingest
	// Chunks is how many chunks a store holds for the document; catalogs
	// fill it in, ingest ignores it.
	Chunks int `json:"chunks,omitempty"`
}

// Chunk is a piece of a document, the unit of retrieval.
type Chunk struct {
	ID          string            `json:"chunk_id"`
	DocID       string            `json:"doc_id"`
	Collection  string            `json:"collection"`
	Ordinal     int               `json:"ordinal"`
	Title       string            `json:"title"`
	HeadingPath []string          `json:"heading_path,omitempty"`
	Source      string            `json:"source"`
	Text        string            `json:"text"`
	Clearance   access.Clearance  `json:"clearance"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Effective   *time.Time        `json:"effective,omitempty"`
	Expires     *time.Time        `json:"expires,omitempty"`
}

// Hit is a retrieved chunk with its fused score. Base.Search returns one hit
// per document; Also holds up to MaxAlso further chunks of the same document
// that ranked among the candidates, best first — the clause that answers is
// not always in the chunk that matched best. Also is not part of the API's
// JSON (a search answers with chunks); agents hand it to the model.
type Hit struct {
	Chunk
	Score float64 `json:"score"`
	Also  []Chunk `json:"-"`
}

// MaxAlso is how many further chunks of its document a hit carries.
const MaxAlso = 2

// Query asks a collection for the k best chunks a caller of Clearance may read.
type Query struct {
	Collection string            `json:"collection"`
	Text       string            `json:"query"`
	K          int               `json:"k"`
	Clearance  access.Clearance  `json:"-"` // the caller's; chunks above it are never returned
	Filter     map[string]string `json:"filter,omitempty"`
	At         time.Time         `json:"-"` // validity date; zero = now
}

// Embedder turns texts into vectors of Dim() dimensions.
type Embedder interface {
	Name() string
	Dim() int
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Store keeps chunks with their vectors and answers hybrid queries.
// Put replaces every chunk of doc atomically; Search fuses dense and lexical
// ranking and must never return a chunk above q.Clearance.
type Store interface {
	Put(ctx context.Context, doc Document, chunks []Chunk, vectors [][]float32) error
	Search(ctx context.Context, q Query, vector []float32) ([]Hit, error)
	Delete(ctx context.Context, collection, docID string) error
}

// CollectionCreator is the optional ability of a Store to hold a collection
// before any document is put into it. CreateCollection reports whether the
// collection is new; creating one that exists is not an error.
type CollectionCreator interface {
	CreateCollection(ctx context.Context, name string) (created bool, err error)
}

// CollectionChecker is the optional ability of a Store to say cheaply
// whether it holds a collection (without counting what is in it).
type CollectionChecker interface {
	HasCollection(ctx context.Context, name string) (bool, error)
}

// Pinger is the optional ability of a Store to say whether its backend is
// reachable; readiness probes use it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Errors callers branch on.
var (
	ErrNotFound          = errors.New("knowledge: not found")
	ErrEmptyDocument     = errors.New("knowledge: empty document")
	ErrUnknownCollection = errors.New("knowledge: unknown collection")
	// ErrUnavailable is wrapped by stores whose backend (a database or a
	// vector server) cannot be reached: the request may succeed later.
	ErrUnavailable = errors.New("knowledge: store unavailable")
)
