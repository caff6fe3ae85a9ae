package evals

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
)

// JUnit XML as CI systems (Jenkins, GitLab, GitHub test reporters) read it:
// <testsuites> with one <testsuite> per eval suite, one <testcase> per case,
// <failure>, <error> or <skipped> children, counts and times in seconds;
// the gates are a testsuite of their own.

// JUnitSuites is the <testsuites> root.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one <testsuite>.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
}

// JUnitProperty is one <property>.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one <testcase>.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *JUnitProblem `xml:"failure,omitempty"`
	Error     *JUnitProblem `xml:"error,omitempty"`
	Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitProblem is a <failure> or <error>.
type JUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnitSkipped is a <skipped>.
type JUnitSkipped struct {
	Message string `xml:"message,attr"`
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// JUnit converts the report.
func (r *Report) JUnit() JUnitSuites {
	host, _ := os.Hostname()
	root := JUnitSuites{Name: "cityagent eval " + r.ID, Time: seconds(r.DurationMS)}
	bySuite := map[string]*JUnitSuite{}
	var order []string
	props := []JUnitProperty{{"run_id", r.ID}, {"target", r.Target}, {"model", r.Model}, {"git_revision", r.GitRevision}, {"data_snapshot", r.DataSnapshot}}
	for _, a := range r.Agents {
		props = append(props, JUnitProperty{"agent_version." + a.Name, a.Version})
	}
	suiteTime := map[string]int64{}
	for _, c := range r.Cases {
		s, ok := bySuite[c.Suite]
		if !ok {
			s = &JUnitSuite{Name: c.Suite, Timestamp: r.StartedAt.UTC().Format("2006-01-02T15:04:05"), Hostname: host, Properties: props}
			bySuite[c.Suite] = s
			order = append(order, c.Suite)
		}
		tc := JUnitCase{Name: c.ID, Classname: c.Suite + "." + c.Agent, Time: seconds(c.DurationMS), File: c.File, Line: c.Line}
		detail := caseDetail(c)
		switch c.Status {
		case StatusFail:
			tc.Failure = &JUnitProblem{Message: oneLine(c.Reason, 300), Type: "expectation", Text: detail}
			s.Failures++
		case StatusError:
			tc.Error = &JUnitProblem{Message: oneLine(c.Reason, 300), Type: "error", Text: detail}
			s.Errors++
		case StatusTimeout:
			tc.Error = &JUnitProblem{Message: oneLine(c.Reason, 300), Type: "timeout", Text: detail}
			s.Errors++
		case StatusNotApplicable:
			tc.Skipped = &JUnitSkipped{Message: "not applicable: " + c.Reason}
			s.Skipped++
		default:
			tc.SystemOut = detail
		}
		s.Tests++
		suiteTime[c.Suite] += c.DurationMS
		s.Cases = append(s.Cases, tc)
	}
	for _, name := range order {
		s := bySuite[name]
		s.Time = seconds(suiteTime[name])
		root.Suites = append(root.Suites, *s)
	}
	if len(r.Gates) > 0 {
		gs := JUnitSuite{Name: "thresholds", Time: "0.000", Timestamp: r.StartedAt.UTC().Format("2006-01-02T15:04:05"), Hostname: host}
		for _, g := range r.Gates {
			tc := JUnitCase{Name: g.Gate.String(), Classname: "thresholds", Time: "0.000"}
			if !g.Passed {
				tc.Failure = &JUnitProblem{Message: g.text(), Type: "threshold"}
				gs.Failures++
			}
			gs.Tests++
			gs.Cases = append(gs.Cases, tc)
		}
		root.Suites = append(root.Suites, gs)
	}
	for _, s := range root.Suites {
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Skipped += s.Skipped
	}
	return root
}

// caseDetail is the text a CI page shows under a case.
func caseDetail(c CaseResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent %s (%s), model %s, lang %s, %d turn(s), %d ms\nquestion: %s\n", c.Agent, c.AgentVersion, c.Model, c.Lang, c.Turns, c.DurationMS, c.Message)
	for _, ch := range c.Checks {
		mark := "ok  "
		switch {
		case ch.Skipped:
			mark = "skip"
		case !ch.Passed:
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", mark, ch.Name, ch.Detail)
	}
	if c.Answer != "" {
		fmt.Fprintf(&b, "answer: %s\n", oneLine(c.Answer, 600))
	}
	return b.String()
}

// WriteJUnit writes the report as JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r.JUnit()); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
