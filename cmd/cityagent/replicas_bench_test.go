package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/internal/pgtest"
)

// BenchmarkReplicaTurns measures chat turns per second through 1, 2 and 3
// `cityagent serve` replicas (child processes) on one PostgreSQL (state;
// knowledge embedded in each replica), with 8 concurrent clients per
// replica spreading turns round-robin over the replicas. Besides turns/s it
// reports the replicas' CPU per turn (user+system from /proc, PostgreSQL's
// not included). On a machine with fewer cores than replicas the replicas
// compete for the same cores: read CPU per turn, not the scaling of
// turns/s.
//
//	go test -run '^$' -bench BenchmarkReplicaTurns -benchtime 400x ./cmd/cityagent/
func BenchmarkReplicaTurns(b *testing.B) {
	pg := pgtest.Start(b)
	for _, n := range []int{1, 2, 3} {
		b.Run("replicas="+strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			url := withParam(pgtest.NewDatabase(b, pg), "pool_max_conns=8")
			cfg := filepath.Join(dir, "cityagent.yaml")
			if err := os.WriteFile(cfg, []byte("log:\n  level: error\n"), 0o600); err != nil {
				b.Fatal(err)
			}
			var reps []*replica
			for i := range n {
				reps = append(reps, startReplicaTB(b, filepath.Join(dir, fmt.Sprint("data", i)), cfg, "CITYAGENT_DATABASE_URL="+url))
			}
			key, err := os.ReadFile(filepath.Join(dir, "data0", "admin.key"))
			if err != nil {
				b.Fatal(err)
			}
			admin := strings.TrimSpace(string(key))
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			turn := func(i int) error {
				code, body, err := sendWith(client, "POST", reps[i%n].base+"/v1/agents/traffic/chat", admin, `{"message":"What is the traffic like on Renmin Road?"}`)
				if err == nil && code != 200 {
					err = fmt.Errorf("turn: %d %s", code, body)
				}
				return err
			}
			for i := range 2 * n { // warm up every replica
				if err := turn(i); err != nil {
					b.Fatal(err)
				}
			}
			clients := 8 * n
			cpu0 := replicaCPU(reps)
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			next := make(chan int)
			for range clients {
				wg.Go(func() {
					for i := range next {
						if err := turn(i); err != nil {
							mu.Lock()
							firstErr = err
							mu.Unlock()
						}
					}
				})
			}
			b.ResetTimer()
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			elapsed := time.Since(start)
			cpu := replicaCPU(reps) - cpu0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/turn")
		})
	}
}

// replicaCPU is the user+system CPU time the replicas' processes used.
func replicaCPU(reps []*replica) time.Duration {
	var total time.Duration
	for _, r := range reps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.pid))
		if err != nil {
			continue
		}
		// Fields after the command name in parentheses: utime is the 14th
		// field overall, stime the 15th, in clock ticks (100 Hz on Linux).
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
