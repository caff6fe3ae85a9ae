package main

import (
	"sync"
	"testing"

	"github.com/cityagent/cityagent/internal/pgtest"
)

// sharedPG is one PostgreSQL server for the package's tests, started by
// the first test that needs it (a run that selects none starts none) and
// stopped by TestMain. Each test still gets a database of its own
// (pgtest.NewDatabase), so sharing the server shares no state; it saves
// an initdb and a server start per test.
var sharedPG struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

// postgresURL is the shared server's URL.
func postgresURL(t testing.TB) string {
	t.Helper()
	sharedPG.once.Do(func() { sharedPG.srv, sharedPG.err = pgtest.NewServer() })
	if sharedPG.err != nil {
		t.Fatal(sharedPG.err)
	}
	return sharedPG.srv.URL()
}

// stopSharedPG stops the shared server if a test started it.
func stopSharedPG() error {
	if sharedPG.srv == nil {
		return nil
	}
	return sharedPG.srv.Stop()
}
