package pglitetest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestServerHasPgvector(t *testing.T) {
	url := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		t.Fatal(err)
	}
	var version string
	if err := conn.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'vector'").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < "0.8" {
		t.Fatalf("pgvector %s, want ≥ 0.8 (iterative index scans)", version)
	}
	schema := NewSchema(t, url)
	if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+".v (e vector(3))"); err != nil {
		t.Fatal(err)
	}
}
