// Package qdrant is the Qdrant knowledge store, over gRPC with the official
// go-client. Each knowledge collection is a Qdrant collection with two
// named vectors per chunk: "dense", the embedding (cosine), and "lexical", a
// sparse vector made client-side from knowledge.Tokens — each term hashed to
// an index, weighted by BM25's term-frequency part — with Qdrant's IDF
// modifier supplying the inverse document frequencies. Qdrant's own text
// analysis does not segment Chinese; the shared tokens do.
//
// A search is one QueryBatch call: a dense and a sparse query, both
// filtered by clearance, validity and metadata (with payload indexes on
// those fields), fused client-side by knowledge.Fuse as in the other stores.
package qdrant

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// Vector names and BM25 constants.
const (
	denseName   = "dense"
	lexicalName = "lexical"
	bm25K1      = 1.2
	bm25B       = 0.75
	// avgLength stands in for the collection's average chunk length in
	// BM25's length normalisation: Qdrant keeps no such statistic, and the
	// sparse weights are fixed when a chunk is written.
	avgLength = 256
	// Validity bounds for chunks that have none, in Unix seconds.
	alwaysFrom  = -1e15
	neverUntil  = 1e15
	defaultPort = 6334
)

// Config says where Qdrant is.
type Config struct {
	Addr   string // host:port of the gRPC API (port 6334 when left out)
	APIKey string
	UseTLS bool
	Dim    int    // embedding dimensions
	Prefix string // Qdrant collection name = Prefix + knowledge collection (default "cityagent_")
	// GRPCOptions are extra dial options (tests dial an in-process server).
	GRPCOptions []grpc.DialOption
}

// Store is a knowledge.Store on Qdrant.
type Store struct {
	client *qc.Client
	cfg    Config

	mu      sync.Mutex
	known   map[string]bool            // collections known to exist
	indexed map[string]map[string]bool // metadata keys with a payload index, per collection
}

var (
	_ knowledge.Store             = (*Store)(nil)
	_ knowledge.Catalog           = (*Store)(nil)
	_ knowledge.CollectionCreator = (*Store)(nil)
	_ knowledge.Pinger            = (*Store)(nil)
	_ knowledge.CollectionChecker = (*Store)(nil)
)

// Open makes a client and checks that the server answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Dim <= 0 {
		return nil, fmt.Errorf("qdrant: dimension %d out of range", cfg.Dim)
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, "cityagent_")
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	client, err := qc.NewClient(&qc.Config{Host: host, Port: port, APIKey: cfg.APIKey, UseTLS: cfg.UseTLS,
		SkipCompatibilityCheck: true, PoolSize: 1, GrpcOptions: cfg.GRPCOptions})
	if err != nil {
		return nil, fmt.Errorf("qdrant: %w", err)
	}
	s := &Store{client: client, cfg: cfg, known: map[string]bool{}, indexed: map[string]map[string]bool{}}
	if err := s.Ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return s, nil
}

func splitAddr(addr string) (string, int, error) {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "grpc://")
	if addr == "" {
		return "", 0, errors.New("qdrant: address is required (host:port of the gRPC API)")
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, defaultPort, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("qdrant: bad port in %q", addr)
	}
	return host, port, nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.client.Close() }

// Ping checks that the server answers its health check.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("qdrant: health check: %w", classify(err, false))
	}
	return nil
}

// classify maps gRPC statuses to the knowledge sentinels; notFound names
// what a NotFound status means for the call.
func classify(err error, notFound bool) error {
	if err == nil {
		return nil
	}
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("%w: %w", knowledge.ErrUnavailable, err)
	case codes.NotFound:
		if notFound {
			return fmt.Errorf("%w: %w", knowledge.ErrUnknownCollection, err)
		}
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %w", knowledge.ErrInvalid, err)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return fmt.Errorf("%w: %w", knowledge.ErrUnavailable, err)
	}
	return err
}

func (s *Store) name(collection string) string { return s.cfg.Prefix + collection }

// HasCollection reports whether the Qdrant collection exists.
func (s *Store) HasCollection(ctx context.Context, name string) (bool, error) {
	ok, err := s.client.CollectionExists(ctx, s.name(name))
	if err != nil {
		return false, fmt.Errorf("qdrant: collection %s: %w", name, classify(err, false))
	}
	return ok, nil
}

// CreateCollection makes the Qdrant collection with its vectors and payload
// indexes; false if it exists.
func (s *Store) CreateCollection(ctx context.Context, name string) (bool, error) {
	if err := knowledge.CheckCollectionName(name); err != nil {
		return false, err
	}
	exists, err := s.client.CollectionExists(ctx, s.name(name))
	if err != nil {
		return false, fmt.Errorf("qdrant: create collection %s: %w", name, classify(err, false))
	}
	if exists {
		s.remember(name)
		return false, nil
	}
	err = s.client.CreateCollection(ctx, &qc.CreateCollection{
		CollectionName: s.name(name),
		VectorsConfig: qc.NewVectorsConfigMap(map[string]*qc.VectorParams{
			denseName: {Size: uint64(s.cfg.Dim), Distance: qc.Distance_Cosine},
		}),
		SparseVectorsConfig: qc.NewSparseVectorsConfig(map[string]*qc.SparseVectorParams{
			lexicalName: {Modifier: qc.Modifier_Idf.Enum()},
		}),
	})
	if status.Code(errors.Unwrap(err)) == codes.AlreadyExists {
		s.remember(name)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("qdrant: create collection %s: %w", name, classify(err, false))
	}
	for field, typ := range map[string]qc.FieldType{
		"doc_id": qc.FieldType_FieldTypeKeyword, "ordinal": qc.FieldType_FieldTypeInteger,
		"clearance": qc.FieldType_FieldTypeInteger, "effective_ts": qc.FieldType_FieldTypeFloat, "expires_ts": qc.FieldType_FieldTypeFloat,
	} {
		if err := s.index(ctx, name, field, typ); err != nil {
			return false, err
		}
	}
	s.remember(name)
	return true, nil
}

func (s *Store) remember(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[name] = true
}

func (s *Store) index(ctx context.Context, collection, field string, typ qc.FieldType) error {
	_, err := s.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
		CollectionName: s.name(collection), FieldName: field, FieldType: typ.Enum(), Wait: qc.PtrOf(true)})
	if err != nil {
		return fmt.Errorf("qdrant: index %s.%s: %w", collection, field, classify(err, false))
	}
	return nil
}

// ensure creates the collection on first use and keyword indexes for the
// metadata keys a put brings.
func (s *Store) ensure(ctx context.Context, collection string, metaKeys []string) error {
	s.mu.Lock()
	known := s.known[collection]
	s.mu.Unlock()
	if !known {
		if _, err := s.CreateCollection(ctx, collection); err != nil {
			return err
		}
	}
	for _, k := range metaKeys {
		s.mu.Lock()
		done := s.indexed[collection][k]
		s.mu.Unlock()
		if done {
			continue
		}
		if err := s.index(ctx, collection, "metadata."+k, qc.FieldType_FieldTypeKeyword); err != nil {
			return err
		}
		s.mu.Lock()
		if s.indexed[collection] == nil {
			s.indexed[collection] = map[string]bool{}
		}
		s.indexed[collection][k] = true
		s.mu.Unlock()
	}
	return nil
}

// pointID names a chunk's point: the same document and ordinal always get
// the same id, so that a replacement overwrites in place.
func pointID(collection, docID string, ordinal int) *qc.PointId {
	return qc.NewIDUUID(uuid.NewSHA1(uuid.NameSpaceURL, []byte("cityagent:"+collection+"/"+docID+"#"+strconv.Itoa(ordinal))).String())
}

// termIndex hashes a term to a sparse vector index.
func termIndex(term string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(term))
	return h.Sum32()
}

// sparse returns a chunk's lexical vector: for each term the BM25
// term-frequency weight tf·(k1+1) / (tf + k1·(1 − b + b·len/avgLength)).
func sparse(tokens []string) ([]uint32, []float32) {
	tf := map[uint32]float64{}
	for _, t := range tokens {
		tf[termIndex(t)]++
	}
	norm := 1 - bm25B + bm25B*float64(len(tokens))/avgLength
	idx := slices.Sorted(maps.Keys(tf))
	vals := make([]float32, len(idx))
	for i, k := range idx {
		f := min(tf[k], 255)
		vals[i] = float32(f * (bm25K1 + 1) / (f + bm25K1*norm))
	}
	return idx, vals
}

// querySparse is the query's lexical vector: weight 1 per distinct term.
func querySparse(tokens []string) ([]uint32, []float32) {
	seen := map[uint32]bool{}
	var idx []uint32
	for _, t := range tokens {
		if i := termIndex(t); !seen[i] {
			seen[i] = true
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	vals := make([]float32, len(idx))
	for i := range vals {
		vals[i] = 1
	}
	return idx, vals
}

func unixSeconds(t *time.Time, missing float64) float64 {
	if t == nil {
		return missing
	}
	return float64(t.UnixNano()) / 1e9
}

func timeString(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.RFC3339Nano)
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Put upserts the document's chunks and deletes any it had beyond them, in
// one update batch: ids are stable per ordinal, so the document never goes
// missing while it is replaced.
func (s *Store) Put(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("qdrant: put %s/%s: %s: %w", doc.Collection, doc.ID, fmt.Sprintf(format, args...), knowledge.ErrInvalid)
	}
	if doc.ID == "" || doc.Collection == "" {
		return bad("document id and collection are required")
	}
	if len(chunks) == 0 {
		return fmt.Errorf("qdrant: put %s/%s: no chunks: %w", doc.Collection, doc.ID, knowledge.ErrEmptyDocument)
	}
	if len(vectors) != len(chunks) {
		return bad("%d vectors for %d chunks", len(vectors), len(chunks))
	}
	dc, err := access.ParseClearance(string(doc.Clearance))
	if err != nil {
		return fmt.Errorf("qdrant: put %s/%s: %w", doc.Collection, doc.ID, err)
	}
	points := make([]*qc.PointStruct, len(chunks))
	metaKeys := map[string]bool{}
	ordinals := map[int]bool{}
	ids := map[string]bool{}
	for i, c := range chunks {
		if c.ID == "" || ids[c.ID] || ordinals[c.Ordinal] || c.Ordinal < 0 {
			return bad("chunk %d: missing or repeated id or ordinal", i)
		}
		ids[c.ID], ordinals[c.Ordinal] = true, true
		if c.DocID != doc.ID || c.Collection != doc.Collection {
			return bad("chunk %s belongs to %s/%s", c.ID, c.Collection, c.DocID)
		}
		cc, err := access.ParseClearance(string(c.Clearance))
		if err != nil {
			return fmt.Errorf("qdrant: put %s/%s: chunk %s: %w", doc.Collection, doc.ID, c.ID, err)
		}
		if cc.Rank() < dc.Rank() {
			cc = dc
		}
		if len(vectors[i]) != s.cfg.Dim {
			return bad("chunk %s: vector of %d dimensions, want %d", c.ID, len(vectors[i]), s.cfg.Dim)
		}
		for _, x := range vectors[i] {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return bad("chunk %s: vector is not finite", c.ID)
			}
		}
		for k := range c.Metadata {
			metaKeys[k] = true
		}
		si, sv := sparse(knowledge.Tokens(knowledge.IndexText(c)))
		heading := make([]any, len(c.HeadingPath))
		for j, h := range c.HeadingPath {
			heading[j] = h
		}
		payload := map[string]any{
			"doc_id": doc.ID, "ordinal": int64(c.Ordinal), "chunk_id": c.ID, "title": c.Title, "heading_path": heading,
			"source": c.Source, "text": c.Text, "clearance": int64(cc.Rank()), "metadata": anyMap(c.Metadata),
			"effective_ts": unixSeconds(c.Effective, alwaysFrom), "expires_ts": unixSeconds(c.Expires, neverUntil),
			"effective": timeString(c.Effective), "expires": timeString(c.Expires),
			"doc_title": doc.Title, "doc_source": doc.Source, "doc_clearance": string(dc), "doc_hash": doc.Hash,
			"doc_metadata": anyMap(doc.Metadata), "doc_effective": timeString(doc.Effective), "doc_expires": timeString(doc.Expires),
			"doc_chunks": int64(len(chunks)),
		}
		pv, err := qc.TryValueMap(payload)
		if err != nil {
			return fmt.Errorf("qdrant: put %s/%s: %w", doc.Collection, doc.ID, err)
		}
		vecs := map[string]*qc.Vector{denseName: qc.NewVectorDense(vectors[i])}
		if len(si) > 0 {
			vecs[lexicalName] = qc.NewVectorSparse(si, sv)
		}
		points[i] = &qc.PointStruct{Id: pointID(doc.Collection, doc.ID, c.Ordinal), Vectors: qc.NewVectorsMap(vecs), Payload: pv}
	}
	if err := s.ensure(ctx, doc.Collection, slices.Sorted(maps.Keys(metaKeys))); err != nil {
		return err
	}
	stale := &qc.Filter{Must: []*qc.Condition{
		qc.NewMatchKeyword("doc_id", doc.ID),
		qc.NewRange("ordinal", &qc.Range{Gte: qc.PtrOf(float64(len(chunks)))}),
	}}
	_, err = s.client.UpdateBatch(ctx, &qc.UpdateBatchPoints{
		CollectionName: s.name(doc.Collection),
		Wait:           qc.PtrOf(true),
		Operations: []*qc.PointsUpdateOperation{
			qc.NewPointsUpdateUpsert(&qc.PointsUpdateOperation_PointStructList{Points: points}),
			qc.NewPointsUpdateDeletePoints(&qc.PointsUpdateOperation_DeletePoints{Points: qc.NewPointsSelectorFilter(stale)}),
		},
	})
	if err != nil {
		return fmt.Errorf("qdrant: put %s/%s: %w", doc.Collection, doc.ID, classify(err, false))
	}
	return nil
}

// Delete removes a document's points.
func (s *Store) Delete(ctx context.Context, collection, id string) error {
	byDoc := &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword("doc_id", id)}}
	n, err := s.client.Count(ctx, &qc.CountPoints{CollectionName: s.name(collection), Filter: byDoc, Exact: qc.PtrOf(true)})
	if status.Code(errors.Unwrap(err)) == codes.NotFound || (err == nil && n == 0) {
		return fmt.Errorf("qdrant: delete %s/%s: %w", collection, id, knowledge.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("qdrant: delete %s/%s: %w", collection, id, classify(err, false))
	}
	_, err = s.client.Delete(ctx, &qc.DeletePoints{CollectionName: s.name(collection), Wait: qc.PtrOf(true), Points: qc.NewPointsSelectorFilter(byDoc)})
	if err != nil {
		return fmt.Errorf("qdrant: delete %s/%s: %w", collection, id, classify(err, false))
	}
	return nil
}

// filter is what a query may read: clearance, validity at, metadata.
func filter(q knowledge.Query, at time.Time) *qc.Filter {
	sec := float64(at.UnixNano()) / 1e9
	f := &qc.Filter{Must: []*qc.Condition{
		qc.NewRange("clearance", &qc.Range{Lte: qc.PtrOf(float64(q.Clearance.Rank()))}),
		qc.NewRange("effective_ts", &qc.Range{Lte: qc.PtrOf(sec)}),
		qc.NewRange("expires_ts", &qc.Range{Gt: qc.PtrOf(sec)}),
	}}
	for _, k := range slices.Sorted(maps.Keys(q.Filter)) {
		f.Must = append(f.Must, qc.NewMatchKeyword("metadata."+k, q.Filter[k]))
	}
	return f
}

// Search is one QueryBatch call: a dense and a sparse query under the same
// filter, fused client-side by knowledge.Fuse — the fusion every store
// applies — rather than by Qdrant's RRF, so that the three backends rank
// alike.
func (s *Store) Search(ctx context.Context, q knowledge.Query, vector []float32) ([]knowledge.Hit, error) {
	c, err := access.ParseClearance(string(q.Clearance))
	if err != nil {
		return nil, fmt.Errorf("qdrant: search %s: %w", q.Collection, err)
	}
	q.Clearance = c
	if q.At.IsZero() {
		q.At = time.Now()
	}
	k := min(cmp.Or(max(q.K, 0), knowledge.DefaultK), 1000)
	n := uint64(max(2*k, 20))
	f := filter(q, q.At)
	name := s.name(q.Collection)
	var queries []*qc.QueryPoints
	var isDense []bool
	if len(vector) > 0 {
		if len(vector) != s.cfg.Dim {
			return nil, fmt.Errorf("qdrant: search %s: query vector of %d dimensions, want %d: %w", q.Collection, len(vector), s.cfg.Dim, knowledge.ErrInvalid)
		}
		queries = append(queries, &qc.QueryPoints{CollectionName: name, Query: qc.NewQueryDense(vector), Using: qc.PtrOf(denseName),
			Filter: f, Limit: qc.PtrOf(n), ScoreThreshold: qc.PtrOf(float32(0)), WithPayload: qc.NewWithPayload(true)})
		isDense = append(isDense, true)
	}
	if idx, vals := querySparse(knowledge.Tokens(q.Text)); len(idx) > 0 {
		queries = append(queries, &qc.QueryPoints{CollectionName: name, Query: qc.NewQuerySparse(idx, vals), Using: qc.PtrOf(lexicalName),
			Filter: f, Limit: qc.PtrOf(n), WithPayload: qc.NewWithPayload(true)})
		isDense = append(isDense, false)
	}
	if len(queries) == 0 {
		return nil, nil
	}
	res, err := s.client.QueryBatch(ctx, &qc.QueryBatchPoints{CollectionName: name, QueryPoints: queries})
	if err != nil {
		return nil, fmt.Errorf("qdrant: search %q: %w", q.Collection, classify(err, true))
	}
	var dense, lex []knowledge.Hit
	for i, r := range res {
		if i >= len(isDense) {
			break
		}
		for _, p := range r.GetResult() {
			ch, ok := chunkOf(q.Collection, p.GetPayload())
			if !ok || !c.Covers(ch.Clearance) {
				continue // defence in depth: the filter already excludes it
			}
			h := knowledge.Hit{Chunk: ch, Score: float64(p.GetScore())}
			if isDense[i] {
				dense = append(dense, h)
			} else {
				lex = append(lex, h)
			}
		}
	}
	hits := knowledge.Fuse(dense, lex)
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits, nil
}

func chunkOf(collection string, p map[string]*qc.Value) (knowledge.Chunk, bool) {
	level := int(p["clearance"].GetIntegerValue())
	if level < 0 || level >= len(access.Clearances) {
		return knowledge.Chunk{}, false
	}
	ch := knowledge.Chunk{
		ID: p["chunk_id"].GetStringValue(), DocID: p["doc_id"].GetStringValue(), Collection: collection,
		Ordinal: int(p["ordinal"].GetIntegerValue()), Title: p["title"].GetStringValue(), Source: p["source"].GetStringValue(),
		Text: p["text"].GetStringValue(), Clearance: access.Clearances[level],
		Metadata: stringMap(p["metadata"]), Effective: parseTime(p["effective"]), Expires: parseTime(p["expires"]),
	}
	for _, h := range p["heading_path"].GetListValue().GetValues() {
		ch.HeadingPath = append(ch.HeadingPath, h.GetStringValue())
	}
	return ch, ch.DocID != ""
}

func stringMap(v *qc.Value) map[string]string {
	fields := v.GetStructValue().GetFields()
	if len(fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(fields))
	for k, x := range fields {
		out[k] = x.GetStringValue()
	}
	return out
}

func parseTime(v *qc.Value) *time.Time {
	s := v.GetStringValue()
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

func docOf(collection string, p map[string]*qc.Value) knowledge.Document {
	return knowledge.Document{
		ID: p["doc_id"].GetStringValue(), Collection: collection, Title: p["doc_title"].GetStringValue(),
		Source: p["doc_source"].GetStringValue(), Clearance: access.Clearance(p["doc_clearance"].GetStringValue()),
		Hash: p["doc_hash"].GetStringValue(), Metadata: stringMap(p["doc_metadata"]),
		Effective: parseTime(p["doc_effective"]), Expires: parseTime(p["doc_expires"]), Chunks: int(p["doc_chunks"].GetIntegerValue()),
	}
}

// Collections lists the Qdrant collections with the store's prefix.
func (s *Store) Collections(ctx context.Context) ([]knowledge.CollectionInfo, error) {
	names, err := s.client.ListCollections(ctx)
	if err != nil {
		return nil, fmt.Errorf("qdrant: collections: %w", classify(err, false))
	}
	var out []knowledge.CollectionInfo
	for _, full := range names {
		name, ok := strings.CutPrefix(full, s.cfg.Prefix)
		if !ok {
			continue
		}
		chunks, err := s.client.Count(ctx, &qc.CountPoints{CollectionName: full, Exact: qc.PtrOf(true)})
		if err != nil {
			return nil, fmt.Errorf("qdrant: collections: %w", classify(err, false))
		}
		docs, err := s.client.Count(ctx, &qc.CountPoints{CollectionName: full, Exact: qc.PtrOf(true),
			Filter: &qc.Filter{Must: []*qc.Condition{qc.NewMatchInt("ordinal", 0)}}})
		if err != nil {
			return nil, fmt.Errorf("qdrant: collections: %w", classify(err, false))
		}
		out = append(out, knowledge.CollectionInfo{Name: name, Documents: int(docs), Chunks: int(chunks)})
	}
	slices.SortFunc(out, func(a, b knowledge.CollectionInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Documents lists a collection's documents (their first chunks' payloads).
func (s *Store) Documents(ctx context.Context, collection string) ([]knowledge.Document, error) {
	var out []knowledge.Document
	var offset *qc.PointId
	for {
		points, next, err := s.client.ScrollAndOffset(ctx, &qc.ScrollPoints{
			CollectionName: s.name(collection), Filter: &qc.Filter{Must: []*qc.Condition{qc.NewMatchInt("ordinal", 0)}},
			Offset: offset, Limit: qc.PtrOf(uint32(256)), WithPayload: qc.NewWithPayload(true)})
		if err != nil {
			return nil, fmt.Errorf("qdrant: documents %s: %w", collection, classify(err, true))
		}
		for _, p := range points {
			out = append(out, docOf(collection, p.GetPayload()))
		}
		if next == nil || len(points) == 0 {
			break
		}
		offset = next
	}
	slices.SortFunc(out, func(a, b knowledge.Document) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Document returns one document from its first chunk's payload.
func (s *Store) Document(ctx context.Context, collection, id string) (knowledge.Document, error) {
	points, err := s.client.Scroll(ctx, &qc.ScrollPoints{
		CollectionName: s.name(collection),
		Filter:         &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword("doc_id", id), qc.NewMatchInt("ordinal", 0)}},
		Limit:          qc.PtrOf(uint32(1)), WithPayload: qc.NewWithPayload(true)})
	if status.Code(errors.Unwrap(err)) == codes.NotFound || (err == nil && len(points) == 0) {
		return knowledge.Document{}, fmt.Errorf("qdrant: document %s/%s: %w", collection, id, knowledge.ErrNotFound)
	}
	if err != nil {
		return knowledge.Document{}, fmt.Errorf("qdrant: document %s/%s: %w", collection, id, classify(err, false))
	}
	return docOf(collection, points[0].GetPayload()), nil
}
