package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BurstResult counts a burst of streamed chat turns against the audit log.
type BurstResult struct {
	Streams, Answered, Errored, Refused503, Other, FiveXX int
	Audited, Unaudited                                    int
	Retries                                               int // 503s with Retry-After that were retried
}

// maxRetries bounds how often one stream retries a 503.
const maxRetries = 30

// Burst sends n streamed chat turns, at most conc at once, each in a new
// session, and checks each answered one (a `done` event) against the
// chat.turn audit records.
func Burst(ctx context.Context, s *Server, operator string, n, conc int) (BurstResult, error) {
	res := BurstResult{Streams: n}
	var mu sync.Mutex
	answered := map[string]bool{} // session ids that got done
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	questions := []string{"Which road segments are the most congested right now?", "Any incidents in Binjiang district?", "现在哪些路段最拥堵？", "What is the signal plan on Renmin Road?"}
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]any{"message": questions[i%len(questions)], "stream": true})
			var resp *http.Response
			for attempt := 0; ; attempt++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", s.URL("/v1/agents/traffic/chat"), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+operator)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "text/event-stream")
				r, err := client.Do(req)
				if err != nil {
					mu.Lock()
					res.Other++
					mu.Unlock()
					return
				}
				// A client that honours Retry-After, as a well-behaved SDK does.
				if r.StatusCode == 503 && r.Header.Get("Retry-After") != "" && attempt < maxRetries {
					r.Body.Close()
					mu.Lock()
					res.Retries++
					mu.Unlock()
					wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
					time.Sleep(time.Duration(min(max(wait, 1), 2))*time.Second/2 + time.Duration(rand.IntN(500))*time.Millisecond)
					continue
				}
				resp = r
				break
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				mu.Lock()
				switch {
				case resp.StatusCode == 503:
					res.Refused503++
				default:
					res.Other++
				}
				if resp.StatusCode >= 500 && resp.StatusCode != 503 {
					res.FiveXX++
				}
				mu.Unlock()
				return
			}
			session, done, failed := readStream(resp)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case done && session != "":
				res.Answered++
				answered[session] = true
			case failed:
				res.Errored++
			default:
				res.Other++
			}
		}()
	}
	wg.Wait()
	subjects, err := auditSubjects(ctx, s, "chat.turn")
	if err != nil {
		return res, err
	}
	for id := range answered {
		if subjects[id] {
			res.Audited++
		} else {
			res.Unaudited++
		}
	}
	return res, nil
}

// readStream reads an SSE chat stream to its end.
func readStream(resp *http.Response) (session string, done, failed bool) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			switch event {
			case "session", "done":
				var v struct {
					SessionID string `json:"session_id"`
				}
				if json.Unmarshal([]byte(data), &v) == nil && v.SessionID != "" {
					session = v.SessionID
				}
				done = done || event == "done"
			case "error":
				failed = true
			}
		}
	}
	return session, done, failed
}

// auditSubjects pages through the audit log and returns the subjects of
// records of kind.
func auditSubjects(ctx context.Context, s *Server, kind string) (map[string]bool, error) {
	out := map[string]bool{}
	after := "0"
	for range 100000 {
		var page struct {
			Records []struct {
				Subject string `json:"subject"`
			} `json:"records"`
			NextAfter string `json:"next_after"`
		}
		r, err := s.JSON(ctx, "GET", "/v1/audit?kind="+kind+"&limit=500&after="+after, s.Admin, nil, &page, nil)
		if err != nil {
			return nil, err
		}
		if r.Status != 200 {
			return nil, fmt.Errorf("GET /v1/audit: %d %s", r.Status, r.Body)
		}
		for _, rec := range page.Records {
			out[rec.Subject] = true
		}
		if page.NextAfter == "" {
			return out, nil
		}
		after = page.NextAfter
	}
	return out, fmt.Errorf("audit log did not end after %v pages", 100000)
}
