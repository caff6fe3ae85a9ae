package evals

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/store"
)

// storeTemplate is an empty SQLite state store with every migration
// applied, made once per test binary. Under -race, opening a new store
// (every migration) took 0.41 s of CPU and opening a copy of this file
// 0.026 s (BenchmarkOpen-style loop over store.Open, 2-core machine).
var storeTemplate = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "store-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil { // the last close checkpoints the WAL into the file
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, store.SQLiteFile))
})

// storeDir is a new temporary data directory holding a fresh copy of the
// migrated, empty state store: store.Open on it gives the test a store of
// its own, as on an empty directory, without running the migrations again.
func storeDir(t testing.TB) string {
	t.Helper()
	data, err := storeTemplate()
	if err != nil {
		t.Fatalf("state store template: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.SQLiteFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
