package reliability

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultResult is one injected fault: what the requests got.
type FaultResult struct {
	Name             string
	Requests, FiveXX int
	Statuses         map[int]int
	Degraded         int
	Slowest          time.Duration
	Bound            time.Duration // every request must answer within this
	Err              string
}

// Notes summarises statuses, degraded answers and the slowest answer.
func (f FaultResult) Notes() string {
	var codes []int
	for c := range f.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", f.Statuses[c], c))
	}
	s := fmt.Sprintf("statuses %s; slowest %s (bound %s)", strings.Join(parts, " "), f.Slowest.Round(10*time.Millisecond), f.Bound)
	if f.Degraded > 0 {
		s += fmt.Sprintf("; %d degraded", f.Degraded)
	}
	if f.Err != "" {
		s += "; " + f.Err
	}
	return s
}

// OK says whether the fault was survived: no 5xx other than 503/504 with a
// problem, every request answered within the bound.
func (f FaultResult) OK() bool {
	return f.Err == "" && f.FiveXX == 0 && f.Slowest <= f.Bound
}

// fakeModel is an OpenAI-compatible endpoint that fails on purpose: it
// answers 500 or hangs until the client gives up.
type fakeModel struct {
	mode atomic.Value // "500" or "hang"
	hits atomic.Int64
}

func (m *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.hits.Add(1)
	switch m.mode.Load() {
	case "hang":
		<-r.Context().Done()
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		fmt.Fprint(w, `{"error":{"message":"injected failure","type":"server_error"}}`)
	}
}

// serveLoopback serves h on a fresh loopback port until ctx ends.
func serveLoopback(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().String(), nil
}

// Faults starts a server whose model is a failing fake and whose registered
// tool hangs, and checks every turn still answers in time.
func Faults(ctx context.Context, bin, dir string, logf func(string, ...any)) ([]FaultResult, *Server, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	model := &fakeModel{}
	model.mode.Store("500")
	maddr, err := serveLoopback(ctx, model)
	if err != nil {
		return nil, nil, err
	}
	taddr, err := serveLoopback(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	if err != nil {
		return nil, nil, err
	}
	cfg := fmt.Sprintf(`llm:
  provider: openai
  base_url: http://%s/v1
  model: fake
  timeout: 2s
  max_retries: 1
outbound:
  allow: ["127.0.0.1"]
  timeout: 3s
`, maddr)
	cfgPath := filepath.Join(dir, "faults.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, nil, err
	}
	s := &Server{Bin: bin, Data: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "server.log"), Args: []string{"--config", cfgPath}}
	if err := s.Start(ctx); err != nil {
		return nil, s, err
	}
	defer s.Stop()
	op, err := s.CreateKey(ctx, "rel-op", "operator", "internal")
	if err != nil {
		return nil, s, err
	}
	dev, err := s.CreateKey(ctx, "rel-dev", "developer", "internal")
	if err != nil {
		return nil, s, err
	}
	hot, err := s.CreateKey(ctx, "rel-hot", "hotline", "internal")
	if err != nil {
		return nil, s, err
	}
	chat := func(i int) (Response, error) {
		return s.JSON(ctx, "POST", "/v1/agents/traffic/chat", op, map[string]any{"message": fmt.Sprintf("Which roads are congested near Renmin Road? (%d)", i)}, nil, nil)
	}
	ticket := func(i int) (Response, error) {
		return s.JSON(ctx, "POST", "/v1/hotline/tickets", hot, map[string]any{"text": fmt.Sprintf("我们小区停水了 %d", i), "channel": "phone"}, nil,
			map[string]string{"Idempotency-Key": fmt.Sprintf("fault-%d-%d", time.Now().UnixNano(), i)})
	}
	var out []FaultResult
	model.mode.Store("500")
	out = append(out, runFault("model 500: chat turns", 20, 4, 30*time.Second, chat))
	out = append(out, runFault("model 500: hotline tickets", 10, 4, 12*time.Second, ticket))
	logf("fault: model 500 done (%d model calls)", model.hits.Load())
	model.mode.Store("hang")
	out = append(out, runFault("model hang: chat turns", 8, 4, 90*time.Second, chat))
	out = append(out, runFault("model hang: hotline tickets", 8, 4, 12*time.Second, ticket))
	logf("fault: model hang done")
	reg, err := s.JSON(ctx, "POST", "/v1/tools", dev, map[string]any{"name": "rel_hang", "description": "A tool whose server never answers.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{}}, "endpoint": "http://" + taddr + "/hang", "timeout_ms": 2000, "clearance": "internal"}, nil, nil)
	th := FaultResult{Name: "tool hang: invoke", Bound: 10 * time.Second}
	if err != nil || reg.Status/100 != 2 {
		th.Err = fmt.Sprintf("register the hanging tool: %v %d %.200s", err, reg.Status, reg.Body)
		out = append(out, th)
	} else {
		out = append(out, runFault("tool hang: invoke", 8, 4, 10*time.Second, func(int) (Response, error) {
			return s.JSON(ctx, "POST", "/v1/tools/rel_hang/invoke", dev, map[string]any{"arguments": map[string]any{}}, nil, nil)
		}))
	}
	logf("fault: tool hang done")
	return out, s, nil
}

// runFault sends n requests, conc at once, and records what they got. A
// 503 or 504 answered as a problem is an honest refusal; other 5xx count.
func runFault(name string, n, conc int, bound time.Duration, do func(int) (Response, error)) FaultResult {
	res := FaultResult{Name: name, Statuses: map[int]int{}, Bound: bound}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			r, err := do(i)
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			res.Requests++
			res.Slowest = max(res.Slowest, d)
			if err != nil {
				res.Statuses[0]++
				res.Err = err.Error()
				return
			}
			res.Statuses[r.Status]++
			if r.Status >= 500 && !((r.Status == 503 || r.Status == 504) && r.Header.Get("Content-Type") == "application/problem+json") {
				res.FiveXX++
			}
			if strings.Contains(string(r.Body), `"degraded":true`) {
				res.Degraded++
			}
		}()
	}
	wg.Wait()
	return res
}
