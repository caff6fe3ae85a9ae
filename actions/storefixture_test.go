package actions

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cityagent/cityagent/store"
)

// migratedStore is the embedded store's files right after the migrations,
// made once per test binary. Migrating a fresh SQLite file costs seconds
// under -race and every test here starts from the same empty schema, so
// openDB copies these files into a new data directory instead. The
// migrations on a fresh file are store's own tests' business; store.Open
// still runs the migrator (finding nothing to apply) on every copy.
var migratedStore = sync.OnceValues(func() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "actions-store-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(context.Background(), "", dir)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), store.SQLiteFile) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = b
	}
	if files[store.SQLiteFile] == nil {
		return nil, errors.New("migrated store: no " + store.SQLiteFile)
	}
	return files, nil
})

// seedStore gives dir a freshly migrated embedded store unless it already
// holds one (a reopen after a simulated restart).
func seedStore(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, store.SQLiteFile)); !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	files, err := migratedStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// SeedStoreForTest is seedStore for the external test package.
func SeedStoreForTest(t testing.TB, dir string) { seedStore(t, dir) }
