package main

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// openLoop offers t requests at a fixed rate for d, whatever the server's
// pace: request i is due at start + i/rate and is sent then (or at once, if
// the scheduler is late), each on its own goroutine. Its latency runs from
// when it was due, not from when it was sent, so a server that falls behind
// is charged for the wait too (no coordinated omission). Requests still
// running 30 s after the last was due count as failed.
func openLoop(t target, rate float64, d time.Duration) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxIdleConns: 4096, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, n)
		failed int
		wg     sync.WaitGroup
		last   time.Time
	)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			status, _, err := t.post(ctx, client)
			end := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || status != http.StatusOK {
				failed++
				return
			}
			lat = append(lat, end.Sub(due))
			last = end
		})
	}
	wg.Wait()
	res := result{ok: len(lat), failed: failed}
	if len(lat) == 0 {
		return res
	}
	slices.Sort(lat)
	res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	res.rate = float64(len(lat)) / last.Sub(start).Seconds()
	return res
}
