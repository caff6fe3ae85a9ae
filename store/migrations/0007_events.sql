-- Events and webhooks. events is the outbox: appendAudit writes one row in
-- the transaction of every audit record that is an event (events.Project),
-- so an event exists exactly when its record does — nothing is lost on a
-- crash. seq is the audit record's seq (the SSE stream position); id is the
-- stable id receivers deduplicate on. audience, clearance and department
-- decide who may read it; body is the JSON sent, exactly as signed.
-- Times are Unix nanoseconds, UTC.
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    audience   TEXT NOT NULL,
    clearance  TEXT NOT NULL,
    department TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Webhooks. events is a JSON array of event types. secret signs deliveries
-- (HMAC needs it in the clear): it is never returned by the API nor
-- written to the audit log or logs; the database file is private (0600)
-- and PostgreSQL's access control covers it. cursor is the last outbox
-- seq fanned out to this webhook; a new webhook starts at the outbox head.
-- disabled_at is set by DELETE: the webhook stops, its deliveries stay.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    department  TEXT NOT NULL,
    clearance   TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    cursor_seq  BIGINT NOT NULL,
    disabled_at BIGINT
);

-- One delivery per (webhook, event): at least once, retried with backoff
-- until delivered or failed. status: pending | delivered | failed.
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status     BIGINT NOT NULL,
    last_error      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event_seq)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
