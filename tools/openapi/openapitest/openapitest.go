// Package openapitest gives tests the real published API descriptions
// vendored in tools/openapi/testdata (see SOURCES.md there for each one's
// origin and licence), unpacked when gzipped.
package openapitest

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Fixture returns the document testdata/name, gunzipped if it ends in .gz.
func Fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return raw
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	if raw, err = io.ReadAll(zr); err != nil {
		tb.Fatal(err)
	}
	return raw
}
