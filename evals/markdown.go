package evals

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report for humans: run facts, metrics per agent,
// language and suite, gates, and every case that did not pass.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Eval run %s\n\n", r.ID)
	verdict := "every threshold held"
	if !r.Passed {
		verdict = fmt.Sprintf("**%d thresholds missed**", r.GatesMissed())
	}
	if len(r.Gates) == 0 {
		verdict = "no thresholds set"
	}
	fmt.Fprintf(&b, "%d cases: %d passed, %d failed, %d errors, %d timeouts, %d not applicable — %s.\n\n",
		r.Counts.Total, r.Counts.Passed, r.Counts.Failed, r.Counts.Errors, r.Counts.Timeouts, r.Counts.NotApplicable, verdict)
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| started | %s |\n| duration | %.1f s |\n| target | %s |\n| model | %s |\n| git revision | `%s` |\n| data snapshot | `%s` |\n| parallel | %d |\n",
		r.StartedAt.UTC().Format("2006-01-02 15:04:05Z"), float64(r.DurationMS)/1000, mdCell(r.Target), mdCell(r.Model), r.GitRevision, r.DataSnapshot, r.Parallel)
	for _, a := range r.Agents {
		fmt.Fprintf(&b, "| agent %s | `%s` on %s |\n", a.Name, a.Version, mdCell(a.Model))
	}
	for _, s := range r.Suites {
		fmt.Fprintf(&b, "| suite %s | %s (%d cases, `%s`) |\n", s.Name, mdCell(s.File), s.Cases, s.Hash)
	}

	table := func(title string, dims ...string) {
		fmt.Fprintf(&b, "\n## %s\n\n| scope | cases | pass | fail | err | n/a |", title)
		for _, c := range summaryColumns {
			fmt.Fprintf(&b, " %s |", c.metric)
		}
		b.WriteString("\n|---|--:|--:|--:|--:|--:|")
		for range summaryColumns {
			b.WriteString("--:|")
		}
		b.WriteString("\n")
		row := func(name string, a Aggregate) {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |", mdCell(name), a.Counts.Total, a.Counts.Passed, a.Counts.Failed, a.Counts.Errors+a.Counts.Timeouts, a.Counts.NotApplicable)
			for _, c := range summaryColumns {
				fmt.Fprintf(&b, " %s |", metricText(a.Metrics, c.metric))
			}
			b.WriteString("\n")
		}
		for _, d := range dims {
			for _, br := range r.Breakdowns {
				if br.Dimension == d {
					row(d+" "+br.Value, br.Aggregate)
				}
			}
		}
		if len(dims) > 0 && dims[0] == "agent" {
			row("**all**", r.Aggregate)
		}
	}
	table("Metrics by agent and language", "agent", "lang")
	table("Metrics by suite", "suite")
	table("Metrics by tag", "tag")

	if len(r.Gates) > 0 {
		b.WriteString("\n## Thresholds\n\n| metric | scope | bound | actual | result | set in |\n|---|---|---|---|---|---|\n")
		for _, g := range r.Gates {
			op := "≥"
			if g.Max {
				op = "≤"
			}
			actual := "n/a (" + g.Note + ")"
			if g.Actual != nil {
				actual = fmt.Sprintf("%g", *g.Actual)
			}
			res := "ok"
			if !g.Passed {
				res = "**missed**"
			}
			scope := g.Scope
			if scope == "" {
				scope = "run"
			}
			fmt.Fprintf(&b, "| %s | %s | %s %g | %s | %s | %s |\n", g.Metric, scope, op, g.Value, actual, res, mdCell(g.Origin))
		}
	}

	var bad, na []CaseResult
	for _, c := range r.Cases {
		switch c.Status {
		case StatusFail, StatusError, StatusTimeout:
			bad = append(bad, c)
		case StatusNotApplicable:
			na = append(na, c)
		}
	}
	if len(bad) > 0 {
		b.WriteString("\n## Cases that did not pass\n")
		for _, c := range bad {
			fmt.Fprintf(&b, "\n### %s — %s\n\n%s:%d · agent `%s` · %s · %d ms\n\n> %s\n\n", c.Key(), c.Status, mdCell(c.File), c.Line, c.Agent, c.Lang, c.DurationMS, mdCell(c.Message))
			if len(c.Checks) == 0 {
				fmt.Fprintf(&b, "- %s\n", mdCell(c.Reason))
			}
			for _, ch := range c.Checks {
				mark := "✅"
				switch {
				case ch.Skipped:
					mark = "➖"
				case !ch.Passed:
					mark = "❌"
				}
				fmt.Fprintf(&b, "- %s `%s`: %s\n", mark, ch.Name, mdCell(ch.Detail))
			}
			if c.Answer != "" {
				fmt.Fprintf(&b, "\n<details><summary>answer</summary>\n\n```text\n%s\n```\n</details>\n", strings.ReplaceAll(c.Answer, "```", "'''"))
			}
		}
	}
	if len(na) > 0 {
		b.WriteString("\n## Not applicable (reported, not run)\n\n")
		for _, c := range na {
			fmt.Fprintf(&b, "- %s: %s\n", c.Key(), mdCell(c.Reason))
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n## Warnings\n\n")
		for _, wn := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", mdCell(wn))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	s = strings.ReplaceAll(oneLine(s, 400), "|", "\\|")
	return s
}
