package evals

import (
	"errors"
	"testing"
)

// FuzzParseSuite: any input either parses into a suite whose cases have
// unique ids and an agent, or fails with problems that name the file.
func FuzzParseSuite(f *testing.F) {
	f.Add([]byte(minimalSuite))
	for _, tc := range invalidSuites {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte("name: x\nagent: a\ncases:\n  - {id: c, input: {turns: [a], message: b}, expect: {tools: {must_call: [{name: t, arguments: {a: {subset: {b: [1]}}}}]}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSuite(data, "fuzz.yaml")
		if err != nil {
			var se *SuiteError
			if !errors.As(err, &se) || len(se.Problems) == 0 || se.Problems[0].File != "fuzz.yaml" {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range s.Cases {
			if seen[c.ID] || c.Agent == "" || c.ID == "" {
				t.Fatalf("bad case accepted: %+v", c)
			}
			seen[c.ID] = true
		}
	})
}
