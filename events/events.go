// Package events turns audit records into the events other systems watch —
// alerts, proposals and tickets — and carries them out: a hub that tails the
// outbox for server-sent event streams, and signed webhooks delivered at
// least once from the same outbox. An event holds only what its reader may
// see (ids, type, status, titles); readers fetch details with their own key.
package events

import (
	"encoding/json"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
)

// Event types.
const (
	AlertFired          = "alert.fired"
	AlertAcknowledged   = "alert.acknowledged"
	AlertResolved       = "alert.resolved"
	ProposalCreated     = "proposal.created"
	ProposalDecided     = "proposal.decided"
	ProposalExecuted    = "proposal.executed"
	TicketCreated       = "ticket.created"
	TicketUpdated       = "ticket.updated"
	TicketOverdue       = "ticket.overdue"
	TicketClosed        = "ticket.closed"
	audienceAlerts      = "alerts"
	audienceProposals   = "proposals"
	audienceTickets     = "tickets"
	defaultAlertLevel   = access.Internal
	defaultTicketLevel  = access.Public
	defaultProposalSafe = access.Restricted // a proposal whose clearance is unknown is hidden
)

// kind is what one audit kind becomes.
type kind struct {
	typ, audience, status string
}

// kinds maps audit kinds to event types: the one place that decides which
// audit records are events (store.appendAudit writes an outbox row for each).
var kinds = map[string]kind{
	"alert.fire":                {AlertFired, audienceAlerts, "firing"},
	"alert.acknowledge":         {AlertAcknowledged, audienceAlerts, "acknowledged"},
	"alert.resolve":             {AlertResolved, audienceAlerts, "resolved"},
	audit.KindProposalCreate:    {ProposalCreated, audienceProposals, "proposed"},
	audit.KindApprove:           {ProposalDecided, audienceProposals, "approved"},
	audit.KindReject:            {ProposalDecided, audienceProposals, "rejected"},
	audit.KindExpire:            {ProposalDecided, audienceProposals, "expired"},
	audit.KindExecute:           {ProposalExecuted, audienceProposals, "executed"},
	audit.KindExecuteFailed:     {ProposalExecuted, audienceProposals, "failed"},
	"hotline.ticket_create":     {TicketCreated, audienceTickets, ""},
	"hotline.ticket_transition": {TicketUpdated, audienceTickets, ""},
	"hotline.ticket_overdue":    {TicketOverdue, audienceTickets, ""},
	"hotline.ticket_close":      {TicketClosed, audienceTickets, "closed"},
}

// Types lists every event type, sorted.
var Types = []string{AlertAcknowledged, AlertFired, AlertResolved, ProposalCreated, ProposalDecided, ProposalExecuted,
	TicketClosed, TicketCreated, TicketOverdue, TicketUpdated}

// KnownType reports whether t is an event type.
func KnownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Event is one outbox row: a projection of one audit record.
type Event struct {
	Seq     int64  // the audit record's seq: the stream position (SSE id)
	ID      string // stable id for receivers' deduplication
	Type    string
	Subject string // the alert, proposal or ticket id
	// Who may read it.
	Audience   string
	Clearance  access.Clearance
	Department string
	At         time.Time
	// Body is the JSON sent to readers, exactly as stored (webhook
	// signatures are over these bytes).
	Body json.RawMessage
}

// Envelope is an event's body.
type Envelope struct {
	ID      string         `json:"id"`
	Seq     int64          `json:"seq"`
	Type    string         `json:"type"`
	Subject string         `json:"subject"`
	Time    time.Time      `json:"time"`
	Data    map[string]any `json:"data"`
}

// Subject is what the store knows about an event's subject row (a proposal
// or a ticket) at the time of the record; empty fields are unknown.
type Subject struct {
	Action, Risk, Agent, Clearance              string // proposals
	Status, Department, Type, Category, Urgency string // tickets
}

// Audience names the subject table an audit kind's event is about
// ("proposals", "tickets", "alerts"), so that the store can look the
// subject up; ok is false for a kind that is no event.
func Audience(auditKind string) (audience string, ok bool) {
	k, ok := kinds[auditKind]
	return k.audience, ok
}

// Project makes the event of an audit record, or reports ok=false for a
// record that is no event. newID gives the event its stable id.
func Project(rec audit.Record, subj Subject, newID func() string) (Event, bool) {
	k, ok := kinds[rec.Kind]
	if !ok {
		return Event{}, false
	}
	var p map[string]any
	_ = json.Unmarshal(rec.Payload, &p) // a payload that is no object projects to the subject facts alone
	str := func(key string) string {
		s, _ := p[key].(string)
		return s
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	e := Event{Seq: rec.Seq, ID: newID(), Type: k.typ, Subject: rec.Subject, Audience: k.audience, At: rec.At}
	data := map[string]any{}
	put := func(key, v string) {
		if v != "" {
			data[key] = v
		}
	}
	switch k.audience {
	case audienceProposals:
		e.Clearance = clearanceOr(first(subj.Clearance, str("clearance")), defaultProposalSafe)
		put("proposal_id", rec.Subject)
		put("status", k.status)
		put("action", first(str("action"), subj.Action))
		put("risk", first(subj.Risk, str("risk")))
		put("agent", first(subj.Agent, str("agent")))
	case audienceTickets:
		e.Clearance = defaultTicketLevel
		e.Department = first(str("department"), subj.Department)
		put("ticket_id", rec.Subject)
		put("status", first(k.status, str("to"), str("status"), subj.Status))
		put("from", str("from"))
		put("to", str("to"))
		put("department", e.Department)
		put("type", first(str("type"), subj.Type))
		put("category", first(str("category"), subj.Category))
		put("urgency", first(str("urgency"), subj.Urgency))
		if d, ok := p["deadline"]; ok && k.typ == TicketOverdue {
			data["deadline"] = d
		}
	case audienceAlerts:
		e.Clearance = clearanceOr(str("clearance"), defaultAlertLevel)
		e.Department = str("department")
		put("alert_id", first(str("alert_id"), rec.Subject))
		put("status", k.status)
		for _, f := range []string{"monitor", "subject", "severity", "unit", "title", "title_zh"} {
			put(f, str(f))
		}
		if v, ok := p["value"].(float64); ok {
			data["value"] = v
		}
	}
	body, err := json.Marshal(Envelope{ID: e.ID, Seq: e.Seq, Type: e.Type, Subject: e.Subject, Time: e.At.UTC(), Data: data})
	if err != nil { // only plain strings and numbers above: cannot happen
		return Event{}, false
	}
	e.Body = body
	return e, true
}

func clearanceOr(s string, def access.Clearance) access.Clearance {
	c, err := access.ParseClearance(s)
	if err != nil || s == "" {
		return def
	}
	return c
}
