package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/config"
)

// TestVitalSignsLoop is issue 17's "done when" in one run of the serve path
// on the demo city: a monitor (a monitors_dir file with a threshold the demo
// city crosses) fires; its alert is in GET /v1/alerts and on /v1/events; a
// signed webhook delivers it to a receiver that verifies the signature; and
// the monitor's propose step leaves a proposal, with the alert as evidence,
// waiting for a person's approval.
func TestVitalSignsLoop(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// First start: keys and a webhook, before any monitor runs.
	first := startServe(t, data, fastEvents)
	op := first.newKey(t, "operator", "internal")
	hook := newHookReceiver(t, 204)
	code, wh := createWebhook(t, first, `{"url":"`+hook.srv.URL+`/city","events":["alert.fired","proposal.created"],"secret":"`+hookSecret+`"}`)
	if code != 201 {
		t.Fatalf("webhook: %d %v", code, wh)
	}
	first.stop()

	dir := t.TempDir()
	mon := `name: any-congestion
title: Any congestion on a corridor
title_zh: 干线出现拥堵
tool: traffic_congestion
arguments: {limit: 5}
select: "$.segments[*]"
subject: "$.road"
value: "$.congestion_index"
condition: "> 0"
unit: index
every: 1s
severity: warning
propose: {agent: traffic, prompt: "Propose a signal retiming (more main green) for the {subject} corridor."}
`
	if err := os.WriteFile(filepath.Join(dir, "any-congestion.yaml"), []byte(mon), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startServe(t, data, fastEvents, func(c *config.Config) { c.Monitors.Dir = dir })

	// The alert, in /v1/alerts.
	var alerts struct {
		Alerts []struct {
			ID, Monitor, Subject, Status string
		}
	}
	pollUntil(t, "a firing alert of any-congestion", func() bool {
		code, body := in.call(t, "GET", "/v1/alerts?monitor=any-congestion&status=firing", op, "")
		if code != 200 {
			t.Fatalf("alerts: %d %s", code, body)
		}
		_ = json.Unmarshal(body, &alerts)
		return len(alerts.Alerts) > 0
	})
	alert := alerts.Alerts[0]
	if alert.Monitor != "any-congestion" || alert.Status != "firing" || alert.Subject == "" {
		t.Fatalf("alert = %+v", alert)
	}

	// The same alert on the operator's event feed.
	found := false
	for _, e := range replayFeed(t, in.base, op, "0", "?types=alert.fired") {
		found = found || e.Subject == alert.ID && e.Type == "alert.fired" && e.Data["monitor"] == "any-congestion"
	}
	if !found {
		t.Errorf("alert %s is not on /v1/events", alert.ID)
	}

	// The webhook: the alert and the proposal, signed.
	var delivered map[string]hookRequest
	pollUntil(t, "the alert and its proposal at the webhook", func() bool {
		delivered = map[string]hookRequest{}
		for _, r := range hook.requests() {
			delivered[r.eventType+" "+r.body.Subject] = r
		}
		_, gotAlert := delivered["alert.fired "+alert.ID]
		n := 0
		for _, r := range delivered {
			if r.eventType == "proposal.created" {
				n++
			}
		}
		return gotAlert && n > 0
	})
	for k, r := range delivered {
		if !r.verified || r.eventID == "" {
			t.Errorf("%s: delivered without a valid signature or event id: %+v", k, r)
		}
	}

	// The proposal waits for a person: proposed, never executed, with the alert as evidence.
	var props struct{ Proposals []actions.Proposal }
	code, body := in.call(t, "GET", "/v1/proposals?agent=traffic", op, "")
	if err := json.Unmarshal(body, &props); code != 200 || err != nil || len(props.Proposals) == 0 {
		t.Fatalf("proposals: %d %s", code, body)
	}
	for _, p := range props.Proposals {
		if p.Status != "proposed" || p.Decision != nil {
			t.Errorf("proposal %s of a monitor is %s, want it waiting for approval", p.ID, p.Status)
		}
		hasAlert := false
		for _, e := range p.Evidence {
			hasAlert = hasAlert || e.Kind == "alert"
		}
		if !hasAlert {
			t.Errorf("proposal %s does not carry its alert as evidence: %+v", p.ID, p.Evidence)
		}
	}
}
