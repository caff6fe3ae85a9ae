package server

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
	"github.com/cityagent/cityagent/store"
)

// eventEnv is a server whose event feed tails a real store.
type eventEnv struct {
	srv  *Server
	db   *store.DB
	base string
	keys map[access.Role]string
}

func newEventEnv(t *testing.T) *eventEnv {
	t.Helper()
	return newEventEnvOpts(t, Options{HeartbeatInterval: 100 * time.Millisecond})
}

func newEventEnvOpts(t *testing.T, opts Options) *eventEnv {
	t.Helper()
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	hub := events.NewHub(db, 10*time.Millisecond, 0, nil)
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	env := &eventEnv{db: db, keys: map[access.Role]string{}}
	env.srv = New(Deps{Keys: db, Sessions: db, Events: &events.Service{Hub: hub, Outbox: db, Webhooks: db}}, opts)
	for _, r := range []access.Role{access.RoleOperator, access.RoleHotline} {
		_, secret, err := IssueKey(t.Context(), db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal"}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.keys[r] = secret
	}
	env.base = "http://" + serveLoopback(t, env.srv)
	return env
}

// open starts a feed and reads up to its ": connected" comment.
func (e *eventEnv) open(t *testing.T, ctx context.Context, role access.Role) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("feed ended before it was connected: %v", err)
		}
		if line == ": connected\n" {
			return resp, br
		}
	}
}

func TestEventFeedHeartbeatsAndEndsWhenTheClientLeaves(t *testing.T) {
	t.Parallel()
	env := newEventEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	resp, br := env.open(t, ctx, access.RoleOperator)
	defer resp.Body.Close()
	for pings := 0; pings < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("feed ended before two heartbeats: %v", err)
		}
		if line == ": ping\n" {
			pings++
		}
	}
	if n := openStreams(env.srv); n != 1 {
		t.Fatalf("open streams = %v, want 1", n)
	}
	cancel() // the client goes away
	deadline := time.Now().Add(30 * time.Second)
	for openStreams(env.srv) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the feed's writer still runs after the client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEventFeedEndsAtShutdownNamingWhereToResume(t *testing.T) {
	t.Parallel()
	env := newEventEnv(t)
	resp, br := env.open(t, t.Context(), access.RoleOperator)
	defer resp.Body.Close()
	if err := env.db.Audit(t.Context(), audit.Entry{Actor: "system", Kind: "alert.fire", Subject: "alt_1",
		Payload: map[string]any{"alert_id": "alt_1", "severity": "warning", "title": "Corridor congestion"}}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("feed ended before the alert: %v (%q)", err, lines)
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "alt_1") {
			break
		}
	}
	if got := strings.Join(lines, ""); !strings.Contains(got, "id: 1\nevent: alert.fired\n") {
		t.Fatalf("alert frame = %q", got)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- env.srv.Shutdown(ctx)
	}()
	rest, _ := readAll(br)
	if !strings.Contains(rest, "event: error\n") || !strings.Contains(rest, `"last_event_id":"1"`) || !strings.Contains(rest, "shutting down") {
		t.Errorf("end of the feed = %q, want an error event naming the last event id", rest)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func openStreams(s *Server) float64 {
	var m dto.Metric
	_ = s.metrics.streams.Write(&m)
	return m.GetGauge().GetValue()
}

func readAll(br *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := br.WriteTo(&b)
	return b.String(), err
}

func TestEventRoutesWithoutEvents(t *testing.T) {
	t.Parallel()
	env := newEnv(t, "lookup") // a server built without Deps.Events
	for _, c := range []struct {
		method, path string
		role         access.Role
	}{{"GET", "/v1/events", access.RoleOperator}, {"GET", "/v1/webhooks", access.RoleAdmin}} {
		resp, body := env.do(t, c.method, c.path, c.role, "")
		if resp.StatusCode != 503 || !strings.Contains(string(body), "events are not configured") {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
}

// TestEventStreamTellsADroppedClientWhereToResume: a subscriber the hub
// gave up on gets what it had buffered, then an error event naming the
// last event id it saw.
func TestEventStreamTellsADroppedClientWhereToResume(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hub := events.NewHub(db, 5*time.Millisecond, 1, nil) // room for one event
	go hub.Run(ctx)
	sub := hub.Subscribe()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for i := 0; !sub.Dropped(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the hub never dropped a subscriber that does not read")
		}
		if err := db.Audit(t.Context(), audit.Entry{Kind: "alert.fire", Subject: "alt_" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	es := &eventStream{w: w, f: eventFilter{who: access.Principal{Role: access.RoleOperator, Clearance: access.Internal}}, sent: -1}
	es.live(ctx, sub, time.Hour)
	frames := strings.Split(strings.TrimSpace(out.String()), "\n\n")
	if len(frames) != 3 || frames[0] != ": connected" || !strings.HasPrefix(frames[1], "id: ") || !strings.HasPrefix(frames[2], "event: error\n") {
		t.Fatalf("stream = %q, want connected, the buffered event, then an error", out.String())
	}
	id := strings.TrimPrefix(strings.SplitN(frames[1], "\n", 2)[0], "id: ")
	if !strings.Contains(frames[2], `"last_event_id":"`+id+`"`) || !strings.Contains(frames[2], "Last-Event-ID") {
		t.Errorf("error event %q does not name id %s to resume from", frames[2], id)
	}
}

// TestEventFeedRefusesALastEventIDBeyondTheNewest: an id past the newest
// event would hide every live event up to it, so it is a 400 naming the
// header; the newest id itself resumes, and an empty types list is a 400.
func TestEventFeedRefusesALastEventIDBeyondTheNewest(t *testing.T) {
	t.Parallel()
	env := newEventEnv(t)
	for i := range 3 {
		if err := env.db.Audit(t.Context(), audit.Entry{Kind: "alert.fire", Subject: "alt_" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := env.db.EventsHead(t.Context())
	if err != nil || head == 0 {
		t.Fatalf("head %d %v", head, err)
	}
	get := func(lastID, query string) (*http.Response, string) {
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", env.base+"/v1/events"+query, nil)
		req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			return resp, b.String()
		}
		cancel()
		resp.Body.Close()
		return resp, ""
	}
	for _, tc := range []struct{ lastID, query, field string }{
		{strconv.FormatInt(head+1, 10), "", "Last-Event-ID"},
		{"100000", "", "Last-Event-ID"},
		{"", "?types=", "types"},
		{"", "?types=%20", "types"},
	} {
		resp, body := get(tc.lastID, tc.query)
		if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || !strings.Contains(body, `"`+tc.field+`"`) {
			t.Errorf("Last-Event-ID %q %s: %d %s %s, want a 400 problem naming %s", tc.lastID, tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.field)
		}
	}
	for _, id := range []string{"0", strconv.FormatInt(head, 10)} {
		if resp, body := get(id, "?types=alert.fired"); resp.StatusCode != 200 {
			t.Errorf("Last-Event-ID %s: %d %s, want the stream", id, resp.StatusCode, body)
		}
	}
}
