package reliability

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FuzzTargets are the route-family fuzz targets in server/fuzz_routes_test.go.
var FuzzTargets = []string{
	"FuzzChatRoute", "FuzzOpenAIChatRoute", "FuzzKeysRoute", "FuzzToolsRoute", "FuzzCollectionsRoute",
	"FuzzProposalsRoute", "FuzzHotlineTicketsRoute", "FuzzEvalRunsRoute", "FuzzOpen311RequestsRoute",
}

// FuzzResult is one `go test -fuzz` run.
type FuzzResult struct {
	Target          string
	Execs           int
	FiveXX, Panics  int
	Failed          bool
	Failure, Output string
}

// execsRE reads the fuzzer's progress; the baseline (the seed corpus and
// the cached corpus, run first) counts too.
var execsRE = regexp.MustCompile(`(?:execs: |baseline coverage: )(\d+)`)

// Fuzz runs one target for d in pkg (go test accepts one -fuzz target per run).
func Fuzz(ctx context.Context, goBin, pkg, target string, d time.Duration) FuzzResult {
	cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$", "-fuzz", "^"+target+"$", "-fuzztime", d.String(), "-fuzzminimizetime", "3x", "-parallel", "2", pkg)
	out, err := cmd.CombinedOutput()
	res := FuzzResult{Target: target, Output: string(out), Failed: err != nil}
	for _, m := range execsRE.FindAllStringSubmatch(res.Output, -1) {
		n, _ := strconv.Atoi(m[1])
		res.Execs = max(res.Execs, n) // the cumulative execs include the baseline
	}
	for _, l := range strings.Split(res.Output, "\n") {
		switch {
		case strings.Contains(l, "panic:") || strings.Contains(l, "panic in the log"):
			res.Panics++
		case regexp.MustCompile(`status 5\d\d`).MatchString(l):
			res.FiveXX++
		}
		if res.Failed && res.Failure == "" && strings.Contains(l, "fuzz_routes_test.go:") {
			res.Failure = strings.TrimSpace(l)
		}
	}
	if res.Failed && res.Failure == "" {
		res.Failure = fmt.Sprintf("go test: %v", err)
	}
	return res
}
