package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// PersonalDatum is one encrypted piece of a ticket's personal data (a
// caller field, or the request text as written). The store never sees the
// plaintext: package hotline seals and opens it.
type PersonalDatum struct {
	TicketID   string
	Field      string // caller.name, caller.phone, caller.email, caller.account_id, text, location.address
	Ciphertext string
	KeyID      string
	CreatedAt  time.Time
}

// insertPersonal stores a ticket's personal data inside tx (the ticket's
// own write, so that a ticket is never stored without it or the reverse).
func (db *DB) insertPersonal(ctx context.Context, tx *sql.Tx, rows []PersonalDatum) error {
	for _, p := range rows {
		if p.TicketID == "" || p.Field == "" || p.Ciphertext == "" || p.KeyID == "" {
			return fmt.Errorf("personal data %s/%s: empty ticket, field, ciphertext or key id", p.TicketID, p.Field)
		}
		if p.CreatedAt.IsZero() {
			p.CreatedAt = time.Now()
		}
		_, err := tx.ExecContext(ctx, db.q("INSERT INTO personal_data (ticket_id, field, ciphertext, key_id, created_at) VALUES (?, ?, ?, ?, ?)"),
			p.TicketID, p.Field, p.Ciphertext, p.KeyID, nanos(p.CreatedAt))
		if err != nil {
			return db.classify(err)
		}
	}
	return nil
}

// PersonalData returns a ticket's encrypted personal data, by field; none
// is an empty list, not an error.
func (db *DB) PersonalData(ctx context.Context, ticketID string) ([]PersonalDatum, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT ticket_id, field, ciphertext, key_id, created_at FROM personal_data WHERE ticket_id = ? ORDER BY field"),
		[]any{ticketID}, scanPersonal)
	if err != nil {
		return nil, fmt.Errorf("store: personal data of %s: %w", ticketID, err)
	}
	return out, nil
}

func scanPersonal(s scanner) (PersonalDatum, error) {
	var p PersonalDatum
	var at int64
	err := s.Scan(&p.TicketID, &p.Field, &p.Ciphertext, &p.KeyID, &at)
	p.CreatedAt = fromNanos(at)
	return p, err
}

// PersonalKeyIDs counts the stored personal data by the key that sealed it.
func (db *DB) PersonalKeyIDs(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	_, err := queryRows(ctx, db.sql, "SELECT key_id, COUNT(*) FROM personal_data GROUP BY key_id", nil, func(s scanner) (struct{}, error) {
		var id string
		var n int
		err := s.Scan(&id, &n)
		out[id] = n
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: personal data key ids: %w", err)
	}
	return out, nil
}

// PersonalUnderKey lists up to limit personal data sealed with keyID, for
// re-sealing under a new key.
func (db *DB) PersonalUnderKey(ctx context.Context, keyID string, limit int) ([]PersonalDatum, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT ticket_id, field, ciphertext, key_id, created_at FROM personal_data WHERE key_id = ? ORDER BY ticket_id, field LIMIT ?"),
		[]any{keyID, limit}, scanPersonal)
	if err != nil {
		return nil, fmt.Errorf("store: personal data under key %s: %w", keyID, err)
	}
	return out, nil
}

// ResealPersonal replaces the ciphertext of p (found by ticket and field)
// if it is still sealed with fromKeyID, with an audit record. It reports
// whether it did (false: another process re-sealed it first).
func (db *DB) ResealPersonal(ctx context.Context, p PersonalDatum, fromKeyID string, audits ...audit.Entry) (bool, error) {
	var done bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE personal_data SET ciphertext = ?, key_id = ? WHERE ticket_id = ? AND field = ? AND key_id = ?"),
			p.Ciphertext, p.KeyID, p.TicketID, p.Field, fromKeyID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		done = true
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: reseal personal data of %s: %w", p.TicketID, err)
	}
	return done, nil
}

// PendingPersonalBackfill lists up to limit tickets stored before personal
// data was kept apart, oldest ids first.
func (db *DB) PendingPersonalBackfill(ctx context.Context, limit int) ([]string, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT ticket_id FROM personal_backfill ORDER BY ticket_id LIMIT ?"), []any{limit}, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending personal-data backfill: %w", err)
	}
	return out, nil
}

// TicketResponses returns the stored idempotent responses that hold a
// ticket, by scope and key.
func (db *DB) TicketResponses(ctx context.Context, ticketID string) ([]IdempotencyResponse, error) {
	out, err := queryRows(ctx, db.sql, db.q("SELECT scope, idem_key, status, response FROM idempotency_keys WHERE ticket_id = ? ORDER BY scope, idem_key"),
		[]any{ticketID}, func(s scanner) (IdempotencyResponse, error) {
			var r IdempotencyResponse
			var resp string
			err := s.Scan(&r.Scope, &r.Key, &r.Status, &resp)
			r.Response = json.RawMessage(resp)
			return r, err
		})
	if err != nil {
		return nil, fmt.Errorf("store: responses of ticket %s: %w", ticketID, err)
	}
	return out, nil
}

// PersonalMasking is how a ticket stored in the clear is masked in place.
type PersonalMasking struct {
	TicketID              string
	Text, Address, Caller string          // masked; Caller is JSON
	Data                  json.RawMessage // the masked view
	Responses             []IdempotencyResponse
	Personal              []PersonalDatum // the originals, sealed
}

// MaskTicketInPlace applies m to a ticket listed for backfill, with
// audits, and takes it off the list, in one transaction. It reports false
// when the ticket was no longer listed (another replica masked it).
func (db *DB) MaskTicketInPlace(ctx context.Context, m PersonalMasking, audits ...audit.Entry) (bool, error) {
	var done bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("DELETE FROM personal_backfill WHERE ticket_id = ?"), m.TicketID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q("UPDATE hotline_tickets SET text = ?, address = ?, caller = ?, data = ? WHERE id = ?"),
			m.Text, m.Address, m.Caller, string(m.Data), m.TicketID); err != nil {
			return err
		}
		for _, r := range m.Responses {
			if _, err := tx.ExecContext(ctx, db.q("UPDATE idempotency_keys SET response = ? WHERE scope = ? AND idem_key = ? AND ticket_id = ?"),
				string(r.Response), r.Scope, r.Key, m.TicketID); err != nil {
				return err
			}
		}
		if err := db.insertPersonal(ctx, tx, m.Personal); err != nil {
			return err
		}
		done = true
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: mask ticket %s in place: %w", m.TicketID, err)
	}
	return done, nil
}

// DropPersonalBackfill takes a ticket off the backfill list without
// changing it (the ticket row is gone).
func (db *DB) DropPersonalBackfill(ctx context.Context, ticketID string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q("DELETE FROM personal_backfill WHERE ticket_id = ?"), ticketID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: drop personal backfill of %s: %w", ticketID, err)
	}
	return nil
}
