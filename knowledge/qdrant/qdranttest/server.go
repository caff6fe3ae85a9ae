// Package qdranttest is an in-process Qdrant for tests: a gRPC server built
// on the go-client's generated server interfaces (Qdrant, Collections,
// Points), so that the real client code runs over the real protocol. It
// implements what cityagent's store uses, with Qdrant's semantics: named
// dense (cosine) and sparse vectors with the IDF modifier, upsert and delete
// by id or filter, update batches, scroll with offsets, exact counts, and
// the Query API with filtered prefetches fused by reciprocal-rank fusion;
// filters with must/should/must_not, keyword and integer matches, ranges,
// is-empty/is-null, has-id and nested filters over dotted payload keys.
//
// No Qdrant binary or container can run where the tests run; compose.yaml
// runs the real server for the same store code.
package qdranttest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// Server is the fake Qdrant. The three services share its state; they are
// separate types because their Go interfaces share method names.
type Server struct {
	qc.UnimplementedQdrantServer

	grpc *grpc.Server
	lis  net.Listener
	buf  *bufconn.Listener // nil when listening on TCP
	down atomic.Bool

	mu   sync.RWMutex
	cols map[string]*collection
}

type collectionsService struct {
	qc.UnimplementedCollectionsServer
	*Server
}

type pointsService struct {
	qc.UnimplementedPointsServer
	*Server
}

var (
	_ qc.QdrantServer      = (*Server)(nil)
	_ qc.CollectionsServer = collectionsService{}
	_ qc.PointsServer      = pointsService{}
)

type collection struct {
	dense   map[string]uint64 // vector name → size (cosine)
	sparse  map[string]bool   // sparse vector name → IDF modifier
	points  map[string]*point // by id
	indexes map[string]qc.FieldType
}

type point struct {
	id      *qc.PointId
	dense   map[string][]float32
	sparse  map[string]map[uint32]float32
	payload map[string]*qc.Value
}

// Start runs a server on an in-memory connection for the test; dial it
// with DialOptions and Addr.
func Start(t testing.TB) *Server {
	t.Helper()
	buf := bufconn.Listen(1 << 20)
	s := newServer(buf)
	s.buf = buf
	t.Cleanup(s.Stop)
	return s
}

// StartTCP runs a server on a free loopback port, for a client in another
// process; Addr returns host:port.
func StartTCP(t testing.TB) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(lis)
	t.Cleanup(s.Stop)
	return s
}

func newServer(lis net.Listener) *Server {
	s := &Server{lis: lis, cols: map[string]*collection{}}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if s.down.Load() {
			return nil, status.Error(codes.Unavailable, "qdranttest: server is down")
		}
		return h(ctx, req)
	}))
	qc.RegisterQdrantServer(s.grpc, s)
	qc.RegisterCollectionsServer(s.grpc, collectionsService{Server: s})
	qc.RegisterPointsServer(s.grpc, pointsService{Server: s})
	go s.grpc.Serve(lis)
	return s
}

// Addr is the address to give the client: a passthrough target in memory
// (DNS would not resolve it), else the
// TCP listener's host:port.
func (s *Server) Addr() string {
	if s.buf != nil {
		return "passthrough:///bufnet:6334"
	}
	return s.lis.Addr().String()
}

// DialOptions connect a client to an in-memory server (none for TCP).
func (s *Server) DialOptions() []grpc.DialOption {
	if s.buf == nil {
		return nil
	}
	return []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.buf.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
}

// SetDown makes every call fail with codes.Unavailable, as a Qdrant that
// is down or unreachable does, until called with false.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Stop ends the server.
func (s *Server) Stop() { s.grpc.Stop() }

// HealthCheck answers like Qdrant.
func (s *Server) HealthCheck(context.Context, *qc.HealthCheckRequest) (*qc.HealthCheckReply, error) {
	return &qc.HealthCheckReply{Title: "qdrant - vector search engine (cityagent test fake)", Version: "1.17.0"}, nil
}

// --- collections ---

func (s *Server) col(name string) (*collection, error) {
	c := s.cols[name]
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

// Create makes a collection with named dense and sparse vectors.
func (s collectionsService) Create(_ context.Context, r *qc.CreateCollection) (*qc.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cols[r.GetCollectionName()] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", r.GetCollectionName())
	}
	c := &collection{dense: map[string]uint64{}, sparse: map[string]bool{}, points: map[string]*point{}, indexes: map[string]qc.FieldType{}}
	vc := r.GetVectorsConfig()
	if p := vc.GetParams(); p != nil {
		c.dense[""] = p.GetSize()
	}
	for name, p := range vc.GetParamsMap().GetMap() {
		if p.GetDistance() != qc.Distance_Cosine {
			return nil, status.Errorf(codes.Unimplemented, "qdranttest: only cosine distance")
		}
		c.dense[name] = p.GetSize()
	}
	for name, p := range r.GetSparseVectorsConfig().GetMap() {
		c.sparse[name] = p.GetModifier() == qc.Modifier_Idf
	}
	s.cols[r.GetCollectionName()] = c
	return &qc.CollectionOperationResponse{Result: true}, nil
}

// CollectionExists reports whether a collection exists.
func (s collectionsService) CollectionExists(_ context.Context, r *qc.CollectionExistsRequest) (*qc.CollectionExistsResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &qc.CollectionExistsResponse{Result: &qc.CollectionExists{Exists: s.cols[r.GetCollectionName()] != nil}}, nil
}

// List names the collections.
func (s collectionsService) List(context.Context, *qc.ListCollectionsRequest) (*qc.ListCollectionsResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := &qc.ListCollectionsResponse{}
	for _, name := range slices.Sorted(mapsKeys(s.cols)) {
		out.Collections = append(out.Collections, &qc.CollectionDescription{Name: name})
	}
	return out, nil
}

// Delete drops a collection.
func (s collectionsService) Delete(_ context.Context, r *qc.DeleteCollection) (*qc.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.cols[r.GetCollectionName()]
	delete(s.cols, r.GetCollectionName())
	return &qc.CollectionOperationResponse{Result: ok}, nil
}

// --- points ---

func idKey(id *qc.PointId) string {
	if u := id.GetUuid(); u != "" {
		return "u:" + u
	}
	return fmt.Sprintf("n:%020d", id.GetNum())
}

func opOK() *qc.PointsOperationResponse {
	return &qc.PointsOperationResponse{Result: &qc.UpdateResult{Status: qc.UpdateStatus_Completed}}
}

// CreateFieldIndex records a payload index (filters work without one, as
// in Qdrant; the store creates them for speed).
func (s pointsService) CreateFieldIndex(_ context.Context, r *qc.CreateFieldIndexCollection) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	c.indexes[r.GetFieldName()] = r.GetFieldType()
	return opOK(), nil
}

// Upsert inserts or overwrites points.
func (s pointsService) Upsert(_ context.Context, r *qc.UpsertPoints) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if err := c.upsert(r.GetPoints()); err != nil {
		return nil, err
	}
	return opOK(), nil
}

func (c *collection) upsert(ps []*qc.PointStruct) error {
	staged := make([]*point, 0, len(ps))
	for _, p := range ps {
		np := &point{id: p.GetId(), dense: map[string][]float32{}, sparse: map[string]map[uint32]float32{}, payload: p.GetPayload()}
		vs := p.GetVectors()
		named := vs.GetVectors().GetVectors()
		if v := vs.GetVector(); v != nil {
			named = map[string]*qc.Vector{"": v}
		}
		for name, v := range named {
			switch {
			case v.GetSparse() != nil:
				if _, ok := c.sparse[name]; !ok {
					return status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
				}
				sv := v.GetSparse()
				if len(sv.GetIndices()) != len(sv.GetValues()) {
					return status.Errorf(codes.InvalidArgument, "Wrong input: sparse vector indices and values differ in length")
				}
				m := map[uint32]float32{}
				for i, idx := range sv.GetIndices() {
					if _, dup := m[idx]; dup {
						return status.Errorf(codes.InvalidArgument, "Wrong input: duplicate sparse index %d", idx)
					}
					m[idx] = sv.GetValues()[i]
				}
				np.sparse[name] = m
			default:
				data := v.GetDense().GetData()
				if data == nil {
					//lint:ignore SA1019 the fake serves clients that still send the deprecated field, as Qdrant does
					data = v.GetData()
				}
				size, ok := c.dense[name]
				if !ok {
					return status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
				}
				if uint64(len(data)) != size {
					return status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", size, len(data))
				}
				np.dense[name] = slices.Clone(data)
			}
		}
		for name := range c.dense {
			if np.dense[name] == nil {
				return status.Errorf(codes.InvalidArgument, "Wrong input: missing vector %q", name)
			}
		}
		staged = append(staged, np)
	}
	for _, np := range staged {
		c.points[idKey(np.id)] = np
	}
	return nil
}

// deletePoints removes the selected points; the caller holds mu.
func (s *Server) deletePoints(c *collection, sel *qc.PointsSelector) {
	if ids := sel.GetPoints(); ids != nil {
		for _, id := range ids.GetIds() {
			delete(c.points, idKey(id))
		}
		return
	}
	f := sel.GetFilter()
	for k, p := range c.points {
		if match(f, p) {
			delete(c.points, k)
		}
	}
}

// Delete removes points by id or filter.
func (s pointsService) Delete(_ context.Context, r *qc.DeletePoints) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	s.deletePoints(c, r.GetPoints())
	return opOK(), nil
}

// UpdateBatch applies upserts and deletes in order, under one lock.
func (s pointsService) UpdateBatch(_ context.Context, r *qc.UpdateBatchPoints) (*qc.UpdateBatchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	out := &qc.UpdateBatchResponse{}
	for _, op := range r.GetOperations() {
		switch {
		case op.GetUpsert() != nil:
			if err := c.upsert(op.GetUpsert().GetPoints()); err != nil {
				return nil, err
			}
		case op.GetDeletePoints() != nil:
			s.deletePoints(c, op.GetDeletePoints().GetPoints())
		default:
			return nil, status.Errorf(codes.Unimplemented, "qdranttest: update operation %T", op.GetOperation())
		}
		out.Result = append(out.Result, &qc.UpdateResult{Status: qc.UpdateStatus_Completed})
	}
	return out, nil
}

// Count counts points matching a filter.
func (s pointsService) Count(_ context.Context, r *qc.CountPoints) (*qc.CountResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range c.points {
		if match(r.GetFilter(), p) {
			n++
		}
	}
	return &qc.CountResponse{Result: &qc.CountResult{Count: uint64(n)}}, nil
}

// Scroll pages through points matching a filter in id order.
func (s pointsService) Scroll(_ context.Context, r *qc.ScrollPoints) (*qc.ScrollResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	limit := int(cmp.Or(r.GetLimit(), 10))
	keys := slices.Sorted(mapsKeys(c.points))
	start := ""
	if r.Offset != nil {
		start = idKey(r.GetOffset())
	}
	out := &qc.ScrollResponse{}
	for _, k := range keys {
		if k < start {
			continue
		}
		p := c.points[k]
		if !match(r.GetFilter(), p) {
			continue
		}
		if len(out.Result) == limit {
			out.NextPageOffset = p.id
			break
		}
		out.Result = append(out.Result, &qc.RetrievedPoint{Id: p.id, Payload: payloadFor(p, r.GetWithPayload())})
	}
	return out, nil
}

func payloadFor(p *point, sel *qc.WithPayloadSelector) map[string]*qc.Value {
	if sel == nil || !sel.GetEnable() {
		return nil
	}
	return p.payload
}

// Query is the universal query: prefetches, then a nearest-vector query or
// a fusion of the prefetches' results.
func (s pointsService) Query(_ context.Context, r *qc.QueryPoints) (*qc.QueryResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := time.Now()
	c, err := s.col(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	limit := int(cmp.Or(r.GetLimit(), 10))
	ranked, err := c.query(r.GetPrefetch(), r.Query, r.GetUsing(), r.GetFilter(), r.ScoreThreshold, limit+int(r.GetOffset()))
	if err != nil {
		return nil, err
	}
	if off := int(r.GetOffset()); off < len(ranked) {
		ranked = ranked[off:]
	} else {
		ranked = nil
	}
	out := &qc.QueryResponse{Time: time.Since(start).Seconds()}
	for _, sp := range ranked {
		out.Result = append(out.Result, &qc.ScoredPoint{Id: sp.p.id, Score: sp.score, Payload: payloadFor(sp.p, r.GetWithPayload())})
	}
	return out, nil
}

// QueryBatch runs several queries of one collection in one call, as Qdrant
// does: each as Query would, in order.
func (s pointsService) QueryBatch(ctx context.Context, r *qc.QueryBatchPoints) (*qc.QueryBatchResponse, error) {
	start := time.Now()
	out := &qc.QueryBatchResponse{}
	for _, q := range r.GetQueryPoints() {
		if q.GetCollectionName() == "" {
			q.CollectionName = r.GetCollectionName()
		}
		res, err := s.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		out.Result = append(out.Result, &qc.BatchResult{Result: res.GetResult()})
	}
	out.Time = time.Since(start).Seconds()
	return out, nil
}

type scoredPoint struct {
	p     *point
	score float32
}

func (c *collection) query(prefetch []*qc.PrefetchQuery, q *qc.Query, using string, f *qc.Filter, threshold *float32, limit int) ([]scoredPoint, error) {
	var lists [][]scoredPoint
	for _, pf := range prefetch {
		l, err := c.query(pf.GetPrefetch(), pf.Query, pf.GetUsing(), pf.GetFilter(), pf.ScoreThreshold, int(cmp.Or(pf.GetLimit(), 10)))
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	var out []scoredPoint
	switch {
	case q == nil:
		return nil, status.Error(codes.Unimplemented, "qdranttest: a query without a query")
	case isRRF(q):
		if len(prefetch) == 0 {
			return nil, status.Error(codes.InvalidArgument, "Wrong input: fusion needs prefetches")
		}
		k := 2.0 // Qdrant's default RRF constant
		if rrf := q.GetRrf(); rrf != nil && rrf.K != nil {
			k = float64(rrf.GetK())
		}
		out = fuse(lists, k)
		out = slices.DeleteFunc(out, func(sp scoredPoint) bool { return !match(f, sp.p) })
	case q.GetNearest() != nil:
		in := q.GetNearest()
		candidates := c.points
		if len(prefetch) > 0 {
			candidates = map[string]*point{}
			for _, l := range lists {
				for _, sp := range l {
					candidates[idKey(sp.p.id)] = sp.p
				}
			}
		}
		var err error
		if out, err = c.nearest(in, using, f, candidates); err != nil {
			return nil, err
		}
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: query %T", q.GetVariant())
	}
	if threshold != nil {
		out = slices.DeleteFunc(out, func(sp scoredPoint) bool { return sp.score <= *threshold })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func isRRF(q *qc.Query) bool {
	switch v := q.GetVariant().(type) {
	case *qc.Query_Rrf:
		return true
	case *qc.Query_Fusion:
		return v.Fusion == qc.Fusion_RRF
	}
	return false
}

// nearest ranks candidates by similarity to a dense (cosine) or sparse
// (dot product, IDF-weighted when the vector has the modifier) vector.
func (c *collection) nearest(in *qc.VectorInput, using string, f *qc.Filter, candidates map[string]*point) ([]scoredPoint, error) {
	var out []scoredPoint
	switch {
	case in.GetDense() != nil:
		size, ok := c.dense[using]
		q := in.GetDense().GetData()
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", using)
		}
		if uint64(len(q)) != size {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", size, len(q))
		}
		qn := norm(q)
		for _, p := range candidates {
			if !match(f, p) {
				continue
			}
			v := p.dense[using]
			var dot float64
			for i, x := range q {
				dot += float64(x) * float64(v[i])
			}
			s := 0.0
			if n := qn * norm(v); n > 0 {
				s = dot / n
			}
			out = append(out, scoredPoint{p, float32(s)})
		}
	case in.GetSparse() != nil:
		idf, ok := c.sparse[using]
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", using)
		}
		sv := in.GetSparse()
		weights := map[uint32]float64{}
		for i, idx := range sv.GetIndices() {
			w := float64(sv.GetValues()[i])
			if idf {
				w *= c.idf(using, idx)
			}
			weights[idx] += w
		}
		for _, p := range candidates {
			if !match(f, p) {
				continue
			}
			var s float64
			hit := false
			for idx, v := range p.sparse[using] {
				if w, ok := weights[idx]; ok {
					s += w * float64(v)
					hit = true
				}
			}
			if hit {
				out = append(out, scoredPoint{p, float32(s)})
			}
		}
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: nearest %T", in.GetVariant())
	}
	sortScored(out)
	return out, nil
}

// idf is Qdrant's inverse document frequency for a sparse index:
// ln(1 + (N − n + 0.5) / (n + 0.5)) over the points that have the vector.
func (c *collection) idf(name string, idx uint32) float64 {
	var total, with float64
	for _, p := range c.points {
		sv, ok := p.sparse[name]
		if !ok {
			continue
		}
		total++
		if _, ok := sv[idx]; ok {
			with++
		}
	}
	return math.Log(1 + (total-with+0.5)/(with+0.5))
}

// fuse is reciprocal-rank fusion: Σ 1/(k + rank), rank from 1.
func fuse(lists [][]scoredPoint, k float64) []scoredPoint {
	score := map[string]float64{}
	points := map[string]*point{}
	for _, l := range lists {
		for rank, sp := range l {
			key := idKey(sp.p.id)
			score[key] += 1 / (k + float64(rank+1))
			points[key] = sp.p
		}
	}
	out := make([]scoredPoint, 0, len(score))
	for key, s := range score {
		out = append(out, scoredPoint{points[key], float32(s)})
	}
	sortScored(out)
	return out
}

func sortScored(out []scoredPoint) {
	slices.SortFunc(out, func(a, b scoredPoint) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(idKey(a.p.id), idKey(b.p.id))
	})
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// --- filters ---

// match reports whether p satisfies f (a nil filter matches everything).
func match(f *qc.Filter, p *point) bool {
	if f == nil {
		return true
	}
	for _, c := range f.GetMust() {
		if !cond(c, p) {
			return false
		}
	}
	for _, c := range f.GetMustNot() {
		if cond(c, p) {
			return false
		}
	}
	if should := f.GetShould(); len(should) > 0 {
		for _, c := range should {
			if cond(c, p) {
				return true
			}
		}
		return false
	}
	return true
}

func cond(c *qc.Condition, p *point) bool {
	switch {
	case c.GetField() != nil:
		return field(c.GetField(), p)
	case c.GetFilter() != nil:
		return match(c.GetFilter(), p)
	case c.GetIsEmpty() != nil:
		vs := lookup(p.payload, c.GetIsEmpty().GetKey())
		return len(vs) == 0 || (len(vs) == 1 && isNull(vs[0]))
	case c.GetIsNull() != nil:
		vs := lookup(p.payload, c.GetIsNull().GetKey())
		return len(vs) == 1 && isNull(vs[0])
	case c.GetHasId() != nil:
		for _, id := range c.GetHasId().GetHasId() {
			if idKey(id) == idKey(p.id) {
				return true
			}
		}
		return false
	}
	return false
}

func isNull(v *qc.Value) bool { _, ok := v.GetKind().(*qc.Value_NullValue); return ok }

// field matches any of the values at the key (arrays match elementwise).
func field(fc *qc.FieldCondition, p *point) bool {
	vs := lookup(p.payload, fc.GetKey())
	for _, v := range vs {
		if fieldValue(fc, v) {
			return true
		}
	}
	return false
}

func fieldValue(fc *qc.FieldCondition, v *qc.Value) bool {
	if m := fc.GetMatch(); m != nil {
		switch mv := m.GetMatchValue().(type) {
		case *qc.Match_Keyword:
			s, ok := v.GetKind().(*qc.Value_StringValue)
			return ok && s.StringValue == mv.Keyword
		case *qc.Match_Integer:
			i, ok := v.GetKind().(*qc.Value_IntegerValue)
			return ok && i.IntegerValue == mv.Integer
		case *qc.Match_Boolean:
			b, ok := v.GetKind().(*qc.Value_BoolValue)
			return ok && b.BoolValue == mv.Boolean
		case *qc.Match_Keywords:
			s, ok := v.GetKind().(*qc.Value_StringValue)
			return ok && slices.Contains(mv.Keywords.GetStrings(), s.StringValue)
		case *qc.Match_Text:
			s, ok := v.GetKind().(*qc.Value_StringValue)
			return ok && strings.Contains(s.StringValue, mv.Text)
		}
		return false
	}
	if r := fc.GetRange(); r != nil {
		var x float64
		switch n := v.GetKind().(type) {
		case *qc.Value_IntegerValue:
			x = float64(n.IntegerValue)
		case *qc.Value_DoubleValue:
			x = n.DoubleValue
		default:
			return false
		}
		return (r.Lt == nil || x < r.GetLt()) && (r.Gt == nil || x > r.GetGt()) &&
			(r.Lte == nil || x <= r.GetLte()) && (r.Gte == nil || x >= r.GetGte())
	}
	return false
}

// lookup returns the values at a dotted key, flattening arrays.
func lookup(payload map[string]*qc.Value, key string) []*qc.Value {
	parts := strings.Split(key, ".")
	vals := []*qc.Value{qc.NewValueFromFields(payload)}
	for _, part := range parts {
		var next []*qc.Value
		for _, v := range vals {
			for _, x := range flatten(v) {
				if f, ok := x.GetStructValue().GetFields()[part]; ok {
					next = append(next, f)
				}
			}
		}
		vals = next
	}
	var out []*qc.Value
	for _, v := range vals {
		out = append(out, flatten(v)...)
	}
	return out
}

func flatten(v *qc.Value) []*qc.Value {
	if l, ok := v.GetKind().(*qc.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	return []*qc.Value{v}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
