package config

import "time"

// EventsConfig tunes the event feed and webhook delivery (package events).
// Zero values take the defaults in brackets.
type EventsConfig struct {
	// PollInterval is how often the feed reads new events from the outbox [250ms].
	PollInterval time.Duration `yaml:"poll_interval"`
	// DeliverInterval is how often the delivery worker looks for due deliveries [1s].
	DeliverInterval time.Duration `yaml:"deliver_interval"`
	// RetryBase is the first wait after a failed delivery; it doubles up to
	// RetryMax [5s, 1h], with jitter; RetryFor is how long a delivery is
	// retried before it fails [24h].
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
	RetryFor  time.Duration `yaml:"retry_for"`
	// DeliverTimeout bounds one delivery request [10s]; Concurrency bounds
	// the requests in flight [4].
	DeliverTimeout time.Duration `yaml:"deliver_timeout"`
	Concurrency    int           `yaml:"concurrency"`
	// LeaseTTL is how long the delivery lease lasts unrenewed: after the
	// replica holding it dies without releasing it (kill -9, a lost host),
	// another takes delivery over within about this long [15s]; at least 1s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}
