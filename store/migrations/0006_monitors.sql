-- Monitors and alerts (monitors/). Times are Unix nanoseconds, UTC.
--
-- monitor_state: one row per monitor. A replica claims a tick by moving
-- next_run forward with a conditional UPDATE (WHERE next_run = the value it
-- read), so each scheduled run is done once however many replicas race;
-- seq counts claims and fences the commit of a tick that lost its claim.
CREATE TABLE monitor_state (
    monitor     TEXT PRIMARY KEY,
    next_run    BIGINT NOT NULL,
    seq         BIGINT NOT NULL DEFAULT 0,
    claimed_by  TEXT NOT NULL DEFAULT '',
    claimed_at  BIGINT,
    last_tick   BIGINT,
    last_status TEXT NOT NULL DEFAULT '',
    last_error  TEXT NOT NULL DEFAULT '',
    last_value  DOUBLE PRECISION,
    last_as_of  BIGINT,
    subjects    BIGINT NOT NULL DEFAULT 0,
    holding     BIGINT NOT NULL DEFAULT 0
);
-- monitor_subjects: how long the condition has held (or been clear) for
-- each subject a monitor watches; the for/clear hysteresis reads it.
CREATE TABLE monitor_subjects (
    monitor       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    holding_since BIGINT,
    clear_since   BIGINT,
    value         DOUBLE PRECISION,
    seen_at       BIGINT NOT NULL,
    PRIMARY KEY (monitor, subject)
);
-- alerts: firing -> acknowledged -> resolved, at most one open alert per
-- monitor and subject (the partial unique index deduplicates).
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    monitor         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL,
    clearance       TEXT NOT NULL,
    status          TEXT NOT NULL,
    title           TEXT NOT NULL,
    title_zh        TEXT NOT NULL,
    unit            TEXT NOT NULL DEFAULT '',
    condition       TEXT NOT NULL,
    first_value     DOUBLE PRECISION NOT NULL,
    peak_value      DOUBLE PRECISION NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    value_history   TEXT NOT NULL,
    tool            TEXT NOT NULL,
    source          TEXT NOT NULL,
    as_of           BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    fired_at        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    ack_comment     TEXT NOT NULL DEFAULT '',
    resolved_at     BIGINT,
    proposal_state  TEXT NOT NULL DEFAULT '',
    proposal_id     TEXT NOT NULL DEFAULT '',
    proposal_error  TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open ON alerts (monitor, subject) WHERE status <> 'resolved';
CREATE INDEX alerts_fired ON alerts (fired_at, id);
CREATE INDEX alerts_monitor ON alerts (monitor, status);
-- monitor_samples: each tick's headline value, for vital-sign trends.
CREATE TABLE monitor_samples (
    monitor TEXT NOT NULL,
    at      BIGINT NOT NULL,
    value   DOUBLE PRECISION,
    holding BIGINT NOT NULL,
    PRIMARY KEY (monitor, at)
);
