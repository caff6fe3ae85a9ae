// Package pgvector is the PostgreSQL knowledge store: chunks with their
// embeddings in a pgvector column under an HNSW index, and the lexical side
// in PostgreSQL too — a term table filled with knowledge.Tokens, scored by
// BM25 in SQL. PostgreSQL's own text search cannot segment Chinese, so the
// terms are made client-side, exactly as the embedded store makes them, and
// both backends rank alike.
//
// Filtered vector queries use pgvector's iterative index scans
// (hnsw.iterative_scan = relaxed_order, pgvector ≥ 0.8), so that a filter on
// clearance, metadata or validity still returns k rows; the rows are
// re-sorted by distance in Go.
package pgvector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgv "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// Config says where the store lives.
type Config struct {
	URL string // postgres://…
	Dim int    // embedding dimensions; the table is made for it
	// Schema holds the tables (created if missing); default: the
	// connection's search path, normally public. Names are qualified in
	// every statement rather than set on the search path.
	Schema string
	// EfSearch is the HNSW beam width (hnsw.ef_search; default 64).
	EfSearch int
	// ConnectTimeout bounds each connection attempt (default 3 s), so that
	// a database that is down fails requests fast.
	ConnectTimeout time.Duration
	MaxConns       int32 // default 8
}

// Store is a knowledge.Store on PostgreSQL with pgvector.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
	sql  *strings.Replacer // {collections}, {documents}, {chunks}, {terms} → table names
	// Statements with the table names filled in.
	bm25 string
}

var (
	_ knowledge.Store             = (*Store)(nil)
	_ knowledge.Catalog           = (*Store)(nil)
	_ knowledge.CollectionCreator = (*Store)(nil)
	_ knowledge.Pinger            = (*Store)(nil)
	_ knowledge.CollectionChecker = (*Store)(nil)
)

// ErrDimension is returned by Open when the tables were made for vectors of
// another dimension (another embedder).
var ErrDimension = errors.New("pgvector: table holds vectors of another dimension")

// BM25 parameters, as in the embedded store.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	maxTF  = 255 // the embedded store saturates term frequencies here
)

// Open connects, creates the vector extension and the tables if needed,
// and checks that they hold vectors of cfg.Dim dimensions.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Dim <= 0 || cfg.Dim > 2000 {
		return nil, fmt.Errorf("pgvector: dimension %d out of range (1–2000, the HNSW limit)", cfg.Dim)
	}
	cfg.EfSearch = cmp.Or(cfg.EfSearch, 64)
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 3*time.Second)
	cfg.MaxConns = cmp.Or(cfg.MaxConns, 8)
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgvector: %w", err)
	}
	// What the URL says (connect_timeout, pool_max_conns) wins over the defaults.
	if !strings.Contains(cfg.URL, "connect_timeout=") {
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	if !strings.Contains(cfg.URL, "pool_max_conns=") {
		pc.MaxConns = cfg.MaxConns
	}
	// The extension must exist before the vector type can be registered on
	// each new connection.
	if err := createExtension(ctx, pc.ConnConfig.Copy()); err != nil {
		return nil, err
	}
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error { return pgxvec.RegisterTypes(ctx, conn) }
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgvector: %w", classify(err))
	}
	s := &Store{pool: pool, cfg: cfg}
	table := func(name string) string {
		if cfg.Schema == "" {
			return name
		}
		return pgx.Identifier{cfg.Schema, name}.Sanitize()
	}
	s.sql = strings.NewReplacer("{collections}", table("kb_collections"), "{documents}", table("kb_documents"),
		"{chunks}", table("kb_chunks"), "{terms}", table("kb_terms"), "{schema}", pgx.Identifier{cmp.Or(cfg.Schema, "public")}.Sanitize())
	s.bm25 = s.sql.Replace(bm25Query)
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func createExtension(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("pgvector: connect: %w", classify(err))
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"); err != nil {
		return fmt.Errorf("pgvector: create extension vector: %w", classify(err))
	}
	return nil
}

// schema is the store's DDL; %d is the dimension.
const schema = `
CREATE TABLE IF NOT EXISTS {collections} (
	name       text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {documents} (
	collection text NOT NULL REFERENCES {collections} (name),
	id         text NOT NULL,
	doc        jsonb NOT NULL,
	chunks     integer NOT NULL,
	PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS {chunks} (
	collection   text NOT NULL,
	doc_id       text NOT NULL,
	ordinal      integer NOT NULL,
	chunk_id     text NOT NULL,
	title        text NOT NULL,
	heading_path text[] NOT NULL,
	source       text NOT NULL,
	body         text NOT NULL,
	clearance    smallint NOT NULL,
	metadata     jsonb NOT NULL,
	effective    timestamptz,
	expires      timestamptz,
	length       integer NOT NULL,
	embedding    vector(%d) NOT NULL,
	PRIMARY KEY (collection, doc_id, ordinal),
	FOREIGN KEY (collection, doc_id) REFERENCES {documents} (collection, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS kb_chunks_embedding ON {chunks} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX IF NOT EXISTS kb_chunks_metadata ON {chunks} USING gin (metadata jsonb_path_ops);
CREATE TABLE IF NOT EXISTS {terms} (
	collection text NOT NULL,
	doc_id     text NOT NULL,
	ordinal    integer NOT NULL,
	term       text NOT NULL,
	tf         integer NOT NULL,
	FOREIGN KEY (collection, doc_id, ordinal) REFERENCES {chunks} (collection, doc_id, ordinal) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS kb_terms_term ON {terms} (collection, term);
CREATE INDEX IF NOT EXISTS kb_terms_chunk ON {terms} (collection, doc_id, ordinal);
`

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, s.sql.Replace(fmt.Sprintf(schema, s.cfg.Dim))); err != nil {
		return fmt.Errorf("pgvector: create tables: %w", classify(err))
	}
	var typmod int
	err := s.pool.QueryRow(ctx, s.q(`SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`),
		s.sql.Replace("{chunks}")).Scan(&typmod)
	if err != nil {
		return fmt.Errorf("pgvector: check dimension: %w", classify(err))
	}
	if typmod != s.cfg.Dim {
		return fmt.Errorf("%w: %d, the embedder makes %d (use another schema or re-create the tables)", ErrDimension, typmod, s.cfg.Dim)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgvector: ping: %w", classify(err))
	}
	return nil
}

// classify marks errors that mean the database cannot be reached with
// knowledge.ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		if strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P03" { // connection exceptions, shutdown
			return fmt.Errorf("%w: %w", knowledge.ErrUnavailable, err)
		}
		return err
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return fmt.Errorf("%w: %w", knowledge.ErrUnavailable, err)
	}
	return err
}

// storedDoc is a document as kept in kb_documents.doc.
type storedDoc struct {
	Title     string            `json:"title"`
	Source    string            `json:"source"`
	Clearance access.Clearance  `json:"clearance"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Effective *time.Time        `json:"effective,omitempty"`
	Expires   *time.Time        `json:"expires,omitempty"`
	Hash      string            `json:"hash,omitempty"`
}

// Put replaces the document's chunks in one transaction.
func (s *Store) Put(ctx context.Context, doc knowledge.Document, chunks []knowledge.Chunk, vectors [][]float32) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("pgvector: put %s/%s: %s: %w", doc.Collection, doc.ID, fmt.Sprintf(format, args...), knowledge.ErrInvalid)
	}
	if doc.ID == "" || doc.Collection == "" {
		return bad("document id and collection are required")
	}
	if len(chunks) == 0 {
		return fmt.Errorf("pgvector: put %s/%s: no chunks: %w", doc.Collection, doc.ID, knowledge.ErrEmptyDocument)
	}
	if len(vectors) != len(chunks) {
		return bad("%d vectors for %d chunks", len(vectors), len(chunks))
	}
	dc, err := access.ParseClearance(string(doc.Clearance))
	if err != nil {
		return fmt.Errorf("pgvector: put %s/%s: %w", doc.Collection, doc.ID, err)
	}
	type row struct {
		c     knowledge.Chunk
		level int
		vec   pgv.Vector
		terms []string
		tfs   []int32
		n     int
	}
	rows := make([]row, len(chunks))
	ids := map[string]bool{}
	ordinals := map[int]bool{}
	for i, c := range chunks {
		if c.ID == "" || ids[c.ID] || ordinals[c.Ordinal] {
			return bad("chunk %d: missing or repeated id or ordinal", i)
		}
		ids[c.ID], ordinals[c.Ordinal] = true, true
		if c.DocID != doc.ID || c.Collection != doc.Collection {
			return bad("chunk %s belongs to %s/%s", c.ID, c.Collection, c.DocID)
		}
		cc, err := access.ParseClearance(string(c.Clearance))
		if err != nil {
			return fmt.Errorf("pgvector: put %s/%s: chunk %s: %w", doc.Collection, doc.ID, c.ID, err)
		}
		if cc.Rank() < dc.Rank() {
			cc = dc
		}
		if len(vectors[i]) != s.cfg.Dim {
			return bad("chunk %s: vector of %d dimensions, want %d", c.ID, len(vectors[i]), s.cfg.Dim)
		}
		v, ok := unit(vectors[i])
		if !ok {
			return bad("chunk %s: vector is not finite", c.ID)
		}
		tokens := knowledge.Tokens(knowledge.IndexText(c))
		freq := map[string]int32{}
		var terms []string
		for _, t := range tokens {
			if freq[t] == 0 {
				terms = append(terms, t)
			}
			freq[t]++
		}
		tfs := make([]int32, len(terms))
		for j, t := range terms {
			tfs[j] = min(freq[t], maxTF)
		}
		c.Clearance = cc
		rows[i] = row{c: c, level: cc.Rank(), vec: pgv.NewVector(v), terms: terms, tfs: tfs, n: len(tokens)}
	}
	js, err := json.Marshal(storedDoc{Title: doc.Title, Source: doc.Source, Clearance: dc, Metadata: doc.Metadata,
		Effective: doc.Effective, Expires: doc.Expires, Hash: doc.Hash})
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.q(`INSERT INTO {collections} (name) VALUES ($1) ON CONFLICT DO NOTHING`), doc.Collection); err != nil {
			return err
		}
		// Lock the document's key so that concurrent replacements of one
		// document queue rather than collide.
		if _, err := tx.Exec(ctx, s.q(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`), doc.Collection+"/"+doc.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(`DELETE FROM {documents} WHERE collection = $1 AND id = $2`), doc.Collection, doc.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(`INSERT INTO {documents} (collection, id, doc, chunks) VALUES ($1, $2, $3::jsonb, $4)`),
			doc.Collection, doc.ID, string(js), len(chunks)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, r := range rows {
			meta, _ := json.Marshal(orEmpty(r.c.Metadata))
			heading := r.c.HeadingPath
			if heading == nil {
				heading = []string{}
			}
			b.Queue(s.q(`INSERT INTO {chunks} (collection, doc_id, ordinal, chunk_id, title, heading_path, source, body, clearance, metadata, effective, expires, length, embedding)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)`),
				doc.Collection, doc.ID, r.c.Ordinal, r.c.ID, r.c.Title, heading, r.c.Source, r.c.Text, r.level, string(meta), r.c.Effective, r.c.Expires, r.n, r.vec)
			b.Queue(s.q(`INSERT INTO {terms} (collection, doc_id, ordinal, term, tf) SELECT $1, $2, $3, t, f FROM unnest($4::text[], $5::int[]) AS x(t, f)`),
				doc.Collection, doc.ID, r.c.Ordinal, r.terms, r.tfs)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("pgvector: put %s/%s: %w", doc.Collection, doc.ID, classify(err))
	}
	return nil
}

// q fills the table names into a statement.
func (s *Store) q(sql string) string { return s.sql.Replace(sql) }

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// unit returns v scaled to unit length; false for NaN or infinite values.
func unit(v []float32) ([]float32, bool) {
	var sum float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, false
		}
		sum += float64(x) * float64(x)
	}
	out := slices.Clone(v)
	if sum == 0 {
		return out, true
	}
	inv := 1 / math.Sqrt(sum)
	for i := range out {
		out[i] = float32(float64(out[i]) * inv)
	}
	return out, true
}

// Delete removes a document and its chunks.
func (s *Store) Delete(ctx context.Context, collection, id string) error {
	tag, err := s.pool.Exec(ctx, s.q(`DELETE FROM {documents} WHERE collection = $1 AND id = $2`), collection, id)
	if err != nil {
		return fmt.Errorf("pgvector: delete %s/%s: %w", collection, id, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgvector: delete %s/%s: %w", collection, id, knowledge.ErrNotFound)
	}
	return nil
}

// HasCollection reports whether the collection exists.
func (s *Store) HasCollection(ctx context.Context, name string) (bool, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {collections} WHERE name = $1)`), name).Scan(&exists); err != nil {
		return false, fmt.Errorf("pgvector: collection %s: %w", name, classify(err))
	}
	return exists, nil
}

// CreateCollection makes an empty collection.
func (s *Store) CreateCollection(ctx context.Context, name string) (bool, error) {
	if err := knowledge.CheckCollectionName(name); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, s.q(`INSERT INTO {collections} (name) VALUES ($1) ON CONFLICT DO NOTHING`), name)
	if err != nil {
		return false, fmt.Errorf("pgvector: create collection %s: %w", name, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// filterClause is the WHERE clause every ranker shares: collection ($1),
// clearance ($2), validity at $3 and the metadata filter ($4, a JSON object
// the chunk's metadata must contain).
const filterClause = `c.collection = $1 AND c.clearance <= $2
	AND (c.effective IS NULL OR c.effective <= $3) AND (c.expires IS NULL OR c.expires > $3)
	AND c.metadata @> $4::jsonb`

// Search fuses HNSW cosine ranking with BM25 over the term table by
// knowledge.Fuse (as every store does); chunks the query does not allow are filtered in SQL,
// so they cannot displace readable ones. Dense candidates with cosine ≤ 0
// are left out, as in the embedded store.
func (s *Store) Search(ctx context.Context, q knowledge.Query, vector []float32) ([]knowledge.Hit, error) {
	c, err := access.ParseClearance(string(q.Clearance))
	if err != nil {
		return nil, fmt.Errorf("pgvector: search %s: %w", q.Collection, err)
	}
	if q.At.IsZero() {
		q.At = time.Now()
	}
	k := min(cmp.Or(max(q.K, 0), knowledge.DefaultK), 1000)
	n := max(2*k, 20)
	filter, err := json.Marshal(orEmpty(q.Filter))
	if err != nil {
		return nil, err
	}
	args := []any{q.Collection, c.Rank(), q.At, string(filter)}
	var dense, lex []knowledge.Hit
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(vector) > 0 {
			if len(vector) != s.cfg.Dim {
				return fmt.Errorf("query vector of %d dimensions, want %d: %w", len(vector), s.cfg.Dim, knowledge.ErrInvalid)
			}
			v, ok := unit(vector)
			if !ok {
				return fmt.Errorf("query vector is not finite: %w", knowledge.ErrInvalid)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL hnsw.ef_search = %d`, min(max(s.cfg.EfSearch, n), 1000))); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.q(`SET LOCAL hnsw.iterative_scan = relaxed_order`)); err != nil {
				return err
			}
			if dense, err = rank(ctx, tx, s.q(`SELECT c.doc_id, c.ordinal, c.chunk_id, 1 - (c.embedding <=> $5) AS score
				FROM {chunks} c WHERE `+filterClause+` ORDER BY c.embedding <=> $5 LIMIT $6`),
				append(args, pgv.NewVector(v), n)...); err != nil {
				return err
			}
			// relaxed_order may return rows slightly out of order.
			slices.SortStableFunc(dense, func(a, b knowledge.Hit) int { return cmp.Compare(b.Score, a.Score) })
			dense = slices.DeleteFunc(dense, func(h knowledge.Hit) bool { return h.Score <= 0 })
		}
		terms := distinct(knowledge.Tokens(q.Text))
		if len(terms) > 0 {
			if lex, err = rank(ctx, tx, s.bm25, append(args, terms, n)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgvector: search %s: %w", q.Collection, classify(err))
	}
	for i := range dense {
		dense[i].Collection = q.Collection
	}
	for i := range lex {
		lex[i].Collection = q.Collection
	}
	hits := knowledge.Fuse(dense, lex)
	if len(hits) > k {
		hits = hits[:k]
	}
	if len(hits) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {collections} WHERE name = $1)`), q.Collection).Scan(&exists); err != nil {
			return nil, fmt.Errorf("pgvector: search %s: %w", q.Collection, classify(err))
		}
		if !exists {
			return nil, fmt.Errorf("pgvector: search %q: %w", q.Collection, knowledge.ErrUnknownCollection)
		}
		return nil, nil
	}
	if err := s.fill(ctx, q.Collection, hits); err != nil {
		return nil, err
	}
	return hits, nil
}

// bm25Query scores the chunks that hold any of the terms ($5) by BM25, with
// document frequencies, chunk count and average length over the chunks the
// caller's clearance covers (the embedded store's statistics), and returns
// the best $6.
var bm25Query = fmt.Sprintf(`
WITH stats AS (
	SELECT count(*)::float8 AS n, nullif(avg(length), 0)::float8 AS avgdl
	FROM {chunks} c WHERE c.collection = $1 AND c.clearance <= $2
), df AS (
	SELECT t.term, count(*)::float8 AS df
	FROM {terms} t JOIN {chunks} c USING (collection, doc_id, ordinal)
	WHERE t.collection = $1 AND t.term = ANY ($5::text[]) AND c.clearance <= $2
	GROUP BY t.term
)
SELECT c.doc_id, c.ordinal, c.chunk_id,
	sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * t.tf * (%[1]g + 1) /
		(t.tf + %[1]g * (1 - %[2]g + %[2]g * c.length / s.avgdl))) AS score
FROM {terms} t
JOIN df USING (term)
JOIN {chunks} c USING (collection, doc_id, ordinal)
CROSS JOIN stats s
WHERE t.collection = $1 AND t.term = ANY ($5::text[]) AND %[3]s
GROUP BY c.doc_id, c.ordinal, c.chunk_id
HAVING sum(t.tf) > 0
ORDER BY score DESC, c.doc_id, c.ordinal
LIMIT $6`, bm25K1, bm25B, filterClause)

func rank(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]knowledge.Hit, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var out []knowledge.Hit
	for rows.Next() {
		var h knowledge.Hit
		if err := rows.Scan(&h.DocID, &h.Ordinal, &h.ID, &h.Score); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func distinct(terms []string) []string {
	seen := map[string]bool{}
	out := terms[:0:0]
	for _, t := range terms {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// fill reads the fields of the hits kept.
func (s *Store) fill(ctx context.Context, collection string, hits []knowledge.Hit) error {
	docs := make([]string, len(hits))
	ords := make([]int32, len(hits))
	at := map[string]int{}
	for i, h := range hits {
		docs[i], ords[i] = h.DocID, int32(h.Ordinal)
		at[h.DocID+"\x00"+fmt.Sprint(h.Ordinal)] = i
	}
	rows, err := s.pool.Query(ctx, s.q(`SELECT c.doc_id, c.ordinal, c.title, c.heading_path, c.source, c.body, c.clearance, c.metadata, c.effective, c.expires
		FROM {chunks} c JOIN unnest($2::text[], $3::int[]) AS k(doc_id, ordinal) USING (doc_id, ordinal)
		WHERE c.collection = $1`), collection, docs, ords)
	if err != nil {
		return fmt.Errorf("pgvector: search %s: %w", collection, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			docID, title, source, body string
			ordinal                    int
			heading                    []string
			level                      int16
			meta                       map[string]string
			effective, expires         *time.Time
		)
		if err := rows.Scan(&docID, &ordinal, &title, &heading, &source, &body, &level, &meta, &effective, &expires); err != nil {
			return fmt.Errorf("pgvector: search %s: %w", collection, err)
		}
		i, ok := at[docID+"\x00"+fmt.Sprint(ordinal)]
		if !ok || int(level) >= len(access.Clearances) {
			continue
		}
		h := &hits[i]
		h.Title, h.Source, h.Text = title, source, body
		if len(heading) > 0 {
			h.HeadingPath = heading
		}
		h.Clearance = access.Clearances[level]
		if len(meta) > 0 {
			h.Metadata = meta
		}
		h.Effective, h.Expires = effective, expires
	}
	return classify(rows.Err())
}

// Collections lists the collections, by name.
func (s *Store) Collections(ctx context.Context) ([]knowledge.CollectionInfo, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT k.name, count(d.id), coalesce(sum(d.chunks), 0)
		FROM {collections} k LEFT JOIN {documents} d ON d.collection = k.name
		GROUP BY k.name ORDER BY k.name`))
	if err != nil {
		return nil, fmt.Errorf("pgvector: collections: %w", classify(err))
	}
	defer rows.Close()
	var out []knowledge.CollectionInfo
	for rows.Next() {
		var c knowledge.CollectionInfo
		if err := rows.Scan(&c.Name, &c.Documents, &c.Chunks); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// Documents lists a collection's documents by id, without their text.
func (s *Store) Documents(ctx context.Context, collection string) ([]knowledge.Document, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT id, doc, chunks FROM {documents} WHERE collection = $1 ORDER BY id`), collection)
	if err != nil {
		return nil, fmt.Errorf("pgvector: documents %s: %w", collection, classify(err))
	}
	defer rows.Close()
	var out []knowledge.Document
	for rows.Next() {
		d, err := scanDoc(collection, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	if len(out) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {collections} WHERE name = $1)`), collection).Scan(&exists); err != nil {
			return nil, classify(err)
		}
		if !exists {
			return nil, fmt.Errorf("pgvector: documents %q: %w", collection, knowledge.ErrUnknownCollection)
		}
	}
	return out, nil
}

// Document returns one document without its text.
func (s *Store) Document(ctx context.Context, collection, id string) (knowledge.Document, error) {
	row := s.pool.QueryRow(ctx, s.q(`SELECT id, doc, chunks FROM {documents} WHERE collection = $1 AND id = $2`), collection, id)
	d, err := scanDoc(collection, row)
	if errors.Is(err, pgx.ErrNoRows) {
		return knowledge.Document{}, fmt.Errorf("pgvector: document %s/%s: %w", collection, id, knowledge.ErrNotFound)
	}
	if err != nil {
		return knowledge.Document{}, fmt.Errorf("pgvector: document %s/%s: %w", collection, id, classify(err))
	}
	return d, nil
}

func scanDoc(collection string, row pgx.Row) (knowledge.Document, error) {
	var (
		id     string
		js     []byte
		chunks int
		sd     storedDoc
	)
	if err := row.Scan(&id, &js, &chunks); err != nil {
		return knowledge.Document{}, err
	}
	if err := json.Unmarshal(js, &sd); err != nil {
		return knowledge.Document{}, err
	}
	return knowledge.Document{ID: id, Collection: collection, Title: sd.Title, Source: sd.Source, Clearance: sd.Clearance,
		Metadata: maps.Clone(sd.Metadata), Effective: sd.Effective, Expires: sd.Expires, Hash: sd.Hash, Chunks: chunks}, nil
}
