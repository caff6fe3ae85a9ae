-- The 12345 ticket lifecycle (issue 18): triaged → dispatched → accepted →
-- in_progress → replied → closed, plus returned, reopened and merged. Every
-- change of status is a conditional UPDATE on the current status and one
-- hotline_transitions row (who, when, note, department), numbered 1, 2, 3…
-- per ticket, written in the same transaction as its audit record. Times
-- are Unix nanoseconds, UTC.
CREATE TABLE hotline_transitions (
    ticket_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    department  TEXT NOT NULL,
    note        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    -- a return visit's result (satisfied | basically_satisfied |
    -- unsatisfied, '' for other transitions) and solved (NULL unknown, 0, 1):
    -- every visit counts in the results, not only a ticket's last.
    satisfaction TEXT NOT NULL DEFAULT '',
    solved      BIGINT,
    PRIMARY KEY (ticket_id, seq)
);

CREATE INDEX hotline_transitions_by_at ON hotline_transitions (at, ticket_id);

-- Lifecycle columns of a ticket. satisfaction is satisfied |
-- basically_satisfied | unsatisfied ('' before the return visit); solved is
-- NULL (unknown), 0 or 1; reopened and returned count those transitions;
-- overdue_at is set once by the deadline sweep; paused_ns is the time spent
-- waiting for the citizen where the taxonomy allows the clock to pause
-- (paused_at is the start of the current pause); warned_at records the 80 %
-- warning; duplicate_of links a likely duplicate to the open ticket it
-- repeats, merged_into the ticket it was merged into.
ALTER TABLE hotline_tickets ADD COLUMN accepted_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN replied_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN satisfaction TEXT NOT NULL DEFAULT '';

ALTER TABLE hotline_tickets ADD COLUMN solved BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';

ALTER TABLE hotline_tickets ADD COLUMN reopened BIGINT NOT NULL DEFAULT 0;

ALTER TABLE hotline_tickets ADD COLUMN returned BIGINT NOT NULL DEFAULT 0;

ALTER TABLE hotline_tickets ADD COLUMN overdue_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN paused_ns BIGINT NOT NULL DEFAULT 0;

ALTER TABLE hotline_tickets ADD COLUMN duplicate_of TEXT NOT NULL DEFAULT '';

ALTER TABLE hotline_tickets ADD COLUMN dispatched_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN warned_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN paused_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN visited_at BIGINT;

ALTER TABLE hotline_tickets ADD COLUMN transitions BIGINT NOT NULL DEFAULT 0;

CREATE INDEX hotline_tickets_by_department_status ON hotline_tickets (department, status, deadline);

CREATE INDEX hotline_tickets_by_duplicate ON hotline_tickets (duplicate_of);

-- A department key is bound to one department of the taxonomy ('' for
-- every other role).
ALTER TABLE api_keys ADD COLUMN department TEXT NOT NULL DEFAULT '';
