package main

import (
	"testing"

	"github.com/cityagent/cityagent/internal/storetest"
)

// storeDir is a temporary data directory with a migrated, empty state store (internal/storetest).
func storeDir(t testing.TB) string { return storetest.Dir(t) }

// seedStore puts a migrated, empty state store into dataDir unless it has one (internal/storetest).
func seedStore(t testing.TB, dataDir string) { storetest.Seed(t, dataDir) }
