-- Registry versions: every replica reloads what is registered at run time
-- (tools, tool sources) when the version of its registry grows. A change
-- bumps the row in the same process that made it; other replicas learn of
-- it by PostgreSQL LISTEN/NOTIFY, or by polling this row (SQLite, and the
-- fallback on PostgreSQL).
CREATE TABLE IF NOT EXISTS registry_versions (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO registry_versions (name, version) VALUES ('tools', 0) ON CONFLICT (name) DO NOTHING;
