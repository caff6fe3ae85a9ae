package mcptool_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/tools/mcptool"
)

// A burst of tool-list notifications while a refresh is in flight starts no
// goroutine per notification: one refresh runs, one more is pending, and
// the rest fold into it. Close stops the refresh loop.
func TestToolListNotificationsAreCoalesced(t *testing.T) {
	srv := newInProcess(t)
	var lists, inflight, maxInflight atomic.Int32
	var blocking atomic.Bool
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	srv.server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				lists.Add(1)
				n := inflight.Add(1)
				defer inflight.Add(-1)
				for m := maxInflight.Load(); n > m && !maxInflight.CompareAndSwap(m, n); m = maxInflight.Load() {
				}
				if blocking.Load() {
					entered <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
			}
			return next(ctx, method, req)
		}
	})
	changes := make(chan struct{}, 16)
	src, err := mcptool.Connect(context.Background(), mcptool.Config{Name: "calc", TimeoutMS: 5000},
		mcptool.Deps{Transport: srv.transport, OnChange: func(*mcptool.Source) { changes <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	<-changes // connected
	blocking.Store(true)
	src.NotifyToolsChanged()
	<-entered // one refresh is now held by the server
	before := runtime.NumGoroutine()
	for range 100 {
		src.NotifyToolsChanged()
	}
	if g := runtime.NumGoroutine(); g > before+10 { // one per notification would be +100
		t.Errorf("%d goroutines after 100 notifications, %d before", g, before)
	}
	close(release)
	<-changes // the held refresh
	<-changes // the one pending refresh
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lists.Load(); n != 3 {
		t.Errorf("%d tools/list calls, want 3 (connect, the held refresh, one pending)", n)
	}
	if m := maxInflight.Load(); m != 1 {
		t.Errorf("%d refreshes at once, want 1", m)
	}
	src.NotifyToolsChanged() // after Close: dropped, never blocks
}
