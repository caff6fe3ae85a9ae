// Package knowledgetest is the conformance suite for knowledge.Store
// backends: every store (embedded, pgvector, qdrant) runs the same tests, so
// that they agree on ranking basics, clearance, filters, validity, replace
// and delete.
package knowledgetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// Open returns a new, empty store; the test owns it and closes it through
// t.Cleanup.
type Open func(t *testing.T) knowledge.Store

// Collection is the collection the suite writes to.
const Collection = "conformance"

var (
	past   = time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC)
	cutoff = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	future = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Docs are the suite's documents: bilingual, at every interesting clearance,
// validity and metadata combination.
func Docs() []knowledge.Document {
	return []knowledge.Document{
		{ID: "signals", Collection: Collection, Title: "信号配时管理 Signal timing", Source: "test:signals", Clearance: access.Public,
			Metadata: map[string]string{"district": "dongcheng"},
			Text: "# 信号配时\n\n信号配时调整须经交通信号控制中心审批，审批时限为5个工作日。\n\n" +
				"Signal timing changes need the approval of the traffic signal centre within 5 working days."},
		{ID: "permits", Collection: Collection, Title: "占道许可 Road occupation permits", Source: "test:permits", Clearance: access.Public,
			Metadata: map[string]string{"district": "gaoxin"},
			Text:     "临时占用道路许可的办理时限为5个工作日，主干道占道费每平方米每天8元。\n\nA road occupation permit is issued within 5 working days; the fee on arterial roads is 8 yuan per square metre per day."},
		{ID: "demand-response", Collection: Collection, Title: "Demand response", Source: "test:dr", Clearance: access.Internal,
			Metadata: map[string]string{"district": "gaoxin"},
			Text:     "Day-ahead demand-response events are announced by 16:00 the day before and pay 3 yuan per kWh reduced. 日前需求响应补偿每千瓦时3元。"},
		{ID: "roster", Collection: Collection, Title: "应急指挥通讯录 Duty roster", Source: "test:roster", Clearance: access.Restricted,
			Metadata: map[string]string{"district": "dongcheng"},
			Text:     "信号中心值班主任手机 139-0000-2202。The signal centre duty director's mobile is 139-0000-2202; call the duty director for temporary signal timing."},
		{ID: "old-rule", Collection: Collection, Title: "旧版噪声规定 Old noise rule", Source: "test:old", Clearance: access.Public, Expires: &cutoff,
			Text: "夜间施工噪声投诉由环保部门处理。Night construction noise complaints went to the environment office until 2019."},
		{ID: "future-rule", Collection: Collection, Title: "未来潮汐车道 Future tidal lane", Source: "test:future", Clearance: access.Public, Effective: &future,
			Text: "滨江大道潮汐车道将于2100年启用。The Binjiang Avenue tidal lane opens in 2100."},
	}
}

// Run runs the suite against the stores that open returns.
func Run(t *testing.T, open Open) {
	t.Run("Ranking", func(t *testing.T) { testRanking(t, open) })
	t.Run("Hits", func(t *testing.T) { testHits(t, open) })
	t.Run("Clearance", func(t *testing.T) { testClearance(t, open) })
	t.Run("Filter", func(t *testing.T) { testFilter(t, open) })
	t.Run("Validity", func(t *testing.T) { testValidity(t, open) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, open) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open) })
	t.Run("UnknownCollection", func(t *testing.T) { testUnknownCollection(t, open) })
	t.Run("PutValidation", func(t *testing.T) { testPutValidation(t, open) })
	t.Run("Catalog", func(t *testing.T) { testCatalog(t, open) })
	t.Run("EmptyCollection", func(t *testing.T) { testEmptyCollection(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("ExactMatch", func(t *testing.T) { testExactMatch(t, open) })
}

// Loaded returns a base over a new store holding Docs.
func Loaded(t *testing.T, open Open) (*knowledge.Base, knowledge.Store) {
	t.Helper()
	s := open(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for _, d := range Docs() {
		if _, err := b.Ingest(context.Background(), d); err != nil {
			t.Fatalf("ingest %s: %v", d.ID, err)
		}
	}
	return b, s
}

func search(t *testing.T, b *knowledge.Base, q knowledge.Query) []knowledge.Hit {
	t.Helper()
	if q.Collection == "" {
		q.Collection = Collection
	}
	hits, err := b.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %q: %v", q.Text, err)
	}
	return hits
}

func ids(hits []knowledge.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.DocID
	}
	return out
}

func contains(hits []knowledge.Hit, doc string) bool {
	for _, h := range hits {
		if h.DocID == doc {
			return true
		}
	}
	return false
}

func testRanking(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	for _, tc := range []struct {
		name, query string
		clearance   access.Clearance
		want        string
	}{
		{"chinese", "信号配时调整审批", access.Public, "signals"},
		{"english", "road occupation permit fee", access.Public, "permits"},
		{"mixed", "demand-response 补偿", access.Internal, "demand-response"},
		{"restricted reader", "值班主任手机", access.Restricted, "roster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := search(t, b, knowledge.Query{Text: tc.query, Clearance: tc.clearance})
			if len(hits) == 0 || hits[0].DocID != tc.want {
				t.Fatalf("top hits %v, want %s first", ids(hits), tc.want)
			}
		})
	}
}

func testHits(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	hits := search(t, b, knowledge.Query{Text: "信号配时", Clearance: access.Public, K: 1})
	if len(hits) != 1 {
		t.Fatalf("K=1 returned %d hits", len(hits))
	}
	h := hits[0]
	if h.DocID != "signals" || h.Collection != Collection || h.ID == "" || h.Title == "" || h.Source != "test:signals" ||
		h.Text == "" || h.Clearance != access.Public || h.Metadata["district"] != "dongcheng" || h.Score <= 0 {
		t.Fatalf("hit lacks fields: %+v", h)
	}
	if len(h.HeadingPath) != 1 || h.HeadingPath[0] != "信号配时" {
		t.Errorf("heading path %q, want [信号配时]", h.HeadingPath)
	}
	// Hits are the caller's: changing one must not change the store.
	h.Metadata["district"] = "changed"
	again := search(t, b, knowledge.Query{Text: "信号配时", Clearance: access.Public, K: 1})
	if again[0].Metadata["district"] != "dongcheng" {
		t.Fatal("a hit's metadata aliases the store's")
	}
}

func testClearance(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	queries := []string{"值班主任手机", "duty director mobile 139-0000-2202", "signal centre", "信号中心", "demand response 3 yuan"}
	for _, c := range access.Clearances {
		for _, q := range queries {
			for _, h := range search(t, b, knowledge.Query{Text: q, Clearance: c, K: knowledge.MaxK}) {
				if !c.Covers(h.Clearance) {
					t.Errorf("clearance %s, query %q: got %s chunk of %s", c, q, h.Clearance, h.DocID)
				}
			}
		}
	}
	if hits := search(t, b, knowledge.Query{Text: "值班主任手机 duty director", Clearance: access.Sensitive}); contains(hits, "roster") {
		t.Errorf("sensitive reader got the restricted roster: %v", ids(hits))
	}
	if hits := search(t, b, knowledge.Query{Text: "demand response", Clearance: access.Public}); contains(hits, "demand-response") {
		t.Errorf("public reader got an internal document: %v", ids(hits))
	}
	// An empty clearance is public.
	if hits := search(t, b, knowledge.Query{Text: "demand response"}); contains(hits, "demand-response") {
		t.Errorf("caller without clearance got an internal document: %v", ids(hits))
	}
}

func testFilter(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	hits := search(t, b, knowledge.Query{Text: "5个工作日 working days 3 yuan", Clearance: access.Restricted, K: 10,
		Filter: map[string]string{"district": "gaoxin"}})
	if len(hits) == 0 {
		t.Fatal("no hits with a matching filter")
	}
	for _, h := range hits {
		if h.Metadata["district"] != "gaoxin" {
			t.Errorf("filter district=gaoxin returned %s (%v)", h.DocID, h.Metadata)
		}
	}
	if hits := search(t, b, knowledge.Query{Text: "信号配时", Clearance: access.Restricted, Filter: map[string]string{"district": "nowhere"}}); len(hits) != 0 {
		t.Errorf("filter on a value no document has returned %v", ids(hits))
	}
}

func testValidity(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	if hits := search(t, b, knowledge.Query{Text: "夜间施工噪声 night construction noise"}); contains(hits, "old-rule") {
		t.Errorf("an expired document was returned: %v", ids(hits))
	}
	if hits := search(t, b, knowledge.Query{Text: "夜间施工噪声 night construction noise", At: past}); !contains(hits, "old-rule") {
		t.Errorf("a document in force at %v was not returned: %v", past, ids(hits))
	}
	if hits := search(t, b, knowledge.Query{Text: "潮汐车道 tidal lane"}); contains(hits, "future-rule") {
		t.Errorf("a document not yet in force was returned: %v", ids(hits))
	}
	if hits := search(t, b, knowledge.Query{Text: "潮汐车道 tidal lane", At: future}); !contains(hits, "future-rule") {
		t.Errorf("a document in force at %v was not returned: %v", future, ids(hits))
	}
}

func testReplace(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	doc := Docs()[0]
	doc.Text = "Signal timing now changes automatically every 15 minutes. 信号配时每15分钟自动优化。"
	if _, err := b.Ingest(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	hits := search(t, b, knowledge.Query{Text: "signal timing", Clearance: access.Public, K: knowledge.MaxK})
	n := 0
	for _, h := range hits {
		if h.DocID == "signals" {
			n++
			if h.Text != doc.Text {
				t.Errorf("old chunk survived a replace: %q", h.Text)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d hits of the replaced document, want 1", n)
	}
}

func testDelete(t *testing.T, open Open) {
	b, s := Loaded(t, open)
	ctx := context.Background()
	if err := s.Delete(ctx, Collection, "permits"); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, b, knowledge.Query{Text: "road occupation permit 占道", Clearance: access.Restricted, K: knowledge.MaxK}); contains(hits, "permits") {
		t.Errorf("deleted document returned: %v", ids(hits))
	}
	if err := s.Delete(ctx, Collection, "permits"); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "no-such-collection", "permits"); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("delete in unknown collection: %v, want ErrNotFound", err)
	}
}

func testUnknownCollection(t *testing.T, open Open) {
	b, _ := Loaded(t, open)
	_, err := b.Search(context.Background(), knowledge.Query{Collection: "no-such-collection", Text: "信号"})
	if !errors.Is(err, knowledge.ErrUnknownCollection) {
		t.Fatalf("search of an unknown collection: %v, want ErrUnknownCollection", err)
	}
}

func testPutValidation(t *testing.T, open Open) {
	s := open(t)
	ctx := context.Background()
	doc := knowledge.Document{ID: "d", Collection: Collection, Text: "x", Clearance: access.Public}
	chunk := knowledge.Chunk{ID: "d#0", DocID: "d", Collection: Collection, Text: "x", Clearance: access.Public}
	vec := []float32{1, 0, 0, 0}
	for _, tc := range []struct {
		name   string
		doc    knowledge.Document
		chunks []knowledge.Chunk
		vecs   [][]float32
	}{
		{"no chunks", doc, nil, nil},
		{"vector count", doc, []knowledge.Chunk{chunk}, nil},
		{"unknown clearance", knowledge.Document{ID: "d", Collection: Collection, Clearance: "top-secret"}, []knowledge.Chunk{chunk}, [][]float32{vec}},
		{"chunk of another document", doc, []knowledge.Chunk{{ID: "e#0", DocID: "e", Collection: Collection}}, [][]float32{vec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Put(ctx, tc.doc, tc.chunks, tc.vecs); err == nil {
				t.Error("Put accepted it")
			}
		})
	}
}

func testCatalog(t *testing.T, open Open) {
	b, s := Loaded(t, open)
	cat, ok := s.(knowledge.Catalog)
	if !ok {
		t.Skipf("%T is not a Catalog", s)
	}
	ctx := context.Background()
	cols, err := cat.Collections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Name != Collection || cols[0].Documents != len(Docs()) || cols[0].Chunks < len(Docs()) {
		t.Errorf("collections %+v", cols)
	}
	docs, err := cat.Documents(ctx, Collection)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(Docs()) || docs[0].ID > docs[1].ID {
		t.Errorf("documents not listed by id: %d", len(docs))
	}
	d, err := cat.Document(ctx, Collection, "roster")
	if err != nil {
		t.Fatal(err)
	}
	if d.Hash == "" || d.Clearance != access.Restricted || d.Title == "" {
		t.Errorf("document %+v", d)
	}
	res, err := b.Ingest(ctx, Docs()[3])
	if err != nil || res.Status != knowledge.IngestUnchanged || res.Hash != d.Hash {
		t.Errorf("re-ingest: %+v, %v; want unchanged with hash %s", res, err, d.Hash)
	}
	if _, err := cat.Document(ctx, Collection, "missing"); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("missing document: %v, want ErrNotFound", err)
	}
	if _, err := cat.Document(ctx, "no-such-collection", "roster"); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("document in a missing collection: %v, want ErrNotFound", err)
	}
}

// testEmptyCollection checks a collection made before any document: it is
// listed, searchable (no hits, not unknown), and made only once.
func testEmptyCollection(t *testing.T, open Open) {
	s := open(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	if _, ok := s.(knowledge.CollectionCreator); !ok {
		t.Skipf("%T cannot make empty collections", s)
	}
	created, err := b.CreateCollection(ctx, "empty")
	if err != nil || !created {
		t.Fatalf("create: %v, %v", created, err)
	}
	if again, err := b.CreateCollection(ctx, "empty"); err != nil || again {
		t.Errorf("create again: %v, %v; want false, nil", again, err)
	}
	if _, err := b.CreateCollection(ctx, "Bad Name"); !errors.Is(err, knowledge.ErrInvalid) {
		t.Errorf("create with a bad name: %v, want ErrInvalid", err)
	}
	hits, err := b.Search(ctx, knowledge.Query{Collection: "empty", Text: "信号 signal"})
	if err != nil || len(hits) != 0 {
		t.Errorf("search of an empty collection: %v, %v", hits, err)
	}
	for name, want := range map[string]bool{"empty": true, "missing": false} {
		if got, err := b.HasCollection(ctx, name); err != nil || got != want {
			t.Errorf("HasCollection(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	cols, err := b.Collections(ctx)
	if err != nil || len(cols) != 1 || cols[0].Name != "empty" || cols[0].Documents != 0 {
		t.Errorf("collections: %+v, %v", cols, err)
	}
	docs, err := b.Documents(ctx, "empty")
	if err != nil || len(docs) != 0 {
		t.Errorf("documents of an empty collection: %v, %v", docs, err)
	}
	// Deleting the last document keeps the collection.
	if _, err := b.Ingest(ctx, knowledge.Document{ID: "d", Collection: "empty", Text: "信号配时 signal timing"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "empty", "d"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.HasCollection(ctx, "empty"); err != nil || !ok {
		t.Errorf("collection gone with its last document: %v, %v", ok, err)
	}
}

func testConcurrent(t *testing.T, open Open) {
	b, s := Loaded(t, open)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("w%d-%d", w, i)
				doc := knowledge.Document{ID: id, Collection: Collection, Title: "并发 concurrent " + id,
					Text: fmt.Sprintf("第%d号文档。Concurrent document %s about signal timing.", i, id)}
				if _, err := b.Ingest(ctx, doc); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					if err := s.Delete(ctx, Collection, id); err != nil {
						errs <- err
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				hits, err := b.Search(ctx, knowledge.Query{Collection: Collection, Text: "signal timing 信号", Clearance: access.Internal})
				if err != nil {
					errs <- err
					return
				}
				for _, h := range hits {
					if !access.Internal.Covers(h.Clearance) {
						errs <- fmt.Errorf("internal reader got %s chunk %s", h.Clearance, h.ID)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 4 workers × 10 documents, of which 4 each were deleted.
	hits := search(t, b, knowledge.Query{Text: "concurrent document", Clearance: access.Public, K: knowledge.MaxK})
	n := 0
	for _, h := range hits {
		if len(h.DocID) > 0 && h.DocID[0] == 'w' {
			n++
		}
	}
	if n != 24 {
		t.Errorf("%d concurrent documents found, want 24", n)
	}
}
