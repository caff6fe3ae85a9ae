package reliability

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/badinput.jsonl from Generate")

// TestCorpusUpToDate keeps the checked-in corpus equal to Generate and
// large enough.
func TestCorpusUpToDate(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, c := range Generate() {
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	const path = "testdata/badinput.jsonl"
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatal("testdata/badinput.jsonl is stale: go test ./reliability -update")
	}
	cases, err := LoadCorpus(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 300 {
		t.Fatalf("%d cases, want ≥ 300", len(cases))
	}
	for _, c := range cases {
		if len(c.Expect) == 0 || c.Method == "" || c.Path == "" {
			t.Fatalf("case %q has no expectation", c.Name)
		}
	}
}
