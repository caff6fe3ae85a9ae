package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv, when set, makes TestCrashSQLite the child: it appends to
// the store in this data directory until it is killed.
const crashChildEnv = "CITYAGENT_STORE_CRASH_CHILD"

const crashBatch = 3

// TestCrashSQLite kills a process that is appending events with SIGKILL and
// checks that every append it acknowledged is in the file afterwards.
func TestCrashSQLite(t *testing.T) {
	t.Parallel()
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	db, err := Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(t.Context(), Session{ID: "crash", Agent: "a"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSQLite$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// Kill after a number of acknowledgements, while the child is in the
	// middle of its next append. Lines read after the kill were printed
	// before it, so they count as acknowledged too.
	const killAfter = 40
	var acked []int64
	killed := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		seq, ok := strings.CutPrefix(lines.Text(), "ack ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
		acked = append(acked, n)
		if len(acked) == killAfter && !killed {
			cmd.Process.Kill()
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed (%v) after %d acks:\n%s", err, len(acked), stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", cmd.ProcessState, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, SQLiteFile+"-wal")); err != nil {
		t.Logf("no WAL file after the crash (%v): recovery not exercised this run", err)
	}

	db, err = Open(t.Context(), "", dir)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	evs, err := db.Events(t.Context(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("after the crash event %d has seq %d: seqs must run 1..n", i, e.Seq)
		}
		var d struct{ Seq int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil || d.Seq != e.Seq {
			t.Fatalf("event %d holds %s", e.Seq, e.Data)
		}
	}
	last := acked[len(acked)-1]
	if int64(len(evs)) < last {
		t.Fatalf("child acknowledged events up to seq %d, the file has %d", last, len(evs))
	}
	if len(evs)%crashBatch != 0 {
		t.Fatalf("the file has %d events: a batch of %d was torn", len(evs), crashBatch)
	}
	t.Logf("%d appends acknowledged (last seq %d); %d events survived", len(acked), last, len(evs))
}

// crashChild appends batches forever, printing the last seq of each
// acknowledged batch. A deadline stops it if nobody kills it.
func crashChild(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, "", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for next := int64(1); ; next += crashBatch {
		batch := make([]Event, crashBatch)
		for i := range batch {
			batch[i] = Event{Turn: int(next), Type: "x", Data: json.RawMessage(fmt.Sprintf(`{"seq":%d,"pad":%q}`, next+int64(i), strings.Repeat("数据", 200)))}
		}
		got, err := db.AppendEvents(ctx, "crash", batch)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if got[0].Seq != next {
			fmt.Fprintf(os.Stderr, "got seq %d, want %d\n", got[0].Seq, next)
			os.Exit(2)
		}
		// Unbuffered: the line is out before the next append starts.
		fmt.Fprintf(os.Stdout, "ack %d\n", got[len(got)-1].Seq)
	}
}

// TestSQLiteFile checks the embedded store's file: private, and in WAL mode
// with full syncs (checkSQLite refuses to open otherwise).
func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	db, err := Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.checkSQLite(t.Context()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("%s has mode %v, want no group or other access", SQLiteFile, perm)
	}
	if _, err := Open(t.Context(), "", ""); err == nil {
		t.Error("Open with no URL and no data directory succeeded")
	}
}
