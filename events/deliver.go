package events

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// DeliveryStore is what the deliverer needs of the state store; *store.DB
// implements it.
type DeliveryStore interface {
	// FanOut creates a pending delivery for every new outbox event and
	// every webhook it matches, and moves each webhook's cursor past them.
	FanOut(ctx context.Context, now time.Time, limit int) (int, error)
	// DueDeliveries lists pending deliveries whose next attempt is due.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Attempt, error)
	// RecordAttempt stores an attempt's outcome.
	RecordAttempt(ctx context.Context, o Outcome) error
}

// Doer sends HTTP requests; *outbound.Client implements it (every delivery
// goes through the outbound guard).
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Deliverer defaults.
const (
	DefaultDeliverInterval = time.Second
	DefaultRetryBase       = 5 * time.Second
	DefaultRetryMax        = time.Hour
	DefaultRetryFor        = 24 * time.Hour
	DefaultDeliverTimeout  = 10 * time.Second
	DefaultConcurrency     = 4
	// DefaultLeaseTTL is how long the delivery lease lasts unrenewed: the
	// longest deliveries wait after the holder dies without releasing it
	// (kill -9, a lost host). The holder renews it every third of it.
	DefaultLeaseTTL = 15 * time.Second
	maxErrorLen     = 300
)

// DelivererConfig configures a Deliverer. Zero durations take the defaults.
type DelivererConfig struct {
	Store  DeliveryStore
	Client Doer
	// Acquire takes or renews the delivery lease for ttl; only its holder
	// delivers, so that several replicas deliver each event once. Release
	// gives it up at shutdown. Nil Acquire: this process always delivers.
	Acquire func(ctx context.Context, now time.Time, ttl time.Duration) (bool, error)
	Release func(ctx context.Context)
	// LeaseTTL is the lease's length, renewed every LeaseTTL/3 while a
	// round runs [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// Interval between rounds; RetryBase doubles at every failed attempt
	// up to RetryMax, with jitter; after RetryFor a delivery fails.
	Interval, RetryBase, RetryMax, RetryFor, Timeout time.Duration
	// Concurrency bounds the requests in flight.
	Concurrency int
	Now         func() time.Time
	Log         *slog.Logger
}

// Deliverer sends pending deliveries, at least once each.
type Deliverer struct {
	cfg DelivererConfig
}

// NewDeliverer applies the defaults.
func NewDeliverer(cfg DelivererConfig) *Deliverer {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, DefaultDeliverInterval)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.RetryFor, DefaultRetryFor)
	def(&cfg.Timeout, DefaultDeliverTimeout)
	def(&cfg.LeaseTTL, DefaultLeaseTTL)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{cfg: cfg}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	held := false
	defer func() {
		if held && d.cfg.Release != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			d.cfg.Release(rctx)
			cancel()
		}
	}()
	for {
		held = d.holds(ctx)
		if held {
			d.heldRound(ctx)
		}
		if !sleep(ctx, d.cfg.Interval) {
			return
		}
	}
}

func (d *Deliverer) holds(ctx context.Context) bool {
	if d.cfg.Acquire == nil {
		return true
	}
	ok, err := d.cfg.Acquire(ctx, d.cfg.Now(), d.cfg.LeaseTTL)
	if err != nil && ctx.Err() == nil {
		d.cfg.Log.Warn("webhooks: delivery lease", "err", err)
	}
	return ok && err == nil
}

// heldRound runs a round while renewing the lease every third of its TTL,
// so that a short lease outlasts a long round; a lost renewal ends the
// round (its attempts are recorded as failed and retried by the holder).
func (d *Deliverer) heldRound(ctx context.Context) {
	if d.cfg.Acquire == nil {
		d.Round(ctx)
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(d.cfg.LeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
				if !d.holds(rctx) {
					cancel()
					return
				}
			}
		}
	}()
	d.Round(rctx)
	cancel()
	<-done
}

// Round fans new events out to the webhooks and makes one attempt at every
// due delivery; it returns when they are recorded.
func (d *Deliverer) Round(ctx context.Context) {
	for {
		n, err := d.cfg.Store.FanOut(ctx, d.cfg.Now(), 500)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Log.Warn("webhooks: fan out", "err", err)
			}
			return
		}
		if n < 500 {
			break
		}
	}
	due, err := d.cfg.Store.DueDeliveries(ctx, d.cfg.Now(), 2*d.cfg.Concurrency)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Log.Warn("webhooks: due deliveries", "err", err)
		}
		return
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, a := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := d.attempt(ctx, a)
			if err := d.cfg.Store.RecordAttempt(context.WithoutCancel(ctx), o); err != nil {
				d.cfg.Log.Warn("webhooks: record attempt", "webhook", a.WebhookID, "event", a.EventID, "err", err)
			}
		})
	}
	wg.Wait()
}

// attempt sends one delivery and decides what happens next.
func (d *Deliverer) attempt(ctx context.Context, a Attempt) Outcome {
	o := Outcome{WebhookID: a.WebhookID, EventSeq: a.EventSeq, Attempts: a.Attempts + 1}
	code, err := d.send(ctx, a)
	o.At, o.Code = d.cfg.Now(), code
	switch {
	case err == nil && code >= 200 && code < 300:
		o.Status = StatusDelivered
		return o
	case err != nil:
		o.Error = clip(err.Error())
	case code >= 300 && code < 400:
		o.Error = fmt.Sprintf("the receiver answered %d, a redirect, which deliveries do not follow: register the final URL", code)
	default:
		o.Error = fmt.Sprintf("the receiver answered %d", code)
	}
	o.Next = o.At.Add(d.Backoff(o.Attempts))
	o.Status = StatusPending
	if o.Next.Sub(a.CreatedAt) > d.cfg.RetryFor {
		o.Status, o.Next = StatusFailed, time.Time{}
	}
	return o
}

func (d *Deliverer) send(ctx context.Context, a Attempt) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(a.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cityagent-webhooks/1")
	req.Header.Set(HeaderEvent, a.EventType)
	req.Header.Set(HeaderEventID, a.EventID)
	req.Header.Set(HeaderSignature, Sign(a.Secret, d.cfg.Now(), a.Body))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// Backoff is the wait after the n-th failed attempt: RetryBase·2^(n-1),
// at most RetryMax, of which the upper half is random (jitter spreads the
// retries of many deliveries that failed together).
func (d *Deliverer) Backoff(n int) time.Duration {
	w := d.cfg.RetryBase
	for i := 1; i < n && w < d.cfg.RetryMax; i++ {
		w *= 2
	}
	w = min(w, d.cfg.RetryMax)
	return w/2 + rand.N(w/2+1)
}

func clip(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}
