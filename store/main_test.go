package store

import (
	"testing"

	"github.com/cityagent/cityagent/internal/pgtest"
)

// sharedPG is one PostgreSQL server for the package's tests (each test its
// own database).
var sharedPG pgtest.Shared

// postgresURL is the shared server's URL.
func postgresURL(t testing.TB) string {
	t.Helper()
	return sharedPG.URL(t)
}

func TestMain(m *testing.M) { pgtest.RunShared(m, &sharedPG) }
