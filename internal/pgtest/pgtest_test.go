package pgtest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestServerLifecycle(t *testing.T) {
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	pid := s.cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var version string
	if err := query(ctx, s.URL(), "SHOW server_version", &version); err != nil {
		t.Fatal(err)
	}
	if len(version) < 3 || version[:3] != "15." {
		t.Errorf("server_version = %q, want 15.x", version)
	}
	if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		t.Fatal(err)
	} else if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
		t.Error("postgres runs as root")
	}

	t.Run("databases are isolated", func(t *testing.T) {
		a, b := NewDatabase(t, s.URL()), NewDatabase(t, s.URL())
		if a == b {
			t.Fatalf("same database twice: %s", a)
		}
		if err := execSQL(ctx, a, "CREATE TABLE only_in_a (x int)"); err != nil {
			t.Fatal(err)
		}
		if err := execSQL(ctx, b, "SELECT * FROM only_in_a"); err == nil {
			t.Fatal("table of database a visible in database b")
		}
	})

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory %s still there after Stop: %v", s.dir, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres pid %d still alive after Stop: %v", pid, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartStopsOnCleanup(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) { url = Start(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := execSQL(ctx, url, "SELECT 1"); err == nil {
		t.Fatal("server still answers after its test finished")
	}
}

func query(ctx context.Context, url, sql string, dst *string) error {
	conn, err := pgconn.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	res := conn.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return res.Err
	}
	if len(res.Rows) == 0 {
		return errors.New("no rows")
	}
	*dst = string(res.Rows[0][0])
	return nil
}
