package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

// fakeStore is a Store whose behaviour each test sets; it is not a Catalog.
type fakeStore struct {
	put    func(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error
	search func(ctx context.Context, q knowledge.Query, vector []float32) ([]knowledge.Hit, error)
	delete func(ctx context.Context, collection, docID string) error
}

var _ knowledge.Store = (*fakeStore)(nil)

func (f *fakeStore) Put(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error {
	return f.put(ctx, doc, chunks, vectors)
}

func (f *fakeStore) Search(ctx context.Context, q knowledge.Query, vector []float32) ([]knowledge.Hit, error) {
	return f.search(ctx, q, vector)
}

func (f *fakeStore) Delete(ctx context.Context, collection, docID string) error {
	return f.delete(ctx, collection, docID)
}

// countingStore is the real embedded store, counting writes.
type countingStore struct {
	*embedded.Store
	puts atomic.Int32
}

var _ knowledge.Store = (*countingStore)(nil)

func (c *countingStore) Put(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error {
	c.puts.Add(1)
	return c.Store.Put(ctx, doc, chunks, vectors)
}

func newCounting(t *testing.T) *countingStore {
	s, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &countingStore{Store: s}
}

func TestIngestUnchangedAndChanged(t *testing.T) {
	s := newCounting(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	doc := knowledge.Document{ID: "plan", Collection: "traffic", Title: "预案", Text: "拥堵指数超过2.0时启动三级响应。",
		Metadata: map[string]string{"lang": "zh"}}

	steps := []struct {
		name   string
		change func(d *knowledge.Document)
		want   knowledge.IngestStatus
	}{
		{"first", func(*knowledge.Document) {}, knowledge.IngestCreated},
		{"same again", func(*knowledge.Document) {}, knowledge.IngestUnchanged},
		{"only line ends and outer space differ", func(d *knowledge.Document) { d.Text = "\r\n " + d.Text + "\r\n" }, knowledge.IngestUnchanged},
		{"text", func(d *knowledge.Document) { d.Text = "拥堵指数超过3.0时启动二级响应。" }, knowledge.IngestUpdated},
		{"title", func(d *knowledge.Document) { d.Title = "新预案" }, knowledge.IngestUpdated},
		{"clearance", func(d *knowledge.Document) { d.Clearance = access.Internal }, knowledge.IngestUpdated},
		{"metadata", func(d *knowledge.Document) { d.Metadata = map[string]string{"lang": "zh", "v": "2"} }, knowledge.IngestUpdated},
		{"metadata unchanged", func(d *knowledge.Document) { d.Metadata = map[string]string{"v": "2", "lang": "zh"} }, knowledge.IngestUnchanged},
	}
	puts := int32(0)
	var lastHash string
	for _, st := range steps {
		st.change(&doc)
		res, err := b.Ingest(ctx, doc)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.Status != st.want {
			t.Errorf("%s: status %s, want %s", st.name, res.Status, st.want)
		}
		if st.want != knowledge.IngestUnchanged {
			puts++
			if res.Chunks == 0 || res.Hash == lastHash {
				t.Errorf("%s: %+v", st.name, res)
			}
		} else if res.Chunks != 0 || res.Hash != lastHash {
			t.Errorf("%s: %+v", st.name, res)
		}
		if got := s.puts.Load(); got != puts {
			t.Errorf("%s: %d puts, want %d", st.name, got, puts)
		}
		lastHash = res.Hash
	}
	// A different chunking of the same text is a different index: re-ingest.
	b2 := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0), knowledge.WithChunker(knowledge.Chunker{Size: 100}))
	if res, err := b2.Ingest(ctx, doc); err != nil || res.Status != knowledge.IngestUpdated {
		t.Errorf("new chunk size: %+v, %v", res, err)
	}
	stored, err := b.Document(ctx, "traffic", "plan")
	if err != nil || stored.Title != "新预案" || stored.Clearance != access.Internal {
		t.Errorf("stored document %+v, %v", stored, err)
	}
}

func TestIngestValidation(t *testing.T) {
	b := knowledge.NewBase(&fakeStore{put: func(context.Context, knowledge.Document, []knowledge.Chunk, [][]float32) error {
		return errors.New("must not be called")
	}}, knowledge.NewHashedEmbedder(0))
	ok := knowledge.Document{ID: "d", Collection: "c", Text: "正文。"}
	t1, t2 := time.Now(), time.Now().Add(-time.Hour)
	for name, tc := range map[string]struct {
		change func(d *knowledge.Document)
		field  string
		is     error
	}{
		"no id":              {func(d *knowledge.Document) { d.ID = " " }, "id", knowledge.ErrInvalid},
		"no collection":      {func(d *knowledge.Document) { d.Collection = "" }, "collection", knowledge.ErrInvalid},
		"no text":            {func(d *knowledge.Document) { d.Text = "\n\t" }, "text", knowledge.ErrEmptyDocument},
		"unknown clearance":  {func(d *knowledge.Document) { d.Clearance = "secret" }, "clearance", access.ErrUnknownClearance},
		"expires first":      {func(d *knowledge.Document) { d.Effective, d.Expires = &t1, &t2 }, "expires", knowledge.ErrInvalid},
		"empty metadata key": {func(d *knowledge.Document) { d.Metadata = map[string]string{"": "x"} }, "metadata", knowledge.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			d := ok
			tc.change(&d)
			_, err := b.Ingest(context.Background(), d)
			var fe *knowledge.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.is) || !errors.Is(err, knowledge.ErrInvalid) {
				t.Fatalf("error %v, want a FieldError on %s that is %v", err, tc.field, tc.is)
			}
		})
	}
}

func TestIngestChunksAndBatches(t *testing.T) {
	var got struct {
		doc    knowledge.Document
		chunks []knowledge.Chunk
		vecs   [][]float32
	}
	store := &fakeStore{put: func(_ context.Context, d knowledge.Document, c []knowledge.Chunk, v [][]float32) error {
		got.doc, got.chunks, got.vecs = d, c, v
		return nil
	}}
	emb := &countingEmbedder{Embedder: knowledge.NewHashedEmbedder(16)}
	b := knowledge.NewBase(store, emb, knowledge.WithChunker(knowledge.Chunker{Size: 10, Overlap: -1}), knowledge.WithBatchSize(2))
	meta := map[string]string{"lang": "zh"}
	eff := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := knowledge.Document{ID: " d ", Collection: "c", Title: "标题", Source: "src", Clearance: access.Internal, Metadata: meta, Effective: &eff,
		Text: "# 一\n\n第一句话很短。第二句话也不长。第零句。\n\n# 二\n\n第三句话。第四句话。第五句话在这里。"}
	res, err := b.Ingest(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	meta["lang"] = "changed after ingest"
	if res.Status != knowledge.IngestCreated || res.DocID != "d" || res.Chunks != len(got.chunks) || got.doc.Hash != res.Hash {
		t.Errorf("result %+v", res)
	}
	if len(got.chunks) != 5 || len(got.vecs) != len(got.chunks) {
		t.Fatalf("%d chunks, %d vectors", len(got.chunks), len(got.vecs))
	}
	if want := (len(got.chunks) + 1) / 2; emb.calls != want {
		t.Errorf("%d embed calls for %d chunks in batches of 2, want %d", emb.calls, len(got.chunks), want)
	}
	for i, c := range got.chunks {
		if c.ID != fmt.Sprintf("d#%d", i) || c.Ordinal != i || c.DocID != "d" || c.Collection != "c" || c.Title != "标题" ||
			c.Source != "src" || c.Clearance != access.Internal || c.Metadata["lang"] != "zh" || c.Effective == nil || len(c.HeadingPath) != 1 {
			t.Errorf("chunk %d: %+v", i, c)
		}
	}
}

type countingEmbedder struct {
	knowledge.Embedder
	calls int
}

func (e *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.calls++
	return e.Embedder.Embed(ctx, texts)
}

func TestSearchDefaultsAndDedup(t *testing.T) {
	clock := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var seen knowledge.Query
	store := &fakeStore{search: func(_ context.Context, q knowledge.Query, v []float32) ([]knowledge.Hit, error) {
		seen = q
		if len(v) != knowledge.DefaultHashedDim {
			return nil, fmt.Errorf("vector of %d", len(v))
		}
		var hits []knowledge.Hit
		for i := range q.K {
			hits = append(hits, hit(fmt.Sprintf("doc%d", i/3), i%3)) // three chunks per document
		}
		return hits, nil
	}}
	b := knowledge.NewBase(store, knowledge.NewHashedEmbedder(0), knowledge.WithClock(func() time.Time { return clock }))
	ctx := context.Background()
	for name, tc := range map[string]struct {
		k, want, storeK int
	}{
		"default":  {0, knowledge.DefaultK, 4 * knowledge.DefaultK},
		"k 2":      {2, 2, 8},
		"over max": {1000, knowledge.MaxK, 4 * knowledge.MaxK},
	} {
		t.Run(name, func(t *testing.T) {
			hits, err := b.Search(ctx, knowledge.Query{Collection: " c ", Text: "信号", K: tc.k})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != tc.want || seen.K != tc.storeK {
				t.Fatalf("%d hits (store asked for %d), want %d (%d)", len(hits), seen.K, tc.want, tc.storeK)
			}
			docs := map[string]bool{}
			for _, h := range hits {
				if docs[h.DocID] || h.Ordinal != 0 {
					t.Fatalf("not one best chunk per document: %v", hits)
				}
				docs[h.DocID] = true
			}
			if seen.Clearance != access.Public || !seen.At.Equal(clock) || seen.Collection != "c" {
				t.Errorf("store got %+v", seen)
			}
		})
	}
	for name, q := range map[string]knowledge.Query{
		"no collection":     {Text: "x"},
		"no text":           {Collection: "c", Text: "  "},
		"unknown clearance": {Collection: "c", Text: "x", Clearance: "secret"},
	} {
		if _, err := b.Search(ctx, q); !errors.Is(err, knowledge.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestBaseWithoutCatalog(t *testing.T) {
	puts := 0
	store := &fakeStore{put: func(context.Context, knowledge.Document, []knowledge.Chunk, [][]float32) error { puts++; return nil }}
	b := knowledge.NewBase(store, knowledge.NewHashedEmbedder(0))
	doc := knowledge.Document{ID: "d", Collection: "c", Text: "正文。"}
	for range 2 {
		if res, err := b.Ingest(context.Background(), doc); err != nil || res.Status != knowledge.IngestCreated {
			t.Fatalf("%+v %v", res, err)
		}
	}
	if puts != 2 {
		t.Errorf("%d puts without a catalog, want 2", puts)
	}
	if _, err := b.Collections(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Collections: %v, want ErrUnsupported", err)
	}
}

func TestIngestMany(t *testing.T) {
	s := newCounting(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	var docs []knowledge.Document
	for i := range 30 {
		docs = append(docs, knowledge.Document{ID: fmt.Sprintf("d%02d", i), Collection: "c", Text: fmt.Sprintf("第%d号文档。Document %d.", i, i)})
	}
	docs[7].Text = ""
	results, err := b.IngestMany(context.Background(), docs)
	if !errors.Is(err, knowledge.ErrEmptyDocument) || !strings.Contains(err.Error(), "d07") {
		t.Fatalf("error %v, want the empty d07's", err)
	}
	for i, r := range results {
		switch {
		case i == 7 && r.Status != "":
			t.Errorf("failed document has result %+v", r)
		case i != 7 && (r.DocID != docs[i].ID || r.Status != knowledge.IngestCreated):
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if got := s.puts.Load(); got != 29 {
		t.Errorf("%d puts, want 29", got)
	}
}
