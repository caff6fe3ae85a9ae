package evals_test

import (
	"fmt"

	"github.com/cityagent/cityagent/evals"
)

// Answer checks compare normalised text: full-width digits and
// punctuation, case and thousands separators do not matter.
func ExampleContains() {
	answer := "2025年夏季全市最高用电负荷预计为6,850兆瓦，高新区约占１１％。"
	fmt.Println(evals.Contains(answer, "6850兆瓦"))
	fmt.Println(evals.Contains(answer, "11%"))
	fmt.Println(evals.Contains(answer, "７０００兆瓦"))
	// Output:
	// true
	// true
	// false
}

func ExampleParseSuite() {
	s, err := evals.ParseSuite([]byte(`name: traffic-basics
agent: traffic
cases:
  - id: most-congested-now
    input: "Which road segment is the most congested right now?"
    expect:
      tools: {must_call: [traffic_congestion]}
      answer: {must_contain: ["congestion index"]}
`), "traffic.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := s.Cases[0]
	fmt.Println(s.Name, c.ID, c.Agent, c.Input.Role, c.Input.Clearance)

	_, err = evals.ParseSuite([]byte("name: bad\nagent: traffic\ncases:\n  - id: x\n    input: hi\n    expect: {toolz: none}\n"), "bad.yaml")
	fmt.Println(err)
	// Output:
	// traffic-basics most-congested-now traffic operator internal
	// evals: invalid suite: bad.yaml:6:14: cases[0].expect.toolz: unknown field (known: refused, retrieved, tools, answer, proposals, max_latency_ms)
}
