package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
)

// Webhook is a subscription of an outside system to events.
type Webhook struct {
	ID         string           `json:"id"`
	URL        string           `json:"url"`
	Events     []string         `json:"events"`
	Department string           `json:"department,omitempty"`
	Clearance  access.Clearance `json:"clearance"`
	// Secret signs the deliveries. It is shown once, at creation.
	Secret    string    `json:"-"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled"`
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed" // retried for RetryFor without a 2xx
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	WebhookID     string     `json:"webhook_id"`
	EventSeq      int64      `json:"event_seq"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status_code,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// Attempt is a due delivery with what it takes to send it.
type Attempt struct {
	Delivery
	URL    string
	Secret string
	Body   []byte
}

// Outcome is the result of one attempt, recorded by the store.
type Outcome struct {
	WebhookID string
	EventSeq  int64
	Attempts  int    // the attempt number that produced this outcome
	Status    string // StatusPending (retry at Next), StatusDelivered or StatusFailed
	Code      int
	Error     string
	At        time.Time
	Next      time.Time
}

// Signature headers of a delivery.
const (
	HeaderEvent     = "X-Cityagent-Event"
	HeaderEventID   = "X-Cityagent-Event-Id"
	HeaderSignature = "X-Cityagent-Signature"
)

// MinSecretLen is the shortest webhook secret accepted.
const MinSecretLen = 16

// Sign is the X-Cityagent-Signature value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrSignature is returned by Verify for a missing, malformed, wrong or
// stale signature.
var ErrSignature = errors.New("events: webhook signature does not verify")

// Verify checks a signature header as a receiver does: one of its v1
// values must be the HMAC of "<t>.<body>", and t within tolerance of now
// (replays of old deliveries fail).
func Verify(header, secret string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is outside the tolerance of %s", ErrSignature, ts, tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}
