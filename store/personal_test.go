package store

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// personalConformance covers the personal-data store on every backend
// (run by TestConformance).
var personalConformance = []struct {
	name string
	run  func(t *testing.T, tg target)
}{
	{"personal: stored with the ticket in one write, read back by field, counted by key", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		tk := Ticket{ID: "tkt_p1", Token: "tok_p1", Status: "triaged", Text: "电话138****5678", Caller: json.RawMessage(`{"phone":"138****5678"}`),
			CreatedAt: t0, Personal: []PersonalDatum{
				{TicketID: "tkt_p1", Field: "text", Ciphertext: "c2VhbGVk", KeyID: "pdk_a", CreatedAt: t0},
				{TicketID: "tkt_p1", Field: "caller.phone", Ciphertext: "cGhvbmU=", KeyID: "pdk_a", CreatedAt: t0},
			}}
		if err := db.CreateTicket(ctx, tk, nil); err != nil {
			t.Fatal(err)
		}
		got, err := db.PersonalData(ctx, "tkt_p1")
		if err != nil || len(got) != 2 || got[0].Field != "caller.phone" || got[1].Ciphertext != "c2VhbGVk" || !got[0].CreatedAt.Equal(t0) {
			t.Fatalf("PersonalData = %+v, %v", got, err)
		}
		if none, err := db.PersonalData(ctx, "tkt_none"); err != nil || len(none) != 0 {
			t.Errorf("no data: %+v, %v", none, err)
		}
		// A ticket whose personal data cannot be stored is not stored either.
		bad := Ticket{ID: "tkt_p2", Token: "tok_p2", Status: "triaged", Personal: []PersonalDatum{{TicketID: "tkt_p2", Field: "text"}}}
		if err := db.CreateTicket(ctx, bad, nil); err == nil {
			t.Fatal("a ticket with an empty ciphertext was stored")
		}
		if _, err := db.GetTicket(ctx, "tkt_p2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the ticket of a failed personal write exists: %v", err)
		}
		ids, err := db.PersonalKeyIDs(ctx)
		if err != nil || len(ids) != 1 || ids["pdk_a"] != 2 {
			t.Errorf("PersonalKeyIDs = %v, %v", ids, err)
		}
		// Re-sealing under a new key happens once, with its audit record.
		p := PersonalDatum{TicketID: "tkt_p1", Field: "text", Ciphertext: "bmV3", KeyID: "pdk_b"}
		entry := audit.Entry{Actor: "system", Kind: "hotline.personal_reseal", Subject: "tkt_p1", At: t0}
		if done, err := db.ResealPersonal(ctx, p, "pdk_a", entry); err != nil || !done {
			t.Fatalf("reseal: %v %v", done, err)
		}
		if done, err := db.ResealPersonal(ctx, p, "pdk_a", entry); err != nil || done {
			t.Fatalf("second reseal from the old key: %v %v", done, err)
		}
		under, err := db.PersonalUnderKey(ctx, "pdk_a", 10)
		if err != nil || len(under) != 1 || under[0].Field != "caller.phone" {
			t.Errorf("PersonalUnderKey = %+v, %v", under, err)
		}
		recs, err := db.AuditChain(ctx, 0, 10)
		if err != nil || len(recs) != 1 || recs[0].Kind != "hotline.personal_reseal" {
			t.Errorf("audit = %+v, %v", recs, err)
		}
	}},
	{"personal: backfill list, masking in place once", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		// Tickets created after the migration are not listed for backfill.
		if err := db.CreateTicket(ctx, Ticket{ID: "tkt_new", Token: "tok_new", Status: "triaged", CreatedAt: t0}, nil); err != nil {
			t.Fatal(err)
		}
		if ids, err := db.PendingPersonalBackfill(ctx, 10); err != nil || len(ids) != 0 {
			t.Fatalf("pending after the migration = %v, %v", ids, err)
		}
		// One stored in the clear (as before the migration) is listed by hand.
		clear := Ticket{ID: "tkt_old", Token: "tok_old", Status: "triaged", Text: "电话13812345678", Caller: json.RawMessage(`{"phone":"13812345678"}`),
			Data: json.RawMessage(`{"text":"电话13812345678"}`), CreatedAt: t0}
		if err := db.CreateTicket(ctx, clear, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.sql.ExecContext(ctx, db.q("INSERT INTO personal_backfill (ticket_id) VALUES (?)"), "tkt_old"); err != nil {
			t.Fatal(err)
		}
		if ids, err := db.PendingPersonalBackfill(ctx, 10); err != nil || len(ids) != 1 || ids[0] != "tkt_old" {
			t.Fatalf("pending = %v, %v", ids, err)
		}
		m := PersonalMasking{TicketID: "tkt_old", Text: "电话138****5678", Caller: `{"phone":"138****5678"}`, Data: json.RawMessage(`{"text":"电话138****5678"}`),
			Personal: []PersonalDatum{{TicketID: "tkt_old", Field: "text", Ciphertext: "eA==", KeyID: "pdk_a", CreatedAt: t0.Add(time.Hour)}}}
		entry := audit.Entry{Actor: "system", Kind: "hotline.personal_masked", Subject: "tkt_old", At: t0}
		if done, err := db.MaskTicketInPlace(ctx, m, entry); err != nil || !done {
			t.Fatalf("mask in place: %v %v", done, err)
		}
		if done, err := db.MaskTicketInPlace(ctx, m, entry); err != nil || done {
			t.Fatalf("second mask in place: %v %v", done, err)
		}
		got, err := db.GetTicket(ctx, "tkt_old")
		if err != nil || got.Text != m.Text || string(got.Caller) != m.Caller || string(got.Data) != string(m.Data) {
			t.Errorf("masked ticket = %+v, %v", got, err)
		}
		if ids, _ := db.PendingPersonalBackfill(ctx, 10); len(ids) != 0 {
			t.Errorf("still pending: %v", ids)
		}
		if rows, _ := db.PersonalData(ctx, "tkt_old"); len(rows) != 1 {
			t.Errorf("personal rows = %+v", rows)
		}
	}},
	{"personal: migration 0009 lists the tickets stored before it", func(t *testing.T, tg target) {
		db := tg.open(t)
		ctx := t.Context()
		if err := db.CreateTicket(ctx, Ticket{ID: "tkt_before", Token: "tok_before", Status: "triaged", CreatedAt: t0}, nil); err != nil {
			t.Fatal(err)
		}
		// Undo 0009 as if this ticket had been stored before it, then
		// reopen: the migration runs again.
		for _, q := range []string{"DROP TABLE personal_backfill", "DROP TABLE personal_data", "DELETE FROM schema_migrations WHERE version >= 9"} {
			if _, err := db.sql.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		db = tg.open(t)
		if ids, err := db.PendingPersonalBackfill(ctx, 10); err != nil || len(ids) != 1 || ids[0] != "tkt_before" {
			t.Fatalf("pending after migrating = %v, %v", ids, err)
		}
	}},
}
