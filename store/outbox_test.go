package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
)

func testProposal(id string, clr access.Clearance) Proposal {
	return Proposal{ID: id, Action: "traffic.retime_signal", Arguments: json.RawMessage(`{"corridor":"renmin"}`), Risk: "medium",
		ApproverRole: access.RoleSupervisor, Clearance: clr, Agent: "traffic", AgentVersion: "v1", Model: "offline",
		Question: "人民路拥堵", Rationale: "secret rationale", Evidence: json.RawMessage(`[]`), ProposerKeyID: "key_op",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func allEvents(t *testing.T, db *DB) []events.Event {
	t.Helper()
	evs, err := db.EventsAfter(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var outboxConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"outbox: an event commits with its audit record, with the subject's facts and nothing more", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.Audit(ctx, audit.Entry{Actor: "key_op", Kind: audit.KindChatTurn, Subject: "ses_1"}); err != nil {
			t.Fatal(err)
		}
		p := testProposal("prop_1", access.Sensitive)
		if err := db.CreateProposal(ctx, p, audit.Entry{Actor: "key_op", Kind: audit.KindProposalCreate, Subject: p.ID,
			Payload: map[string]any{"action": p.Action, "arguments": map[string]any{"corridor": "renmin"}}}); err != nil {
			t.Fatal(err)
		}
		tk := testTicket("tkt_1", t0)
		if err := db.CreateTicket(ctx, tk, nil, audit.Entry{Actor: "key_h", Kind: "hotline.ticket_create", Subject: tk.ID}); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, db)
		if len(evs) != 2 {
			t.Fatalf("events = %+v, want a proposal and a ticket (a chat turn is no event)", evs)
		}
		pe, te := evs[0], evs[1]
		if pe.Seq != 2 || pe.Type != events.ProposalCreated || pe.Subject != "prop_1" || pe.Clearance != access.Sensitive || pe.Audience != "proposals" {
			t.Errorf("proposal event = %+v", pe)
		}
		if te.Seq != 3 || te.Type != events.TicketCreated || te.Department != "urban_management" || te.Clearance != access.Public {
			t.Errorf("ticket event = %+v", te)
		}
		var env events.Envelope
		if err := json.Unmarshal(pe.Body, &env); err != nil {
			t.Fatal(err)
		}
		if env.ID != pe.ID || env.Seq != 2 || env.Data["status"] != "proposed" || env.Data["action"] != p.Action || env.Data["risk"] != "medium" {
			t.Errorf("proposal body = %s", pe.Body)
		}
		for _, leak := range []string{"renmin", "secret rationale", "人民路"} {
			if strings.Contains(string(pe.Body), leak) {
				t.Errorf("proposal body carries %q: %s", leak, pe.Body)
			}
		}
		for _, leak := range []string{"张三", "人民路12号", "路灯坏了"} {
			if strings.Contains(string(te.Body), leak) {
				t.Errorf("ticket body carries %q: %s", leak, te.Body)
			}
		}
		if head, err := db.EventsHead(ctx); err != nil || head != 3 {
			t.Errorf("EventsHead = %d, %v; want 3", head, err)
		}
		if after, _ := db.EventsAfter(ctx, 2, 10); len(after) != 1 || after[0].ID != te.ID {
			t.Errorf("EventsAfter(2) = %+v", after)
		}
	}},

	{"outbox: a transaction that fails after the audit append leaves neither record nor event", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		boom := errors.New("boom")
		err := db.write(ctx, func(tx *sql.Tx) error {
			if _, err := db.appendAudit(ctx, tx, []audit.Entry{{Actor: "system", Kind: "alert.fire", Subject: "alt_1",
				Payload: map[string]any{"alert_id": "alt_1", "severity": "warning", "title": "Corridor congestion"}}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("write = %v, want boom", err)
		}
		if evs := allEvents(t, db); len(evs) != 0 {
			t.Errorf("events after a rolled back transaction: %+v", evs)
		}
		if seq, _, err := db.AuditHead(ctx); err != nil || seq != 0 {
			t.Errorf("audit head after rollback = %d, %v", seq, err)
		}
		// The same seq is then taken by a record that commits, with its event.
		if err := db.Audit(ctx, audit.Entry{Actor: "system", Kind: "alert.fire", Subject: "alt_2",
			Payload: map[string]any{"alert_id": "alt_2", "severity": "critical", "value": 3.5, "title": "t", "title_zh": "干线"}}); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, db)
		if len(evs) != 1 || evs[0].Seq != 1 || evs[0].Subject != "alt_2" || evs[0].Clearance != access.Internal {
			t.Fatalf("events = %+v", evs)
		}
		var env events.Envelope
		_ = json.Unmarshal(evs[0].Body, &env)
		if env.Data["value"] != 3.5 || env.Data["title_zh"] != "干线" || env.Data["status"] != "firing" {
			t.Errorf("alert body = %s", evs[0].Body)
		}
	}},

	{"webhooks: create, list, fan out what matches after creation, retry, deliver, page, delete", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		early := testProposal("prop_early", access.Internal)
		if err := db.CreateProposal(ctx, early, audit.Entry{Kind: audit.KindProposalCreate, Subject: early.ID}); err != nil {
			t.Fatal(err)
		}
		all := events.Webhook{ID: "whk_all", URL: "https://a.example/hook", Events: []string{events.ProposalCreated, events.TicketCreated},
			Clearance: access.Internal, Secret: "0123456789abcdef", CreatedBy: "key_admin", CreatedAt: t0}
		water := all
		water.ID, water.URL, water.Department, water.Events = "whk_water", "https://water.example/hook", "water", []string{events.TicketCreated}
		for _, w := range []events.Webhook{all, water} {
			if err := db.CreateWebhook(ctx, w, audit.Entry{Actor: "key_admin", Kind: events.KindWebhookCreate, Subject: w.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateWebhook(ctx, all); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate webhook: %v, want ErrConflict", err)
		}
		got, err := db.GetWebhook(ctx, "whk_water")
		if err != nil || got.Secret != water.Secret || !slices.Equal(got.Events, water.Events) || got.Department != "water" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("GetWebhook = %+v, %v", got, err)
		}
		secret := testProposal("prop_secret", access.Restricted) // above the webhooks' clearance
		visible := testProposal("prop_2", access.Internal)
		for _, p := range []Proposal{secret, visible} {
			if err := db.CreateProposal(ctx, p, audit.Entry{Kind: audit.KindProposalCreate, Subject: p.ID}); err != nil {
				t.Fatal(err)
			}
		}
		for i, dept := range []string{"water", "urban_management"} {
			tk := testTicket(fmt.Sprintf("tkt_%d", i), t0)
			tk.Department = dept
			if err := db.CreateTicket(ctx, tk, nil, audit.Entry{Kind: "hotline.ticket_create", Subject: tk.ID}); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // the second fan-out finds nothing new
			if _, err := db.FanOut(ctx, t0, 500); err != nil {
				t.Fatal(err)
			}
		}
		due, err := db.DueDeliveries(ctx, t0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got2 []string
		for _, a := range due {
			got2 = append(got2, a.WebhookID+":"+a.EventType)
			if a.Attempts != 0 || a.Status != events.StatusPending || len(a.Body) == 0 {
				t.Errorf("due delivery = %+v", a)
			}
		}
		slices.Sort(got2)
		want := []string{"whk_all:proposal.created", "whk_all:ticket.created", "whk_all:ticket.created", "whk_water:ticket.created"}
		if !slices.Equal(got2, want) {
			t.Fatalf("deliveries = %v, want %v (nothing before creation, nothing above clearance, water only its department)", got2, want)
		}
		first := due[0]
		if err := db.RecordAttempt(ctx, events.Outcome{WebhookID: first.WebhookID, EventSeq: first.EventSeq, Attempts: 1,
			Status: events.StatusPending, Code: 500, Error: "the receiver answered 500", At: t0, Next: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if due, _ := db.DueDeliveries(ctx, t0.Add(time.Second), 100); len(due) != 3 {
			t.Errorf("due after a retry was scheduled = %d, want 3", len(due))
		}
		if due, _ := db.DueDeliveries(ctx, t0.Add(time.Minute), 100); len(due) != 4 || due[len(due)-1].Attempts != 1 {
			t.Errorf("due once the retry is due = %+v", due)
		}
		if err := db.RecordAttempt(ctx, events.Outcome{WebhookID: first.WebhookID, EventSeq: first.EventSeq, Attempts: 2,
			Status: events.StatusDelivered, Code: 204, At: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		list, err := db.ListDeliveries(ctx, first.WebhookID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var rec events.Delivery
		for _, d := range list {
			if d.EventSeq == first.EventSeq {
				rec = d
			}
		}
		if rec.Status != events.StatusDelivered || rec.Attempts != 2 || rec.LastStatus != 204 || rec.DeliveredAt == nil || rec.NextAttemptAt != nil || rec.EventID != first.EventID {
			t.Errorf("delivered = %+v", rec)
		}
		page1, _ := db.ListDeliveries(ctx, "whk_all", 0, 2)
		page2, _ := db.ListDeliveries(ctx, "whk_all", page1[1].EventSeq, 2)
		if len(page1) != 2 || len(page2) != 1 || page1[0].EventSeq <= page1[1].EventSeq || page2[0].EventSeq >= page1[1].EventSeq {
			t.Errorf("pages = %+v / %+v", page1, page2)
		}
		if err := db.DisableWebhook(ctx, "whk_all", t0, audit.Entry{Kind: events.KindWebhookDelete, Subject: "whk_all"}); err != nil {
			t.Fatal(err)
		}
		if err := db.DisableWebhook(ctx, "whk_all", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		if _, err := db.GetWebhook(ctx, "whk_all"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetWebhook after delete: %v", err)
		}
		if ws, _ := db.ListWebhooks(ctx); len(ws) != 1 || ws[0].ID != "whk_water" {
			t.Errorf("ListWebhooks = %+v", ws)
		}
		if due, _ := db.DueDeliveries(ctx, t0.Add(time.Hour), 100); len(due) != 1 || due[0].WebhookID != "whk_water" {
			t.Errorf("due after delete = %+v", due)
		}
	}},
}
