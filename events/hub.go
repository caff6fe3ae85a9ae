package events

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Source is the outbox the hub tails; *store.DB implements it.
type Source interface {
	// EventsAfter returns up to limit events with seq > after, oldest first.
	EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error)
	// EventsHead is the seq of the newest event (0 when there is none).
	EventsHead(ctx context.Context) (int64, error)
}

// Hub defaults.
const (
	DefaultPollInterval = 250 * time.Millisecond
	DefaultBuffer       = 256
	pollPage            = 500
)

// Hub tails the outbox and fans each new event out to its subscribers. A
// subscriber that does not keep up is dropped, never waited for: its
// channel closes with Dropped set, and it resumes from the outbox with the
// last seq it saw (Last-Event-ID).
type Hub struct {
	src      Source
	interval time.Duration
	buffer   int
	log      *slog.Logger

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	last    int64
	stopped bool // Run has returned: new subscriptions start closed
}

// Subscription receives the events the hub sees after it was made.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	hub     *Hub
	dropped bool // under hub.mu
	closed  bool
}

// Dropped reports, once C is closed, whether the hub dropped the
// subscriber for falling behind (rather than Close or the hub stopping).
func (s *Subscription) Dropped() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.dropped
}

// Close unsubscribes; C is closed.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.remove(s)
}

// NewHub makes a hub over src; Run starts it. interval ≤ 0 and buffer ≤ 0
// take the defaults.
func NewHub(src Source, interval time.Duration, buffer int, log *slog.Logger) *Hub {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{src: src, interval: interval, buffer: buffer, log: log, subs: map[*Subscription]struct{}{}}
}

// Subscribe registers a subscriber. Events committed before the call are
// in the outbox (read them with Source.EventsAfter); events after it come
// on C, possibly overlapping the ones read — skip seqs already seen.
func (h *Hub) Subscribe() *Subscription {
	c := make(chan Event, h.buffer)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if h.stopped {
		h.remove(s)
	}
	return s
}

// Run polls the outbox until ctx ends, then closes every subscription.
func (h *Hub) Run(ctx context.Context) {
	defer h.closeAll()
	for {
		head, err := h.src.EventsHead(ctx)
		if err == nil {
			h.mu.Lock()
			h.last = head
			h.mu.Unlock()
			break
		}
		h.log.Warn("events: read the outbox head", "err", err)
		if !sleep(ctx, h.interval) {
			return
		}
	}
	for sleep(ctx, h.interval) {
		h.poll(ctx)
	}
}

func (h *Hub) poll(ctx context.Context) {
	for {
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		evs, err := h.src.EventsAfter(ctx, after, pollPage)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("events: tail the outbox", "err", err)
			}
			return
		}
		h.mu.Lock()
		for _, e := range evs {
			h.broadcast(e)
			h.last = e.Seq
		}
		h.mu.Unlock()
		if len(evs) < pollPage {
			return
		}
	}
}

// broadcast runs under h.mu.
func (h *Hub) broadcast(e Event) {
	for s := range h.subs {
		select {
		case s.c <- e:
		default:
			s.dropped = true
			h.remove(s)
		}
	}
}

// remove runs under h.mu.
func (h *Hub) remove(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	delete(h.subs, s)
	close(s.c)
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	for s := range h.subs {
		h.remove(s)
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
