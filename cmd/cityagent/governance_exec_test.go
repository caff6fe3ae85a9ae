package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/store"
)

// TestCityExecutors wires the demo city through the same adapter serve uses
// and carries out one approved proposal of every built-in action type
// against it: each executes, and the city (or the store) shows the change.
func TestCityExecutors(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)) // a Wednesday
	city := democity.New(democity.DefaultSeed, func() time.Time { return now })
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	execs := cityExecutors(city, db)
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := actions.NewService(actions.Config{Catalog: cat, Store: db, Executors: execs, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range svc.Types() {
		if !ti.Available {
			t.Errorf("%s: executor %s not wired to the demo city", ti.Name, ti.Executor)
		}
	}
	var issued string
	for _, p := range city.PermitsAt(now) {
		if p.StatusCurrent == democity.StatusIssued || p.StatusCurrent == democity.StatusUnderway {
			issued = p.PermitNum
			break
		}
	}
	if issued == "" {
		t.Fatal("the demo city has no issued permit to inspect")
	}
	proposer := access.Principal{KeyID: "key_a", Role: access.RoleSupervisor, Clearance: access.Restricted}
	approver := access.Principal{KeyID: "key_admin", Role: access.RoleAdmin, Clearance: access.Restricted}
	cases := []struct {
		action, args string
		check        func(t *testing.T, result, id string)
	}{
		{"traffic.retime_signal", `{"corridor":"renmin","strategy":"more_main_green","seconds":10}`, func(t *testing.T, r, id string) {
			plan, err := city.SignalPlanAt("renmin", now)
			if err != nil || plan.ID != "SP-renmin-2" || !strings.Contains(plan.ChangedBy, "proposal prop_") {
				t.Errorf("plan after retiming: %+v %v", plan, err)
			}
		}},
		{"traffic.dispatch_crew", `{"segment_id":"S042","crew":"tow_truck","note":"拖走事故车辆"}`, func(t *testing.T, r, id string) {
			if !strings.Contains(r, `"CREW-S042-1"`) {
				t.Errorf("dispatch result %s", r)
			}
		}},
		{"permits.schedule_inspection", fmt.Sprintf(`{"permit_id":%q,"kind":"routine"}`, issued), func(t *testing.T, r, id string) {
			if !strings.Contains(r, "2026-11-26 09:00") {
				t.Errorf("inspection not booked for the next working day 09:00: %s", r)
			}
		}},
		{"permits.flag_for_review", fmt.Sprintf(`{"permit_id":%q,"reason":"safety_concern","note":"脚手架不稳"}`, issued), func(t *testing.T, r, id string) {
			if !strings.Contains(r, "safety_concern: 脚手架不稳") {
				t.Errorf("flag result %s", r)
			}
		}},
		{"energy.demand_response_event", `{"district":"gaoxin","event_type":"hour_ahead","duration_hours":1,"reduction_kw":100}`, func(t *testing.T, r, id string) {
			if !strings.Contains(r, "2026-11-25 12:00") {
				t.Errorf("hour-ahead event not at the next full hour an hour away: %s", r)
			}
		}},
		{"hotline.dispatch_ticket", `{"department":"water","handling":"direct_dispatch","request_text":"长江路停水"}`, func(t *testing.T, r, id string) {
			var d struct {
				DispatchID string `json:"dispatch_id"`
			}
			_ = json.Unmarshal([]byte(r), &d)
			got, err := db.DispatchFor(t.Context(), id)
			if err != nil || got.ID != d.DispatchID || got.Department != "water" || got.DueAt.Sub(got.CreatedAt) != 7*24*time.Hour {
				t.Errorf("dispatch record %+v (%v) for result %s", got, err, r)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			p, err := svc.Propose(t.Context(), actions.ProposeRequest{Action: c.action, Arguments: json.RawMessage(c.args), Principal: proposer})
			if err != nil {
				t.Fatal(err)
			}
			got, err := svc.Approve(t.Context(), p.ID, approver, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != actions.StatusExecuted || got.Execution == nil {
				t.Fatalf("%s: %s %+v", c.action, got.Status, got.Execution)
			}
			c.check(t, string(got.Execution.Result), got.ID)
		})
	}
}

// TestCityExecutorsWithoutMethods: a city without the action methods leaves
// those executors out instead of failing, and only the store's remains.
func TestCityExecutorsWithoutMethods(t *testing.T) {
	t.Parallel()
	type bareCity struct{}
	execs := cityExecutors(bareCity{}, nil)
	keys := []string{}
	for k := range execs {
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"store.dispatch"}) {
		t.Errorf("executors for a bare city: %v", keys)
	}
	if method(wrongShape{}, "DispatchCrew", reflect.TypeFor[string](), reflect.TypeFor[string](), reflect.TypeFor[string]()) != nil {
		t.Error("a method with the wrong parameter types was taken")
	}
}

type wrongShape struct{}

func (wrongShape) DispatchCrew(segment string, crew int) (string, error) { return "", nil }
