-- Concurrent-turn slots shared by every replica: one row per running turn
-- of a rate-limited key or role. A slot is released when its turn ends;
-- one whose replica died expires at expires_at (Unix nanoseconds, UTC).
CREATE TABLE IF NOT EXISTS turn_slots (
    scope      TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, id)
);
