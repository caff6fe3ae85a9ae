package evals

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cityagent/cityagent/internal/usererr"
)

//go:embed suites/*.yaml
var shipped embed.FS

// ThresholdsFile is the name of a gate file in a suite directory; loading a
// directory skips it (pass it with LoadThresholds).
const ThresholdsFile = "thresholds.yaml"

// ErrUnknownSuite is returned for a shipped-suite name that does not exist.
var ErrUnknownSuite = usererr.New("evals", "unknown suite")

// Shipped returns the suites built into the binary (evals/suites), sorted by name.
func Shipped() ([]*Suite, error) {
	names, err := fs.Glob(shipped, "suites/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*Suite
	for _, n := range names {
		if filepath.Base(n) == ThresholdsFile {
			continue
		}
		data, err := shipped.ReadFile(n)
		if err != nil {
			return nil, err
		}
		s, err := ParseSuite(data, "evals/"+n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ShippedThresholds returns the gates of the shipped thresholds file.
func ShippedThresholds() ([]Gate, error) {
	data, err := shipped.ReadFile("suites/" + ThresholdsFile)
	if err != nil {
		return nil, err
	}
	return ParseThresholds(data, "evals/suites/"+ThresholdsFile)
}

// ShippedByName returns the named shipped suites; "all" (or no name) means every one.
func ShippedByName(names ...string) ([]*Suite, error) {
	all, err := Shipped()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 || (len(names) == 1 && names[0] == "all") {
		return all, nil
	}
	var out []*Suite
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.Name == n {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			known := make([]string, len(all))
			for i, s := range all {
				known[i] = s.Name
			}
			return nil, usererr.Wrapf(ErrUnknownSuite, "%q (shipped: %s)", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// Load reads suites from paths: files, or directories whose *.yaml and
// *.yml files (not recursive, thresholds.yaml skipped) are suites. A path
// that does not exist but names a shipped suite (or "shipped" for all of
// them) loads it from the binary. Problems in every file are reported
// together; two suites with the same name are an error.
func Load(paths ...string) ([]*Suite, error) {
	var out []*Suite
	var problems []Problem
	add := func(file string) {
		data, err := os.ReadFile(file)
		if err != nil {
			problems = append(problems, Problem{File: file, Message: err.Error()})
			return
		}
		s, err := ParseSuite(data, file)
		var se *SuiteError
		if errors.As(err, &se) {
			problems = append(problems, se.Problems...)
			return
		}
		out = append(out, s)
	}
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			if !os.IsNotExist(err) {
				problems = append(problems, Problem{File: path, Message: err.Error()})
				continue
			}
			name := path
			if name == "shipped" {
				name = "all"
			}
			ss, serr := ShippedByName(name)
			if serr != nil {
				problems = append(problems, Problem{File: path, Message: "no such file or directory, and not a shipped suite name"})
				continue
			}
			out = append(out, ss...)
			continue
		}
		if !fi.IsDir() {
			add(path)
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			problems = append(problems, Problem{File: path, Message: err.Error()})
			continue
		}
		n := 0
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || name == ThresholdsFile || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				continue
			}
			add(filepath.Join(path, name))
			n++
		}
		if n == 0 {
			problems = append(problems, Problem{File: path, Message: "the directory holds no *.yaml suite"})
		}
	}
	seen := map[string]string{}
	for _, s := range out {
		if prev, dup := seen[s.Name]; dup {
			problems = append(problems, Problem{File: s.File, Field: "name", Message: fmt.Sprintf("suite %q is also defined in %s", s.Name, prev)})
		}
		seen[s.Name] = s.File
	}
	if len(problems) > 0 {
		return nil, &SuiteError{Problems: problems}
	}
	return out, nil
}
