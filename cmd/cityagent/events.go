package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/events"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/outbound"
)

// deliveryLease is the store lease whose holder delivers webhooks: one
// replica at a time.
const deliveryLease = "webhooks.deliver"

// startEvents runs the event feed's hub and the webhook deliverer until ctx
// ends. It returns the service the server needs and a stop that waits for
// both to finish.
func startEvents(ctx context.Context, db *store.DB, cfg config.Config, log *slog.Logger) (*events.Service, func(), error) {
	timeout := cfg.Events.DeliverTimeout
	if timeout <= 0 {
		timeout = events.DefaultDeliverTimeout
	}
	// Deliveries leave through the outbound guard, with its allow list, to
	// the registered URL only: a 3xx is a failed attempt, never followed.
	guard, err := outbound.New(outbound.Config{Allow: cfg.Outbound.Allow, Timeout: timeout, MaxResponseBytes: 64 << 10, NoRedirects: true})
	if err != nil {
		return nil, nil, fmt.Errorf("webhooks: %w", err)
	}
	holder := replicaName()
	hub := events.NewHub(db, cfg.Events.PollInterval, 0, log)
	d := events.NewDeliverer(events.DelivererConfig{Store: db, Client: guard, Log: log,
		Acquire: func(ctx context.Context, now time.Time, ttl time.Duration) (bool, error) {
			_, ok, err := db.AcquireLease(ctx, deliveryLease, holder, now, ttl)
			return ok, err
		},
		Release:  func(ctx context.Context) { _ = db.ReleaseLease(ctx, deliveryLease, holder) },
		Interval: cfg.Events.DeliverInterval, RetryBase: cfg.Events.RetryBase, RetryMax: cfg.Events.RetryMax,
		RetryFor: cfg.Events.RetryFor, Timeout: timeout, Concurrency: cfg.Events.Concurrency, LeaseTTL: cfg.Events.LeaseTTL})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx) })
	wg.Go(func() { d.Run(ctx) })
	svc := &events.Service{Hub: hub, Outbox: db, Webhooks: db, Policy: guard.Policy()}
	return svc, func() { cancel(); wg.Wait() }, nil
}

// replicaName identifies this process among the replicas holding leases.
func replicaName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}
