package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read leases

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/pglitetest"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// replica is one `cityagent serve` child process of a replica set.
type replica struct {
	*instance
	cmd    *exec.Cmd
	pid    int
	stderr *syncBuf
	exited chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReplica runs the test binary as `cityagent serve` (TestMain) with
// env, and waits until it is ready.
func startReplica(t *testing.T, data, cfg string, env ...string) *replica {
	t.Helper()
	return startReplicaTB(t, data, cfg, env...)
}

func startReplicaTB(t testing.TB, data, cfg string, env ...string) *replica {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), asCityagentEnv+"=1", "CITYAGENT_ADDR="+addr, "CITYAGENT_DATA="+data, "CITYAGENT_CONFIG="+cfg), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &replica{instance: &instance{base: "http://" + addr}, cmd: cmd, stderr: &syncBuf{}, exited: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.pid = cmd.Process.Pid
	go func() { cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.exited
		if t.Failed() {
			t.Logf("replica %s (pid %d) stderr:\n%s", r.base, r.pid, r.stderr.String())
		}
	})
	deadline := time.Now().Add(feedWait) // a hang guard, not a timing
	for {
		select {
		case <-r.exited:
			t.Fatalf("replica exited while starting:\n%s", r.stderr.String())
		default:
		}
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not ready:\n%s", addr, r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// roundRobin is the load balancer in front of the replicas: each request
// goes to the next live replica.
type roundRobin struct {
	mu    sync.Mutex
	next  int
	alive []*url.URL
}

func (rr *roundRobin) add(base string) {
	u, _ := url.Parse(base)
	rr.mu.Lock()
	rr.alive = append(rr.alive, u)
	rr.mu.Unlock()
}

func (rr *roundRobin) remove(base string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.alive = slices.DeleteFunc(rr.alive, func(u *url.URL) bool { return "http://"+u.Host == base })
}

func (rr *roundRobin) pick() *url.URL {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	u := rr.alive[rr.next%len(rr.alive)]
	rr.next++
	return u
}

func (rr *roundRobin) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(rr.pick()); pr.Out.Host = pr.In.Host },
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// send is a request that reports failures instead of ending the test, for
// goroutines other than the test's.
func send(method, url, key, body string) (int, []byte, error) {
	return sendWith(http.DefaultClient, method, url, key, body)
}

func sendWith(client *http.Client, method, url, key, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func withParam(raw, kv string) string {
	if strings.Contains(raw, "?") {
		return raw + "&" + kv
	}
	return raw + "?" + kv
}

// TestReplicas runs three replicas on one PostgreSQL (state) and one
// pgvector store, behind a round-robin proxy, and checks that they behave
// as one service: registry changes propagate, a session moves between
// replicas, concurrent approvals on different replicas execute once and
// change every replica's city, idempotent hotline posts make one ticket,
// rate limits hold across replicas, kill -9 of a replica loses no
// acknowledged write and its lease moves, a new replica replays the city,
// and the audit chain verifies.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stateDB := pgtest.NewDatabase(t, postgresURL(t))
	stateURL := withParam(stateDB, "pool_max_conns=6")
	vec, err := pglitetest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vec.Stop() })
	// PGlite serves few connections: the pool size in the URL must be
	// honoured, not replaced by the default (store/pool.go, knowledge/pgvector).
	vecURL := withParam(vec.URL(), "pool_max_conns=3")

	const deptRPM = 24
	cfg := filepath.Join(dir, "cityagent.yaml")
	if err := os.WriteFile(cfg, []byte(`log:
  level: warn
outbound:
  allow: ["127.0.0.1"]
events:
  deliver_interval: 50ms
  lease_ttl: 2s
registry_poll: 100ms
rate_limits:
  per_role:
    department:
      requests_per_minute: `+strconv.Itoa(deptRPM)+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CITYAGENT_DATABASE_URL=" + stateURL, "CITYAGENT_KNOWLEDGE_STORE=pgvector", "CITYAGENT_KNOWLEDGE_URL=" + vecURL}
	var reps []*replica
	for i := range 3 {
		reps = append(reps, startReplica(t, filepath.Join(dir, fmt.Sprint("data", i)), cfg, env...))
	}
	adminKey, err := os.ReadFile(filepath.Join(dir, "data0", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(adminKey))
	for _, r := range reps {
		r.admin = admin
	}
	rr := &roundRobin{}
	for _, r := range reps {
		rr.add(r.base)
	}
	proxy := httptest.NewServer(rr.handler())
	t.Cleanup(proxy.Close)
	lb := &instance{base: proxy.URL, admin: admin}

	dev := lb.newKey(t, "developer", "internal")
	op := lb.newKey(t, "operator", "internal")
	supA := lb.newKey(t, "supervisor", "internal")
	supB := lb.newKey(t, "supervisor", "internal")
	hot := lb.newKey(t, "hotline", "internal")

	// Concurrent traffic through the balancer for the whole test: reads
	// and chat turns, none of which may fail with a server error.
	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	var bgRequests, bgFailures atomic.Int64
	var bgFail sync.Once
	var bgFirst string
	for w := range 3 {
		bgWG.Go(func() {
			for i := 0; bg.Err() == nil; i++ {
				var code int
				var body []byte
				var err error
				if (i+w)%3 == 0 {
					code, body, err = send("POST", lb.base+"/v1/agents/traffic/chat", op, `{"message":"What is the traffic like on Renmin Road?"}`)
				} else {
					code, body, err = send("GET", lb.base+"/v1/agents", op, "")
				}
				bgRequests.Add(1)
				if err != nil {
					code, body = 0, []byte(err.Error())
				}
				if code != 200 {
					bgFailures.Add(1)
					bgFail.Do(func() { bgFirst = fmt.Sprintf("%d %s", code, body) })
				}
			}
		})
	}
	stopTraffic := func() {
		stopBG()
		bgWG.Wait()
		if n := bgFailures.Load(); n > 0 {
			t.Errorf("background traffic: %d of %d requests failed; first: %s", n, bgRequests.Load(), bgFirst)
		}
		t.Logf("background traffic: %d requests, none failed", bgRequests.Load())
	}

	t.Run("a tool registered on one replica is invokable on the others", func(t *testing.T) {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"pm25":17,"station":"`+r.URL.Query().Get("station")+`"}`)
		}))
		defer api.Close()
		start := time.Now()
		if code, body := reps[0].call(t, "POST", "/v1/tools", dev, `{"name":"pm25","description":"PM2.5 now at a station","endpoint":"`+api.URL+`"}`); code != 201 {
			t.Fatalf("register on replica 0: %d %s", code, body)
		}
		for _, r := range reps[1:] {
			pollUntil(t, "pm25 on "+r.base, func() bool {
				code, _ := r.call(t, "POST", "/v1/tools/pm25/invoke", dev, `{"arguments":{}}`)
				return code == 200
			})
			t.Logf("pm25 invokable on %s %v after it was registered on replica 0", r.base, time.Since(start).Round(time.Millisecond))
		}
		lists := make([]string, len(reps))
		for i, r := range reps {
			code, body := r.call(t, "GET", "/v1/tools", op, "")
			var ts struct{ Tools []struct{ Name string } }
			if err := json.Unmarshal(body, &ts); code != 200 || err != nil {
				t.Fatalf("GET /v1/tools on %s: %d %s", r.base, code, body)
			}
			var names []string
			for _, x := range ts.Tools {
				names = append(names, x.Name)
			}
			lists[i] = strings.Join(names, ",")
		}
		if lists[0] != lists[1] || lists[1] != lists[2] || !strings.Contains(lists[0], "pm25") {
			t.Errorf("GET /v1/tools differs between replicas:\n%s", strings.Join(lists, "\n"))
		}
		// Removed on another replica: gone everywhere.
		start = time.Now()
		if code, body := reps[1].call(t, "DELETE", "/v1/tools/pm25", dev, ""); code != 204 && code != 200 {
			t.Fatalf("delete on replica 1: %d %s", code, body)
		}
		for _, r := range []*replica{reps[0], reps[2]} {
			pollUntil(t, "pm25 gone from "+r.base, func() bool {
				code, _ := r.call(t, "POST", "/v1/tools/pm25/invoke", dev, `{"arguments":{}}`)
				return code == 404
			})
			t.Logf("pm25 gone from %s %v after it was deleted on replica 1", r.base, time.Since(start).Round(time.Millisecond))
		}
	})

	t.Run("a session moves between replicas turn by turn", func(t *testing.T) {
		session := ""
		for turn := 1; turn <= 3; turn++ {
			r := reps[turn%3]
			b, _ := json.Marshal(map[string]string{"message": "How congested is Renmin Road now?", "session_id": session})
			code, body := r.call(t, "POST", "/v1/agents/traffic/chat", op, string(b))
			var res agents.ChatResult
			if err := json.Unmarshal(body, &res); code != 200 || err != nil {
				t.Fatalf("turn %d on %s: %d %s", turn, r.base, code, body)
			}
			if session == "" {
				session = res.SessionID
			}
			if res.SessionID != session || res.Turn != turn {
				t.Fatalf("turn %d on %s: session %s turn %d, want %s turn %d", turn, r.base, res.SessionID, res.Turn, session, turn)
			}
		}
	})

	t.Run("concurrent approvals on different replicas execute once and change every replica's city", func(t *testing.T) {
		planID := func(r *instance) string {
			pl, _ := signalPlanSeen(t, r, op, "What is the signal plan on Renmin Road?")["plan"].(map[string]any)
			id, _ := pl["id"].(string)
			return id
		}
		before := planID(reps[0].instance)
		for _, r := range reps[1:] {
			if got := planID(r.instance); got != before {
				t.Fatalf("replicas start with different plans: %s and %s", before, got)
			}
		}
		code, body := reps[0].call(t, "POST", "/v1/agents/traffic/chat", supA, `{"message":"The Renmin Road corridor is congested — retime the signals."}`)
		var res agents.ChatResult
		if err := json.Unmarshal(body, &res); code != 200 || err != nil || len(res.Proposals) != 1 {
			t.Fatalf("propose: %d %s", code, body)
		}
		id := res.Proposals[0].ID
		var wg sync.WaitGroup
		codes := make([]int, 3)
		for i, k := range []string{supB, admin, supB} {
			wg.Go(func() {
				codes[i], _, _ = send("POST", reps[i].base+"/v1/proposals/"+id+"/approve", k, `{"comment":"checked"}`)
			})
		}
		wg.Wait()
		slices.Sort(codes)
		if !slices.Equal(codes, []int{200, 409, 409}) {
			t.Fatalf("approvals on three replicas: %v, want one 200 and two 409", codes)
		}
		code, p := getProposal(t, reps[2].instance, op, id)
		if code != 200 || p.Status != "executed" || p.Execution == nil || p.Execution.Attempts != 1 {
			t.Fatalf("after approval: %d %+v %+v", code, p.Status, p.Execution)
		}
		plans := map[string]bool{}
		for _, r := range reps {
			pollUntil(t, "the new plan on "+r.base, func() bool { return planID(r.instance) != before })
			plans[planID(r.instance)] = true
		}
		if len(plans) != 1 {
			t.Errorf("replicas show different plans after the approval: %v", plans)
		}
	})

	t.Run("idempotent hotline posts to different replicas make one ticket", func(t *testing.T) {
		ids := make([]string, 3)
		var wg sync.WaitGroup
		for i, r := range reps {
			wg.Go(func() {
				for range 50 {
					req, _ := http.NewRequest("POST", r.base+"/v1/hotline/tickets", strings.NewReader(`{"text":"长江路的路灯坏了三天了","channel":"phone"}`))
					req.Header.Set("Authorization", "Bearer "+hot)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Idempotency-Key", "replicas-test-lamp-1")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 409 || resp.StatusCode == 503 { // the first post is still in flight
						time.Sleep(50 * time.Millisecond)
						continue
					}
					var tk struct {
						ID string `json:"ticket_id"`
					}
					if err := json.Unmarshal(b, &tk); err != nil || resp.StatusCode/100 != 2 {
						t.Errorf("post on %s: %d %s", r.base, resp.StatusCode, b)
						return
					}
					ids[i] = tk.ID
					return
				}
			})
		}
		wg.Wait()
		if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("ticket ids from three replicas: %v, want one id", ids)
		}
	})

	t.Run("rate limits hold across replicas", func(t *testing.T) {
		code, body := lb.call(t, "POST", "/v1/keys", admin, `{"name":"water","role":"department","department":"water","clearance":"internal"}`)
		var k struct{ Key string }
		if err := json.Unmarshal(body, &k); code != 201 || err != nil {
			t.Fatalf("department key: %d %s", code, body)
		}
		// The quota is a fixed minute: start the burst well inside one.
		if left := time.Minute - time.Duration(time.Now().UnixNano())%time.Minute; left < 20*time.Second {
			time.Sleep(left + 100*time.Millisecond)
		}
		const burst = 3 * deptRPM
		var wg sync.WaitGroup
		var ok, limited atomic.Int64
		var bad sync.Once
		for range burst {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", lb.base+"/v1/me", nil)
				req.Header.Set("Authorization", "Bearer "+k.Key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
					if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || resp.Header.Get("Retry-After") == "" ||
						resp.Header.Get("RateLimit-Limit") != strconv.Itoa(deptRPM) || resp.Header.Get("X-RateLimit-Remaining") != "0" {
						bad.Do(func() { t.Errorf("429 without problem+json or limit headers: %v %s", resp.Header, b) })
					}
				default:
					t.Errorf("GET /v1/me: %d %s", resp.StatusCode, b)
				}
			})
		}
		wg.Wait()
		if ok.Load() != deptRPM || limited.Load() != burst-deptRPM {
			t.Fatalf("%d requests of one role over three replicas: %d answered, %d refused; want %d answered", burst, ok.Load(), limited.Load(), deptRPM)
		}
		// Other roles are not limited by the department's quota.
		if code, _ := lb.call(t, "GET", "/v1/me", op, ""); code != 200 {
			t.Errorf("an operator after the department's quota ran out: %d", code)
		}
	})

	stopTraffic()

	t.Run("kill -9 of a replica loses no acknowledged write and its lease moves", func(t *testing.T) {
		db, err := sql.Open("pgx", stateDB) // pgx's driver would send pool_max_conns to the server
		if err == nil {
			err = db.Ping()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		holderOf := func() string {
			var h string
			var exp int64
			if err := db.QueryRow("SELECT holder, expires_at FROM leases WHERE name = 'webhooks.deliver'").Scan(&h, &exp); err != nil {
				return ""
			}
			if time.Unix(0, exp).Before(time.Now()) {
				return ""
			}
			return h
		}
		var victim *replica
		pollUntil(t, "a replica to hold the delivery lease", func() bool {
			h := holderOf()
			for _, r := range reps {
				if h != "" && strings.Contains(h, fmt.Sprintf("-%d-", r.pid)) {
					victim = r
				}
			}
			return victim != nil
		})
		// Writes through the balancer while the victim dies: every ticket
		// acknowledged (201) must exist afterwards.
		var acked []string
		var mu sync.Mutex
		writes, stopWrites := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; writes.Err() == nil; i++ {
					b, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("光明路%d号门口井盖丢了 (%d)", w*1000+i, w), "channel": "web"})
					code, body, _ := send("POST", lb.base+"/v1/hotline/tickets", hot, string(b))
					var tk struct {
						ID string `json:"ticket_id"`
					}
					if code == 201 && json.Unmarshal(body, &tk) == nil && tk.ID != "" {
						mu.Lock()
						acked = append(acked, tk.ID)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(300 * time.Millisecond)
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.exited
		rr.remove(victim.base) // the balancer's health check notices
		time.Sleep(300 * time.Millisecond)
		stopWrites()
		wg.Wait()
		var survivors []*replica
		for _, r := range reps {
			if r != victim {
				survivors = append(survivors, r)
			}
		}
		if len(acked) == 0 {
			t.Fatal("no ticket was acknowledged around the kill")
		}
		for i, id := range acked {
			r := survivors[i%len(survivors)]
			if code, body := r.call(t, "GET", "/v1/hotline/tickets/"+id, hot, ""); code != 200 {
				t.Errorf("acknowledged ticket %s after kill -9: %d %s", id, code, body)
			}
		}
		t.Logf("%d tickets acknowledged around the kill, all readable afterwards", len(acked))
		start := time.Now()
		pollUntil(t, "the delivery lease to move to a live replica", func() bool {
			h := holderOf()
			for _, r := range survivors {
				if h != "" && strings.Contains(h, fmt.Sprintf("-%d-", r.pid)) {
					return true
				}
			}
			return false
		})
		t.Logf("delivery lease moved %v after the kill (lease TTL 2 s)", time.Since(start).Round(time.Millisecond))
		reps = survivors
	})

	t.Run("a new replica replays the city and the registry, and the audit chain verifies", func(t *testing.T) {
		fresh := startReplica(t, filepath.Join(dir, "data-new"), cfg, env...)
		fresh.admin = admin
		want := signalPlanSeen(t, reps[0].instance, op, "What is the signal plan on Renmin Road?")["plan"].(map[string]any)["id"]
		got := signalPlanSeen(t, fresh.instance, op, "What is the signal plan on Renmin Road?")["plan"].(map[string]any)["id"]
		if got != want {
			t.Errorf("a replica started after the approval shows plan %v; the others %v", got, want)
		}
		code, body := fresh.call(t, "GET", "/v1/audit/verify", dev, "")
		var rep audit.Report
		if err := json.Unmarshal(body, &rep); code != 200 || err != nil || !rep.OK {
			t.Fatalf("audit verify: %d %s", code, body)
		}
	})
}
