package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// TestMetricsCounts checks the scrape-time counts of /metrics on every
// backend: proposals by status and hotline tickets that missed their
// deadline (open past it, closed after it), never the ones in time.
func TestMetricsCounts(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	for name, tg := range map[string]func(t *testing.T) target{
		BackendSQLite:   func(t *testing.T) target { return target{backend: BackendSQLite, dir: t.TempDir()} },
		BackendPostgres: func(t *testing.T) target { return target{backend: BackendPostgres, url: pgtest.NewDatabase(t, pgURL)} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := tg(t).open(t)
			ctx := t.Context()
			for _, id := range []string{"prop_a", "prop_b"} {
				p := Proposal{ID: id, Action: "traffic.retime_signal", Arguments: json.RawMessage(`{}`), Risk: "medium", ApproverRole: access.RoleSupervisor,
					Clearance: access.Internal, Agent: "traffic", Evidence: json.RawMessage(`[]`), ProposerKeyID: "key_op", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
				if err := db.CreateProposal(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			now := t0.Add(10 * 24 * time.Hour) // every test ticket's deadline (7 days) has passed
			late, onTime := t0.Add(8*24*time.Hour), t0.Add(24*time.Hour)
			tickets := []Ticket{testTicket("tkt_open_late", t0), testTicket("tkt_open_new", now), testTicket("tkt_closed_late", t0), testTicket("tkt_closed_ok", t0)}
			tickets[2].Status, tickets[2].ClosedAt = TicketStatusClosed, &late
			tickets[3].Status, tickets[3].ClosedAt = TicketStatusClosed, &onTime
			for _, tk := range tickets {
				if err := db.CreateTicket(ctx, tk, nil); err != nil {
					t.Fatal(err)
				}
			}
			counts, err := db.ProposalStatusCounts(ctx)
			if err != nil || len(counts) != 1 || counts[ProposalProposed] != 2 {
				t.Errorf("proposal counts %v, %v", counts, err)
			}
			open, closedLate, err := db.DeadlineMisses(ctx, now)
			if err != nil || open != 1 || closedLate != 1 {
				t.Errorf("deadline misses: open %d, closed late %d, %v; want 1, 1", open, closedLate, err)
			}
		})
	}
}
