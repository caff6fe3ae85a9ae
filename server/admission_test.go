package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestAdmissionFIFO(t *testing.T) {
	t.Parallel()
	a := newAdmission(1, 2)
	a.maxWait = time.Hour // no waiter may give up under load; the test's timeout is the hang guard
	first, err := a.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 2)
	var released sync.WaitGroup // each waiter's release has returned
	for i := range 2 {
		released.Add(1)
		go func() {
			defer released.Done()
			rel, err := a.acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i // while holding the slot, so sends are in admission order
			rel()
		}()
		// Queue them in a known order.
		for waiting := 0; waiting != i+1; {
			time.Sleep(time.Millisecond)
			a.mu.Lock()
			waiting = len(a.queue)
			a.mu.Unlock()
		}
	}
	if _, err := a.acquire(context.Background()); !errors.Is(err, errTurnQueueFull) {
		t.Fatalf("third waiter: %v, want errTurnQueueFull", err)
	}
	first()
	first() // a second release is a no-op
	if x, y := <-order, <-order; x != 0 || y != 1 {
		t.Fatalf("served %d then %d, want FIFO", x, y)
	}
	released.Wait() // the last waiter sends before it releases
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running != 0 || len(a.queue) != 0 {
		t.Fatalf("running %d, queued %d after every release", a.running, len(a.queue))
	}
}

func TestAdmissionWaitAndCancel(t *testing.T) {
	t.Parallel()
	a := newAdmission(1, 4)
	a.maxWait = 20 * time.Millisecond
	rel, _ := a.acquire(context.Background())
	if _, err := a.acquire(context.Background()); !errors.Is(err, errTurnWait) {
		t.Fatalf("err %v, want errTurnWait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	rel()
	rel2, err := a.acquire(context.Background())
	if err != nil {
		t.Fatalf("slot lost to a waiter that gave up: %v", err)
	}
	rel2()
}

// TestBusyServerAnswers503: with every turn slot taken and no queue, each
// chat form is refused with 503 problem+json and Retry-After.
func TestBusyServerAnswers503(t *testing.T) {
	t.Parallel()
	env := newTurnEnv(t, turnModel{hang: true}, nil, Options{MaxTurns: 1, TurnQueue: -1})
	conn := env.openStream(t) // holds the only slot
	defer conn.Close()
	for name, tc := range map[string]struct{ path, body string }{
		"chat":        {"/v1/agents/traffic/chat", `{"message":"q"}`},
		"chat stream": {"/v1/agents/traffic/chat", `{"message":"q","stream":true}`},
		"openai":      {"/v1/chat/completions", `{"model":"traffic","messages":[{"role":"user","content":"q"}]}`},
		"openai stream": {"/v1/chat/completions",
			`{"model":"traffic","stream":true,"messages":[{"role":"user","content":"q"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := env.post(t, tc.path, tc.body)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != errorContentType(tc.path) {
				t.Fatalf("%d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
		})
	}
}
