package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// leaseConformance covers leases on every backend (run by TestConformance).
var leaseConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"lease: one holder until it expires, then a takeover with a new token", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if _, err := db.GetLease(ctx, "monitor:x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetLease before any acquire: %v", err)
		}
		a, ok, err := db.AcquireLease(ctx, "monitor:x", "replica-a", t0, time.Minute)
		if err != nil || !ok || a.Holder != "replica-a" || a.Token != 1 || !a.ExpiresAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("first acquire = %+v, %v, %v", a, ok, err)
		}
		b, ok, err := db.AcquireLease(ctx, "monitor:x", "replica-b", t0.Add(30*time.Second), time.Minute)
		if err != nil || ok || b.Holder != "replica-a" {
			t.Fatalf("acquire of a held lease = %+v, %v, %v", b, ok, err)
		}
		a, ok, err = db.AcquireLease(ctx, "monitor:x", "replica-a", t0.Add(50*time.Second), time.Minute)
		if err != nil || !ok || a.Token != 1 || !a.ExpiresAt.Equal(t0.Add(110*time.Second)) {
			t.Fatalf("renewal = %+v, %v, %v", a, ok, err)
		}
		b, ok, err = db.AcquireLease(ctx, "monitor:x", "replica-b", t0.Add(111*time.Second), time.Minute)
		if err != nil || !ok || b.Holder != "replica-b" || b.Token != 2 {
			t.Fatalf("takeover after expiry = %+v, %v, %v", b, ok, err)
		}
		if _, ok, _ := db.AcquireLease(ctx, "monitor:x", "replica-a", t0.Add(112*time.Second), time.Minute); ok {
			t.Fatal("the old holder renewed a lease it lost")
		}
		if err := db.ReleaseLease(ctx, "monitor:x", "replica-a"); err != nil {
			t.Fatal(err)
		}
		if l, _ := db.GetLease(ctx, "monitor:x"); l.Holder != "replica-b" || l.ExpiresAt.Before(t0.Add(112*time.Second)) {
			t.Fatalf("a release by the old holder changed the lease: %+v", l)
		}
		if err := db.ReleaseLease(ctx, "monitor:x", "replica-b"); err != nil {
			t.Fatal(err)
		}
		a, ok, err = db.AcquireLease(ctx, "monitor:x", "replica-a", t0.Add(113*time.Second), time.Minute)
		if err != nil || !ok || a.Token != 3 {
			t.Fatalf("acquire after release = %+v, %v, %v", a, ok, err)
		}
		if _, _, err := db.AcquireLease(ctx, "", "replica-a", t0, time.Minute); err == nil {
			t.Error("a lease without a name was taken")
		}
	}},
	{"lease: of many racing replicas exactly one wins", func(t *testing.T, tg target) {
		db := tg.open(t)
		other := tg.open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		for i := range 16 {
			wg.Go(func() {
				conn := db
				if i%2 == 1 {
					conn = other
				}
				holder := fmt.Sprintf("replica-%d", i)
				_, ok, err := conn.AcquireLease(t.Context(), "sweep", holder, t0, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, holder)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners = %v, want exactly one", winners)
		}
		if l, err := db.GetLease(t.Context(), "sweep"); err != nil || l.Holder != winners[0] {
			t.Fatalf("GetLease = %+v, %v; winner %s", l, err, winners[0])
		}
	}},
}
