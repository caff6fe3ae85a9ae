-- Leases: singleton work (monitor ticks, webhook delivery, expiry sweeps)
-- runs on exactly one replica at a time. A holder renews its lease before
-- expires_at; another replica takes it over once it has expired. token
-- grows by one at every change of holder and fences stale holders.
-- Times are Unix nanoseconds, UTC.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
