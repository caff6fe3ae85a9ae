package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
)

var (
	_ events.WebhookStore  = (*DB)(nil)
	_ events.DeliveryStore = (*DB)(nil)
)

const webhookColumns = "id, url, events, department, clearance, secret, created_by, created_at, cursor_seq, disabled_at"

// CreateWebhook stores a webhook with its audit records. It receives the
// events committed after it: its cursor starts at the outbox head.
func (db *DB) CreateWebhook(ctx context.Context, w events.Webhook, audits ...audit.Entry) error {
	evs, err := json.Marshal(w.Events)
	if err != nil {
		return fmt.Errorf("store: create webhook %s: %w", w.ID, err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		var head int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&head); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q("INSERT INTO webhooks ("+webhookColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"),
			w.ID, w.URL, string(evs), w.Department, string(w.Clearance), w.Secret, w.CreatedBy, nanos(w.CreatedAt), head); err != nil {
			return db.classify(err)
		}
		_, err := db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create webhook %s: %w", w.ID, err)
	}
	return nil
}

// ListWebhooks lists the webhooks not deleted, oldest first.
func (db *DB) ListWebhooks(ctx context.Context) ([]events.Webhook, error) {
	out, err := queryRows(ctx, db.sql, "SELECT "+webhookColumns+" FROM webhooks WHERE disabled_at IS NULL ORDER BY created_at, id", nil,
		func(s scanner) (events.Webhook, error) { w, _, err := scanWebhook(s); return w, err })
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	return out, nil
}

// GetWebhook reads a webhook that is not deleted; ErrNotFound otherwise.
func (db *DB) GetWebhook(ctx context.Context, id string) (events.Webhook, error) {
	w, _, err := scanWebhook(db.sql.QueryRowContext(ctx, db.q("SELECT "+webhookColumns+" FROM webhooks WHERE id = ? AND disabled_at IS NULL"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return events.Webhook{}, fmt.Errorf("store: webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return events.Webhook{}, fmt.Errorf("store: webhook %s: %w", id, err)
	}
	return w, nil
}

// DisableWebhook stops a webhook (DELETE): no more deliveries are made or
// attempted; the ones made stay listed. ErrNotFound when it does not exist
// or was deleted already.
func (db *DB) DisableWebhook(ctx context.Context, id string, at time.Time, audits ...audit.Entry) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q("UPDATE webhooks SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL"), nanos(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ErrNotFound)
		}
		_, err = db.appendAudit(ctx, tx, audits)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

func scanWebhook(s scanner) (events.Webhook, int64, error) {
	var w events.Webhook
	var evs, clr string
	var created, cursor int64
	var disabled sql.NullInt64
	if err := s.Scan(&w.ID, &w.URL, &evs, &w.Department, &clr, &w.Secret, &w.CreatedBy, &created, &cursor, &disabled); err != nil {
		return w, 0, err
	}
	w.Clearance, w.CreatedAt, w.Disabled = access.Clearance(clr), fromNanos(created), disabled.Valid
	if err := json.Unmarshal([]byte(evs), &w.Events); err != nil {
		return w, 0, fmt.Errorf("webhook %s events: %w", w.ID, err)
	}
	return w, cursor, nil
}

const deliveryColumns = "d.webhook_id, d.event_seq, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at"

// FanOut makes a pending delivery, due now, for each outbox event after a
// webhook's cursor that the webhook matches, and moves the cursors past
// the events read (at most limit); it returns how many events it read.
// Deliveries are unique per (webhook, event), so a repeated fan-out after
// a crash makes no second delivery.
func (db *DB) FanOut(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := db.write(ctx, func(tx *sql.Tx) error {
		n = 0
		hooks, from, err := activeWebhooks(ctx, tx)
		if err != nil || len(hooks) == 0 {
			return err
		}
		evs, err := eventsAfterTx(ctx, tx, db.q("SELECT "+eventColumns+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?"), from, limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		ins := db.q(`INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, event_type, status, attempts, next_attempt_at,
    last_status, last_error, created_at, delivered_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, 0, '', ?, NULL, ?)
ON CONFLICT (webhook_id, event_seq) DO NOTHING`)
		for _, h := range hooks {
			for _, e := range evs {
				if e.Seq <= h.cursor || !h.Matches(e) {
					continue
				}
				if _, err := tx.ExecContext(ctx, ins, h.ID, e.Seq, e.ID, e.Type, nanos(now), nanos(now), nanos(now)); err != nil {
					return fmt.Errorf("delivery of %s to %s: %w", e.ID, h.ID, err)
				}
			}
		}
		last := evs[len(evs)-1].Seq
		if _, err := tx.ExecContext(ctx, db.q("UPDATE webhooks SET cursor_seq = ? WHERE disabled_at IS NULL AND cursor_seq < ?"), last, last); err != nil {
			return err
		}
		n = len(evs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: fan out events: %w", err)
	}
	return n, nil
}

type cursoredWebhook struct {
	events.Webhook
	cursor int64
}

// activeWebhooks lists the webhooks not deleted and the lowest cursor.
func activeWebhooks(ctx context.Context, tx *sql.Tx) ([]cursoredWebhook, int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE disabled_at IS NULL")
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []cursoredWebhook
	from := int64(-1)
	for rows.Next() {
		w, c, err := scanWebhook(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, cursoredWebhook{w, c})
		if from < 0 || c < from {
			from = c
		}
	}
	return out, from, rows.Err()
}

func eventsAfterTx(ctx context.Context, tx *sql.Tx, q string, after int64, limit int) ([]events.Event, error) {
	rows, err := tx.QueryContext(ctx, q, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DueDeliveries lists up to limit pending deliveries of live webhooks
// whose next attempt is due at now, the longest waiting first.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]events.Attempt, error) {
	q := "SELECT " + deliveryColumns + `, w.url, w.secret, e.body FROM webhook_deliveries d
JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.seq = d.event_seq
WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.disabled_at IS NULL
ORDER BY d.next_attempt_at, d.event_seq LIMIT ?`
	out, err := queryRows(ctx, db.sql, db.q(q), []any{nanos(now), limit}, func(s scanner) (events.Attempt, error) {
		var a events.Attempt
		var body string
		err := scanDelivery(s, &a.Delivery, &a.URL, &a.Secret, &body)
		a.Body = []byte(body)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	return out, nil
}

// RecordAttempt stores the outcome of one attempt at a pending delivery.
func (db *DB) RecordAttempt(ctx context.Context, o events.Outcome) error {
	var next, delivered any
	switch o.Status {
	case events.StatusPending:
		next = nanos(o.Next)
	case events.StatusDelivered:
		delivered = nanos(o.At)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?,
    last_error = ?, delivered_at = ?, updated_at = ? WHERE webhook_id = ? AND event_seq = ? AND status = 'pending'`),
			o.Status, o.Attempts, next, o.Code, o.Error, delivered, nanos(o.At), o.WebhookID, o.EventSeq)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record delivery of event %d to %s: %w", o.EventSeq, o.WebhookID, err)
	}
	return nil
}

// ListDeliveries pages through a webhook's deliveries, newest event first,
// below the event seq before (0: from the newest).
func (db *DB) ListDeliveries(ctx context.Context, webhookID string, before int64, limit int) ([]events.Delivery, error) {
	if limit <= 0 || limit > maxAuditPage {
		limit = defaultAuditPage
	}
	q := "SELECT " + deliveryColumns + " FROM webhook_deliveries d WHERE d.webhook_id = ?"
	args := []any{webhookID}
	if before > 0 {
		q += " AND d.event_seq < ?"
		args = append(args, before)
	}
	q += " ORDER BY d.event_seq DESC LIMIT ?"
	out, err := queryRows(ctx, db.sql, db.q(q), append(args, limit), func(s scanner) (events.Delivery, error) {
		var d events.Delivery
		return d, scanDelivery(s, &d)
	})
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", webhookID, err)
	}
	return out, nil
}

func scanDelivery(s scanner, d *events.Delivery, extra ...any) error {
	var next, delivered sql.NullInt64
	var created, attempts, status int64
	dest := append([]any{&d.WebhookID, &d.EventSeq, &d.EventID, &d.EventType, &d.Status, &attempts, &next, &status,
		&d.LastError, &created, &delivered}, extra...)
	if err := s.Scan(dest...); err != nil {
		return err
	}
	d.Attempts, d.LastStatus, d.CreatedAt = int(attempts), int(status), fromNanos(created)
	d.NextAttemptAt, d.DeliveredAt = fromNullNanos(next), fromNullNanos(delivered)
	return nil
}
