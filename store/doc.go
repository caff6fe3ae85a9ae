// Package store persists cityagent's state — API keys, chat sessions and
// their event transcripts — in one SQL schema that runs on an embedded
// SQLite file (the default, pure Go) or on PostgreSQL.
//
// One concrete type, *DB, wraps database/sql with a small dialect layer;
// consumers declare the few methods they need as their own interfaces.
// Callers branch on ErrNotFound and ErrConflict with errors.Is.
//
// # Schema and migrations
//
// Migrations are the ordered files under migrations/ (NNNN_name.sql), embedded
// in the binary and applied by Open in one transaction, recorded in
// schema_migrations. Concurrent Opens are serialised by SQLite's write lock or
// by a PostgreSQL transaction-scoped advisory lock. A database whose schema is
// newer than the binary is refused rather than guessed at.
//
// Types stay portable: TEXT, BIGINT, JSON as TEXT, and every timestamp as
// BIGINT nanoseconds since the Unix epoch, UTC (integers sort and compare the
// same everywhere, unlike RFC 3339 text with trimmed fractions).
//
// Planned next, one migration each, so the order stays meaningful:
//
//   - proposals: id, action, arguments (JSON), risk, status, agent, session_id,
//     proposer_key_id, decided_by, comment, created/decided/expires/executed
//     times, result; execution is claimed with a conditional UPDATE on status so
//     an approved proposal executes exactly once, even across a restart.
//   - tickets and idempotency_keys (scope, key, request_hash, response, created
//     and expires times; PRIMARY KEY(scope, key)): INSERT … ON CONFLICT DO
//     NOTHING then read decides which retry owns the ticket.
//   - audit: seq, time, actor, kind, subject, payload_hash, prev_hash, hash.
//     Append-only: appends serialise like AppendEvents (SQLite write lock, a
//     PostgreSQL advisory lock) to extend the hash chain, and no method updates
//     or deletes a row.
package store
