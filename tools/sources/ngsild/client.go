// Package ngsild reads city data from a FIWARE NGSI-LD context broker: a
// small client for /ngsi-ld/v1/entities and /ngsi-ld/v1/temporal/entities
// (type and q filters, pagination, the @context Link header, tenants) and
// two adapters over it — traffic from RoadSegment and TrafficFlowObserved
// entities, energy from Building and ACMeasurement (or DeviceMeasurement)
// entities, as the Smart Data Models define them.
package ngsild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/sources/internal/httpget"
)

// DefaultContext is the Smart Data Models @context, sent in the Link header
// when the configuration names none.
const DefaultContext = "https://smartdatamodels.org/context.jsonld"

// Errors callers branch on.
var (
	// ErrBroker wraps a failure of the broker: unreachable, an error
	// status, or a payload that is not NGSI-LD.
	ErrBroker = errors.New("ngsild: broker error")
	// ErrNoTemporal marks a broker that answers 501 Not Implemented: it
	// has no temporal API (no history kept).
	ErrNoTemporal = errors.New("ngsild: broker has no temporal API")
)

// Config configures a Client.
type Config struct {
	BaseURL  string // e.g. http://orion:1026
	Context  string // @context URL for the Link header; DefaultContext when empty
	Tenant   string // NGSILD-Tenant header, if any
	Token    string // sent as a bearer token when not empty
	HTTP     *http.Client
	PageSize int   // entities per request; default 500
	MaxBytes int64 // per response; default 64 MiB
}

// Client talks to one context broker. It is safe for concurrent use.
type Client struct {
	base *url.URL
	cfg  Config
}

// NewClient checks cfg and returns a client.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ngsild: base URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	if cfg.Context == "" {
		cfg.Context = DefaultContext
	}
	if cfg.HTTP == nil {
		cfg.HTTP = httpget.NewClient(30 * time.Second)
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	return &Client{base: u, cfg: cfg}, nil
}

// Query selects entities.
type Query struct {
	Type  string
	IDs   []string // full entity ids
	Q     string   // NGSI-LD query language, e.g. refRoadSegment=="urn:…"
	Attrs []string
}

// TemporalQuery selects entities' attribute history.
type TemporalQuery struct {
	Query
	TimeRel   string // between, before or after
	TimeAt    time.Time
	EndTimeAt time.Time // for between
	LastN     int
}

// maxEntities bounds one listing, whatever the pages.
const maxEntities = 100000

// Entities lists the entities matching q, every page.
func (c *Client) Entities(ctx context.Context, q Query) ([]Entity, error) {
	return c.list(ctx, "/ngsi-ld/v1/entities", q.values())
}

// Temporal lists the entities matching q with their attribute instances
// (the temporal representation).
func (c *Client) Temporal(ctx context.Context, q TemporalQuery) ([]Entity, error) {
	v := q.values()
	v.Set("timerel", q.TimeRel)
	v.Set("timeAt", q.TimeAt.UTC().Format(time.RFC3339))
	if q.TimeRel == "between" {
		v.Set("endTimeAt", q.EndTimeAt.UTC().Format(time.RFC3339))
	}
	if q.LastN > 0 {
		v.Set("lastN", strconv.Itoa(q.LastN))
	}
	return c.list(ctx, "/ngsi-ld/v1/temporal/entities", v)
}

func (q Query) values() url.Values {
	v := url.Values{}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if len(q.IDs) > 0 {
		v.Set("id", strings.Join(q.IDs, ","))
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if len(q.Attrs) > 0 {
		v.Set("attrs", strings.Join(q.Attrs, ","))
	}
	return v
}

func (c *Client) headers() http.Header {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Link", fmt.Sprintf(`<%s>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`, c.cfg.Context))
	if c.cfg.Tenant != "" {
		h.Set("NGSILD-Tenant", c.cfg.Tenant)
	}
	if c.cfg.Token != "" {
		h.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	return h
}

func (c *Client) list(ctx context.Context, path string, v url.Values) ([]Entity, error) {
	var out []Entity
	for offset := 0; ; offset += c.cfg.PageSize {
		v.Set("limit", strconv.Itoa(c.cfg.PageSize))
		v.Set("offset", strconv.Itoa(offset))
		u := *c.base
		u.Path += path
		u.RawQuery = v.Encode()
		body, _, err := httpget.Get(ctx, c.cfg.HTTP, u.String(), c.headers(), c.cfg.MaxBytes)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var se *httpget.StatusError
			if errors.As(err, &se) {
				if se.Status == http.StatusNotImplemented {
					return nil, fmt.Errorf("%w: %w: %s %s", ErrBroker, ErrNoTemporal, path, problemText(se))
				}
				return nil, fmt.Errorf("%w: %s %s", ErrBroker, path, problemText(se))
			}
			return nil, fmt.Errorf("%w: %v", ErrBroker, err)
		}
		var page []Entity
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("%w: %s: not an NGSI-LD entity array: %w", ErrBroker, path, err)
		}
		out = append(out, page...)
		if len(page) < c.cfg.PageSize || len(out) >= maxEntities {
			return out, nil
		}
	}
}

// problemText reads an NGSI-LD error (RFC 7807) from a failed response.
func problemText(se *httpget.StatusError) string {
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal([]byte(se.Body), &p) == nil && (p.Title != "" || p.Detail != "") {
		return fmt.Sprintf("status %d: %s %s", se.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("status %d", se.Status)
}

// Entity is an NGSI-LD entity in normalized or keyValues form.
type Entity struct {
	ID    string
	Type  string
	Attrs map[string]json.RawMessage
}

// UnmarshalJSON reads id, type and every other member as an attribute.
func (e *Entity) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if err := json.Unmarshal(m["id"], &e.ID); err != nil || e.ID == "" {
		return errors.New("entity without an id")
	}
	var typ any
	_ = json.Unmarshal(m["type"], &typ)
	switch t := typ.(type) {
	case string:
		e.Type = t
	case []any:
		if len(t) > 0 {
			e.Type, _ = t[0].(string)
		}
	}
	delete(m, "id")
	delete(m, "type")
	delete(m, "@context")
	e.Attrs = m
	return nil
}

// ShortID is the last part of an entity id: "S012" of "urn:ngsi-ld:RoadSegment:S012".
func ShortID(id string) string {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// attr is one attribute in normalized form.
type attr struct {
	Type        string              `json:"type"`
	Value       json.RawMessage     `json:"value"`
	Object      json.RawMessage     `json:"object"`
	LanguageMap map[string]string   `json:"languageMap"`
	UnitCode    string              `json:"unitCode"`
	ObservedAt  string              `json:"observedAt"`
	Values      [][]json.RawMessage `json:"values"` // simplified temporal form
}

// value returns an attribute's value and metadata, accepting the normalized
// form ({"type":"Property","value":…}), keyValues (the bare value) and the
// first instance of a temporal array.
func (e Entity) value(name string) (attr, bool) {
	raw, ok := e.Attrs[name]
	if !ok {
		return attr{}, false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			var a attr
			if json.Unmarshal(list[0], &a) == nil && a.Type != "" {
				return a, true
			}
			return attr{Value: raw}, true
		}
	}
	if len(raw) > 0 && raw[0] == '{' {
		var a attr
		if json.Unmarshal(raw, &a) == nil && a.Type != "" && (a.Value != nil || a.Object != nil || a.LanguageMap != nil || a.Values != nil) {
			return a, true
		}
	}
	return attr{Value: raw}, true
}

// Text returns a string property (a LanguageProperty's English, else any, text).
func (e Entity) Text(name string) string {
	a, ok := e.value(name)
	if !ok {
		return ""
	}
	if a.LanguageMap != nil {
		for _, l := range []string{"en", "zh", "@none"} {
			if s := a.LanguageMap[l]; s != "" {
				return s
			}
		}
		for _, s := range a.LanguageMap {
			return s
		}
	}
	var s string
	if json.Unmarshal(a.Value, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(a.Value, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

// Lang returns a LanguageProperty's text in lang, or "".
func (e Entity) Lang(name, lang string) string {
	a, ok := e.value(name)
	if !ok {
		return ""
	}
	return a.LanguageMap[lang]
}

// Sub returns a sub-property of an object value, e.g. address.district.
func (e Entity) Sub(name, key string) string {
	a, ok := e.value(name)
	if !ok {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(a.Value, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// Number returns a numeric property and its unit code.
func (e Entity) Number(name string) (float64, string, bool) {
	a, ok := e.value(name)
	if !ok {
		return 0, "", false
	}
	var f float64
	if json.Unmarshal(a.Value, &f) == nil {
		return f, a.UnitCode, true
	}
	var s string
	if json.Unmarshal(a.Value, &s) == nil {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, a.UnitCode, true
		}
	}
	return 0, "", false
}

// Bool returns a boolean property.
func (e Entity) Bool(name string) (bool, bool) {
	a, ok := e.value(name)
	if !ok {
		return false, false
	}
	var b bool
	return b, json.Unmarshal(a.Value, &b) == nil
}

// Object returns a Relationship's target (the first, for a list), or a
// keyValues string.
func (e Entity) Object(name string) string {
	a, ok := e.value(name)
	if !ok {
		return ""
	}
	raw := a.Object
	if raw == nil {
		raw = a.Value
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

// Time returns a DateTime property: a plain string or {"@type":"DateTime",
// "@value":…}; for an interval "start/end", its end. Floating times are UTC.
func (e Entity) Time(name string) (time.Time, bool) {
	_, to, ok := e.IntervalIn(name, time.UTC)
	return to, ok
}

// Instance is one value of an attribute's history.
type Instance struct {
	Value      json.RawMessage
	UnitCode   string
	ObservedAt time.Time
}

// Float reads an instance's value as a number.
func (in Instance) Float() (float64, bool) {
	var f float64
	return f, json.Unmarshal(in.Value, &f) == nil
}

// Instances returns an attribute's history from a temporal entity, in
// either the normalized form (an array of {"value","observedAt"}) or the
// simplified one ({"values": [[value, time], …]}), oldest first.
func (e Entity) Instances(name string) []Instance {
	raw, ok := e.Attrs[name]
	if !ok {
		return nil
	}
	var list []attr
	if err := json.Unmarshal(raw, &list); err != nil {
		var one attr
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		list = []attr{one}
	}
	var out []Instance
	for _, a := range list {
		if a.Values != nil {
			for _, pair := range a.Values {
				if len(pair) != 2 {
					continue
				}
				var ts string
				if json.Unmarshal(pair[1], &ts) != nil {
					continue
				}
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					out = append(out, Instance{Value: pair[0], UnitCode: a.UnitCode, ObservedAt: t})
				}
			}
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, a.ObservedAt)
		if err != nil {
			continue
		}
		out = append(out, Instance{Value: a.Value, UnitCode: a.UnitCode, ObservedAt: t})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ObservedAt.Before(out[j-1].ObservedAt); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
