package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

// TestCrashDuringIngest kills (SIGKILL) a process in the middle of
// ingesting 1,000 documents in batches, as `cityagent ingest` does, while
// its indexer links vectors and writes snapshots, and checks that after
// reopening every acknowledged document is there and the index opened from a
// snapshot plus the log, without errors.
func TestCrashDuringIngest(t *testing.T) {
	if dir := os.Getenv("EMBEDDED_INGEST_CHILD"); dir != "" {
		ingestChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringIngest$", "-test.v=false")
	cmd.Env = append(os.Environ(), "EMBEDDED_INGEST_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAt := 300 + rand.IntN(500)
	acked := map[int]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d", &i); err == nil {
			acked[i] = true
		}
		if len(acked) == killAt {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	cmd.Wait()
	if len(acked) < killAt {
		t.Fatalf("child acknowledged only %d documents before exiting", len(acked))
	}
	s, err := embedded.Open(dir, graphOpts...)
	if err != nil {
		t.Fatalf("open after kill -9: %v", err)
	}
	defer s.Close()
	st, ist := s.Stats(), s.IndexStats()
	t.Logf("killed after %d acknowledged; reopened with %d documents, snapshot loaded %v, %d records replayed, %d bytes of torn tail dropped",
		len(acked), st.Documents, ist.SnapshotLoaded, ist.Replayed, st.TruncatedBytes)
	if st.Documents < len(acked) {
		t.Errorf("%d documents after reopen, %d acknowledged", st.Documents, len(acked))
	}
	for i := range acked {
		if !present(t, s, i) {
			t.Errorf("acknowledged document %d lost", i)
		}
	}
	if ist.SnapshotError != "" {
		t.Errorf("snapshot error: %s", ist.SnapshotError)
	}
}

// ingestChild ingests documents 0…999 in batches of 25 through
// Base.IngestMany, printing each one acknowledged, then waits to be killed.
func ingestChild(dir string) {
	s, err := embedded.Open(dir, graphOpts...)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for start := 0; start < 1000; start += 25 {
		batch := make([]knowledge.Document, 25)
		for j := range batch {
			batch[j] = varied(start + j)
		}
		results, err := b.IngestMany(context.Background(), batch)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		for j := range results {
			fmt.Printf("ACK %d\n", start+j)
		}
	}
	select {}
}
