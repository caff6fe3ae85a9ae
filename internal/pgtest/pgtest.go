// Package pgtest runs a real, throwaway PostgreSQL 15 server for tests, from
// the binaries of Debian's postgresql-15 package, and hands out a fresh
// database per test.
//
// PostgreSQL refuses to run as root, and the development and CI machines run
// as root, so there the server runs as the postgres system user. It is a
// direct child of the test binary with a parent-death signal: if the test
// binary dies (a panic, a -timeout, kill -9), the kernel kills the server.
// Directories left behind that way are removed by the next server start.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// BinDir holds the PostgreSQL 15 server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// installHint is how to get the binaries; missing binaries fail tests, they
// never skip them.
const installHint = "apt-get install postgresql-15"

const (
	dirPrefix    = "pgtest-"
	ownerPIDFile = "owner.pid" // pid of the test binary that owns a server directory
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is one running PostgreSQL server in its own temporary directory.
type Server struct {
	url      string
	dir      string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the server process has exited
	stopOnce sync.Once
	stopErr  error
}

// Start runs a server for the test (or benchmark) t and stops it when t and
// its subtests finish, even if they fail or panic. It returns the URL of the
// server's "postgres" database; use NewDatabase for an isolated database.
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
//	func TestMain(m *testing.M) { pgtest.Main(m, func(url string) { baseURL = url }) }
//
// use receives the server's URL before the tests run; Main then runs them,
// stops the server and exits with the tests' status. It exits with status 1
// if the server cannot start.
func Main(m *testing.M, use func(url string)) {
	s, err := NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer s.Stop()
		use(s.URL())
		return m.Run()
	}()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// Shared is one server for a package's tests, started by the first test
// that asks for it (a run that selects none starts none). Each test still
// takes a database of its own (NewDatabase), so sharing the server shares
// no state; it saves an initdb and a server start per test. Stop it from
// TestMain after m.Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// URL starts the server on first use and returns its URL.
func (s *Shared) URL(t testing.TB) string {
	t.Helper()
	s.once.Do(func() { s.srv, s.err = NewServer() })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.srv.URL()
}

// Stop stops the server if a test started it.
func (s *Shared) Stop() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Stop()
}

// RunShared runs the package's tests, stops s and exits with the tests'
// status (1 if stopping fails). Call it from TestMain.
func RunShared(m *testing.M, s *Shared) {
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// NewDatabase creates an empty database on the server at baseURL and returns
// its URL. The database is dropped when t finishes.
func NewDatabase(t testing.TB, baseURL string) string {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("pgtest: base URL: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execSQL(ctx, baseURL, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends the test's leftover connections.
		if err := execSQL(ctx, baseURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func execSQL(ctx context.Context, connURL, sql string) error {
	conn, err := pgconn.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql).ReadAll()
	return err
}

// NewServer initialises a cluster in a new temporary directory and starts a
// server on a free port of 127.0.0.1 with trust authentication. Durability
// is off (fsync, full-page writes): the data is thrown away. Call Stop.
func NewServer() (*Server, error) {
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, bin)); err != nil {
			return nil, fmt.Errorf("pgtest: PostgreSQL 15 server binary %s not found in %s (install it: %s): %w", bin, BinDir, installHint, err)
		}
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	base, err := baseDir(cred != nil)
	if err != nil {
		return nil, err
	}
	for _, dir := range baseCandidates() {
		reapStale(dir)
	}

	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir}
	if err := s.start(cred); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(cred *syscall.Credential) error {
	if err := os.WriteFile(filepath.Join(s.dir, ownerPIDFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w", s.dir, err)
		}
	}
	data := filepath.Join(s.dir, "data")
	initdb := command(cred, filepath.Join(BinDir, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}

	// The free port may be taken between our probe and the server's bind;
	// then try another.
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		if err = s.run(cred, data, port); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

var errPortTaken = errors.New("pgtest: port taken")

func (s *Server) run(cred *syscall.Credential, data string, port int) error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := command(cred, filepath.Join(BinDir, "postgres"),
		"-D", data,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(port),
		"-k", s.dir, // unix socket, private to this server
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=200",
		// Files in the data directory, removed with it, rather than /dev/shm
		// segments that a killed server would leak.
		"-c", "dynamic_shared_memory_type=mmap",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	exited, err := startPinned(cmd)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd, s.exited = cmd, exited
	s.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("Address already in use")) {
				return errPortTaken
			}
			return fmt.Errorf("pgtest: postgres exited during start-up: %s\n%s", cmd.ProcessState, log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := execSQL(ctx, s.url, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtest: postgres not ready after %s: %w\n%s", startTimeout, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the connection URL of the server's "postgres" database.
func (s *Server) URL() string { return s.url }

// Stop shuts the server down at once, as pg_ctl stop -m immediate does (by
// SIGQUIT), and removes its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd != nil {
			s.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-s.exited:
			case <-time.After(stopTimeout):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = fmt.Errorf("pgtest: remove %s: %w", s.dir, err)
		}
	})
	return s.stopErr
}

// command runs bin as the postgres user when cred is set. It dies with the
// test binary.
func command(cred *syscall.Credential, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true, // a terminal's ^C goes to the test binary only
	}
	return cmd
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

// cleanEnv is the environment without PG* variables, which could point the
// server or initdb elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// credential is the postgres system user when running as root, else nil
// (run as ourselves).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres system user (%s creates it): %w", installHint, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// baseDir is where server directories go. /dev/shm comes first: the data
// is thrown away, and on tmpfs CREATE DATABASE is several times faster than
// on a disk. Running as root, the postgres user must be able to reach it.
func baseDir(asOther bool) (string, error) {
	for _, dir := range baseCandidates() {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || (asOther && !traversable(dir)) {
			continue
		}
		var st syscall.Statfs_t
		if dir == shmDir && (syscall.Statfs(dir, &st) != nil || st.Bavail*uint64(st.Bsize) < minShmFree) {
			continue
		}
		return dir, nil
	}
	return "", fmt.Errorf("pgtest: none of %v is reachable by the postgres user", baseCandidates())
}

const (
	shmDir     = "/dev/shm"
	minShmFree = 1 << 30
)

func baseCandidates() []string { return []string{shmDir, os.TempDir(), "/tmp"} }

// traversable reports whether every directory on the way to dir lets others
// through.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// reapStale removes server directories whose test binary died without
// stopping its server (the server died with it, by the parent-death signal).
func reapStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerPIDFile))
		if errors.Is(err, fs.ErrNotExist) {
			// Just created by another test binary, or left by a crash in
			// the instant before the pid was written: wait before judging.
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > 10*time.Minute {
				os.RemoveAll(dir)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
