package pgvector_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cityagent/cityagent/internal/pglitetest"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/knowledgetest"
	"github.com/cityagent/cityagent/knowledge/pgvector"
)

var serverURL string

func TestMain(m *testing.M) { pglitetest.Main(m, func(url string) { serverURL = url }) }

func open(t *testing.T) *pgvector.Store {
	t.Helper()
	s, err := pgvector.Open(context.Background(), pgvector.Config{URL: serverURL, Dim: knowledge.DefaultHashedDim, Schema: pglitetest.NewSchema(t, serverURL)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	knowledgetest.Run(t, func(t *testing.T) knowledge.Store { return open(t) })
}

func TestDimensionMismatch(t *testing.T) {
	schema := pglitetest.NewSchema(t, serverURL)
	ctx := context.Background()
	s, err := pgvector.Open(ctx, pgvector.Config{URL: serverURL, Dim: 8, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := pgvector.Open(ctx, pgvector.Config{URL: serverURL, Dim: 16, Schema: schema}); !errors.Is(err, pgvector.ErrDimension) {
		t.Fatalf("reopen with another dimension: %v, want ErrDimension", err)
	}
}

// TestUnavailable checks that a database that is down makes every call fail
// fast with knowledge.ErrUnavailable.
func TestUnavailable(t *testing.T) {
	s := open(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	if _, err := b.Ingest(ctx, knowledge.Document{ID: "d", Collection: "c", Text: "信号配时 signal timing"}); err != nil {
		t.Fatal(err)
	}
	// A store on a port nothing listens on.
	down, err := pgvector.Open(ctx, pgvector.Config{URL: "postgres://postgres:postgres@127.0.0.1:1/postgres?sslmode=disable", Dim: knowledge.DefaultHashedDim})
	if err == nil {
		down.Close()
		t.Fatal("opened a store on a closed port")
	}
	if !errors.Is(err, knowledge.ErrUnavailable) {
		t.Fatalf("open: %v, want ErrUnavailable", err)
	}
	// The pool of a working store loses its server: close it under it.
	s.Close()
	_, err = b.Search(ctx, knowledge.Query{Collection: "c", Text: "signal"})
	if err == nil {
		t.Fatal("search on a closed pool succeeded")
	}
}
