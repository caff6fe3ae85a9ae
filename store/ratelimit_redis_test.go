package store

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startRedis runs Debian's redis-server on a free loopback port in a
// temporary directory, without persistence, for the test, and returns its
// URL. A missing binary fails the test (scripts/test-deps.sh installs it).
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server; scripts/test-deps.sh does): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	for i := 0; ; i++ {
		r, err := OpenRedisRates(t.Context(), url)
		if err == nil {
			r.Close()
			return url
		}
		select {
		case <-exited:
			t.Fatalf("redis-server exited: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 400 {
			t.Fatalf("redis-server did not answer: %v\n%s", err, out.String())
		}
	}
}

// TestRedisRates runs the rate counters and turn slots on a real Redis,
// from two connections as two replicas would.
func TestRedisRates(t *testing.T) {
	t.Parallel()
	url := startRedis(t)
	open := func() *RedisRates {
		r, err := OpenRedisRates(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a, b := open(), open()
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Counters: concurrent adds lose nothing; the next window starts at 0.
	now := time.Now().Truncate(time.Minute).Add(10 * time.Second)
	var wg sync.WaitGroup
	for i := range 50 {
		r := []*RedisRates{a, b}[i%2]
		wg.Go(func() {
			if _, _, err := r.AddRate(ctx, "req:key:k1", 1, time.Minute, now); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	total, end, err := a.AddRate(ctx, "req:key:k1", 0, time.Minute, now)
	if err != nil || total != 50 || !end.Equal(now.Truncate(time.Minute).Add(time.Minute)) {
		t.Fatalf("total %d, end %v, %v; want 50", total, end, err)
	}
	if total, _, _ := b.AddRate(ctx, "req:key:k1", 3, time.Minute, now.Add(time.Minute)); total != 3 {
		t.Errorf("next window: %d, want 3", total)
	}
	if _, _, err := a.AddRate(ctx, "req:key:k1", -1, time.Minute, now); err == nil {
		t.Error("a negative add was accepted")
	}

	// Slots: the limit holds across connections; release and expiry free them.
	var got atomic.Int64
	for i := range 10 {
		r := []*RedisRates{a, b}[i%2]
		wg.Go(func() {
			ok, err := r.AcquireSlot(ctx, "turns:role:operator", fmt.Sprint("t", i), 4, time.Minute, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				got.Add(1)
			}
		})
	}
	wg.Wait()
	if got.Load() != 4 {
		t.Fatalf("%d of 10 turns got a slot, want 4", got.Load())
	}
	if ok, _ := a.AcquireSlot(ctx, "turns:role:operator", "late", 4, time.Minute, now); ok {
		t.Error("a fifth turn got a slot")
	}
	for i := range 10 {
		if err := b.ReleaseSlot(ctx, "turns:role:operator", fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := a.AcquireSlot(ctx, "turns:role:operator", "late", 1, time.Minute, now); !ok {
		t.Error("no slot after every turn released its own")
	}
	if ok, _ := a.AcquireSlot(ctx, "turns:role:operator", "next", 1, time.Minute, now.Add(30*time.Second)); ok {
		t.Error("a slot beyond the limit before the held one expired")
	}
	if ok, _ := a.AcquireSlot(ctx, "turns:role:operator", "next", 1, time.Minute, now.Add(61*time.Second)); !ok {
		t.Error("no slot once the held one expired")
	}
	if _, err := OpenRedisRates(ctx, "redis://127.0.0.1:1/0"); err == nil {
		t.Error("opening a Redis nobody serves succeeded")
	}
}
