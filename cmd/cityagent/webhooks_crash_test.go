package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cityagent/cityagent/events"
)

// freeAddr reserves a loopback port and frees it for a process to take.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// asCityagentEnv makes the test binary run as the cityagent command (see
// TestMain): the kill -9 test serves from a child process without building
// the binary a second time, without -race, from an empty build cache.
const asCityagentEnv = "CITYAGENT_TEST_AS_MAIN"

// binaryServer is the cityagent binary serving in a child process.
type binaryServer struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
}

func startBinary(t *testing.T, bin, data, cfg string) *binaryServer {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), asCityagentEnv+"=1", "CITYAGENT_ADDR="+addr, "CITYAGENT_DATA="+data, "CITYAGENT_CONFIG="+cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &binaryServer{cmd: cmd, base: "http://" + addr, stderr: &stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	pollUntil(t, "the binary to serve", func() bool {
		resp, err := http.Get(b.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return b
}

// TestWebhookDeliverySurvivesKill9 runs the command in a child process (the
// test binary, which TestMain turns into cityagent), makes an event for a
// webhook whose receiver is down, kills the server with SIGKILL before the
// event could be delivered, restarts it and brings the receiver up: the
// event arrives, signed, with the id it had before the crash.
func TestWebhookDeliverySurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cityagent.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  level: warn\noutbound:\n  allow: [\"127.0.0.1\"]\n"+
		"events:\n  deliver_interval: 50ms\n  retry_base: 100ms\n  retry_max: 300ms\n  lease_ttl: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	rcvAddr := freeAddr(t) // nothing listens there yet: the receiver is down

	first := startBinary(t, bin, data, cfg)
	adminKey, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{base: first.base, admin: strings.TrimSpace(string(adminKey))}
	code, hook := createWebhook(t, in, `{"url":"http://`+rcvAddr+`/hook","events":["ticket.created"],"secret":"`+hookSecret+`"}`)
	if code != 201 {
		t.Fatalf("create webhook: %d %v", code, hook)
	}
	hookID := hook["id"].(string)
	hk := in.newKey(t, "hotline", "internal")
	code, body := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"光明路的路灯坏了好几天了","channel":"phone"}`)
	var tk struct {
		ID string `json:"ticket_id"`
	}
	if err := json.Unmarshal(body, &tk); err != nil || code != 201 {
		t.Fatalf("ticket: %d %s", code, body)
	}
	var eventID string
	for _, e := range replayFeed(t, in.base, in.admin, "0", "?types=ticket.created") {
		if e.Subject == tk.ID {
			eventID = e.ID
		}
	}
	if eventID == "" {
		t.Fatal("the ticket's event is not in the feed")
	}
	// Wait until an attempt has failed against the dead receiver, so the
	// crash comes between a failed attempt and the retry.
	pollUntil(t, "a failed attempt", func() bool {
		_, b := in.call(t, "GET", "/v1/webhooks/"+hookID+"/deliveries", in.admin, "")
		var ds struct{ Deliveries []events.Delivery }
		_ = json.Unmarshal(b, &ds)
		return len(ds.Deliveries) == 1 && ds.Deliveries[0].Attempts >= 1 && ds.Deliveries[0].Status == events.StatusPending
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	if ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server did not die of SIGKILL: %v\n%s", first.cmd.ProcessState, first.stderr)
	}

	rcv := &hookReceiver{secret: hookSecret, codes: []int{204}}
	ln, err := net.Listen("tcp", rcvAddr)
	if err != nil {
		t.Fatal(err)
	}
	rcv.srv = httptest.NewUnstartedServer(rcv)
	rcv.srv.Listener.Close()
	rcv.srv.Listener = ln
	rcv.srv.Start()
	defer rcv.srv.Close()

	second := startBinary(t, bin, data, cfg)
	pollUntil(t, "the delivery after the restart", func() bool { return len(rcv.requests()) >= 1 })
	got := rcv.requests()[0]
	if got.eventID != eventID || got.body.ID != eventID || got.body.Subject != tk.ID || !got.verified {
		t.Errorf("after the restart the receiver got %+v, want event %s of ticket %s, signed", got, eventID, tk.ID)
	}
	in.base = second.base
	pollUntil(t, "the delivery recorded", func() bool {
		_, b := in.call(t, "GET", "/v1/webhooks/"+hookID+"/deliveries", in.admin, "")
		var ds struct{ Deliveries []events.Delivery }
		_ = json.Unmarshal(b, &ds)
		return len(ds.Deliveries) == 1 && ds.Deliveries[0].Status == events.StatusDelivered && ds.Deliveries[0].Attempts >= 2
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("the restarted server did not stop cleanly: %v\n%s", err, second.stderr)
	}
}
