-- Durable demo-city effects: what an executed action changed in the
-- simulated city (a signal plan retimed, a lane closed…), in the order it
-- happened, so that every replica and every restart replays the same city.
-- seq orders them; proposal_id names the action that made each one.
CREATE TABLE IF NOT EXISTS city_effects (
    seq         BIGINT PRIMARY KEY,
    proposal_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    applied_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS city_effects_proposal ON city_effects (proposal_id, kind);
