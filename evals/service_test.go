package evals

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
)

// allCleared may run every shipped suite: some cases act as an admin or at
// restricted clearance.
var allCleared = access.Principal{KeyID: "key_dev", Role: access.RoleAdmin, Clearance: access.Restricted}

func waitRun(t *testing.T, s *Service, id string) RunStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := s.Get(id, allCleared)
		if err != nil {
			t.Fatal(err)
		}
		if st.FinishedAt != nil {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not finish", id)
	return RunStatus{}
}

func TestService(t *testing.T) {
	r := newRig(t)
	svc := NewService(NewLocal(r.runner), Options{GitRevision: "rev", SnapshotOf: func(context.Context) string { return "ds_svc" }})
	defer svc.Close()
	ctx := context.Background()

	st, err := svc.Start(ctx, RunRequest{Suites: []string{"traffic-basics"}, FailUnder: map[string]float64{"case_pass_rate": 0.1}, Thresholds: true}, allCleared)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID == "" || (st.Status != "queued" && st.Status != "running") || st.Total == 0 || st.CreatedBy != "key_dev" {
		t.Errorf("started: %+v", st)
	}
	done := waitRun(t, svc, st.ID)
	if done.Status != "done" || done.Report == nil || done.Done != done.Total || done.Passed == nil {
		t.Fatalf("done: %+v", done)
	}
	if done.Report.DataSnapshot != "ds_svc" || done.Report.GitRevision != "rev" || len(done.Report.Gates) < 2 {
		t.Errorf("report: snapshot %s rev %s gates %v", done.Report.DataSnapshot, done.Report.GitRevision, done.Report.Gates)
	}

	st, err = svc.Start(ctx, RunRequest{SuiteYAML: minimalSuite, Agent: "city"}, allCleared)
	if err != nil {
		t.Fatal(err)
	}
	if done := waitRun(t, svc, st.ID); done.Report.Cases[0].Agent != "city" {
		t.Errorf("agent override: %+v", done.Report.Cases[0])
	}

	bad := map[string]struct {
		req  RunRequest
		want error
	}{
		"nothing":       {RunRequest{}, ErrBadRunRequest},
		"both":          {RunRequest{Suites: []string{"all"}, SuiteYAML: minimalSuite}, ErrBadRunRequest},
		"bad yaml":      {RunRequest{SuiteYAML: "name: x\ncases: 1\n"}, ErrInvalidSuite},
		"unknown suite": {RunRequest{Suites: []string{"nope"}}, ErrUnknownSuite},
		"unknown agent": {RunRequest{SuiteYAML: minimalSuite, Agent: "mayor"}, ErrPreflight},
		"bad gate":      {RunRequest{Suites: []string{"all"}, FailOver: map[string]float64{"tool_recall": 1}}, ErrInvalidGate},
		"parallel":      {RunRequest{Suites: []string{"all"}, Parallel: 100}, ErrBadRunRequest},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := svc.Start(ctx, tc.req, allCleared); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := svc.Get("evr_nope", allCleared); !errors.Is(err, ErrUnknownRun) {
		t.Errorf("Get(unknown) = %v", err)
	}
	list := svc.List(allCleared)
	if len(list) != 2 || list[0].ID != st.ID || list[0].Report != nil || list[0].Summary == nil || list[0].Summary.Counts.Total == 0 {
		t.Fatalf("List = %+v, want the two runs newest first, summaries without reports", list)
	}
	// A key lists exactly the runs it may read.
	pub := access.Principal{KeyID: "key_pub", Role: access.RoleDeveloper, Clearance: access.Public}
	readable := 0
	for _, r := range list {
		if _, err := svc.Get(r.ID, pub); err == nil {
			readable++
		}
	}
	if got := svc.List(pub); len(got) != readable {
		t.Errorf("a public key lists %d runs, may read %d", len(got), readable)
	}
}

func TestServiceCloseCancelsRuns(t *testing.T) {
	r := newRig(t)
	svc := NewService(NewLocal(r.runner), Options{Parallel: 1})
	var ids []string
	for i := 0; i < MaxConcurrentRuns+1; i++ {
		st, err := svc.Start(context.Background(), RunRequest{Suites: []string{"all"}}, allCleared)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		st, err := svc.Get(id, allCleared)
		if err != nil {
			t.Fatal(err)
		}
		if st.FinishedAt == nil || (st.Status != "cancelled" && st.Status != "done") {
			t.Errorf("%s after Close: %+v", id, st)
		}
	}
	if _, err := svc.Start(context.Background(), RunRequest{Suites: []string{"all"}}, allCleared); !errors.Is(err, ErrBadRunRequest) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestServiceRefusesWhenBusy(t *testing.T) {
	release := make(chan struct{})
	target := &fakeTarget{
		inv: Inventory{Target: "fake", Agents: map[string]AgentInfo{"traffic": {Name: "traffic"}}, Tools: map[string]bool{"traffic_congestion": true}},
		chat: func(ChatRequest) (agents.ChatResult, error) {
			<-release
			return agents.ChatResult{Answer: "congestion index"}, nil
		},
	}
	svc := NewService(target, Options{})
	var ids []string
	for i := 0; i < MaxPendingRuns; i++ {
		st, err := svc.Start(context.Background(), RunRequest{SuiteYAML: minimalSuite}, allCleared)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	if _, err := svc.Start(context.Background(), RunRequest{SuiteYAML: minimalSuite}, allCleared); !errors.Is(err, ErrBusy) {
		t.Errorf("run %d: err = %v, want ErrBusy", MaxPendingRuns+1, err)
	}
	close(release)
	for _, id := range ids {
		if st := waitRun(t, svc, id); st.Status != "done" {
			t.Errorf("%s: %s", id, st.Status)
		}
	}
	if _, err := svc.Start(context.Background(), RunRequest{SuiteYAML: minimalSuite}, allCleared); err != nil {
		t.Errorf("after the queue drained: %v", err)
	}
	svc.Close()
}
