package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/events"
)

// eventRoutes: the live feed (any key, filtered) and the webhooks (admin).
func (s *Server) eventRoutes(v1 fiber.Router) {
	v1.Get("/events", s.streamEvents)
	v1.Post("/webhooks", s.require(roleAdmin), s.createWebhook) // server/webhooks.go
	v1.Get("/webhooks", s.require(roleAdmin), s.listWebhooks)
	v1.Get("/webhooks/:id", s.require(roleAdmin), s.getWebhook)
	v1.Delete("/webhooks/:id", s.require(roleAdmin), s.deleteWebhook)
	v1.Get("/webhooks/:id/deliveries", s.require(roleAdmin), s.listDeliveries)
}

func (s *Server) eventService() (*events.Service, error) {
	if s.deps.Events == nil {
		return nil, &Problem{Status: fiber.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "events are not configured on this server"}
	}
	return s.deps.Events, nil
}

// eventFilter is what one stream shows.
type eventFilter struct {
	who   access.Principal
	types map[string]bool // empty: every type
}

func (f eventFilter) shows(e events.Event) bool {
	return (len(f.types) == 0 || f.types[e.Type]) && events.Visible(f.who, e)
}

// streamEvents is GET /v1/events: server-sent events, each the key may
// see, from the outbox. With Last-Event-ID (the seq of the last event
// seen) it replays what came after, then goes live.
func (s *Server) streamEvents(c *fiber.Ctx) error {
	svc, err := s.eventService()
	if err != nil {
		return err
	}
	f := eventFilter{who: mustPrincipal(c), types: map[string]bool{}}
	var errs []FieldError
	if raw := c.Query("types"); raw != "" || c.Context().QueryArgs().Has("types") {
		if strings.TrimSpace(raw) == "" {
			errs = append(errs, FieldError{"types", "is empty: name at least one event type, or leave types out for every type"})
		}
		for t := range strings.SplitSeq(raw, ",") {
			t = strings.TrimSpace(t)
			if !events.KnownType(t) {
				errs = append(errs, FieldError{"types", fmt.Sprintf("unknown event type %q (want a comma-separated list of %s)", t, strings.Join(events.Types, ", "))})
				continue
			}
			f.types[strings.Clone(t)] = true // the stream writer outlives the request
		}
	}
	resume := int64(-1) // live only
	if raw := strings.TrimSpace(c.Get("Last-Event-ID")); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, FieldError{"Last-Event-ID", "must be the id (a non-negative integer) of the last event received"})
		}
		resume = n
	}
	if len(errs) == 0 && resume > 0 {
		if ferr, err := beyondHead(c.UserContext(), svc.Outbox, resume); err != nil {
			return err
		} else if ferr != nil {
			errs = append(errs, *ferr)
		}
	}
	if len(errs) > 0 {
		return badRequest("invalid event stream request", errs...)
	}
	key := f.who.KeyID
	if err := s.feeds.take(c, key); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	sub := svc.Hub.Subscribe() // before the replay: nothing falls between the two
	// The feed lives until the client leaves or the server shuts down, not
	// for one request's deadline: a context of its own, from the base one.
	ctx, cancel := context.WithCancel(s.base)
	s.streams.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Done()
		defer s.feeds.release(key)
		defer cancel()
		defer sub.Close()
		s.metrics.streams.Inc()
		defer s.metrics.streams.Dec()
		es := &eventStream{w: w, f: f, sent: resume}
		if resume >= 0 && !es.replay(ctx, svc.Outbox) {
			return
		}
		es.live(ctx, sub, s.opts.HeartbeatInterval)
	})
	return nil
}

// beyondHead refuses a Last-Event-ID past the newest event: no event will
// ever have it (seqs only grow), so the stream would skip every live event
// up to it; the id belongs to another store, or was made up.
func beyondHead(ctx context.Context, src events.Source, resume int64) (*FieldError, error) {
	head, err := src.EventsHead(ctx)
	if err != nil {
		return nil, err
	}
	if resume <= head {
		return nil, nil
	}
	return &FieldError{"Last-Event-ID", fmt.Sprintf("%d is beyond the newest event (%d): it is not an id of this server's feed; reconnect without it to start now", resume, head)}, nil
}

// eventStream writes one client's feed. sent is the last seq handled
// (shown or filtered out).
type eventStream struct {
	w     *bufio.Writer
	f     eventFilter
	sent  int64
	wrote bool
}

// write sends e if the client may see it; false when the client is gone.
func (es *eventStream) write(e events.Event) bool {
	if e.Seq <= es.sent {
		return true
	}
	es.sent = e.Seq
	if !es.f.shows(e) {
		return true
	}
	fmt.Fprintf(es.w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, e.Body)
	es.wrote = true
	return es.w.Flush() == nil
}

// replay sends the outbox after es.sent.
func (es *eventStream) replay(ctx context.Context, src events.Source) bool {
	const page = 500
	for {
		evs, err := src.EventsAfter(ctx, es.sent, page)
		if err != nil {
			es.fail("the event history could not be read; reconnect with the same Last-Event-ID")
			return false
		}
		for _, e := range evs {
			if !es.write(e) {
				return false
			}
		}
		if len(evs) < page {
			return true
		}
	}
}

// live relays the hub's events, with heartbeats, until the client leaves,
// the hub drops it for falling behind, or the server shuts down.
func (es *eventStream) live(ctx context.Context, sub *events.Subscription, heartbeat time.Duration) {
	probe := min(heartbeat, probeInterval) // see probeInterval (server/chat.go)
	tick := time.NewTicker(probe)
	defer tick.Stop()
	var silent time.Duration
	if _, err := es.w.WriteString(": connected\n\n"); err != nil || es.w.Flush() != nil {
		return
	}
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				if sub.Dropped() {
					es.fail("the stream fell behind and was dropped; reconnect with Last-Event-ID to resume")
				}
				return
			}
			if !es.write(e) {
				return
			}
		case <-tick.C:
			if es.wrote {
				es.wrote, silent = false, 0
				continue
			}
			silent += probe
			comment := ":\n\n" // a probe: a failed flush is the only sign the client left
			if silent >= heartbeat {
				comment, silent = ": ping\n\n", 0
			}
			if _, err := es.w.WriteString(comment); err != nil || es.w.Flush() != nil {
				return
			}
		case <-ctx.Done():
			es.fail("the server is shutting down; reconnect with Last-Event-ID to resume")
			return
		}
	}
}

// fail ends the stream with an "error" event naming where to resume.
func (es *eventStream) fail(detail string) {
	b, _ := json.Marshal(struct {
		Detail      string `json:"detail"`
		LastEventID string `json:"last_event_id"`
	}{detail, strconv.FormatInt(max(es.sent, 0), 10)})
	fmt.Fprintf(es.w, "event: error\ndata: %s\n\n", b)
	_ = es.w.Flush()
}
