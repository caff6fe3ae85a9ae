package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/store"
)

// effectPayload is what a recorded city effect holds: the execution that
// made it, which replaying on another city makes the same change.
type effectPayload struct {
	Action     string          `json:"action"`
	Arguments  json.RawMessage `json:"arguments"`
	Attempt    int             `json:"attempt"`
	ApprovedBy string          `json:"approved_by"`
	At         time.Time       `json:"at"`
}

// journaled records, after its executor changed the demo city, what it
// changed; the journal replays it on other replicas and after restarts.
type journaled struct {
	kind string
	ex   actions.Executor
	j    *democity.Journal
}

type journaledRefiner struct {
	journaled
	actions.ArgumentRefiner
}

var (
	_ actions.Executor        = journaled{}
	_ actions.ArgumentRefiner = journaledRefiner{}
)

func (d journaled) Execute(ctx context.Context, x actions.Execution) (json.RawMessage, error) {
	res, err := d.ex.Execute(ctx, x)
	if err != nil {
		return res, err
	}
	payload, _ := json.Marshal(effectPayload{Action: x.Action, Arguments: x.Arguments, Attempt: x.Attempt, ApprovedBy: x.ApprovedBy, At: x.At})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.j.Record(rctx, x.ProposalID, d.kind, payload); err != nil {
		// The change is made here but would be lost elsewhere and on
		// restart: report the execution failed rather than "executed".
		return nil, fmt.Errorf("the change was made but could not be recorded for the other replicas: %w", err)
	}
	return res, nil
}

// journalDemoExecutors wraps every demo-city executor of execs so that its
// changes are recorded in j, and teaches j to replay them with the same
// executor. Executors that act outside the city (store.dispatch) are left
// alone: their effects are in the state store already.
func journalDemoExecutors(execs map[string]actions.Executor, j *democity.Journal) {
	for name, ex := range execs {
		if !strings.HasPrefix(name, "democity.") {
			continue
		}
		d := journaled{kind: name, ex: ex, j: j}
		if r, ok := ex.(actions.ArgumentRefiner); ok {
			execs[name] = journaledRefiner{d, r}
		} else {
			execs[name] = d
		}
		j.Handle(name, func(ctx context.Context, e store.CityEffect) error {
			var p effectPayload
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				return err
			}
			// ex dedups by proposal id in this process (actions.Once), so an
			// effect this process made is not applied twice.
			_, err := ex.Execute(ctx, actions.Execution{ProposalID: e.ProposalID, Action: p.Action, Arguments: p.Arguments,
				Attempt: p.Attempt, ApprovedBy: p.ApprovedBy, At: p.At})
			return err
		})
	}
}

// followEffects applies the effects other replicas record, as they record
// them (NOTIFY on PostgreSQL, a polled version otherwise). The returned
// function stops it and waits.
func followEffects(ctx context.Context, db *store.DB, j *democity.Journal, poll time.Duration, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		db.WatchRegistry(ctx, store.RegistryCityEffects, poll, log, func(int64) {
			if n, err := j.CatchUp(ctx); err != nil && ctx.Err() == nil {
				log.Warn("city effects not caught up", "err", err)
			} else if n > 0 {
				log.Info("applied city effects recorded by other replicas", "effects", n, "applied_seq", j.Applied())
			}
		})
	})
	return func() { cancel(); wg.Wait() }
}
