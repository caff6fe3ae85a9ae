// Package pglitetest runs a real PostgreSQL with the pgvector extension for
// tests: PGlite (PostgreSQL compiled to WebAssembly, from npm) behind
// pglite-socket's TCP server, which speaks the PostgreSQL wire protocol to
// pgx. It is installed by scripts/test-deps.sh from testenv/pglite; a missing
// install fails the test, it never skips it.
//
// PGlite runs one backend for all connections and the socket server passes
// their messages through one at a time (keeping a transaction's statements
// together): a statement sent as several extended-protocol messages (parse,
// bind, execute) can be interleaved with another connection's and fail, so
// the URL makes pgx send each statement as one simple-protocol message
// (default_query_exec_mode=simple_protocol). Real PostgreSQL needs none of
// this.
//
// The server is a child of the test binary with a parent-death signal, so a
// test binary that dies does not leave it running; each test gets its own
// schema on the shared server.
package pglitetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Where the server comes from, relative to the repository root.
const (
	binPath     = "testenv/pglite/node_modules/.bin/pglite-server"
	installHint = "run scripts/test-deps.sh (npm ci in testenv/pglite)"
	// Extensions loaded at start: pgvector as an npm package export.
	extensions = "@electric-sql/pglite-pgvector:vector"
	// maxConnections lets several pgx pools (4 connections each) be open at
	// once, with room for connections whose close the server has not yet
	// seen: over the limit the server resets new connections, which made
	// tests fail under load with 8. The server runs one query at a time and
	// keeps transactions apart, so the count costs nothing.
	maxConnections = 64
	startTimeout   = 60 * time.Second
	stopTimeout    = 10 * time.Second
)

// Server is one running pglite-server.
type Server struct {
	url      string
	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// Start runs a server for the test (or benchmark) t and stops it when t
// finishes. It returns the URL of its database.
func Start(t testing.TB) string {
	t.Helper()
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s.URL()
}

// Main runs one server for a whole test binary. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pglitetest.Main(m, func(url string) { baseURL = url }) }
func Main(m *testing.M, use func(url string)) {
	s, err := NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pglitetest:", err)
		os.Exit(1)
	}
	use(s.URL())
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pglitetest:", err)
	}
	os.Exit(code)
}

// NewSchema creates a schema of its own for the test on the server at url
// and returns its name; the test drops it when it ends.
func NewSchema(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec1(ctx, url, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pglitetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec1(ctx, url, "DROP SCHEMA "+name+" CASCADE")
	})
	return name
}

func exec1(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewServer starts a server on a free loopback port and waits until it
// answers queries.
func NewServer() (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{url: fmt.Sprintf("postgres://postgres:postgres@127.0.0.1:%d/postgres?sslmode=disable&default_query_exec_mode=simple_protocol", port), out: &syncBuffer{}}
		s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--host", "127.0.0.1",
			"--extensions", extensions, "--max-connections", strconv.Itoa(maxConnections))
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if s.exited, err = startPinned(s.cmd); err != nil {
			return nil, fmt.Errorf("pglitetest: start %s: %w", bin, err)
		}
		if lastErr = s.waitReady(); lastErr == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, lastErr
}

// URL is the server's connection URL.
func (s *Server) URL() string { return s.url }

// Stop ends the server: SIGTERM, then SIGKILL if it lingers.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
			s.stopErr = fmt.Errorf("pglitetest: server did not stop within %v; killed", stopTimeout)
		}
	})
	return s.stopErr
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("pglitetest: server exited while starting:\n%s", s.out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec1(ctx, s.url, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("pglitetest: server not ready within %v:\n%s", startTimeout, s.out.String())
}

// binary finds pglite-server under the repository root.
func binary() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, binPath)
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("pglitetest: %s not found: %s", bin, installHint)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pglitetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// startPinned starts cmd from a goroutine locked to its OS thread for as
// long as cmd runs: the kernel sends the parent-death signal when the
// thread that forked the child exits, not the process.
func startPinned(cmd *exec.Cmd) (exited chan struct{}, err error) {
	started := make(chan error, 1)
	exited = make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	return exited, <-started
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
