package events_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
)

func TestVisible(t *testing.T) {
	prop := events.Event{Type: events.ProposalCreated, Audience: "proposals", Clearance: access.Internal}
	secretProp := events.Event{Type: events.ProposalCreated, Audience: "proposals", Clearance: access.Sensitive}
	ticket := events.Event{Type: events.TicketCreated, Audience: "tickets", Clearance: access.Public, Department: "water"}
	alert := events.Event{Type: events.AlertFired, Audience: "alerts", Clearance: access.Internal}
	key := func(r access.Role, c access.Clearance) access.Principal {
		return access.Principal{KeyID: "k", Role: r, Clearance: c}
	}
	dept := func(d string) access.Principal {
		return access.Principal{KeyID: "k", Role: access.RoleDepartment, Clearance: access.Internal, Department: d}
	}
	cases := map[string]struct {
		who  access.Principal
		e    events.Event
		want bool
	}{
		"operator sees a proposal":                {key(access.RoleOperator, access.Internal), prop, true},
		"operator below its clearance does not":   {key(access.RoleOperator, access.Public), prop, false},
		"supervisor sees a sensitive proposal":    {key(access.RoleSupervisor, access.Sensitive), secretProp, true},
		"internal admin misses a sensitive one":   {key(access.RoleAdmin, access.Internal), secretProp, false},
		"hotline does not see proposals":          {key(access.RoleHotline, access.Restricted), prop, false},
		"hotline does not see alerts":             {key(access.RoleHotline, access.Restricted), alert, false},
		"hotline sees tickets":                    {key(access.RoleHotline, access.Public), ticket, true},
		"supervisor sees tickets":                 {key(access.RoleSupervisor, access.Public), ticket, true},
		"operator does not see tickets":           {key(access.RoleOperator, access.Restricted), ticket, false},
		"developer sees alerts":                   {key(access.RoleDeveloper, access.Internal), alert, true},
		"department key without department":       {key(access.RoleDepartment, access.Restricted), ticket, false},
		"department key does not see proposals":   {dept("water"), prop, false},
		"department key does not see alerts":      {dept("water"), alert, false},
		"department key sees its own tickets":     {dept("water"), ticket, true},
		"department key misses other departments": {dept("power"), ticket, false},
		"an unknown audience is shown to nobody":  {key(access.RoleAdmin, access.Restricted), events.Event{Audience: "x"}, false},
		"an unknown clearance is shown to nobody": {key(access.RoleAdmin, access.Restricted), events.Event{Audience: "alerts", Clearance: "top"}, false},
	}
	for name, c := range cases {
		if got := events.Visible(c.who, c.e); got != c.want {
			t.Errorf("%s: Visible = %v, want %v", name, got, c.want)
		}
	}
}

func TestProject(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	id := func() string { return "evt_1" }
	rec := func(kind, subject, payload string) audit.Record {
		return audit.Record{Seq: 7, At: at, Kind: kind, Subject: subject, Payload: []byte(payload)}
	}
	if _, ok := events.Project(rec(audit.KindChatTurn, "ses_1", `{}`), events.Subject{}, id); ok {
		t.Error("a chat turn projected to an event")
	}
	cases := map[string]struct {
		rec      audit.Record
		subj     events.Subject
		typ      string
		clr      access.Clearance
		dept     string
		contains []string
		lacks    []string
	}{
		"expiry takes action and clearance from the proposal row": {rec(audit.KindExpire, "prop_1", `{}`),
			events.Subject{Action: "traffic.retime_signal", Clearance: "sensitive"}, events.ProposalDecided, access.Sensitive, "",
			[]string{`"status":"expired"`, `"action":"traffic.retime_signal"`}, nil},
		"a proposal of unknown clearance is restricted": {rec(audit.KindProposalCreate, "prop_2", `{"action":"a","arguments":{"x":"secret"}}`),
			events.Subject{}, events.ProposalCreated, access.Restricted, "", []string{`"action":"a"`}, []string{"secret", "arguments"}},
		"a transition carries from, to and department, not the note": {rec("hotline.ticket_transition", "tkt_1",
			`{"ticket_id":"tkt_1","from":"dispatched","to":"accepted","department":"water","note":"caller 13800138000"}`),
			events.Subject{Department: "urban"}, events.TicketUpdated, access.Public, "water",
			[]string{`"status":"accepted"`, `"from":"dispatched"`, `"department":"water"`}, []string{"13800138000", "note"}},
		"overdue carries the deadline": {rec("hotline.ticket_overdue", "tkt_1", `{"ticket_id":"tkt_1","department":"water","deadline":"2026-12-01T00:00:00Z"}`),
			events.Subject{Status: "accepted"}, events.TicketOverdue, access.Public, "water", []string{`"deadline":"2026-12-01T00:00:00Z"`, `"status":"accepted"`}, nil},
		"an alert keeps its clearance and titles": {rec("alert.acknowledge", "alt_1", `{"alert_id":"alt_1","monitor":"m","severity":"critical","title":"T","title_zh":"干线","value":2.5,"clearance":"sensitive","values":[1,2]}`),
			events.Subject{}, events.AlertAcknowledged, access.Sensitive, "", []string{`"title_zh":"干线"`, `"value":2.5`, `"status":"acknowledged"`}, []string{"values"}},
	}
	for name, c := range cases {
		e, ok := events.Project(c.rec, c.subj, id)
		if !ok || e.Type != c.typ || e.Clearance != c.clr || e.Department != c.dept || e.Seq != 7 || e.ID != "evt_1" || !e.At.Equal(at) {
			t.Errorf("%s: Project = %+v, %v", name, e, ok)
			continue
		}
		for _, s := range c.contains {
			if !strings.Contains(string(e.Body), s) {
				t.Errorf("%s: body lacks %s: %s", name, s, e.Body)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(string(e.Body), s) {
				t.Errorf("%s: body carries %s: %s", name, s, e.Body)
			}
		}
	}
}

// TestSignature checks Sign against the algorithm docs/events.md gives
// receivers, written out here independently, and Verify's refusals.
func TestSignature(t *testing.T) {
	secret, body := "whsec_0123456789abcdef", []byte(`{"id":"evt_1","type":"ticket.created"}`)
	at := time.Unix(1764644400, 0)
	sig := events.Sign(secret, at, body)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s", at.Unix(), body)
	if want := fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(m.Sum(nil))); sig != want {
		t.Fatalf("Sign = %s, want %s", sig, want)
	}
	if err := events.Verify(sig, secret, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify of a good signature: %v", err)
	}
	// A receiver may be sent several v1 values while a secret is rotated.
	if err := events.Verify("t=1764644400,v1=00,"+strings.Split(sig, ",")[1], secret, body, at, time.Minute); err != nil {
		t.Errorf("Verify with a second v1: %v", err)
	}
	bad := map[string]struct {
		header, secret string
		body           []byte
		now            time.Time
	}{
		"other body":   {sig, secret, []byte(`{"id":"evt_2"}`), at},
		"other secret": {sig, "whsec_other_secret_1", body, at},
		"replayed":     {sig, secret, body, at.Add(6 * time.Minute)},
		"no v1":        {"t=1764644400", secret, body, at},
		"no t":         {strings.Split(sig, ",")[1], secret, body, at},
		"empty":        {"", secret, body, at},
	}
	for name, c := range bad {
		if err := events.Verify(c.header, c.secret, c.body, c.now, 5*time.Minute); !errors.Is(err, events.ErrSignature) {
			t.Errorf("%s: Verify = %v, want ErrSignature", name, err)
		}
	}
}

// memSource is an outbox in memory for the hub's own tests (the store's
// outbox is tested in package store; the feed end to end in cmd/cityagent).
type memSource struct {
	evs chan events.Event // appended by the test
	got []events.Event
}

var _ events.Source = (*memSource)(nil)

func (m *memSource) EventsAfter(_ context.Context, after int64, limit int) ([]events.Event, error) {
	for len(m.evs) > 0 {
		m.got = append(m.got, <-m.evs)
	}
	var out []events.Event
	for _, e := range m.got {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memSource) EventsHead(context.Context) (int64, error) { return 0, nil }

func TestHubDropsASlowSubscriberAndKeepsTheRest(t *testing.T) {
	src := &memSource{evs: make(chan events.Event, 100)}
	hub := events.NewHub(src, time.Millisecond, 4, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	slow, fast := hub.Subscribe(), hub.Subscribe()
	for want := int64(1); want <= 10; want++ { // one at a time: fast reads each before the next
		src.evs <- events.Event{Seq: want, Type: events.TicketCreated}
		e, ok := <-fast.C
		if !ok || e.Seq != want {
			t.Fatalf("fast subscriber got %v, %v; want seq %d", e.Seq, ok, want)
		}
	}
	n := 0
	for range slow.C { // closes once the hub gave up on it
		n++
	}
	if !slow.Dropped() || n != 4 {
		t.Errorf("slow subscriber: dropped %v after %d events, want dropped after its buffer of 4", slow.Dropped(), n)
	}
	cancel()
	<-done
	if _, ok := <-fast.C; ok || fast.Dropped() {
		t.Error("the hub's stop left a subscription open or marked it dropped")
	}
	late := hub.Subscribe()
	if _, ok := <-late.C; ok {
		t.Error("a subscription after the hub stopped is open")
	}
}

// FuzzVerify: no header makes Verify panic, and what Sign makes verifies.
func FuzzVerify(f *testing.F) {
	f.Add("t=1764644400,v1=00", "whsec_0123456789abcdef", []byte(`{}`))
	f.Add(",,=,t=,v1=", "", []byte(nil))
	f.Fuzz(func(t *testing.T, header, secret string, body []byte) {
		now := time.Unix(1764644400, 0)
		_ = events.Verify(header, secret, body, now, time.Minute)
		if err := events.Verify(events.Sign(secret, now, body), secret, body, now, time.Minute); err != nil {
			t.Fatalf("a fresh signature does not verify: %v", err)
		}
	})
}
