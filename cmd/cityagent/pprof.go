//go:build pprof

package main

// Built only with -tags pprof, for profiling under load (cmd/benchload
// -profile, docs/performance.md): serves net/http/pprof on
// CITYAGENT_PPROF_ADDR (a loopback HOST:PORT) when it is set. Release
// builds carry none of this.

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("CITYAGENT_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof server stopped", "addr", addr, "err", err)
		}
	}()
}
