package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/events"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools/outbound"
)

// received is one request a test receiver got.
type received struct {
	id, typ, sig string
	body         []byte
}

// receiver is a webhook endpoint on 127.0.0.1 answering the codes in
// order (the last one from then on).
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []received
	codes []int
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Get(events.HeaderEventID), req.Header.Get(events.HeaderEvent), req.Header.Get(events.HeaderSignature), b})
		code := r.codes[min(len(r.got), len(r.codes))-1]
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const testSecret = "whsec_test_0123456789"

// deliverySetup is a store with a webhook to url, one alert event for it,
// and a deliverer on a clock the test moves.
func deliverySetup(t *testing.T, url string, allow []string) (*store.DB, *events.Deliverer, *clock) {
	t.Helper()
	db, err := store.Open(t.Context(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Now().UTC()}
	w := events.Webhook{ID: "whk_1", URL: url, Events: []string{events.AlertFired}, Clearance: access.Internal, Secret: testSecret,
		CreatedBy: "key_admin", CreatedAt: clk.Now()}
	if err := db.CreateWebhook(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	if err := db.Audit(t.Context(), audit.Entry{Actor: "system", Kind: "alert.fire", Subject: "alt_1",
		Payload: map[string]any{"alert_id": "alt_1", "monitor": "corridor-congestion", "severity": "warning", "title": "Corridor congestion"}}); err != nil {
		t.Fatal(err)
	}
	guard, err := outbound.New(outbound.Config{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	d := events.NewDeliverer(events.DelivererConfig{Store: db, Client: guard, Now: clk.Now, RetryBase: time.Second, RetryMax: time.Minute})
	return db, d, clk
}

func deliveries(t *testing.T, db *store.DB) []events.Delivery {
	t.Helper()
	ds, err := db.ListDeliveries(t.Context(), "whk_1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDeliveryRetriesAfter500sWithTheSameEventID(t *testing.T) {
	rcv := newReceiver(t, 500, 503, 204)
	db, d, clk := deliverySetup(t, rcv.srv.URL+"/hook", []string{"127.0.0.1"})
	ctx := t.Context()
	d.Round(ctx)
	d.Round(ctx) // not due yet: the retry waits its backoff
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("requests before the backoff passed = %d, want 1", n)
	}
	for range 2 {
		clk.Add(time.Minute) // RetryMax: every backoff has passed
		d.Round(ctx)
	}
	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("requests = %d, want 3 (500, 503, 204)", len(got))
	}
	var env events.Envelope
	if err := json.Unmarshal(got[0].body, &env); err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.id != env.ID || !strings.HasPrefix(r.id, "evt_") || r.typ != events.AlertFired || string(r.body) != string(got[0].body) {
			t.Errorf("attempt %d: id %q type %q body %s; want the same event %s each time", i+1, r.id, r.typ, r.body, env.ID)
		}
		if err := events.Verify(r.sig, testSecret, r.body, clk.Now(), 5*time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if env.Type != events.AlertFired || env.Subject != "alt_1" || env.Data["monitor"] != "corridor-congestion" {
		t.Errorf("body = %s", got[0].body)
	}
	ds := deliveries(t, db)
	if len(ds) != 1 || ds[0].Status != events.StatusDelivered || ds[0].Attempts != 3 || ds[0].LastStatus != 204 || ds[0].EventID != env.ID {
		t.Errorf("delivery = %+v", ds)
	}
	clk.Add(time.Hour)
	d.Round(ctx)
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("a delivered event was sent again: %d requests", n)
	}
}

func TestDeliveryFailsAfterRetryingForADay(t *testing.T) {
	rcv := newReceiver(t, 500)
	db, d, clk := deliverySetup(t, rcv.srv.URL, []string{"127.0.0.1"})
	for range 40 { // an hour apart: past 24h
		d.Round(t.Context())
		clk.Add(time.Hour)
	}
	ds := deliveries(t, db)
	n := len(rcv.requests())
	if len(ds) != 1 || ds[0].Status != events.StatusFailed || ds[0].Attempts != n || n < 20 || n > 26 || ds[0].LastStatus != 500 {
		t.Errorf("after a day of 500s: %d requests, delivery %+v; want failed after about 24 hourly attempts", n, ds)
	}
}

func TestDeliveryGoesThroughTheOutboundGuard(t *testing.T) {
	rcv := newReceiver(t, 204)
	db, d, _ := deliverySetup(t, rcv.srv.URL, nil) // loopback not allowed
	d.Round(t.Context())
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("the guard let %d requests reach 127.0.0.1", n)
	}
	ds := deliveries(t, db)
	if len(ds) != 1 || ds[0].Status != events.StatusPending || !strings.Contains(ds[0].LastError, "not allowed") {
		t.Errorf("delivery = %+v, want pending with the guard's refusal", ds)
	}
}

func TestBackoffDoublesWithJitterUpToTheMaximum(t *testing.T) {
	d := events.NewDeliverer(events.DelivererConfig{RetryBase: time.Second, RetryMax: time.Minute})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 30: time.Minute} {
		for range 20 {
			if got := d.Backoff(n); got < want/2 || got > want {
				t.Errorf("Backoff(%d) = %s, want in [%s, %s]", n, got, want/2, want)
			}
		}
	}
}

func TestCreateWebhookValidatesAgainstTheGuard(t *testing.T) {
	db, err := store.Open(t.Context(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	strict, _ := outbound.NewPolicy(nil)
	loopback, _ := outbound.NewPolicy([]string{"127.0.0.1"})
	admin := access.Principal{KeyID: "key_admin", Role: access.RoleAdmin, Clearance: access.Internal}
	req := func(url string) events.WebhookRequest {
		return events.WebhookRequest{URL: url, Events: []string{events.TicketCreated}, Secret: testSecret}
	}
	cases := map[string]struct {
		policy *outbound.Policy
		req    events.WebhookRequest
		field  string // "" = accepted
	}{
		"public https":               {strict, req("https://cases.example.org/hook?token=abc"), ""},
		"private address":            {strict, req("http://10.0.0.7/hook"), "url"},
		"loopback v6":                {strict, req("http://[::1]:8080/hook"), "url"},
		"localhost":                  {strict, req("http://localhost:8080/hook"), "url"},
		"odd spelling of loopback":   {strict, req("http://2130706433/hook"), "url"},
		"metadata even when allowed": {loopback, req("http://169.254.169.254/"), "url"},
		"loopback once allowed":      {loopback, req("http://127.0.0.1:9/hook"), ""},
		"relative":                   {strict, req("/hook"), "url"},
		"clearance above the key's": {strict, events.WebhookRequest{URL: "https://a.example/", Events: []string{events.AlertFired},
			Secret: testSecret, Clearance: "restricted"}, "clearance"},
	}
	for name, c := range cases {
		svc := &events.Service{Webhooks: db, Policy: c.policy}
		w, err := svc.CreateWebhook(t.Context(), admin, c.req)
		var ie *events.InputError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.field == "" && (w.ID == "" || w.Secret != testSecret || w.Clearance != access.Internal):
			t.Errorf("%s: webhook %+v", name, w)
		case c.field != "" && (!errors.As(err, &ie) || ie.Fields[0].Field != c.field):
			t.Errorf("%s: %v, want a problem with %s", name, err, c.field)
		}
	}
	recs, err := db.ListAudit(t.Context(), store.AuditFilter{Kind: events.KindWebhookCreate})
	if err != nil || len(recs) != 2 {
		t.Fatalf("webhook.create records = %d, %v", len(recs), err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Payload), testSecret) || strings.Contains(string(r.Payload), "token=abc") {
			t.Errorf("the audit record keeps the secret or the URL's query: %s", r.Payload)
		}
	}
}

// TestOneReplicaDeliversOnPostgreSQL: two deliverers on one PostgreSQL
// (two replicas) share the delivery lease, so each event is sent once.
func TestOneReplicaDeliversOnPostgreSQL(t *testing.T) {
	url := pgtest.NewDatabase(t, pgtest.Start(t))
	rcv := newReceiver(t, 204)
	open := func() *store.DB {
		db, err := store.Open(t.Context(), url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	replicas := []*store.DB{open(), open()}
	w := events.Webhook{ID: "whk_1", URL: rcv.srv.URL, Events: []string{events.AlertFired}, Clearance: access.Internal,
		Secret: testSecret, CreatedBy: "key_admin", CreatedAt: time.Now()}
	if err := replicas[0].CreateWebhook(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		if err := replicas[i%2].Audit(t.Context(), audit.Entry{Actor: "system", Kind: "alert.fire", Subject: fmt.Sprintf("alt_%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i, db := range replicas {
		holder := fmt.Sprintf("replica-%d", i)
		d := events.NewDeliverer(events.DelivererConfig{Store: db, Client: guard, Interval: 5 * time.Millisecond,
			Acquire: func(ctx context.Context, now time.Time, ttl time.Duration) (bool, error) {
				_, ok, err := db.AcquireLease(ctx, "webhooks.deliver", holder, now, ttl)
				return ok, err
			}})
		wg.Go(func() { d.Run(ctx) })
	}
	deadline := time.Now().Add(time.Minute) // a hang guard
	for {
		ds, err := replicas[1].ListDeliveries(t.Context(), "whk_1", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		done := len(ds) == n
		for _, d := range ds {
			done = done && d.Status == events.StatusDelivered
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries = %+v", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.id]++
	}
	if len(seen) != n || len(rcv.requests()) != n {
		t.Errorf("requests per event = %v, want each of %d events once", seen, n)
	}
}

// leaseLog records the deliverer's lease calls.
type leaseLog struct {
	mu   sync.Mutex
	ttls []time.Duration
}

func (l *leaseLog) record(ttl time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ttls = append(l.ttls, ttl)
	return len(l.ttls)
}

func (l *leaseLog) calls() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.ttls...)
}

// TestDeliveryLeaseIsShortAndRenewedDuringARound: the delivery lease is
// DefaultLeaseTTL long (what deliveries wait after its holder is killed),
// and a round that outlasts it renews it, so no other replica takes over
// while a slow receiver is still answering.
func TestDeliveryLeaseIsShortAndRenewedDuringARound(t *testing.T) {
	var defaults leaseLog
	d := events.NewDeliverer(events.DelivererConfig{Store: nil, Interval: time.Hour,
		Acquire: func(_ context.Context, _ time.Time, ttl time.Duration) (bool, error) {
			defaults.record(ttl)
			return false, nil
		}})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(defaults.calls()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	d.Run(ctx) // not the holder: it never touches the store
	if got := defaults.calls(); len(got) != 1 || got[0] != events.DefaultLeaseTTL {
		t.Errorf("lease ttls %v, want one acquire for %s", got, events.DefaultLeaseTTL)
	}

	const ttl = 30 * time.Millisecond
	var leases leaseLog
	renewed := make(chan struct{})
	slow := newReceiverFunc(t, func() {
		select { // answer once the lease was renewed thrice during this request
		case <-renewed:
		case <-time.After(30 * time.Second): // a hang guard; the test then fails below
		}
	})
	db, _, clk := deliverySetup(t, slow.srv.URL, []string{"127.0.0.1"})
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	d = events.NewDeliverer(events.DelivererConfig{Store: db, Client: guard, Now: clk.Now, Interval: time.Hour, LeaseTTL: ttl,
		Acquire: func(_ context.Context, _ time.Time, got time.Duration) (bool, error) {
			if leases.record(got) == 4 { // the first, then three renewals
				close(renewed)
			}
			return true, nil
		}})
	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(time.Minute) // a hang guard
	for ds := deliveries(t, db); len(ds) == 0 || ds[0].Status == events.StatusPending; ds = deliveries(t, db) {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v never left pending", ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	got := leases.calls()
	if len(got) < 4 {
		t.Fatalf("lease acquired %d times during a round that outlasted it; want renewals", len(got))
	}
	for _, g := range got {
		if g != ttl {
			t.Errorf("lease ttl %s, want %s", g, ttl)
		}
	}
	if ds := deliveries(t, db); ds[0].Status != events.StatusDelivered {
		t.Errorf("delivery %+v, want delivered by the holder that renewed", ds[0])
	}
}

// newReceiverFunc is a receiver that runs wait before answering 204.
func newReceiverFunc(t *testing.T, wait func()) *receiver {
	r := &receiver{codes: []int{204}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		wait()
		w.WriteHeader(204)
	}))
	t.Cleanup(r.srv.Close)
	return r
}
