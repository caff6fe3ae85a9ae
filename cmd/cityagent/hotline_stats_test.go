package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/store"
)

// TestHotlineStatsCommand: `cityagent hotline stats` reads the results from
// the state store of the data directory, as a table and as JSON, and
// refuses a bad period.
func TestHotlineStatsCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"tkt_c1", "tkt_c2"} {
		at := from.Add(time.Duration(i+1) * time.Hour)
		tk := store.Ticket{ID: id, Token: "tok_" + id, OwnerKeyID: "key_h", Channel: "phone", Text: "停水", Type: "help", Category: "030101",
			Department: "water", Urgency: "urgent", Status: hotline.StatusTriaged, Data: json.RawMessage(`{}`), ReceivedAt: at, CreatedAt: at,
			Deadline: at.Add(24 * time.Hour)}
		if err := db.CreateTicket(t.Context(), tk, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.TransitionTicket(t.Context(), store.TransitionUpdate{ID: id, From: hotline.StatusTriaged, To: hotline.StatusDispatched,
			Seq: 1, Actor: "key_s", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := db.TransitionTicket(t.Context(), store.TransitionUpdate{ID: "tkt_c1", From: hotline.StatusDispatched, To: hotline.StatusAccepted,
		Seq: 2, Actor: "key_w", At: from.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, _, err := runCLI(t, "hotline", "stats", "--data", dir, "--from", "2026-03-01", "--to", "2026-03-08")
	if err != nil {
		t.Fatal(err)
	}
	var water string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "water ") {
			water = line
		}
	}
	// received 2; on time 0 of 2 due; response 1 of 2 dispatched.
	if f := strings.Fields(water); len(f) < 6 || f[1] != "2" || f[2] != "0.0%" || f[3] != "(0/2)" || f[4] != "50.0%" || f[5] != "(1/2)" {
		t.Errorf("water row %q in:\n%s", water, out)
	}
	out, _, err = runCLI(t, "hotline", "stats", "--data", dir, "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-08T00:00:00Z", "--department", "water", "--json")
	var res hotline.Results
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Departments) != 1 || res.Departments[0].ResponseRate == nil ||
		*res.Departments[0].ResponseRate != 0.5 || res.Definitions["response_rate"] == "" {
		t.Errorf("--json: %v %s", err, out)
	}
	for _, args := range [][]string{
		{"--from", "2026-03-01"},
		{"--from", "yesterday", "--to", "2026-03-08"},
		{"--from", "2026-03-08", "--to", "2026-03-01"},
		{"--from", "2026-03-01", "--to", "2026-03-08", "--department", "mars"},
	} {
		if _, _, err := runCLI(t, append([]string{"hotline", "stats", "--data", dir}, args...)...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
