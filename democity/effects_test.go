package democity_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/store"
)

// TestJournalReplaysOtherReplicasEffects runs two journals on one state
// store, as two replicas: what one records the other applies in order on
// CatchUp, its own are not applied twice, a restart (a new journal)
// replays everything, and an effect of an unknown kind is skipped.
func TestJournalReplaysOtherReplicasEffects(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied := map[string][]string{}
	journal := func(name string) *democity.Journal {
		j := democity.NewJournal(db, nil)
		j.Handle("democity.signal_timing", func(_ context.Context, e store.CityEffect) error {
			applied[name] = append(applied[name], e.ProposalID)
			return nil
		})
		return j
	}
	a, b := journal("a"), journal("b")
	for _, id := range []string{"prop_1", "prop_2"} {
		if err := a.Record(ctx, id, "democity.signal_timing", json.RawMessage(`{"arguments":{}}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Record(ctx, "prop_3", "democity.signal_timing", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, "prop_9", "democity.unknown", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Recording the same proposal's effect again (a retried execution) adds nothing.
	if err := a.Record(ctx, "prop_1", "democity.signal_timing", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.CatchUp(ctx); err != nil || n != 2 {
		t.Fatalf("b applied %d, %v; want a's two", n, err)
	}
	if n, err := a.CatchUp(ctx); err != nil || n != 1 {
		t.Fatalf("a applied %d, %v; want b's one", n, err)
	}
	if !slices.Equal(applied["b"], []string{"prop_1", "prop_2"}) || !slices.Equal(applied["a"], []string{"prop_3"}) {
		t.Errorf("applied: %v", applied)
	}
	if a.Applied() != 4 || b.Applied() != 4 {
		t.Errorf("applied seqs %d and %d, want 4", a.Applied(), b.Applied())
	}
	if n, _ := b.CatchUp(ctx); n != 0 {
		t.Errorf("a second catch-up applied %d", n)
	}
	restarted := journal("restart")
	if n, err := restarted.CatchUp(ctx); err != nil || n != 3 || !slices.Equal(applied["restart"], []string{"prop_1", "prop_2", "prop_3"}) {
		t.Errorf("restart replayed %d (%v), %v", n, applied["restart"], err)
	}
}
