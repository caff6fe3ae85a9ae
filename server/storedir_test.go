package server

import (
	"testing"

	"github.com/cityagent/cityagent/internal/storetest"
)

// storeDir is a temporary data directory with a migrated, empty state store (internal/storetest).
func storeDir(t testing.TB) string { return storetest.Dir(t) }
