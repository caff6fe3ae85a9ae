// Package store persists cityagent's state — API keys, chat sessions and
// their event transcripts, proposals and the audit chain — in one SQL
// schema that runs on an embedded SQLite file (the default, pure Go) or on
// PostgreSQL.
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
// Governance (0002_governance.sql): proposals, whose status moves only by
// conditional UPDATEs (… WHERE id = ? AND status = ?) so that of concurrent
// deciders or executors exactly one wins, with execution claimed under a
// lease and fenced by an attempt counter; the append-only audit chain
// (audit_log, and audit_head written with every append and locked by
// appenders); dispatch records, one per proposal. Proposal transitions
// append their audit records in the same transaction.
//
// Planned next: tickets and idempotency_keys (scope, key, request_hash,
// response, created and expires times; PRIMARY KEY(scope, key)): INSERT …
// ON CONFLICT DO NOTHING then read decides which retry owns the ticket.
package store
