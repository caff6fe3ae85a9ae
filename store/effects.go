package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// RegistryCityEffects is the registry_versions row bumped when an effect
// is recorded, so that other replicas apply it (store/registry.go).
const RegistryCityEffects = "city_effects"

// CityEffect is one change an executed action made to the simulated city,
// recorded so that every replica and every restart applies the same ones
// in the same order.
type CityEffect struct {
	Seq        int64
	ProposalID string
	Kind       string // the executor that made it
	Payload    json.RawMessage
	AppliedAt  time.Time
}

// AppendCityEffect records e after every effect recorded before it and
// returns it with its sequence number. An effect of the same proposal and
// kind recorded already is not recorded twice: the one stored is returned
// with ErrConflict.
func (db *DB) AppendCityEffect(ctx context.Context, e CityEffect) (CityEffect, error) {
	if e.ProposalID == "" || e.Kind == "" || !json.Valid(e.Payload) {
		return CityEffect{}, fmt.Errorf("store: city effect: proposal id, kind and a JSON payload are required")
	}
	if e.AppliedAt.IsZero() {
		e.AppliedAt = time.Now()
	}
	// Two replicas appending at once may pick the same next seq; the loser
	// retries (the primary key refuses the second).
	for attempt := 0; ; attempt++ {
		err := db.write(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM city_effects").Scan(&e.Seq); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, db.q("INSERT INTO city_effects (seq, proposal_id, kind, payload, applied_at) VALUES (?, ?, ?, ?, ?)"),
				e.Seq, e.ProposalID, e.Kind, string(e.Payload), nanos(e.AppliedAt))
			if err == nil && db.d.name() == BackendPostgres {
				_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", registryChannel, RegistryCityEffects)
			}
			if err == nil {
				_, err = tx.ExecContext(ctx, db.q(`INSERT INTO registry_versions (name, version) VALUES (?, 1)
ON CONFLICT (name) DO UPDATE SET version = registry_versions.version + 1`), RegistryCityEffects)
			}
			return err
		})
		if err == nil {
			return e, nil
		}
		if !db.d.isUniqueViolation(err) || attempt >= 20 {
			return CityEffect{}, fmt.Errorf("store: append city effect: %w", err)
		}
		if got, ok, gerr := db.cityEffectOf(ctx, e.ProposalID, e.Kind); gerr == nil && ok {
			return got, fmt.Errorf("store: city effect of %s: %w", e.ProposalID, ErrConflict)
		}
	}
}

func (db *DB) cityEffectOf(ctx context.Context, proposalID, kind string) (CityEffect, bool, error) {
	rows, err := queryRows(ctx, db.sql, db.q("SELECT seq, proposal_id, kind, payload, applied_at FROM city_effects WHERE proposal_id = ? AND kind = ?"),
		[]any{proposalID, kind}, scanCityEffect)
	if err != nil || len(rows) == 0 {
		return CityEffect{}, false, err
	}
	return rows[0], true, nil
}

// CityEffectsAfter returns up to limit effects with seq > after, in order.
func (db *DB) CityEffectsAfter(ctx context.Context, after int64, limit int) ([]CityEffect, error) {
	if limit <= 0 {
		limit = 500
	}
	out, err := queryRows(ctx, db.sql, db.q("SELECT seq, proposal_id, kind, payload, applied_at FROM city_effects WHERE seq > ? ORDER BY seq LIMIT ?"),
		[]any{after, limit}, scanCityEffect)
	if err != nil {
		return nil, fmt.Errorf("store: city effects: %w", err)
	}
	return out, nil
}

func scanCityEffect(s scanner) (CityEffect, error) {
	var e CityEffect
	var payload string
	var at int64
	err := s.Scan(&e.Seq, &e.ProposalID, &e.Kind, &payload, &at)
	e.Payload, e.AppliedAt = json.RawMessage(payload), fromNanos(at)
	return e, err
}
