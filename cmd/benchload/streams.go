package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// streamsResult is what holding many SSE streams open measured.
type streamsResult struct {
	open           int           // streams the server answered 200 and kept open
	rssBefore      float64       // server RSS (MB) before the first stream
	rssOpen        float64       // server RSS (MB) with every stream open
	turns          int           // chat turns answered 200 while the streams were open
	p50, p99       time.Duration // latency of those turns, one at a time
	dial, dialFail int           // streams attempted; refused or failed
	stillOpen      int           // streams still open after the turns
}

// holdStreams opens n event streams (GET /v1/events, server-sent events) to
// t's server, each its own TCP connection reading nothing yet, reads the
// server's RSS, then answers turns one at a time through another connection
// and times them: the target "10,000 concurrent SSE streams ≤ 1 GB RSS with
// the server still answering a turn in ≤ 50 ms" (issue 16).
func holdStreams(t target, n, turns int) (streamsResult, error) {
	res := streamsResult{dial: n, rssBefore: rssMB(t.pid)}
	u, err := url.Parse(t.url)
	if err != nil {
		return res, err
	}
	req := "GET /v1/events HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\nAuthorization: Bearer " + t.key + "\r\n\r\n"
	conns := make([]net.Conn, n)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range 64 { // dial 64 at a time: the listen backlog is finite
		wg.Go(func() {
			for i := range next {
				c, err := openStream(u.Host, req)
				mu.Lock()
				if err != nil {
					res.dialFail++
					if first == nil {
						first = err
					}
				} else {
					conns[i] = c
					res.open++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
		if i > 0 && i%2000 == 0 {
			fmt.Fprintf(os.Stderr, "benchload: %d of %d event streams open\n", res.open, n)
		}
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if res.open == 0 {
		return res, fmt.Errorf("no event stream opened: %v", first)
	}
	time.Sleep(2 * time.Second) // let the server settle
	res.rssOpen = rssMB(t.pid)
	c := &http.Client{Timeout: 30 * time.Second}
	var lat []time.Duration
	for range turns {
		t0 := time.Now()
		status, _, err := t.post(context.Background(), c)
		if err != nil || status != http.StatusOK {
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	res.turns = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	// A stream is still open when reading it does not end: a heartbeat or
	// nothing within the short deadline both count.
	for _, c := range conns {
		if c == nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [512]byte
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
			res.stillOpen++
		}
	}
	if first != nil {
		fmt.Fprintf(os.Stderr, "benchload: %d event streams failed to open, the first: %v\n", res.dialFail, first)
	}
	return res, nil
}

// openStream dials addr, sends the GET of an event stream and reads its
// response head; the connection stays open for the stream's body.
func openStream(addr, req string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	// Read only the status line and headers, byte by byte through a small
	// reader that is then dropped: the body (heartbeats) is left unread.
	r := bufio.NewReaderSize(c, 16)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("event stream: %q %v", strings.TrimSpace(line), err)
	}
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if h == "\r\n" {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
