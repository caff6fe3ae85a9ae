package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/traffic"
)

// TestGovernanceNonDemoSourceHasNoDemoExecutor: with traffic from an
// NGSI-LD broker, approving traffic.retime_signal used to retime the
// built-in demo city and report "executed". Now the traffic actions are
// not offered, a proposal is refused with a clear reason, and an approval
// of a proposal made before the source changed is not executed. Domains
// still on the demo city keep their executors.
func TestGovernanceNonDemoSourceHasNoDemoExecutor(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	service := func(execs map[string]actions.Executor) *actions.Service {
		svc, err := actions.NewService(actions.Config{Catalog: cat, Store: db, Executors: execs, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	proposer := access.Principal{KeyID: "key_a", Role: access.RoleSupervisor, Clearance: access.Restricted}
	approver := access.Principal{KeyID: "key_admin", Role: access.RoleAdmin, Clearance: access.Restricted}
	retime := actions.ProposeRequest{Action: "traffic.retime_signal", Principal: proposer,
		Arguments: json.RawMessage(`{"corridor":"renmin","strategy":"more_main_green","seconds":10}`)}

	// Proposed while the installation ran on the demo city.
	before, err := service(cityExecutors(city, db)).Propose(t.Context(), retime)
	if err != nil {
		t.Fatal(err)
	}
	planBefore, err := city.SignalPlan(t.Context(), "renmin", now)
	if err != nil {
		t.Fatal(err)
	}

	execs := cityExecutors(city, db)
	var srcs config.SourcesConfig
	srcs.Traffic.Kind, srcs.Traffic.URL = config.SourceNGSILD, "http://127.0.0.1:1026"
	gone := disconnectDemoExecutors(execs, srcs)
	if len(gone) != 2 || gone[0].Executor != "democity.dispatch_crew" || gone[1].Executor != "democity.signal_timing" || gone[0].Source != config.SourceNGSILD {
		t.Fatalf("disconnected %+v, want the two traffic executors", gone)
	}
	svc := service(execs)
	avail := map[string]bool{}
	for _, ti := range svc.Types() {
		avail[ti.Name] = ti.Available
	}
	if avail["traffic.retime_signal"] || avail["traffic.dispatch_crew"] || !avail["permits.flag_for_review"] || !avail["energy.demand_response_event"] || !avail["hotline.dispatch_ticket"] {
		t.Errorf("availability %v", avail)
	}
	if _, err := svc.Tool("traffic.retime_signal"); !errors.Is(err, actions.ErrUnavailable) {
		t.Errorf("proposal tool offered: %v", err)
	}
	_, err = svc.Propose(t.Context(), retime)
	if !errors.Is(err, actions.ErrUnavailable) || !strings.Contains(err.Error(), "no executor connected for this source") {
		t.Errorf("propose: %v", err)
	}
	got, err := svc.Approve(t.Context(), before.ID, approver, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status == actions.StatusExecuted || got.Execution == nil || !strings.Contains(got.Execution.Error, "no executor connected for this source") {
		t.Errorf("approved earlier proposal: status %s, execution %+v", got.Status, got.Execution)
	}
	if planAfter, _ := city.SignalPlan(t.Context(), "renmin", now); planAfter.CycleSec != planBefore.CycleSec || planAfter.MainGreenSec() != planBefore.MainGreenSec() {
		t.Errorf("the demo city was retimed: %+v → %+v", planBefore, planAfter)
	}
}

// TestSourcesAgentSpecsWithoutIncidents: with a traffic source that has no
// incidents (SODA, most brokers), the city and hotline agents used to list
// traffic_incidents as required, so every answer carried a warning. It is
// optional now, and the order of the city agent's tools is unchanged.
func TestSourcesAgentSpecsWithoutIncidents(t *testing.T) {
	t.Parallel()
	cat, err := agents.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	has := func(name string) bool { return name != traffic.NameIncidents && name != traffic.NameSignalPlan }
	for name, order := range map[string]string{
		"city":    "traffic_congestion,traffic_incidents,permits_search,energy_peak_load",
		"hotline": "traffic_incidents",
	} {
		s, err := cat.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if req, _ := s.MissingTools(has); len(req) != 0 {
			t.Errorf("%s: required tools missing without incidents: %v", name, req)
		}
		if got := strings.Join(s.ToolNames(), ","); got != order {
			t.Errorf("%s: tools %s, want %s", name, got, order)
		}
	}
}
