package store

import (
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

// BenchmarkKeyByHash measures the key lookup every request makes, from the
// cache and, with the cache off, from SQLite.
// Run with: go test -run '^$' -bench KeyByHash -benchmem ./store/
func BenchmarkKeyByHash(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", keyCacheTTL}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := Open(b.Context(), "", b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.keys.ttl = bc.ttl
			k := Key{ID: "key_b", Name: "b", Role: access.RoleOperator, Clearance: access.Internal, Hash: access.HashKey("b")}
			if err := db.CreateKey(b.Context(), k); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := db.KeyByHash(b.Context(), k.Hash); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
