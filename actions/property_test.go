package actions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/store"
)

// world is one run of the governance property: a store that can be closed
// and reopened (a restart), a service, a clock, and an external target with
// idempotency keys that outlives restarts.
type world struct {
	t      testing.TB
	reopen func() *store.DB
	db     *store.DB
	clk    *clock
	tg     *target
	s      *Service
	ids    []string
	// retried counts, per proposal, the executions a simulated crash left
	// unfinished: each may lead to one more call of the target.
	retried map[string]int
	mu      sync.Mutex
}

var actors = []access.Principal{
	{KeyID: "key_sup1", Role: access.RoleSupervisor, Clearance: access.Internal},
	{KeyID: "key_sup2", Role: access.RoleSupervisor, Clearance: access.Internal},
	{KeyID: "key_admin", Role: access.RoleAdmin, Clearance: access.Restricted},
	{KeyID: "key_op", Role: access.RoleOperator, Clearance: access.Internal},
	{KeyID: "key_dev", Role: access.RoleDeveloper, Clearance: access.Internal},
}

func newWorld(t testing.TB, reopen func() *store.DB) *world {
	w := &world{t: t, reopen: reopen, clk: newClock(), tg: newTarget(), retried: map[string]int{}}
	w.tg.check = w.checkExecutable
	w.db = reopen()
	w.s = newTestService(t, w.db, w.clk, w.tg)
	return w
}

// checkExecutable is the property, checked inside every call of the
// target: the proposal is approved, by a key that may decide it and is not
// its proposer, before it expired, and it is claimed.
func (w *world) checkExecutable(id string) {
	p, err := w.db.GetProposal(context.Background(), id)
	if err != nil {
		w.t.Errorf("executing %s: %v", id, err)
		return
	}
	switch {
	case p.Status != StatusApproved:
		w.t.Errorf("executing %s while it is %s", id, p.Status)
	case p.DecidedBy == "" || p.DecidedBy == p.ProposerKeyID:
		w.t.Errorf("executing %s decided by %q, proposed by %q", id, p.DecidedBy, p.ProposerKeyID)
	case !p.DecidedRole.Allows(p.ApproverRole):
		w.t.Errorf("executing %s decided by role %s, needs %s", id, p.DecidedRole, p.ApproverRole)
	case p.DecidedAt == nil || !p.DecidedAt.Before(p.ExpiresAt):
		w.t.Errorf("executing %s decided at %v, expired at %v", id, p.DecidedAt, p.ExpiresAt)
	case p.ClaimedAt == nil:
		w.t.Errorf("executing %s without a claim", id)
	}
}

func (w *world) pick(r *rand.Rand) string {
	if len(w.ids) == 0 {
		return "prop_none"
	}
	return w.ids[r.IntN(len(w.ids))]
}

func (w *world) actor(r *rand.Rand) access.Principal { return actors[r.IntN(len(actors))] }

// decider is a key that may decide p under the rules, or false.
func decider(p store.Proposal) (access.Principal, bool) {
	for _, a := range actors {
		if a.KeyID != p.ProposerKeyID && a.Role.Allows(p.ApproverRole) && a.Clearance.Covers(p.Clearance) {
			return a, true
		}
	}
	return access.Principal{}, false
}

// allowed are the errors the rules give; anything else fails the run.
func allowed(err error) bool {
	return err == nil || errors.Is(err, ErrDecided) || errors.Is(err, ErrExpired) || errors.Is(err, ErrForbidden) ||
		errors.Is(err, ErrSelfDecision) || errors.Is(err, ErrNotFound)
}

const opKinds = 11

// step plays one operation.
func (w *world) step(ctx context.Context, op int, r *rand.Rand) {
	switch op {
	case 0, 1: // propose (twice as likely)
		by := actors[r.IntN(2)]
		if r.IntN(3) == 0 {
			by = actors[3] // operators propose too
		}
		action := "test.do"
		if r.IntN(4) == 0 {
			action = "test.admin_only"
		}
		p, err := w.s.Propose(ctx, ProposeRequest{Action: action, Arguments: []byte(`{"target":"a"}`), Principal: by, Agent: "a", SessionID: "s"})
		if err != nil {
			w.t.Fatalf("propose: %v", err)
		}
		w.ids = append(w.ids, p.ID)
	case 2: // approve
		if _, err := w.s.Approve(ctx, w.pick(r), w.actor(r), ""); !allowed(err) {
			w.t.Fatalf("approve: %v", err)
		}
	case 3: // reject
		if _, err := w.s.Reject(ctx, w.pick(r), w.actor(r), ""); !allowed(err) {
			w.t.Fatalf("reject: %v", err)
		}
	case 4: // time passes; proposals may expire, claims go stale
		w.clk.Advance(time.Duration(r.IntN(50)) * time.Minute)
	case 5: // concurrent approvals of one proposal
		id := w.pick(r)
		var wg sync.WaitGroup
		for range 2 + r.IntN(4) {
			by := w.actor(r)
			wg.Go(func() {
				if _, err := w.s.Approve(ctx, id, by, ""); !allowed(err) {
					w.t.Errorf("concurrent approve: %v", err)
				}
			})
		}
		wg.Wait()
	case 6: // a crash between approval and execution: the decision is committed, nothing else
		p, err := w.db.GetProposal(ctx, w.pick(r))
		if err != nil {
			return
		}
		if by, ok := decider(p); ok {
			_, err := w.db.DecideProposal(ctx, store.Decision{ID: p.ID, Status: StatusApproved, By: by.KeyID, Role: by.Role, At: w.clk.Now()})
			if err != nil && !errors.Is(err, store.ErrStateChanged) {
				w.t.Fatalf("decide: %v", err)
			}
		}
	case 7: // a crash after claiming, before the executor ran
		now := w.clk.Now()
		if _, err := w.db.ClaimExecution(ctx, w.pick(r), now, now.Add(-w.s.lease)); err == nil {
			// The claim dies without calling the target: no extra call.
		} else if !errors.Is(err, store.ErrStateChanged) && !errors.Is(err, store.ErrNotFound) {
			w.t.Fatalf("claim: %v", err)
		}
	case 8: // the next execution of a proposal crashes after its effect
		id := w.pick(r)
		w.s.crashAfterExecute = func(x string) bool {
			if x != id {
				return false
			}
			w.mu.Lock()
			w.retried[x]++
			w.mu.Unlock()
			return true
		}
	case 9: // restart: close the store, reopen it, recover
		w.restart(ctx)
	case 10: // the target will refuse a proposal
		id := w.pick(r)
		w.tg.mu.Lock()
		w.tg.fail[id] = true
		w.tg.mu.Unlock()
	}
}

func (w *world) restart(ctx context.Context) {
	w.db.Close()
	w.db = w.reopen()
	w.s = newTestService(w.t, w.db, w.clk, w.tg)
	if _, err := w.s.Sweep(ctx); err != nil {
		w.t.Fatalf("recovery sweep: %v", err)
	}
}

// finish restarts once more past every expiry and lease and checks the end
// state: nothing is left approved, every executed proposal had exactly one
// effect, nothing else had any, and no proposal was called more often than
// one plus the executions a crash interrupted.
func (w *world) finish(ctx context.Context) map[string]int {
	w.s.crashAfterExecute = nil
	w.clk.Advance(3 * time.Hour)
	w.restart(ctx)
	w.s.crashAfterExecute = nil
	if _, err := w.s.Sweep(ctx); err != nil {
		w.t.Fatal(err)
	}
	tally := map[string]int{}
	for _, id := range w.ids {
		p, err := w.db.GetProposal(ctx, id)
		if err != nil {
			w.t.Fatal(err)
		}
		tally[p.Status]++
		if w.retried[id] > 0 {
			tally["retried after a crash"]++
		}
		calls, effects := w.tg.count(id)
		wantEffects := 0
		if p.Status == StatusExecuted {
			wantEffects = 1
		}
		switch {
		case p.Status == StatusProposed || p.Status == StatusApproved:
			w.t.Errorf("%s left %s after the final recovery", id, p.Status)
		case effects != wantEffects:
			w.t.Errorf("%s is %s with %d effects", id, p.Status, effects)
		case calls > 1+w.retried[id]:
			w.t.Errorf("%s: target called %d times, %d interrupted executions", id, calls, w.retried[id])
		case (p.Status == StatusRejected || p.Status == StatusExpired) && calls != 0:
			w.t.Errorf("%s is %s but the target was called %d times", id, p.Status, calls)
		}
	}
	if rep, err := audit.Verify(ctx, w.db); err != nil || !rep.OK {
		w.t.Errorf("audit chain after the run: %+v %v", rep, err)
	}
	return tally
}

// TestGovernanceProperty plays random sequences of propose, approve,
// reject, expiry, concurrent approvals, crashes and restarts against both
// store backends: no proposal executes unless it was approved by a key that
// may decide it and is not its proposer, none has more than one effect, and
// every approval ends executed or failed.
func TestGovernanceProperty(t *testing.T) {
	pgURL := pgtest.Start(t)
	backends := map[string]struct {
		runs int
		open func(t *testing.T) func() *store.DB
	}{
		"sqlite": {24, func(t *testing.T) func() *store.DB {
			dir := t.TempDir()
			return func() *store.DB { return openDB(t, dir) }
		}},
		"postgres": {16, func(t *testing.T) func() *store.DB {
			url := pgtest.NewDatabase(t, pgURL)
			return func() *store.DB {
				db, err := store.Open(context.Background(), url, "")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
		}},
	}
	for name, b := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			total := map[string]int{}
			// The runs must reach every outcome, or they prove little.
			// Checked in a cleanup: it runs once every seed, each in
			// parallel with its own store, clock and target, has finished.
			t.Cleanup(func() {
				t.Logf("outcomes over %d runs: %v", b.runs, total)
				for _, k := range []string{StatusExecuted, StatusFailed, StatusRejected, StatusExpired, "retried after a crash"} {
					if total[k] == 0 {
						t.Errorf("no run ended with a proposal %s: %v", k, total)
					}
				}
			})
			for seed := range b.runs {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					t.Parallel()
					r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b9))
					w := newWorld(t, b.open(t))
					ops := make([]int, 60)
					for i := range ops {
						ops[i] = r.IntN(opKinds)
						w.step(t.Context(), ops[i], r)
						if t.Failed() {
							t.Fatalf("after ops %v", ops[:i+1])
						}
					}
					tally := w.finish(t.Context())
					mu.Lock()
					defer mu.Unlock()
					for k, v := range tally {
						total[k] += v
					}
				})
			}
		})
	}
}

// FuzzGovernance plays the operations a fuzzer chooses (one byte each)
// against the embedded store, with the same property as above.
func FuzzGovernance(f *testing.F) {
	f.Add([]byte{0, 2, 0, 5, 9, 3, 6, 9})
	f.Add([]byte{0, 0, 8, 2, 4, 4, 9, 7, 4, 4, 9})
	f.Add([]byte{1, 6, 7, 9, 4, 4, 4, 9, 10, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		dir := t.TempDir()
		w := newWorld(t, func() *store.DB { return openDB(t, dir) })
		r := rand.New(rand.NewPCG(uint64(len(ops)), 7))
		for _, op := range ops {
			w.step(t.Context(), int(op)%opKinds, r)
		}
		w.finish(t.Context())
	})
}
