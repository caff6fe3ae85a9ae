// Command benchload is the load benchmark behind `make bench-load` and the
// README's performance table (docs/performance.md).
//
// It starts, on free loopback ports and in temporary data directories:
//   - the floor: a bare Fiber server that does one SQLite insert per request
//     (same durability settings as the state store: WAL, synchronous=FULL),
//     run as a child process of this binary ("benchload floor");
//   - cityagent on the embedded default (SQLite, offline engine, demo city);
//   - cityagent with the OpenAI provider pointed at a zero-latency
//     OpenAI-protocol server (llm/openaitest) that this process serves: the
//     model asks for the tool the offline engine asked for, then answers, so
//     the turn is the same shape and its server CPU is platform overhead.
//
// Each is driven closed-loop by Debian's wrk (64 connections, Lua script
// reporting percentiles) and open-loop at fixed offered rates by the Go
// driver in openloop.go, which measures every latency from the intended
// send time (no coordinated omission). Server CPU comes from
// /proc/<pid>/stat (utime+stime) around each run; CPU per turn is that
// divided by the successful responses. One table is printed at the end.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := runFloor(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchload floor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
}

type options struct {
	bin      string
	duration time.Duration
	conns    int
	rates    []float64
	openai   bool
	stream   bool
	only     string
	message  string
	profile  string
	streams  int
}

func run() error {
	var o options
	var rates string
	flag.StringVar(&o.bin, "bin", "bin/cityagent", "cityagent binary to start")
	flag.DurationVar(&o.duration, "d", 15*time.Second, "duration of each measured run")
	flag.IntVar(&o.conns, "c", 64, "connections of the closed-loop runs")
	flag.StringVar(&rates, "rates", "500,1000", "offered rates (turns/s) of the open-loop runs, comma-separated")
	flag.BoolVar(&o.openai, "openai", true, "also measure the turn through the OpenAI provider against a zero-latency server")
	flag.BoolVar(&o.stream, "stream", true, "also measure the OpenAI-provider turn streamed (SSE)")
	flag.StringVar(&o.only, "only", "", "measure only this server: floor, embedded or openai (default all)")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of each cityagent's closed-loop run to PREFIX-<server>.prof (needs -bin built with -tags pprof)")
	flag.IntVar(&o.streams, "streams", 10000, "event streams (GET /v1/events) to hold open on the embedded server while timing turns one at a time (0: skip)")
	flag.StringVar(&o.message, "message", "Which road segments are the most congested right now?", "the question of every turn")
	flag.Parse()
	for _, r := range strings.Split(rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("bad rate %q", r)
		}
		o.rates = append(o.rates, v)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: run scripts/bench-deps.sh (Debian's wrk)")
	}
	raiseFileLimit() // the streams step holds -streams connections on each side
	tmp, err := os.MkdirTemp("", "benchload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o600); err != nil {
		return err
	}
	b := &bench{o: o, tmp: tmp, script: script}
	defer b.stopAll()
	if err := b.measure(); err != nil {
		return err
	}
	b.print(os.Stdout)
	return nil
}

type bench struct {
	o      options
	tmp    string
	script string
	procs  []*exec.Cmd
	rows   []row
	floor  float64 // closed-loop req/s of the floor
	floorC float64 // closed-loop CPU ms per request of the floor
	notes  []string
	held   *streamsResult // the streams step, when it ran
}

type row struct {
	server  string
	mode    string
	offered float64 // 0: closed loop
	result
	cpuMS float64 // server CPU per successful response
	rssMB float64 // server RSS after the run
}

// result is what one run measured.
type result struct {
	ok, failed int     // 2xx responses; errors and other statuses
	rate       float64 // ok per second of the run
	p50, p99   time.Duration
}

func (b *bench) measure() error {
	want := func(s string) bool { return b.o.only == "" || b.o.only == s }
	if want("floor") {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		cmd, err := b.start(self, []string{"floor", "-addr", addr, "-data", filepath.Join(b.tmp, "floor")}, nil, "floor")
		if err != nil {
			return err
		}
		base := "http://" + addr
		if err := waitReady(base + "/healthz"); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		t := target{name: "floor (Fiber + 1 SQLite insert)", url: base + "/insert", body: `{"message":"` + b.o.message + `"}`, pid: cmd.Process.Pid}
		if err := b.runAll(t); err != nil {
			return err
		}
	}
	var call *toolCall
	if want("embedded") || want("openai") {
		t, err := b.startCityagent("embedded", nil)
		if err != nil {
			return err
		}
		if call, err = t.check(); err != nil {
			return fmt.Errorf("embedded: %w", err)
		}
		if want("embedded") {
			if err := b.runAll(t); err != nil {
				return err
			}
			if b.o.streams > 0 {
				res, err := holdStreams(t, b.o.streams, 100)
				if err != nil {
					return fmt.Errorf("embedded, %d event streams: %w", b.o.streams, err)
				}
				b.held = &res
				fmt.Fprintf(os.Stderr, "benchload: %d event streams open (%d failed): RSS %.0f → %.0f MB; %d turns one at a time p50 %s p99 %s; %d streams still open after\n",
					res.open, res.dialFail, res.rssBefore, res.rssOpen, res.turns, res.p50.Round(10*time.Microsecond), res.p99.Round(10*time.Microsecond), res.stillOpen)
			}
		}
	}
	if want("openai") && b.o.openai {
		up, err := startUpstream(call)
		if err != nil {
			return err
		}
		defer up.Close()
		env := []string{"CITYAGENT_LLM_PROVIDER=openai", "CITYAGENT_LLM_BASE_URL=" + up.URL, "CITYAGENT_LLM_MODEL=bench-zero-latency", "CITYAGENT_LLM_API_KEY=bench"}
		t, err := b.startCityagent("openai provider, zero-latency model", env)
		if err != nil {
			return err
		}
		if _, err := t.check(); err != nil {
			return fmt.Errorf("openai: %w", err)
		}
		if err := b.runAll(t); err != nil {
			return err
		}
		if b.o.stream {
			st := t
			st.name += ", streamed"
			st.body = `{"message":"` + b.o.message + `","stream":true}`
			if err := b.closedLoop(st); err != nil {
				return err
			}
		}
	}
	return nil
}

// target is one server under load.
type target struct {
	name, url, body, key string
	pid                  int
	pprof, short         string // pprof address (with -profile), short name
}

func (b *bench) startCityagent(name string, env []string) (target, error) {
	addr, err := freeAddr()
	if err != nil {
		return target{}, err
	}
	data := filepath.Join(b.tmp, strings.Fields(name)[0])
	// The streams step holds all its streams with the one admin key: no
	// per-key cap on them (the shipped default is 32 per key).
	env = append(env, "CITYAGENT_ADDR="+addr, "CITYAGENT_DATA="+data, "CITYAGENT_LOG_LEVEL=warn", "CITYAGENT_MAX_STREAMS_PER_KEY=-1")
	var pprofAddr string
	if b.o.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return target{}, err
		}
		env = append(env, "CITYAGENT_PPROF_ADDR="+pprofAddr)
	}
	cmd, err := b.start(b.o.bin, []string{"serve"}, env, name)
	if err != nil {
		return target{}, err
	}
	base := "http://" + addr
	if err := waitReady(base + "/readyz"); err != nil {
		return target{}, fmt.Errorf("%s: %w", name, err)
	}
	key, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		return target{}, fmt.Errorf("%s: %w", name, err)
	}
	return target{name: "cityagent, " + name, url: base + "/v1/agents/traffic/chat", body: `{"message":"` + b.o.message + `"}`,
		key: strings.TrimSpace(string(key)), pid: cmd.Process.Pid, pprof: pprofAddr, short: strings.Fields(name)[0]}, nil
}

// toolCall is the tool call of a checked turn.
type toolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// check asks one question and confirms the turn is the one measured: an
// answer after at least one successful tool call. It returns the first call.
func (t target) check() (*toolCall, error) {
	status, body, err := t.post(context.Background(), http.DefaultClient)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", status, body)
	}
	var res struct {
		Answer    string `json:"answer"`
		Degraded  bool   `json:"degraded"`
		ToolCalls []struct {
			toolCall
			OK bool `json:"ok"`
		} `json:"tool_calls"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, err
	}
	if res.Answer == "" || len(res.ToolCalls) == 0 || !res.ToolCalls[0].OK || res.Degraded {
		return nil, fmt.Errorf("not an answered turn with a tool call: %s", body)
	}
	return &res.ToolCalls[0].toolCall, nil
}

func (t target) post(ctx context.Context, c *http.Client) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(t.body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.key != "" {
		req.Header.Set("Authorization", "Bearer "+t.key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// runAll warms t up, then measures it closed-loop and at each offered rate.
func (b *bench) runAll(t target) error {
	if err := b.warm(t); err != nil {
		return err
	}
	if err := b.closedLoop(t); err != nil {
		return err
	}
	for _, r := range b.o.rates {
		c0, err := cpuTicks(t.pid)
		if err != nil {
			return err
		}
		res := openLoop(t, r, b.o.duration)
		c1, err := cpuTicks(t.pid)
		if err != nil {
			return err
		}
		b.add(t, "open", r, res, c1-c0)
	}
	return nil
}

func (b *bench) warm(t target) error {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				status, body, err := t.post(context.Background(), c)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("%s: warm-up status %d: %.200s", t.name, status, body)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	var first error
	for range 8 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *bench) closedLoop(t target) error {
	threads := min(runtime.NumCPU(), 4)
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(b.o.conns), "-d", fmt.Sprintf("%ds", int(b.o.duration.Seconds())),
		"--timeout", "30s", "-s", b.script, t.url}
	cmd := exec.Command("wrk", args...)
	cmd.Env = append(os.Environ(), "BENCH_BODY="+t.body, "BENCH_KEY="+t.key)
	c0, err := cpuTicks(t.pid)
	if err != nil {
		return err
	}
	prof := b.startProfile(t)
	out, err := cmd.CombinedOutput()
	if perr := <-prof; perr != nil {
		b.notes = append(b.notes, fmt.Sprintf("profile of %s: %v", t.name, perr))
	}
	if err != nil {
		return fmt.Errorf("wrk %s: %w\n%s", t.name, err, out)
	}
	c1, err := cpuTicks(t.pid)
	if err != nil {
		return err
	}
	var w struct {
		Requests, Status, Errors int
		DurationUS               float64 `json:"duration_us"`
		P50US                    float64 `json:"p50_us"`
		P99US                    float64 `json:"p99_us"`
	}
	line := out[strings.LastIndex(strings.TrimSpace(string(out)), "\n")+1:]
	if err := json.Unmarshal(line, &w); err != nil {
		return fmt.Errorf("wrk %s: read its summary: %w\n%s", t.name, err, out)
	}
	ok := w.Requests - w.Status
	res := result{ok: ok, failed: w.Status + w.Errors, rate: float64(ok) / (w.DurationUS / 1e6),
		p50: time.Duration(w.P50US) * time.Microsecond, p99: time.Duration(w.P99US) * time.Microsecond}
	b.add(t, fmt.Sprintf("closed, %d conns (wrk)", b.o.conns), 0, res, c1-c0)
	return nil
}

func (b *bench) add(t target, mode string, offered float64, res result, ticks int64) {
	r := row{server: t.name, mode: mode, offered: offered, result: res}
	if res.ok > 0 {
		r.cpuMS = float64(ticks) * 1000 / clockTicks / float64(res.ok)
	}
	r.rssMB = rssMB(t.pid)
	if strings.HasPrefix(t.name, "floor") && offered == 0 {
		b.floor, b.floorC = res.rate, r.cpuMS
	}
	b.rows = append(b.rows, r)
	fmt.Fprintf(os.Stderr, "benchload: %-45s %-26s %8.0f ok/s p50 %-8s p99 %-8s cpu %.3f ms failed %d\n",
		t.name, modeText(r), res.rate, res.p50.Round(10*time.Microsecond), res.p99.Round(10*time.Microsecond), r.cpuMS, res.failed)
}

func modeText(r row) string {
	if r.offered == 0 {
		return r.mode
	}
	return fmt.Sprintf("open, %.0f/s offered", r.offered)
}

func (b *bench) print(w io.Writer) {
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\nbenchload: %d CPUs, %s, load average before the end %s, %s each run\n\n",
		runtime.NumCPU(), host, strings.Join(strings.Fields(string(load))[:3], " "), b.o.duration)
	fmt.Fprintln(w, "| server | load | turns/s | p50 ms | p99 ms | failed | server CPU per turn (ms) | RSS MB | throughput / floor | CPU / floor |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range b.rows {
		ratio, cratio := "–", "–"
		if b.floor > 0 && r.offered == 0 {
			ratio = fmt.Sprintf("%.3f", r.rate/b.floor)
		}
		if b.floorC > 0 && r.cpuMS > 0 {
			cratio = fmt.Sprintf("%.1f×", r.cpuMS/b.floorC)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %d | %.3f | %.0f | %s | %s |\n", r.server, modeText(r), r.rate,
			ms(r.p50), ms(r.p99), r.failed, r.cpuMS, r.rssMB, ratio, cratio)
	}
	if h := b.held; h != nil {
		fmt.Fprintln(w, "\n| server | event streams open (GET /v1/events) | failed to open | server RSS before → with them open (MB) | turns while open, one at a time | p50 ms | p99 ms | streams still open after |")
		fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|")
		fmt.Fprintf(w, "| cityagent, embedded | %d | %d | %.0f → %.0f | %d | %.1f | %.1f | %d |\n", h.open, h.dialFail, h.rssBefore, h.rssOpen, h.turns, ms(h.p50), ms(h.p99), h.stillOpen)
	}
	for _, n := range b.notes {
		fmt.Fprintln(w, n)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// start starts a server process in its own process group.
func (b *bench) start(bin string, args, env []string, name string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.Discard
	logf, err := os.Create(filepath.Join(b.tmp, strings.Fields(name)[0]+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.procs = append(b.procs, cmd)
	return cmd, nil
}

func (b *bench) stopAll() {
	for _, cmd := range b.procs {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one, for
// this process and the servers it starts.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60 s (last error %v)", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux this runs on.
const clockTicks = 100

// cpuTicks returns utime+stime of pid, all threads, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	s, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}

func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

// wrkScript posts BENCH_BODY with BENCH_KEY and prints one JSON line of
// totals and latency percentiles (microseconds) when wrk is done. It sets
// no response() callback, which would slow wrk down.
const wrkScript = `
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\n{"requests":%d,"status":%d,"errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
`

// startProfile fetches a CPU profile of t covering most of a closed-loop
// run, when -profile is set and t serves pprof; the channel reports the end.
func (b *bench) startProfile(t target) <-chan error {
	done := make(chan error, 1)
	if b.o.profile == "" || t.pprof == "" || strings.Contains(t.name, "streamed") {
		done <- nil
		return done
	}
	secs := max(int(b.o.duration.Seconds())-2, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprof, secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof status %d (is -bin built with -tags pprof?)", resp.StatusCode)
			return
		}
		f, err := os.Create(b.o.profile + "-" + t.short + ".prof")
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return done
}
