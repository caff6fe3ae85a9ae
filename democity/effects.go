package democity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cityagent/cityagent/store"
)

// EffectStore is where a Journal keeps the city's effects (store.DB).
type EffectStore interface {
	AppendCityEffect(ctx context.Context, e store.CityEffect) (store.CityEffect, error)
	CityEffectsAfter(ctx context.Context, after int64, limit int) ([]store.CityEffect, error)
}

var _ EffectStore = (*store.DB)(nil)

// Applier applies one recorded effect of its kind to this process's city.
// It is handed effects this process did not make (another replica's, or
// an earlier run's) and must change the city as the original did.
type Applier func(ctx context.Context, e store.CityEffect) error

// Journal makes the simulated city's changes durable and shared: what an
// executed action changes is recorded in the state store (Record), and
// every process applies the recorded effects it has not applied yet, in
// order (CatchUp) — at start, so a restart sees the same city, and
// whenever another replica records one. The city itself stays in memory.
type Journal struct {
	st       EffectStore
	log      *slog.Logger
	appliers map[string]Applier

	mu      sync.Mutex // held while catching up, so effects apply in order
	applied int64      // the highest seq applied, in order
	own     map[int64]bool
}

// NewJournal returns a journal over st; register an Applier per kind with
// Handle before the first CatchUp.
func NewJournal(st EffectStore, log *slog.Logger) *Journal {
	if log == nil {
		log = slog.Default()
	}
	return &Journal{st: st, log: log, appliers: map[string]Applier{}, own: map[int64]bool{}}
}

// Handle sets how effects of kind are applied.
func (j *Journal) Handle(kind string, apply Applier) { j.appliers[kind] = apply }

// Record stores an effect this process has just made to its city. It is
// not applied again here.
func (j *Journal) Record(ctx context.Context, proposalID, kind string, payload json.RawMessage) error {
	e, err := j.st.AppendCityEffect(ctx, store.CityEffect{ProposalID: proposalID, Kind: kind, Payload: payload})
	if errors.Is(err, store.ErrConflict) {
		err = nil // recorded before (a retried execution): nothing new
	}
	if err != nil {
		return fmt.Errorf("democity: record effect of %s: %w", proposalID, err)
	}
	j.mu.Lock()
	if e.Seq > j.applied {
		j.own[e.Seq] = true
	}
	j.mu.Unlock()
	return nil
}

// Applied is the highest effect seq this process has applied in order.
func (j *Journal) Applied() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.applied
}

// CatchUp applies, in order, every recorded effect this process has not
// applied, and returns how many it applied. An effect that fails to apply
// (an unknown kind, refused arguments) is logged and skipped: the city
// still moves on to the next, as the process that made it did.
func (j *Journal) CatchUp(ctx context.Context) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for {
		es, err := j.st.CityEffectsAfter(ctx, j.applied, 500)
		if err != nil {
			return n, fmt.Errorf("democity: catch up effects: %w", err)
		}
		for _, e := range es {
			j.applied = e.Seq
			if j.own[e.Seq] {
				delete(j.own, e.Seq)
				continue
			}
			apply, ok := j.appliers[e.Kind]
			if !ok {
				j.log.Warn("city effect of an unknown kind; skipped", "seq", e.Seq, "kind", e.Kind, "proposal", e.ProposalID)
				continue
			}
			if err := apply(ctx, e); err != nil {
				j.log.Warn("city effect not applied", "seq", e.Seq, "kind", e.Kind, "proposal", e.ProposalID, "err", err)
				continue
			}
			n++
		}
		if len(es) < 500 {
			return n, nil
		}
	}
}
