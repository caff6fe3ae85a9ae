package hotline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// Fields of a ticket's personal data as sealed in the store.
const (
	FieldCallerName    = "caller.name"
	FieldCallerPhone   = "caller.phone"
	FieldCallerEmail   = "caller.email"
	FieldCallerAccount = "caller.account_id"
	// FieldText is the request text as written, kept when it held personal
	// data (the ticket keeps the masked text).
	FieldText = "text"
	// FieldAddress is the address as written, kept when it held personal data.
	FieldAddress = "location.address"
)

// Audit kinds of personal data. Their payloads name fields and key ids,
// never values.
const (
	KindPersonalReveal = "hotline.personal_reveal"
	KindPersonalMasked = "hotline.personal_masked" // a ticket stored in the clear, masked in place
	KindPersonalReseal = "hotline.personal_reseal" // re-sealed under the current key
)

// RevealClearance is the clearance a key needs to see personal data.
const RevealClearance = access.Sensitive

var (
	// ErrRevealForbidden: the key's clearance is below RevealClearance.
	ErrRevealForbidden = usererr.New("hotline", "revealing personal data needs a key with sensitive or restricted clearance")
	// ErrPersonalKey: stored personal data does not open with the keys this
	// server holds. It fails closed: nothing is revealed.
	ErrPersonalKey = errors.New("hotline: personal data cannot be decrypted with this server's keys")
)

// PersonalKeyError is a ticket's personal data that does not decrypt. It
// wraps ErrPersonalKey.
type PersonalKeyError struct {
	TicketID, Field, KeyID string
	// Known: the server has a key with that id (so the data or the key is
	// not what it was); else the key is not configured.
	Known bool
	err   error
}

func (e *PersonalKeyError) Error() string {
	return fmt.Sprintf("%v: ticket %s, field %s: %v", ErrPersonalKey, e.TicketID, e.Field, e.err)
}

// Unwrap makes errors.Is(err, ErrPersonalKey) hold.
func (e *PersonalKeyError) Unwrap() []error { return []error{ErrPersonalKey, e.err} }

// Public says what is wrong without the data.
func (e *PersonalKeyError) Public() string {
	if !e.Known {
		return fmt.Sprintf("the ticket's personal data is encrypted with key %s, which this server does not have; nothing is revealed "+
			"(configure that key in hotline.personal_data_key or hotline.personal_data_old_keys)", e.KeyID)
	}
	return fmt.Sprintf("the ticket's personal data does not decrypt with key %s (a different key with the same id, or altered data); nothing is revealed", e.KeyID)
}

// PersonalStore is the part of the state store that keeps personal data;
// *store.DB implements it. A Store without it cannot reveal.
type PersonalStore interface {
	PersonalData(ctx context.Context, ticketID string) ([]store.PersonalDatum, error)
}

var _ PersonalStore = (*store.DB)(nil)

// Personal is a ticket's personal data as given, decrypted.
type Personal struct {
	Caller  *Caller  `json:"caller,omitempty"`
	Text    string   `json:"text"`    // the request text as written
	Address string   `json:"address"` // as written; empty without a location
	KeyIDs  []string `json:"key_ids"` // the keys it was sealed with
}

// Revealed is a ticket with its personal data, for a key allowed to see it.
type Revealed struct {
	Ticket
	Personal Personal `json:"personal"`
}

// mask hides most of a caller's personal data: every answer, log line,
// prompt and record shows callers through it (rule 15 of the hotline
// rules: personal information is desensitised wherever it is shown).
func (c *Caller) mask() *Caller {
	if c == nil {
		return nil
	}
	return &Caller{Name: pii.MaskName(c.Name), Phone: maskPhone(c.Phone), Email: maskEmail(c.Email), AccountID: pii.MaskAccount(c.AccountID)}
}

// maskPhone masks a caller's phone; a masked one (a phone field holds no
// '*' as given) stays as it is, so that masking twice changes nothing.
func maskPhone(s string) string {
	if s == "" || strings.Contains(s, "*") {
		return s
	}
	return pii.MaskPhone(s)
}

func maskEmail(s string) string {
	if s == "" {
		return ""
	}
	return pii.MaskEmail(s)
}

// fields lists a caller's non-empty fields by personal-data field name.
func (c *Caller) fields() map[string]string {
	out := map[string]string{}
	if c == nil {
		return out
	}
	for f, v := range map[string]string{FieldCallerName: c.Name, FieldCallerPhone: c.Phone, FieldCallerEmail: c.Email, FieldCallerAccount: c.AccountID} {
		if v != "" {
			out[f] = v
		}
	}
	return out
}

// protect splits a normalised request into what the rest of the service
// sees (caller masked; personal data in the text and address masked) and
// the originals to seal, by field.
func protect(req CreateRequest) (CreateRequest, map[string]string) {
	orig := req.Caller.fields()
	if m := pii.Mask(req.Text); m != req.Text {
		orig[FieldText] = req.Text
		req.Text = m
	}
	if l := req.Location; l != nil {
		if m := pii.Mask(l.Address); m != l.Address {
			orig[FieldAddress] = l.Address
			loc := *l
			loc.Address = m
			req.Location = &loc
		}
	}
	req.Caller = req.Caller.mask()
	return req, orig
}

func personalAAD(ticketID, field string) []byte { return []byte(ticketID + "\x00" + field) }

// seal encrypts a ticket's originals, one row per field.
func (s *Service) seal(ticketID string, orig map[string]string, at time.Time) ([]store.PersonalDatum, error) {
	fields := make([]string, 0, len(orig))
	for f := range orig {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	out := make([]store.PersonalDatum, 0, len(fields))
	for _, f := range fields {
		ct, kid, err := s.keys.Seal(personalAAD(ticketID, f), []byte(orig[f]))
		if err != nil {
			return nil, err
		}
		out = append(out, store.PersonalDatum{TicketID: ticketID, Field: f, Ciphertext: ct, KeyID: kid, CreatedAt: at})
	}
	return out, nil
}

// ephemeralKeyring is the ring of a service configured without one: a
// random key held in memory, so that nothing is ever stored in the clear
// (what it sealed cannot be revealed after a restart).
func ephemeralKeyring() *pii.Keyring {
	k := make([]byte, pii.KeySize)
	_, _ = rand.Read(k)
	ring, err := pii.NewKeyring(k)
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	return ring
}

// Reveal returns a ticket with its personal data decrypted, for a key with
// RevealClearance, and audits that it was shown (fields and key ids, not
// values) before returning it. Data that does not decrypt is
// ErrPersonalKey: nothing is revealed.
func (s *Service) Reveal(ctx context.Context, id string, by access.Principal) (Revealed, error) {
	if !by.Clearance.Covers(RevealClearance) {
		return Revealed{}, ErrRevealForbidden
	}
	t, err := s.Get(ctx, id)
	if err != nil {
		return Revealed{}, err
	}
	ps, ok := s.store.(PersonalStore)
	if !ok {
		return Revealed{}, fmt.Errorf("%w: the state store keeps no personal data", ErrUnavailable)
	}
	rows, err := ps.PersonalData(ctx, id)
	if err != nil {
		return Revealed{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	p, fields, err := s.open(id, rows)
	if err != nil {
		return Revealed{}, err
	}
	if p.Text == "" {
		p.Text = t.Text // the text held no personal data: it is stored as written
	}
	if _, ok := fieldsSet(fields)[FieldAddress]; !ok && t.Location != nil {
		p.Address = t.Location.Address
	}
	entry := audit.Entry{Actor: by.KeyID, Kind: KindPersonalReveal, Subject: id, At: s.now().UTC(),
		Payload: map[string]any{"fields": fields, "key_ids": p.KeyIDs, "clearance": string(by.Clearance), "role": string(by.Role)}}
	if err := s.store.Audit(ctx, entry); err != nil {
		return Revealed{}, fmt.Errorf("%w: the reveal could not be audited: %w", ErrUnavailable, err)
	}
	return Revealed{Ticket: t, Personal: p}, nil
}

func fieldsSet(fs []string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, f := range fs {
		m[f] = struct{}{}
	}
	return m
}

// open decrypts a ticket's rows; any row that does not open fails all.
func (s *Service) open(id string, rows []store.PersonalDatum) (Personal, []string, error) {
	var p Personal
	var c Caller
	fields := []string{}
	keyIDs := map[string]bool{}
	dsts := map[string]*string{FieldCallerName: &c.Name, FieldCallerPhone: &c.Phone, FieldCallerEmail: &c.Email,
		FieldCallerAccount: &c.AccountID, FieldText: &p.Text, FieldAddress: &p.Address}
	for _, r := range rows {
		plain, err := s.keys.Open(r.KeyID, personalAAD(id, r.Field), r.Ciphertext)
		if err != nil {
			return Personal{}, nil, &PersonalKeyError{TicketID: id, Field: r.Field, KeyID: r.KeyID, Known: s.keys.Has(r.KeyID), err: err}
		}
		if dst, ok := dsts[r.Field]; ok {
			*dst = string(plain)
		}
		fields = append(fields, r.Field)
		keyIDs[r.KeyID] = true
	}
	if c != (Caller{}) {
		p.Caller = &c
	}
	for k := range keyIDs {
		p.KeyIDs = append(p.KeyIDs, k)
	}
	sort.Strings(p.KeyIDs)
	if p.KeyIDs == nil {
		p.KeyIDs = []string{}
	}
	return p, fields, nil
}

// maskJSON masks personal data in every string of a JSON document (a
// stored view or response); a document that is not JSON is returned as is.
func maskJSON(raw json.RawMessage) (json.RawMessage, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers come back as written
	if len(raw) == 0 || dec.Decode(&v) != nil {
		return raw, false
	}
	changed := false
	v = maskValue(v, &changed)
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw, false
	}
	return out, true
}

func maskValue(v any, changed *bool) any {
	switch x := v.(type) {
	case string:
		if m := pii.Mask(x); m != x {
			*changed = true
			return m
		}
	case []any:
		for i := range x {
			x[i] = maskValue(x[i], changed)
		}
	case map[string]any:
		for k := range x {
			x[k] = maskValue(x[k], changed)
		}
	}
	return v
}
