package server

import (
	"context"
	"net"
	"testing"
	"time"
)

// serveLoopback serves srv on a free 127.0.0.1 port until the test ends and
// returns the address (host:port).
func serveLoopback(tb testing.TB, srv *Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}
