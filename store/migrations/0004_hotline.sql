-- Hotline tickets. The triage view (names, reply, citations, sources) is
-- JSON in data; the columns are what lists, filters and the KPIs query.
-- token is the Open311 token; proposal_id the hotline.dispatch_ticket
-- proposal. Times are Unix nanoseconds, UTC.
CREATE TABLE hotline_tickets (
    id           TEXT PRIMARY KEY,
    token        TEXT NOT NULL UNIQUE,
    owner_key_id TEXT NOT NULL,
    channel      TEXT NOT NULL,
    text         TEXT NOT NULL,
    caller       TEXT NOT NULL,
    address      TEXT NOT NULL,
    lat          DOUBLE PRECISION,
    lon          DOUBLE PRECISION,
    type         TEXT NOT NULL,
    category     TEXT NOT NULL,
    department   TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    status       TEXT NOT NULL,
    degraded     BIGINT NOT NULL,
    proposal_id  TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    trace_id     TEXT NOT NULL,
    data         TEXT NOT NULL,
    resolution   TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    deadline     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    closed_at    BIGINT
);

CREATE INDEX hotline_tickets_by_created ON hotline_tickets (created_at, id);

CREATE INDEX hotline_tickets_by_status ON hotline_tickets (status, deadline);

CREATE INDEX hotline_tickets_by_category ON hotline_tickets (category, created_at);

CREATE INDEX hotline_tickets_by_department ON hotline_tickets (department, created_at);

CREATE INDEX hotline_tickets_by_proposal ON hotline_tickets (proposal_id);

-- Idempotency keys, the way payment APIs keep them: one row per (scope,
-- key), claimed by INSERT … ON CONFLICT DO NOTHING so that of concurrent
-- requests exactly one proceeds. status 0 = in flight (locked_at is the
-- claim's lease); otherwise the HTTP status of the stored response, which
-- replays verbatim. ticket_id is set in the transaction that creates the
-- ticket, so a retry after a crash resumes that ticket instead of making
-- another. Rows are kept until expires_at (at least 24 hours).
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    response     TEXT NOT NULL,
    ticket_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    locked_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
