package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
)

// sseFrame is one event or comment of a text/event-stream.
type sseFrame struct {
	id, event, data, comment string
}

// feedWait bounds how long a test waits for a frame: a hang guard, not a
// timing assertion.
const feedWait = 60 * time.Second

// openFeed opens GET /v1/events and returns its frames as they come.
func openFeed(t *testing.T, base, key, lastID, query string) (<-chan sseFrame, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/events"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	frames := make(chan sseFrame, 64)
	if resp.StatusCode != 200 {
		close(frames)
		return frames, resp
	}
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f != (sseFrame{}) {
					frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				f.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	return frames, resp
}

// feedEvent is an event frame's data.
type feedEvent struct {
	ID      string         `json:"id"`
	Seq     int64          `json:"seq"`
	Type    string         `json:"type"`
	Subject string         `json:"subject"`
	Data    map[string]any `json:"data"`
}

// next returns the next event frame (comments skipped) or fails.
func nextFeedEvent(t *testing.T, frames <-chan sseFrame) (sseFrame, feedEvent) {
	t.Helper()
	timeout := time.After(feedWait)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if f.event == "" {
				continue
			}
			var e feedEvent
			if err := json.Unmarshal([]byte(f.data), &e); err != nil {
				t.Fatalf("event %s data %q: %v", f.event, f.data, err)
			}
			return f, e
		case <-timeout:
			t.Fatalf("no event within %s", feedWait)
		}
	}
}

// replay reads the events a key gets on resuming after lastID, up to the
// ": connected" comment that marks the end of the history.
func replayFeed(t *testing.T, base, key, lastID, query string) []feedEvent {
	t.Helper()
	frames, resp := openFeed(t, base, key, lastID, query)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/events%s: %d", query, resp.StatusCode)
	}
	defer resp.Body.Close()
	var out []feedEvent
	timeout := time.After(feedWait)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("the event stream ended during the replay")
			}
			if f.comment == "connected" {
				return out
			}
			if f.event == "" {
				continue
			}
			var e feedEvent
			_ = json.Unmarshal([]byte(f.data), &e)
			if f.id != strconv.FormatInt(e.Seq, 10) {
				t.Errorf("frame id %q for an event of seq %d", f.id, e.Seq)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("replay did not end within %s", feedWait)
		}
	}
}

func bySubject(evs []feedEvent) map[string][]string {
	m := map[string][]string{}
	for _, e := range evs {
		m[e.Type] = append(m[e.Type], e.Subject)
	}
	return m
}

func fastEvents(c *config.Config) {
	c.Events.PollInterval = 20 * time.Millisecond
	c.Events.DeliverInterval = 20 * time.Millisecond
	c.Events.RetryBase = 20 * time.Millisecond
	c.Events.RetryMax = 100 * time.Millisecond
	c.Outbound.Allow = []string{"127.0.0.1"} // test receivers listen on loopback
}

// TestEventFeed: a proposal made by a real chat turn reaches an operator's
// live feed; on replay each key sees only what its role and clearance
// allow; Last-Event-ID resumes after an event; types= filters.
func TestEventFeed(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir(), fastEvents)
	op := in.newKey(t, "operator", "internal")
	opPublic := in.newKey(t, "operator", "public")
	hk := in.newKey(t, "hotline", "internal")

	live, resp := openFeed(t, in.base, op, "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for f := range live { // live from here on
		if f.comment == "connected" {
			break
		}
	}
	b, _ := json.Marshal(map[string]string{"message": "The Renmin Road corridor is congested — retime the signals."})
	code, body := in.call(t, "POST", "/v1/agents/traffic/chat", op, string(b))
	var res agents.ChatResult
	if err := json.Unmarshal(body, &res); err != nil || code != 200 || len(res.Proposals) != 1 {
		t.Fatalf("chat: %d %s", code, body)
	}
	prop := res.Proposals[0].ID
	// The shipped monitors run in every serve and their first tick is not
	// ordered with the chat: an alert they raise may come first.
	f, e := nextFeedEvent(t, live)
	for strings.HasPrefix(f.event, "alert.") {
		f, e = nextFeedEvent(t, live)
	}
	if f.event != "proposal.created" || e.Subject != prop || e.Data["proposal_id"] != prop || e.Data["status"] != "proposed" ||
		e.Data["action"] != "traffic.retime_signal" || f.id != strconv.FormatInt(e.Seq, 10) || !strings.HasPrefix(e.ID, "evt_") {
		t.Fatalf("live event = %+v %+v", f, e)
	}
	if strings.Contains(f.data, "Renmin") || strings.Contains(f.data, "arguments") {
		t.Errorf("the event carries the proposal's content: %s", f.data)
	}
	postTicket := func(text string) string {
		code, body := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"`+text+`","channel":"phone"}`)
		var tk struct {
			ID string `json:"ticket_id"`
		}
		if err := json.Unmarshal(body, &tk); err != nil || code != 201 {
			t.Fatalf("ticket: %d %s", code, body)
		}
		return tk.ID
	}
	light := postTicket("光明路的路灯坏了好几天了")   // urban management
	tap := postTicket("小区停水一整天了，什么时候来水？") // the water group

	all := bySubject(replayFeed(t, in.base, in.admin, "0", ""))
	if !slices.Contains(all["proposal.created"], prop) || !slices.Contains(all["ticket.created"], light) {
		t.Fatalf("admin replay = %v", all)
	}
	opSaw := bySubject(replayFeed(t, in.base, op, "0", ""))
	if !slices.Contains(opSaw["proposal.created"], prop) || len(opSaw["ticket.created"]) != 0 {
		t.Errorf("operator replay = %v, want proposals and no tickets", opSaw)
	}
	if got := replayFeed(t, in.base, opPublic, "0", ""); len(got) != 0 {
		t.Errorf("a public-clearance operator saw %v (the proposals are internal)", bySubject(got))
	}
	hkSaw := bySubject(replayFeed(t, in.base, hk, "0", ""))
	if !slices.Contains(hkSaw["ticket.created"], light) || len(hkSaw["proposal.created"]) != 0 {
		t.Errorf("hotline replay = %v, want tickets and no proposals", hkSaw)
	}
	code, body = in.call(t, "POST", "/v1/keys", in.admin, `{"name":"water","role":"department","department":"water","clearance":"internal"}`)
	var wk struct{ Key string }
	if err := json.Unmarshal(body, &wk); err != nil || code != 201 {
		t.Fatalf("department key: %d %s", code, body)
	}
	waterSaw := bySubject(replayFeed(t, in.base, wk.Key, "0", ""))
	if !slices.Contains(waterSaw["ticket.created"], tap) || slices.Contains(waterSaw["ticket.created"], light) || len(waterSaw["proposal.created"]) != 0 {
		t.Errorf("water department replay = %v, want its ticket %s only", waterSaw, tap)
	}
	after := replayFeed(t, in.base, in.admin, strconv.FormatInt(e.Seq, 10), "")
	if len(after) == 0 || after[0].Seq <= e.Seq || slices.Contains(bySubject(after)["proposal.created"], prop) {
		t.Errorf("resume after %d = %v", e.Seq, bySubject(after))
	}
	onlyTickets := bySubject(replayFeed(t, in.base, in.admin, "0", "?types=ticket.created,ticket.closed"))
	if len(onlyTickets) != 1 || !slices.Contains(onlyTickets["ticket.created"], light) {
		t.Errorf("types=ticket.created replay = %v", onlyTickets)
	}
	for name, c := range map[string]struct{ lastID, query string }{
		"unknown type":    {"", "?types=ticket.created,ticket.exploded"},
		"bad resume id":   {"abc", ""},
		"negative resume": {"-1", ""},
	} {
		_, resp := openFeed(t, in.base, op, c.lastID, c.query)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	if _, resp := openFeed(t, in.base, "not-a-key", "", ""); resp.StatusCode != 401 {
		t.Errorf("feed without a valid key: %d", resp.StatusCode)
	}
}

// hookReceiver is a webhook endpoint on 127.0.0.1 that verifies each
// delivery the way docs/events.md tells receivers to.
type hookReceiver struct {
	secret string
	codes  []int // answered to each event's attempts in order, the last from then on
	mu     sync.Mutex
	got    []hookRequest
	srv    *httptest.Server
}

type hookRequest struct {
	eventID, eventType string
	verified           bool
	body               feedEvent
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := hookRequest{eventID: r.Header.Get("X-Cityagent-Event-Id"), eventType: r.Header.Get("X-Cityagent-Event"),
		verified: verifySignature(r.Header.Get("X-Cityagent-Signature"), h.secret, body, time.Now())}
	_ = json.Unmarshal(body, &req.body)
	h.mu.Lock()
	h.got = append(h.got, req)
	n := 0 // attempts at this event so far
	for _, g := range h.got {
		if g.eventID == req.eventID {
			n++
		}
	}
	code := h.codes[min(n, len(h.codes))-1]
	h.mu.Unlock()
	w.WriteHeader(code)
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// verifySignature is the receiver's check from docs/events.md, written
// without the events package: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,
// t within five minutes.
func verifySignature(header, secret string, body []byte, now time.Time) bool {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "t" {
			ts = v
		} else if ok && k == "v1" {
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(v1), []byte(want))
}

// waitFor polls cond (a hang guard bounds it).
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(feedWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
