package store

import (
	"errors"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// TestMonitorStore runs the monitor and alert store on both backends.
func TestMonitorStore(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	targets := map[string]func(t *testing.T) target{
		BackendSQLite:   func(t *testing.T) target { return target{backend: BackendSQLite, dir: t.TempDir()} },
		BackendPostgres: func(t *testing.T) target { return target{backend: BackendPostgres, url: pgtest.NewDatabase(t, pgURL)} },
	}
	for name, fresh := range targets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range monitorConformance {
				t.Run(c.name, func(t *testing.T) { c.run(t, fresh(t).open(t)) })
			}
		})
	}
}

func testAlert(id, subject string) Alert {
	return Alert{ID: id, Monitor: "m", Subject: subject, Severity: "warning", Clearance: "internal", Status: AlertFiring,
		Title: "T", TitleZh: "题", Condition: "> 1", FirstValue: 2, PeakValue: 2, Value: 2, Values: []AlertValue{{At: t0, Value: 2}},
		Tool: "tool", Source: "src", AsOf: t0, StartedAt: t0, FiredAt: t0, UpdatedAt: t0}
}

var monitorConformance = []struct {
	name string
	run  func(t *testing.T, db *DB)
}{
	{"a tick is claimed once; a stale claim cannot commit", func(t *testing.T, db *DB) {
		ctx := t.Context()
		if err := db.EnsureMonitor(ctx, "m", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.EnsureMonitor(ctx, "m", t0.Add(time.Hour)); err != nil { // a second replica: no change
			t.Fatal(err)
		}
		seq1, ok, err := db.ClaimMonitorTick(ctx, "m", t0, t0.Add(time.Minute), "a", t0)
		if err != nil || !ok || seq1 != 1 {
			t.Fatalf("first claim: %d %v %v", seq1, ok, err)
		}
		if _, ok, err := db.ClaimMonitorTick(ctx, "m", t0, t0.Add(time.Minute), "b", t0); err != nil || ok {
			t.Fatalf("second claim of the same run: %v %v", ok, err)
		}
		seq2, ok, err := db.ClaimMonitorTick(ctx, "m", t0.Add(time.Minute), t0.Add(2*time.Minute), "b", t0.Add(time.Minute))
		if err != nil || !ok || seq2 != 2 {
			t.Fatalf("next run: %d %v %v", seq2, ok, err)
		}
		err = db.CommitMonitorTick(ctx, TickCommit{Monitor: "m", Seq: seq1, At: t0, Status: "ok", Fire: []Alert{testAlert("al_1", "x")}})
		if !errors.Is(err, ErrTickFenced) {
			t.Fatalf("commit of a stale claim: %v", err)
		}
		if list, _ := db.ListAlerts(ctx, AlertFilter{}); len(list) != 0 {
			t.Fatalf("a fenced commit wrote %d alerts", len(list))
		}
		v := 3.5
		err = db.CommitMonitorTick(ctx, TickCommit{Monitor: "m", Seq: seq2, At: t0.Add(time.Minute), Status: "ok", Value: &v, Holding: 1, Subjects: 2,
			Upsert: []MonitorSubject{{Subject: "x", HoldingSince: &t0, Value: &v, SeenAt: t0}}, Fire: []Alert{testAlert("al_1", "x")},
			Audits: []audit.Entry{{Actor: "system", Kind: "alert.fire", Subject: "al_1", Payload: map[string]any{"alert_id": "al_1"}}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.MonitorState(ctx, "m")
		if err != nil || st.Seq != 2 || st.LastValue == nil || *st.LastValue != 3.5 || st.Holding != 1 || !st.NextRun.Equal(t0.Add(2*time.Minute)) || st.ClaimedBy != "b" {
			t.Fatalf("state %+v %v", st, err)
		}
		subs, err := db.MonitorSubjects(ctx, "m")
		if err != nil || len(subs) != 1 || !subs[0].HoldingSince.Equal(t0) {
			t.Fatalf("subjects %+v %v", subs, err)
		}
		samples, err := db.MonitorSamples(ctx, "m", t0)
		if err != nil || len(samples) != 1 || *samples[0].Value != 3.5 {
			t.Fatalf("samples %+v %v", samples, err)
		}
		recs, err := db.ListAudit(ctx, AuditFilter{Kind: "alert."})
		if err != nil || len(recs) != 1 || recs[0].Subject != "al_1" {
			t.Fatalf("audit %+v %v", recs, err)
		}
	}},
	{"one open alert per monitor and subject; acknowledge once", func(t *testing.T, db *DB) {
		ctx := t.Context()
		if err := db.EnsureMonitor(ctx, "m", t0); err != nil {
			t.Fatal(err)
		}
		commit := func(c TickCommit) error {
			st, _ := db.MonitorState(ctx, "m")
			seq, ok, err := db.ClaimMonitorTick(ctx, "m", st.NextRun, st.NextRun.Add(time.Minute), "a", st.NextRun)
			if err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			c.Monitor, c.Seq, c.At, c.Status = "m", seq, st.NextRun, "ok"
			return db.CommitMonitorTick(ctx, c)
		}
		if err := commit(TickCommit{Fire: []Alert{testAlert("al_1", "x")}}); err != nil {
			t.Fatal(err)
		}
		if err := commit(TickCommit{Fire: []Alert{testAlert("al_2", "x")}}); !errors.Is(err, ErrConflict) {
			t.Fatalf("a second open alert for x: %v", err)
		}
		a, err := db.AcknowledgeAlert(ctx, "al_1", "key_sup", "on it", t0.Add(time.Minute),
			audit.Entry{Actor: "key_sup", Kind: "alert.acknowledge", Subject: "al_1"})
		if err != nil || a.Status != AlertAcknowledged || a.AcknowledgedBy != "key_sup" || !a.AcknowledgedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("ack: %+v %v", a, err)
		}
		if _, err := db.AcknowledgeAlert(ctx, "al_1", "key_sup", "", t0); !errors.Is(err, ErrAlertState) {
			t.Fatalf("second ack: %v", err)
		}
		if _, err := db.AcknowledgeAlert(ctx, "nope", "key_sup", "", t0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ack of an unknown alert: %v", err)
		}
		if err := commit(TickCommit{Update: []AlertChange{{ID: "al_1", Value: 0.5, Peak: 2, Values: []AlertValue{{At: t0, Value: 0.5}}, Source: "src", AsOf: t0, Resolve: true}}}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetAlert(ctx, "al_1")
		if err != nil || got.Status != AlertResolved || got.ResolvedAt == nil || got.Value != 0.5 || got.AckComment != "on it" {
			t.Fatalf("resolved: %+v %v", got, err)
		}
		if _, err := db.AcknowledgeAlert(ctx, "al_1", "key_sup", "", t0); !errors.Is(err, ErrAlertState) {
			t.Fatalf("ack of a resolved alert: %v", err)
		}
		if err := commit(TickCommit{Fire: []Alert{testAlert("al_2", "x")}}); err != nil {
			t.Fatalf("a new alert after resolution: %v", err)
		}
		for _, c := range []struct {
			f    AlertFilter
			want int
		}{
			{AlertFilter{}, 2}, {AlertFilter{Status: AlertResolved}, 1}, {AlertFilter{Statuses: []string{AlertFiring, AlertAcknowledged}}, 1},
			{AlertFilter{Clearances: []string{"public"}}, 0}, {AlertFilter{Clearances: []string{}}, 0}, {AlertFilter{Severity: "critical"}, 0},
			{AlertFilter{Before: "al_2"}, 1},
		} {
			list, err := db.ListAlerts(ctx, c.f)
			if err != nil || len(list) != c.want {
				t.Errorf("%+v: %d alerts, %v; want %d", c.f, len(list), err, c.want)
			}
		}
		if _, err := db.ListAlerts(ctx, AlertFilter{Before: "nope"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown cursor: %v", err)
		}
		if err := db.SetAlertProposal(ctx, "al_2", "created", "prop_1", ""); err != nil {
			t.Fatal(err)
		}
		if a, _ := db.GetAlert(ctx, "al_2"); a.ProposalID != "prop_1" || a.ProposalState != "created" {
			t.Errorf("proposal not recorded: %+v", a)
		}
	}},
}
