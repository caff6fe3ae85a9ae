package evals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/knowledge"
)

// DocLister is the part of a knowledge base a snapshot id reads.
type DocLister interface {
	Collections(ctx context.Context) ([]knowledge.CollectionInfo, error)
	Documents(ctx context.Context, collection string) ([]knowledge.Document, error)
}

var _ DocLister = (*knowledge.Base)(nil)

// Snapshot identifies the data a run saw: a hash over every document's
// collection, id and content hash in kb, and the demo city's seed.
// Documents that kb cannot list are covered by docs instead (may be nil).
func Snapshot(ctx context.Context, kb DocLister, docs []knowledge.Document, seed int64) string {
	var lines []string
	if kb != nil {
		if cols, err := kb.Collections(ctx); err == nil {
			for _, c := range cols {
				ds, err := kb.Documents(ctx, c.Name)
				if err != nil {
					continue
				}
				for _, d := range ds {
					lines = append(lines, d.Collection+"\x00"+d.ID+"\x00"+d.Hash)
				}
			}
		}
	}
	if len(lines) == 0 {
		for _, d := range docs {
			lines = append(lines, d.Collection+"\x00"+d.ID+"\x00"+textHash(d.Text))
		}
	}
	sort.Strings(lines)
	h := sha256.New()
	fmt.Fprintf(h, "cityagent-eval-snapshot-v1\nseed=%s\n", strconv.FormatInt(seed, 10))
	for _, l := range lines {
		fmt.Fprintln(h, l)
	}
	return fmt.Sprintf("ds_%s (%d docs, seed %d)", hex.EncodeToString(h.Sum(nil))[:12], len(lines), seed)
}

func textHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// GitRevision is the revision being evaluated: `git rev-parse HEAD` in dir
// (with "+dirty" when the tree has changes), else the VCS revision stamped
// into the binary, else "unknown".
func GitRevision(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = dir
	if out, err := cmd.Output(); err == nil {
		rev := strings.TrimSpace(string(out))
		st := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no")
		st.Dir = dir
		if o, err := st.Output(); err == nil && len(strings.TrimSpace(string(o))) > 0 {
			rev += "+dirty"
		}
		return rev
	}
	if rev := BinaryRevision(); rev != "" {
		return rev
	}
	return "unknown"
}

// BinaryRevision is the VCS revision stamped into the running binary by
// `go build` (with "+dirty" for a modified tree), or "" when there is none
// (go run, go test, -buildvcs=false). A server reports this one: the
// directory it runs in need not be its source.
func BinaryRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	return rev
}
