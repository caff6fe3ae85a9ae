package hotline

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/usererr"
)

// CreateRequest is a citizen's request as a hotline system sends it.
type CreateRequest struct {
	Text       string     `json:"text"`
	Channel    string     `json:"channel,omitempty"`
	Caller     *Caller    `json:"caller,omitempty"`
	Location   *Location  `json:"location,omitempty"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// Caller is who made the request. It is personal data: sealed apart from
// the ticket and shown masked everywhere else (personal.go).
type Caller struct {
	Name      string `json:"name,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	AccountID string `json:"account_id,omitempty"`
}

// Location is where the request is about.
type Location struct {
	Address string   `json:"address,omitempty"`
	Lat     *float64 `json:"lat,omitempty"`
	Lon     *float64 `json:"lon,omitempty"`
}

// Limits of a request.
const (
	MaxTextRunes    = 4000
	MaxAddressRunes = 300
	maxCallerRunes  = 100
	// MaxIdempotencyKey is the longest Idempotency-Key accepted.
	MaxIdempotencyKey = 255
	// maxFutureSkew is how far in the future received_at may be (clock skew).
	maxFutureSkew = 5 * time.Minute
	// maxAge is how old received_at may be.
	maxAge = 30 * 24 * time.Hour
)

// Errors callers branch on; the server maps them to statuses.
var (
	ErrInvalid  = usererr.New("hotline", "invalid request")
	ErrNotFound = usererr.New("hotline", "not found")
	// ErrIdempotencyMismatch: the key was used with a different request.
	ErrIdempotencyMismatch = errors.New("hotline: idempotency key reused with a different request")
	// ErrIdempotencyInFlight: the key's first request is still running.
	ErrIdempotencyInFlight = errors.New("hotline: a request with this idempotency key is in progress")
	// ErrClosed: the ticket is closed already.
	ErrClosed = errors.New("hotline: ticket already closed")
	// ErrUnavailable: the state store failed; retry with the same key.
	ErrUnavailable = errors.New("hotline: temporarily unavailable")
)

// InputError names the field of a request that is wrong; its message is
// safe to show the caller.
type InputError struct {
	Field, Message string
}

func (e *InputError) Error() string { return "hotline: " + e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *InputError) Unwrap() error { return ErrInvalid }

var (
	channelRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	phoneRE   = regexp.MustCompile(`^[0-9+()\- ]{3,32}$`)
)

// textProblem says why s is not acceptable request text, or "": it must be
// UTF-8, with no control characters but tab and line breaks, and no
// bidirectional overrides or isolates (U+202A–U+202E, U+2066–U+2069). Those
// make text display in another order than it is stored (Trojan Source), so
// what a department or a supervisor reads in the audit trail could differ
// from what was triaged. Direction marks stay: right-to-left text needs them.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || (r >= 0x7F && r <= 0x9F):
			return fmt.Sprintf("must not contain the control character %U", r)
		case (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069'):
			return fmt.Sprintf("must not contain the bidirectional control %U", r)
		}
	}
	return ""
}

// DefaultChannel is the channel of a request that names none.
const DefaultChannel = "api"

// normalize checks req and returns it trimmed, with defaults.
func (req CreateRequest) normalize(now time.Time) (CreateRequest, error) {
	bad := func(field, format string, args ...any) (CreateRequest, error) {
		return CreateRequest{}, &InputError{field, fmt.Sprintf(format, args...)}
	}
	req.Text = strings.TrimSpace(req.Text)
	if msg := textProblem(req.Text); msg != "" {
		return bad("text", "%s", msg)
	}
	switch {
	case req.Text == "":
		return bad("text", "must not be empty")
	case utf8.RuneCountInString(req.Text) > MaxTextRunes:
		return bad("text", "must be at most %d characters", MaxTextRunes)
	}
	req.Channel = strings.ToLower(strings.TrimSpace(req.Channel))
	if req.Channel == "" {
		req.Channel = DefaultChannel
	}
	if !channelRE.MatchString(req.Channel) {
		return bad("channel", "must be a short lower-case name such as phone, web, app, wechat or sms")
	}
	if l := req.Location; l != nil {
		loc := Location{Address: strings.TrimSpace(l.Address), Lat: l.Lat, Lon: l.Lon}
		if msg := textProblem(loc.Address); msg != "" {
			return bad("location.address", "%s", msg)
		}
		if utf8.RuneCountInString(loc.Address) > MaxAddressRunes {
			return bad("location.address", "must be valid text of at most %d characters", MaxAddressRunes)
		}
		if (loc.Lat == nil) != (loc.Lon == nil) {
			return bad("location", "lat and lon go together")
		}
		if loc.Lat != nil {
			if lat := *loc.Lat; math.IsNaN(lat) || lat < -90 || lat > 90 {
				return bad("location.lat", "must be a latitude between -90 and 90")
			}
			if lon := *loc.Lon; math.IsNaN(lon) || lon < -180 || lon > 180 {
				return bad("location.lon", "must be a longitude between -180 and 180")
			}
		}
		req.Location = &loc
		if loc.Address == "" && loc.Lat == nil {
			req.Location = nil
		}
	}
	if c := req.Caller; c != nil {
		cc := Caller{Name: strings.TrimSpace(c.Name), Phone: strings.TrimSpace(c.Phone), Email: strings.TrimSpace(c.Email), AccountID: strings.TrimSpace(c.AccountID)}
		for _, f := range []struct{ name, v string }{{"caller.name", cc.Name}, {"caller.email", cc.Email}, {"caller.account_id", cc.AccountID}} {
			if msg := textProblem(f.v); msg != "" {
				return bad(f.name, "%s", msg)
			}
			if utf8.RuneCountInString(f.v) > maxCallerRunes {
				return bad(f.name, "must be valid text of at most %d characters", maxCallerRunes)
			}
		}
		if cc.Phone != "" && !phoneRE.MatchString(cc.Phone) {
			return bad("caller.phone", "must be a phone number (digits, spaces, + - ( ))")
		}
		if cc.Email != "" && (!strings.Contains(cc.Email, "@") || strings.ContainsAny(cc.Email, " <>")) {
			return bad("caller.email", "must be an email address")
		}
		req.Caller = &cc
		if cc == (Caller{}) {
			req.Caller = nil
		}
	}
	if req.ReceivedAt != nil {
		at := req.ReceivedAt.UTC()
		switch {
		case at.After(now.Add(maxFutureSkew)):
			return bad("received_at", "is in the future")
		case at.Before(now.Add(-maxAge)):
			return bad("received_at", "is more than 30 days ago")
		}
		req.ReceivedAt = &at
	}
	return req, nil
}

// CheckIdempotencyKey validates an Idempotency-Key header value.
func CheckIdempotencyKey(k string) error {
	if k == "" || len(k) > MaxIdempotencyKey {
		return &InputError{"Idempotency-Key", fmt.Sprintf("must be 1 to %d characters", MaxIdempotencyKey)}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return &InputError{"Idempotency-Key", "must be printable ASCII without spaces (a UUID is a good key)"}
		}
	}
	return nil
}

// Ticket is a hotline ticket as the API shows it.
type Ticket struct {
	ID             string            `json:"ticket_id"`
	Token          string            `json:"token"`
	Status         string            `json:"status"`
	Type           string            `json:"type"`
	TypeName       Text              `json:"type_name"`
	Category       string            `json:"category"`
	CategoryName   Text              `json:"category_name"`
	CategoryPath   Text              `json:"category_path"`
	Department     string            `json:"department"`
	DepartmentName Text              `json:"department_name"`
	Urgency        string            `json:"urgency"`
	Deadline       time.Time         `json:"deadline"`
	DeadlineRule   string            `json:"deadline_rule"`
	DraftReply     string            `json:"draft_reply"`
	Lang           string            `json:"lang"`
	Citations      []agents.Citation `json:"citations"`
	Degraded       bool              `json:"degraded"`
	Warnings       []string          `json:"warnings"`
	Triage         TriageInfo        `json:"triage"`
	Dispatch       *DispatchInfo     `json:"dispatch,omitempty"`
	Channel        string            `json:"channel"`
	Text           string            `json:"text"`
	Location       *Location         `json:"location,omitempty"`
	Caller         *Caller           `json:"caller,omitempty"` // masked
	Attributes     map[string]string `json:"attributes,omitempty"`
	ReceivedAt     time.Time         `json:"received_at"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	ClosedAt       *time.Time        `json:"closed_at,omitempty"`
	Resolution     string            `json:"resolution,omitempty"`
	DuplicateOf    string            `json:"duplicate_of,omitempty"` // the open ticket this one likely repeats (duplicates.go)
	Duplicates     int               `json:"duplicates"`             // tickets linked as duplicates of this one
	Lifecycle      *LifecycleView    `json:"lifecycle,omitempty"`    // hotline/lifecycle.go
}

// Open reports whether the ticket is not finished (closed or merged).
func (t Ticket) Open() bool { return !Finished(t.Status) }

// TriageInfo is how a ticket was triaged.
type TriageInfo struct {
	Sources      map[string]string `json:"sources"`
	ModelChoice  *TriageArgs       `json:"model_choice,omitempty"`
	Model        string            `json:"model,omitempty"`
	Agent        string            `json:"agent,omitempty"`
	AgentVersion string            `json:"agent_version,omitempty"`
	SessionID    string            `json:"session_id,omitempty"`
	TraceID      string            `json:"trace_id,omitempty"`
	Rules        Classification    `json:"rules"`
	Taxonomy     string            `json:"taxonomy"`
	DurationMS   int64             `json:"duration_ms"`
}

// DispatchInfo is where a ticket's dispatch stands.
type DispatchInfo struct {
	DispatchOutcome
	Error string `json:"error,omitempty"`
}
