package qdrant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/knowledgetest"
	"github.com/cityagent/cityagent/knowledge/qdrant"
	"github.com/cityagent/cityagent/knowledge/qdrant/qdranttest"
)

func open(t *testing.T, srv *qdranttest.Server) *qdrant.Store {
	t.Helper()
	s, err := qdrant.Open(context.Background(), qdrant.Config{Addr: srv.Addr(), Dim: knowledge.DefaultHashedDim, GRPCOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	knowledgetest.Run(t, func(t *testing.T) knowledge.Store { return open(t, qdranttest.Start(t)) })
}

// TestConformanceTCP runs the client over a real loopback connection, as
// cityagent talks to Qdrant.
func TestConformanceTCP(t *testing.T) {
	srv := qdranttest.StartTCP(t)
	s := open(t, srv)
	b, _ := knowledgetest.Loaded(t, func(*testing.T) knowledge.Store { return s })
	hits, err := b.Search(context.Background(), knowledge.Query{Collection: knowledgetest.Collection, Text: "信号配时调整审批"})
	if err != nil || len(hits) == 0 || hits[0].DocID != "signals" {
		t.Fatalf("search over TCP: %v, %v", hits, err)
	}
}

func TestUnavailable(t *testing.T) {
	srv := qdranttest.Start(t)
	s := open(t, srv)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	if _, err := b.Ingest(ctx, knowledge.Document{ID: "d", Collection: "c", Text: "信号配时 signal timing"}); err != nil {
		t.Fatal(err)
	}
	srv.SetDown(true)
	// No deadline on ctx: a store that waited for Qdrant would hang here
	// rather than answer ErrUnavailable (how fast is for benchmarks).
	_, err := b.Search(ctx, knowledge.Query{Collection: "c", Text: "signal"})
	if !errors.Is(err, knowledge.ErrUnavailable) {
		t.Fatalf("search with Qdrant down: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, knowledge.ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
	srv.SetDown(false)
	if _, err := b.Search(ctx, knowledge.Query{Collection: "c", Text: "signal"}); err != nil {
		t.Fatalf("search after recovery: %v", err)
	}
}

func TestPrefixSeparatesInstallations(t *testing.T) {
	srv := qdranttest.Start(t)
	ctx := context.Background()
	a, err := qdrant.Open(ctx, qdrant.Config{Addr: srv.Addr(), Dim: 8, Prefix: "a_", GRPCOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateCollection(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	other := open(t, srv)
	cols, err := other.Collections(ctx)
	if err != nil || len(cols) != 0 {
		t.Fatalf("another prefix sees %v, %v", cols, err)
	}
}
