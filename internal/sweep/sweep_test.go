package sweep

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryCallsOncePerTickUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	calls := make(chan int, 10)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		every(ctx, ticks, func(context.Context) { n++; calls <- n })
	}()
	for want := 1; want <= 3; want++ {
		ticks <- time.Time{}
		if got := <-calls; got != want {
			t.Fatalf("call %d, want %d", got, want)
		}
	}
	cancel()
	<-done
	select {
	case ticks <- time.Time{}:
		t.Fatal("the loop still receives ticks after its context ended")
	default:
	}
	if n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestStopEndsTheGoroutineAndWaits(t *testing.T) {
	before := runtime.NumGoroutine()
	var running, after atomic.Int32
	started := make(chan struct{})
	l := Go(context.Background(), func(ctx context.Context) {
		running.Add(1)
		close(started)
		<-ctx.Done()
		after.Add(1)
	})
	<-started
	l.Stop()
	if after.Load() != 1 {
		t.Fatal("Stop returned before the loop did")
	}
	l.Stop() // idempotent
	// The goroutine has returned; give the scheduler a bounded number of
	// turns to retire it rather than a wall-clock wait.
	for i := 0; i < 1000 && runtime.NumGoroutine() > before; i++ {
		runtime.Gosched()
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after Stop, %d before", g, before)
	}
}

func TestGoStopsWithParentContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	l := Go(ctx, func(ctx context.Context) {
		defer close(returned)
		Every(ctx, time.Hour, func(context.Context) { t.Error("swept before the first tick") })
	})
	cancel()
	<-returned
	l.Stop()
}
