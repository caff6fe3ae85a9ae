-- Rate-limit counters shared by every replica: one row per key and fixed
-- window (requests or tokens of one API key or role in one minute).
-- window_end is Unix nanoseconds, UTC; rows whose window has ended are
-- deleted by whoever next writes the same key, and swept periodically.
CREATE TABLE IF NOT EXISTS rate_counters (
    key        TEXT PRIMARY KEY,
    count      BIGINT NOT NULL,
    window_end BIGINT NOT NULL
);
