package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/server"
	"github.com/cityagent/cityagent/store"
)

// fullReloadEvery is how often a replica reloads the registry from the
// store even without a version change: the fallback for a bump that was
// lost (the replica that made the change died before bumping).
const fullReloadEvery = time.Minute

// startRegistrySync keeps this replica's developer tools and sources in
// step with the other replicas': a change of the registry version
// (NOTIFY on PostgreSQL, polled otherwise) reloads them from the store. The
// returned function stops it and waits.
func startRegistrySync(ctx context.Context, inst *installation, cfg config.Config, log *slog.Logger) func() {
	if inst.devtools == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	reload := func(why string) {
		rctx, done := context.WithTimeout(ctx, 30*time.Second)
		defer done()
		if err := inst.devtools.Reload(rctx); err != nil && ctx.Err() == nil {
			log.Warn("registry reload failed", "reason", why, "err", err)
		}
	}
	poll := cfg.ScaleOut.RegistryPoll
	if poll <= 0 {
		poll = config.DefaultRegistryPoll
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		inst.db.WatchRegistry(ctx, store.RegistryTools, poll, log, func(int64) { reload("version changed") })
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(fullReloadEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				reload("periodic")
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// drain stops srv the way a replica behind a load balancer should: readiness
// fails and new turns are refused at once; after drainDelay (for the
// balancer to notice) the running turns and streams get until grace ends to
// finish; then the server shuts down with what is left of grace (at least a
// second), which ends any stream still open with an error event.
func drain(srv *server.Server, drainDelay, grace time.Duration, log *slog.Logger) error {
	srv.StartDrain()
	end := time.Now().Add(drainDelay + grace)
	if drainDelay > 0 {
		time.Sleep(drainDelay)
	}
	wctx, cancel := context.WithDeadline(context.Background(), end)
	finished := srv.WaitTurns(wctx)
	cancel()
	if !finished {
		log.Warn("grace period over with turns still running; they are cancelled", "running", srv.RunningTurns())
	}
	sctx, cancel := context.WithDeadline(context.Background(), maxTime(end, time.Now().Add(time.Second)))
	defer cancel()
	return srv.Shutdown(sctx)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rateLimits builds the server's quotas and the store that counts them:
// Redis when redis_url is set (its ping joins /readyz), else the state
// store. The returned function closes what it opened.
func rateLimits(ctx context.Context, cfg config.Config, inst *installation) (server.RateStore, server.RateLimits, func(), error) {
	conv := func(l config.RateLimit) server.RateLimit {
		return server.RateLimit{RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute, ConcurrentTurns: l.ConcurrentTurns}
	}
	limits := server.RateLimits{PerKey: conv(cfg.ScaleOut.RateLimits.PerKey), PerRole: map[access.Role]server.RateLimit{}}
	for role, l := range cfg.ScaleOut.RateLimits.PerRole {
		limits.PerRole[access.Role(role)] = conv(l)
	}
	if cfg.ScaleOut.RedisURL == "" {
		return inst.db, limits, func() {}, nil
	}
	r, err := store.OpenRedisRates(ctx, cfg.ScaleOut.RedisURL)
	if err != nil {
		return nil, limits, nil, err
	}
	inst.checks = append(inst.checks, server.Check{Name: "redis", Ping: r.Ping})
	return r, limits, func() { r.Close() }, nil
}
