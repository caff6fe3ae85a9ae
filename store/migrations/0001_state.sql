-- API keys. Only the hash (access.HashKey) is stored; revoked keys stay so
-- that audit records keep naming a key that exists.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    clearance  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_by TEXT NOT NULL
);

-- Chat sessions. owner_key_id has no foreign key: CLI and eval runs own
-- sessions without a stored key, and keys are revoked, never deleted.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    agent        TEXT NOT NULL,
    owner_key_id TEXT NOT NULL,
    title        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX sessions_by_owner ON sessions (owner_key_id, created_at, id);

CREATE INDEX sessions_by_created ON sessions (created_at, id);

-- The transcript: typed events numbered 1, 2, 3… per session.
CREATE TABLE session_events (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        BIGINT NOT NULL,
    turn       BIGINT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
