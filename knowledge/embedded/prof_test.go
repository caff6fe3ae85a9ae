//go:build bench

package embedded_test

import (
	"os"
	"testing"
	"time"

	"github.com/cityagent/cityagent/knowledge/embedded"
)

func TestOpenProfile(t *testing.T) {
	dir := os.Getenv("KB_DIR")
	if dir == "" {
		t.Skip()
	}
	start := time.Now()
	s, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open %v %+v", time.Since(start), s.IndexStats())
	s.Close()
}
