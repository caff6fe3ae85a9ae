package actions

import (
	"context"
	"time"

	"github.com/cityagent/cityagent/internal/sweep"
)

// SweepLease is the name of the lease the periodic sweep runs under.
const SweepLease = "actions.sweep"

// Acquirer takes or renews a lease for this replica until now+ttl and
// reports whether it holds it (store.DB.AcquireLease with the lease name
// and this replica's holder id bound).
type Acquirer func(ctx context.Context, now time.Time, ttl time.Duration) (bool, error)

// RunLeased is Run for several replicas: every interval it sweeps only if
// it holds the sweep lease, which it renews each time, so exactly one
// replica expires proposals and takes over dead executions; when that
// replica dies another takes the lease over once it expires (three
// intervals). Executions stay safe without the lease (each is claimed in
// the store); the lease keeps the replicas from doing the same scan.
func (s *Service) RunLeased(ctx context.Context, interval time.Duration, acquire Acquirer) {
	sweep.Every(ctx, interval, func(ctx context.Context) {
		ok, err := acquire(ctx, s.now(), 3*interval)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("proposal sweep lease not acquired", "err", err)
			}
			return
		}
		if ok {
			s.sweepAndLog(ctx)
		}
	})
}
