// Package sweep runs periodic maintenance (expiring proposals, ticket
// deadlines) on a ticker, in a goroutine with one owner who stops it.
package sweep

import (
	"context"
	"sync"
	"time"
)

// Every calls fn once per interval until ctx ends, then returns. Ticks that
// come while fn runs are dropped, so calls never overlap or pile up.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	every(ctx, t.C, fn)
}

func every(ctx context.Context, ticks <-chan time.Time, fn func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if ctx.Err() != nil {
				return
			}
			fn(ctx)
		}
	}
}

// Loop is a function running in a goroutine it owns; Stop ends it.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Go runs run(ctx) in a new goroutine. The context it gets ends when ctx
// does or when Stop is called; run must return soon after.
func Go(ctx context.Context, run func(context.Context)) *Loop {
	ctx, cancel := context.WithCancel(ctx)
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		run(ctx)
	}()
	return l
}

// Stop cancels the loop and waits for it to return. It is safe to call more
// than once and from several goroutines.
func (l *Loop) Stop() {
	l.once.Do(l.cancel)
	<-l.done
}
