-- Personal data (callers' names, phone numbers, email, account ids, and the
-- request text and address as written when they held personal data) lives
-- here only, encrypted: ciphertext is base64 of nonce ‖ AES-256-GCM sealed
-- data with "<ticket_id>\0<field>" as additional data, so that a row moved
-- to another ticket or field does not decrypt. key_id names the key
-- (rotation: old keys stay configured until rows are re-sealed). The
-- ticket row keeps only masked forms. Times are Unix nanoseconds, UTC.
CREATE TABLE personal_data (
    ticket_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, field)
);

CREATE INDEX personal_data_by_key ON personal_data (key_id);

-- Tickets stored before this migration hold personal data in the clear
-- (caller column, text, address, the view in data, idempotent responses).
-- They are listed here; at start-up the hotline masks each one in place
-- and moves the originals into personal_data, deleting its row here in the
-- same transaction.
CREATE TABLE personal_backfill (
    ticket_id TEXT PRIMARY KEY
);

INSERT INTO personal_backfill (ticket_id) SELECT id FROM hotline_tickets;
