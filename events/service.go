package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/tools/outbound"
)

// WebhookStore keeps webhooks and their deliveries; *store.DB implements it.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w Webhook, audits ...audit.Entry) error
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// DisableWebhook stops deliveries to it; ErrNotFound when it does not
	// exist or is disabled already.
	DisableWebhook(ctx context.Context, id string, at time.Time, audits ...audit.Entry) error
	// ListDeliveries pages newest first below the event seq before (0: from the newest).
	ListDeliveries(ctx context.Context, webhookID string, before int64, limit int) ([]Delivery, error)
}

// Audit kinds of webhook changes (not events themselves).
const (
	KindWebhookCreate = "webhook.create"
	KindWebhookDelete = "webhook.delete"
)

// Service is what the HTTP API calls: the live feed and the webhooks.
type Service struct {
	Hub      *Hub
	Outbox   Source
	Webhooks WebhookStore
	// Policy is the outbound guard's: a webhook URL naming an address it
	// refuses is rejected at creation (and every delivery dials through
	// the guard anyway).
	Policy *outbound.Policy
	Now    func() time.Time
}

// WebhookRequest is POST /v1/webhooks.
type WebhookRequest struct {
	URL        string   `json:"url"`
	Events     []string `json:"events"`
	Secret     string   `json:"secret"`
	Department string   `json:"department,omitempty"`
	Clearance  string   `json:"clearance,omitempty"` // default internal; at most the creator's
}

// FieldProblem is one invalid field of a request.
type FieldProblem struct{ Field, Message string }

// InputError is a request that cannot be accepted, field by field.
type InputError struct{ Fields []FieldProblem }

func (e *InputError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Field + ": " + f.Message
	}
	return "events: invalid webhook: " + strings.Join(msgs, "; ")
}

// departmentName is the shape of a hotline taxonomy department id; the
// server checks that the taxonomy has it.
var departmentName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// CreateWebhook validates req and stores the webhook, audited.
func (s *Service) CreateWebhook(ctx context.Context, by access.Principal, req WebhookRequest) (Webhook, error) {
	var bad []FieldProblem
	if msg := s.checkURL(req.URL); msg != "" {
		bad = append(bad, FieldProblem{"url", msg})
	}
	if len(req.Events) == 0 {
		bad = append(bad, FieldProblem{"events", "name at least one event type: " + strings.Join(Types, ", ")})
	}
	seen := map[string]bool{}
	for i, e := range req.Events {
		switch {
		case !KnownType(e):
			bad = append(bad, FieldProblem{fmt.Sprintf("events[%d]", i), fmt.Sprintf("unknown event type %q (want one of %s)", e, strings.Join(Types, ", "))})
		case seen[e]:
			bad = append(bad, FieldProblem{fmt.Sprintf("events[%d]", i), fmt.Sprintf("event type %q is listed twice", e)})
		}
		seen[e] = true
	}
	if n := len(req.Secret); n < MinSecretLen || n > 256 {
		bad = append(bad, FieldProblem{"secret", fmt.Sprintf("must be %d to 256 bytes long, got %d", MinSecretLen, n)})
	}
	if req.Department != "" && !departmentName.MatchString(req.Department) {
		bad = append(bad, FieldProblem{"department", "must be a department id of the hotline taxonomy, e.g. water"})
	}
	clr := access.Internal
	if req.Clearance != "" {
		c, err := access.ParseClearance(req.Clearance)
		switch {
		case err != nil:
			bad = append(bad, FieldProblem{"clearance", "must be one of public, internal, sensitive, restricted"})
		case !by.Clearance.Covers(c):
			bad = append(bad, FieldProblem{"clearance", "is above the clearance of the key creating the webhook"})
		default:
			clr = c
		}
	}
	if len(bad) > 0 {
		return Webhook{}, &InputError{Fields: bad}
	}
	evs := slices.Clone(req.Events)
	slices.Sort(evs)
	w := Webhook{ID: "whk_" + randomHex(10), URL: req.URL, Events: evs, Department: req.Department,
		Clearance: clr, Secret: req.Secret, CreatedBy: by.KeyID, CreatedAt: s.now().UTC()}
	entry := audit.Entry{Actor: by.KeyID, Kind: KindWebhookCreate, Subject: w.ID, At: w.CreatedAt, Payload: map[string]any{
		"url": withoutQuery(w.URL), "events": w.Events, "department": w.Department, "clearance": w.Clearance}}
	if err := s.Webhooks.CreateWebhook(ctx, w, entry); err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// DeleteWebhook disables a webhook, audited.
func (s *Service) DeleteWebhook(ctx context.Context, by access.Principal, id string) error {
	now := s.now().UTC()
	return s.Webhooks.DisableWebhook(ctx, id, now, audit.Entry{Actor: by.KeyID, Kind: KindWebhookDelete, Subject: id, At: now})
}

// MaxURLLen is the longest webhook URL accepted, in bytes.
const MaxURLLen = 2048

// checkURL says what is wrong with a webhook URL, or "".
func (s *Service) checkURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "is required"
	case len(raw) > MaxURLLen:
		return fmt.Sprintf("is %d characters long; at most %d", len(raw), MaxURLLen)
	case err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return "must be an absolute http(s) URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme %q is not allowed (want http or https)", u.Scheme)
	case u.User != nil:
		return "must not carry credentials; the signature authenticates deliveries"
	case u.Fragment != "":
		return "must not have a fragment"
	}
	if s.Policy != nil {
		host := u.Hostname()
		if ok, literal := s.Policy.LiteralAllowed(host); literal && !ok {
			return fmt.Sprintf("host %s is an address the outbound guard refuses (loopback, private, link-local or metadata); allow it in outbound.allow", host)
		}
		if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") && !s.Policy.AddrAllowed(host, loopback) {
			return "host localhost is refused by the outbound guard; allow it in outbound.allow"
		}
	}
	return ""
}

// withoutQuery is a URL as the audit log keeps it: a receiver's query
// string may carry a token, and developers read the audit log.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery = ""
	return u.String()
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// NewEventID is an event's stable id.
func NewEventID() string { return "evt_" + randomHex(12) }

var loopback = netip.MustParseAddr("127.0.0.1")
