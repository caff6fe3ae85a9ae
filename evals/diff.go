package evals

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Diff compares two runs: which cases changed status and which metrics moved.
type Diff struct {
	A       RunRef       `json:"a"`
	B       RunRef       `json:"b"`
	Flips   []CaseFlip   `json:"flips"`   // status changes, regressions first
	Added   []string     `json:"added"`   // case keys only in B
	Removed []string     `json:"removed"` // case keys only in A
	Metrics []MetricMove `json:"metrics"` // every metric of the run and of each agent and language
	Agents  []AgentMove  `json:"agents"`  // agents whose version or model changed
}

// RunRef names a run in a diff.
type RunRef struct {
	ID           string `json:"id"`
	GitRevision  string `json:"git_revision"`
	Model        string `json:"model"`
	DataSnapshot string `json:"data_snapshot"`
}

// CaseFlip is a case whose status differs between the runs.
type CaseFlip struct {
	Key     string `json:"key"`
	From    Status `json:"from"`
	To      Status `json:"to"`
	Kind    string `json:"kind"` // regressed, fixed or changed
	ReasonB string `json:"reason,omitempty"`
}

// MetricMove is one metric in one scope in both runs.
type MetricMove struct {
	Scope  string   `json:"scope"` // "run", "agent:traffic", "lang:zh"
	Metric string   `json:"metric"`
	A      *float64 `json:"a"`
	B      *float64 `json:"b"`
	Delta  float64  `json:"delta"`
	Trend  string   `json:"trend"` // better, worse, same, new, gone
}

// AgentMove is an agent whose version or model changed.
type AgentMove struct {
	Name     string `json:"name"`
	VersionA string `json:"version_a"`
	VersionB string `json:"version_b"`
	ModelA   string `json:"model_a"`
	ModelB   string `json:"model_b"`
}

// Regressions counts the cases that passed in A and do not in B.
func (d Diff) Regressions() int {
	n := 0
	for _, f := range d.Flips {
		if f.Kind == "regressed" {
			n++
		}
	}
	return n
}

// Compare diffs run a against run b.
func Compare(a, b *Report) Diff {
	d := Diff{A: ref(a), B: ref(b)}
	ac := map[string]CaseResult{}
	for _, c := range a.Cases {
		ac[c.Key()] = c
	}
	bc := map[string]bool{}
	for _, c := range b.Cases {
		bc[c.Key()] = true
		old, ok := ac[c.Key()]
		if !ok {
			d.Added = append(d.Added, c.Key())
			continue
		}
		if old.Status == c.Status {
			continue
		}
		kind := "changed"
		switch {
		case old.Status == StatusPass && c.Status != StatusNotApplicable:
			kind = "regressed"
		case c.Status == StatusPass && old.Status != StatusNotApplicable:
			kind = "fixed"
		}
		d.Flips = append(d.Flips, CaseFlip{Key: c.Key(), From: old.Status, To: c.Status, Kind: kind, ReasonB: c.Reason})
	}
	for _, c := range a.Cases {
		if !bc[c.Key()] {
			d.Removed = append(d.Removed, c.Key())
		}
	}
	rank := map[string]int{"regressed": 0, "fixed": 1, "changed": 2}
	sort.SliceStable(d.Flips, func(i, j int) bool {
		if rank[d.Flips[i].Kind] != rank[d.Flips[j].Kind] {
			return rank[d.Flips[i].Kind] < rank[d.Flips[j].Kind]
		}
		return d.Flips[i].Key < d.Flips[j].Key
	})
	d.Metrics = moves("run", a.Aggregate.Metrics, b.Aggregate.Metrics)
	scopes := map[string]bool{}
	for _, r := range []*Report{a, b} {
		for _, br := range r.Breakdowns {
			if br.Dimension == "agent" || br.Dimension == "lang" {
				scopes[br.Dimension+":"+br.Value] = true
			}
		}
	}
	keys := make([]string, 0, len(scopes))
	for k := range scopes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dim, val, _ := strings.Cut(k, ":")
		am, _ := a.Breakdown(dim, val)
		bm, _ := b.Breakdown(dim, val)
		d.Metrics = append(d.Metrics, moves(k, am.Metrics, bm.Metrics)...)
	}
	av := map[string]AgentInfo{}
	for _, x := range a.Agents {
		av[x.Name] = x
	}
	for _, y := range b.Agents {
		if x, ok := av[y.Name]; ok && (x.Version != y.Version || x.Model != y.Model) {
			d.Agents = append(d.Agents, AgentMove{Name: y.Name, VersionA: x.Version, VersionB: y.Version, ModelA: x.Model, ModelB: y.Model})
		}
	}
	return d
}

func ref(r *Report) RunRef {
	return RunRef{ID: r.ID, GitRevision: r.GitRevision, Model: r.Model, DataSnapshot: r.DataSnapshot}
}

func moves(scope string, a, b map[string]float64) []MetricMove {
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	union := map[string]float64{}
	for k := range names {
		union[k] = 0
	}
	var out []MetricMove
	for _, name := range sortedMetricNames(union) {
		m := MetricMove{Scope: scope, Metric: name}
		av, aok := a[name]
		bv, bok := b[name]
		if aok {
			m.A = &av
		}
		if bok {
			m.B = &bv
		}
		switch {
		case !aok:
			m.Trend = "new"
		case !bok:
			m.Trend = "gone"
		default:
			m.Delta = round4(bv - av)
			higher := true
			if info, ok := MetricByName(name); ok {
				higher = info.HigherIsBetter
			}
			switch {
			case m.Delta == 0:
				m.Trend = "same"
			case (m.Delta > 0) == higher:
				m.Trend = "better"
			default:
				m.Trend = "worse"
			}
		}
		out = append(out, m)
	}
	return out
}

// WriteText writes the diff for a terminal: flipped cases, then every
// metric that moved (latency only when it moved by more than 10% and 10 ms).
func (d Diff) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "A %s (git %s, model %s, data %s)\nB %s (git %s, model %s, data %s)\n",
		d.A.ID, shortRev(d.A.GitRevision), d.A.Model, d.A.DataSnapshot, d.B.ID, shortRev(d.B.GitRevision), d.B.Model, d.B.DataSnapshot)
	for _, a := range d.Agents {
		fmt.Fprintf(w, "agent %s: version %s → %s, model %s → %s\n", a.Name, a.VersionA, a.VersionB, a.ModelA, a.ModelB)
	}
	if len(d.Flips) == 0 {
		fmt.Fprintln(w, "\nno case changed status")
	} else {
		fmt.Fprintf(w, "\n%d cases changed status (%d regressed):\n", len(d.Flips), d.Regressions())
		for _, f := range d.Flips {
			line := fmt.Sprintf("  %-9s %s: %s → %s", f.Kind, f.Key, f.From, f.To)
			if f.Kind != "fixed" && f.ReasonB != "" {
				line += ": " + oneLine(f.ReasonB, 140)
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, k := range d.Added {
		fmt.Fprintf(w, "  added     %s\n", k)
	}
	for _, k := range d.Removed {
		fmt.Fprintf(w, "  removed   %s\n", k)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	moved := 0
	for _, m := range d.Metrics {
		if !m.moved() {
			continue
		}
		if moved == 0 {
			fmt.Fprintln(w, "\nmetrics that moved:")
			fmt.Fprintln(tw, "  SCOPE\tMETRIC\tA\tB\tDELTA\tTREND")
		}
		moved++
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%+.4g\t%s\n", m.Scope, m.Metric, ptrText(m.A), ptrText(m.B), m.Delta, m.Trend)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if moved == 0 {
		fmt.Fprintln(w, "\nno metric moved")
	}
	return nil
}

func (m MetricMove) moved() bool {
	switch m.Trend {
	case "same":
		return false
	case "new", "gone":
		return true
	}
	if (m.Metric == MetricLatencyP50 || m.Metric == MetricLatencyP95) && m.A != nil && *m.A > 0 {
		// Timing noise: only moves of more than 10% and 10 ms count.
		return abs(m.Delta) / *m.A > 0.10 && abs(m.Delta) >= 10
	}
	return true
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func ptrText(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%g", *p)
}
