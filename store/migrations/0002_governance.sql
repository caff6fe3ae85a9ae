-- Governed actions: proposals and their state machine. Every change of
-- status is a conditional UPDATE (… WHERE id = ? AND status = ?), so of two
-- concurrent deciders or executors exactly one wins; executing is a claim
-- with a lease (claimed_at) that start-up recovery may take over once it is
-- stale. JSON columns are TEXT; times are Unix nanoseconds, UTC.
CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    action          TEXT NOT NULL,
    arguments       TEXT NOT NULL,
    risk            TEXT NOT NULL,
    approver_role   TEXT NOT NULL,
    clearance       TEXT NOT NULL,
    status          TEXT NOT NULL,
    agent           TEXT NOT NULL,
    agent_version   TEXT NOT NULL,
    model           TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    turn            BIGINT NOT NULL,
    trace_id        TEXT NOT NULL,
    question        TEXT NOT NULL,
    rationale       TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    flags           TEXT NOT NULL,
    proposer_key_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    decided_by      TEXT NOT NULL,
    decided_role    TEXT NOT NULL,
    decided_at      BIGINT,
    comment         TEXT NOT NULL,
    claimed_at      BIGINT,
    attempts        BIGINT NOT NULL,
    finished_at     BIGINT,
    result          TEXT,
    error           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX proposals_by_created ON proposals (created_at, id);

CREATE INDEX proposals_by_status ON proposals (status, created_at, id);

-- The audit log: an append-only hash chain. hash = SHA-256 over seq, at,
-- actor, kind, subject, payload_hash and prev_hash (see actions/audit);
-- prev_hash of seq 1 is 64 zeros. No code path updates or deletes a row.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    payload      TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

CREATE INDEX audit_by_kind ON audit_log (kind, seq);

CREATE INDEX audit_by_actor ON audit_log (actor, seq);

CREATE INDEX audit_by_subject ON audit_log (subject, seq);

-- The chain's head, written in the same transaction as every append. It is
-- the row appenders lock (FOR UPDATE on PostgreSQL) to extend the chain one
-- at a time, and it makes a deleted last record visible to verification.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Dispatch records the hotline.dispatch_ticket action writes until the
-- hotline module owns tickets. One per proposal: executing twice cannot
-- dispatch twice.
CREATE TABLE dispatches (
    id          TEXT PRIMARY KEY,
    proposal_id TEXT NOT NULL UNIQUE,
    department  TEXT NOT NULL,
    category    TEXT NOT NULL,
    urgency     TEXT NOT NULL,
    summary     TEXT NOT NULL,
    location    TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
