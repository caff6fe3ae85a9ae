package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/pii"
)

// TestServePersonalData checks the personal-data wiring in the real serve
// path: a key generated once into <data>/personal.key (0600) and reused on
// the next start, tickets masked, a sensitive key revealing, and a start
// with a configured key that is not the one the data was sealed with
// failing closed; the old key configured as rotated out re-seals it.
func TestServePersonalData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := startServe(t, dir)
	hk := in.newKey(t, "hotline", "public")
	sup := in.newKey(t, "supervisor", "sensitive")
	code, body := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"路灯坏了，回电13912345678","caller":{"name":"王五","phone":"13912345678"}}`)
	var tk struct {
		ID   string `json:"ticket_id"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &tk); err != nil || code != 201 || tk.Text != "路灯坏了，回电139****5678" || strings.Contains(string(body), "13912345678") {
		t.Fatalf("create: %d %s", code, body)
	}
	keyFile := filepath.Join(dir, "personal.key")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("personal.key: %v %v", fi, err)
	}
	first, _ := os.ReadFile(keyFile)
	reveal := func(in *instance, key string) (int, string) {
		code, body := in.call(t, "GET", "/v1/hotline/tickets/"+tk.ID+"?reveal=personal", key, "")
		return code, string(body)
	}
	if code, body := reveal(in, sup); code != 200 || !strings.Contains(body, `"phone":"13912345678"`) {
		t.Fatalf("reveal: %d %s", code, body)
	}
	in.stop()

	// The next start reuses the generated key.
	in = startServe(t, dir)
	if again, _ := os.ReadFile(keyFile); string(again) != string(first) {
		t.Fatal("personal.key changed on the second start")
	}
	if code, body := reveal(in, sup); code != 200 || !strings.Contains(body, "13912345678") {
		t.Fatalf("reveal after a restart: %d %s", code, body)
	}
	in.stop()

	// A configured key that is not the generated one fails closed ...
	newKey := base64.StdEncoding.EncodeToString([]byte("a brand new key of 32 bytes !!!!"))
	oldKey, err := pii.ParseKey(string(first))
	if err != nil {
		t.Fatal(err)
	}
	in = startServe(t, dir, func(c *config.Config) { c.Hotline.PersonalData.Key = newKey })
	if code, body := reveal(in, sup); code != 503 || !strings.Contains(body, pii.KeyID(oldKey)) {
		t.Errorf("reveal under another key: %d %s", code, body)
	}
	in.stop()
	// ... until the generated key is configured as rotated out: start-up re-seals.
	in = startServe(t, dir, func(c *config.Config) {
		c.Hotline.PersonalData.Key, c.Hotline.PersonalData.OldKeys = newKey, []string{string(first)}
	})
	in.stop()
	in = startServe(t, dir, func(c *config.Config) { c.Hotline.PersonalData.Key = newKey })
	if code, body := reveal(in, sup); code != 200 || !strings.Contains(body, "13912345678") {
		t.Errorf("reveal after the rotation: %d %s", code, body)
	}
}
