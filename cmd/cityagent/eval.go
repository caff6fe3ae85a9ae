package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
)

// evalOptions are the flags of `cityagent eval`.
type evalOptions struct {
	agent, model string
	parallel     int
	timeout      time.Duration
	jsonOut      string
	junitOut     string
	mdOut        string
	failUnder    []string
	failOver     []string
	thresholds   string
	remote, key  string
	quiet        bool
}

// errGate is returned when a threshold is missed, so the process exits 1.
var errGate = errors.New("eval: thresholds missed")

func evalCmd(g *globalFlags) *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval SUITE...",
		Short: "Run eval suites against the agents and gate on their metrics",
		Long: `Run eval suites (YAML files, directories of them, or names of the suites built into the binary;
"shipped" runs them all) against the agents in this process — built exactly as ` + "`serve`" + ` builds them,
from the same configuration, on a fresh temporary data directory unless --data is given — or against a
running cityagent with --remote (developer or admin key; each turn runs on the server as that key, never above
its role and clearance). Proposals an eval's turns make are checked and listed in the report, never queued for
approval. In this process (no --remote) the operator is trusted: cases act with the role and clearance the suite
gives them. Prints a summary table, writes JSON, JUnit XML and Markdown reports, and
exits non-zero when a threshold is missed.

Thresholds: --fail-under METRIC=VALUE for higher-is-better metrics (fails when the value is under),
--fail-over METRIC=VALUE for lower-is-better ones (latency_p50_ms, latency_p95_ms, degraded_rate; fails
when the value is over). METRIC@SCOPE=VALUE gates one agent, suite, language or tag (scope agent:traffic,
suite:NAME, lang:zh, tag:NAME). --thresholds FILE reads a gate file (see evals/suites/thresholds.yaml).

Metrics: case_pass_rate, retrieval_recall_at_k, retrieval_mrr, tool_precision, tool_recall,
argument_accuracy, answer_pass_rate, proposal_accuracy, latency_p50_ms, latency_p95_ms, degraded_rate.`,
		Example: "  cityagent eval evals/suites --thresholds evals/suites/thresholds.yaml --junit eval.xml\n" +
			"  cityagent eval evals/suites/traffic.yaml --agent city --fail-under tool_recall=0.9 --fail-over latency_p95_ms=2000\n" +
			"  cityagent eval shipped --remote http://127.0.0.1:8080 --key $ADMIN --json run.json\n" +
			"  cityagent eval diff before.json after.json",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil && o.remote == "" {
				return err
			}
			dataGiven := cmd.Flags().Changed("data")
			return runEval(cmd.Context(), cfg, dataGiven, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.agent, "agent", "", "run every case against this agent instead of its own")
	f.StringVar(&o.model, "model", "", "run every case on this configured model (a name from llm.name / llm.fallbacks, e.g. offline)")
	f.IntVar(&o.parallel, "parallel", 4, "cases run at once")
	f.DurationVar(&o.timeout, "timeout", evals.DefaultCaseTimeout, "per-case timeout where the suite sets none")
	f.StringVar(&o.jsonOut, "json", "", "write the JSON report to this file")
	f.StringVar(&o.junitOut, "junit", "", "write a JUnit XML report to this file")
	f.StringVar(&o.mdOut, "markdown", "", "write a Markdown report to this file")
	f.StringArrayVar(&o.failUnder, "fail-under", nil, "METRIC[@SCOPE]=VALUE: fail when a higher-is-better metric is under VALUE (repeatable)")
	f.StringArrayVar(&o.failOver, "fail-over", nil, "METRIC[@SCOPE]=VALUE: fail when a lower-is-better metric is over VALUE (repeatable)")
	f.StringVar(&o.thresholds, "thresholds", "", "gate file with fail_under / fail_over per run, agent, suite, language and tag")
	f.StringVar(&o.remote, "remote", "", "run against the cityagent at this URL over HTTP instead of in this process")
	f.StringVar(&o.key, "key", "", "API key for --remote (env CITYAGENT_EVAL_KEY), developer or admin; cases never act above its role and clearance")
	f.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	cmd.AddCommand(evalDiffCmd())
	return cmd
}

// runEval runs the suites named by args and writes the reports. It returns
// errGate (wrapped) when a threshold is missed.
func runEval(ctx context.Context, cfg config.Config, dataGiven bool, o evalOptions, args []string, stdout, stderr io.Writer) error {
	suites, err := evals.Load(args...)
	if err != nil {
		return err
	}
	var gates []evals.Gate
	if o.thresholds != "" {
		gs, err := evals.LoadThresholds(o.thresholds)
		if err != nil {
			return err
		}
		gates = append(gates, gs...)
	}
	for _, v := range o.failUnder {
		gs, err := evals.ParseGateFlag(v, false)
		if err != nil {
			return err
		}
		gates = append(gates, gs...)
	}
	for _, v := range o.failOver {
		gs, err := evals.ParseGateFlag(v, true)
		if err != nil {
			return err
		}
		gates = append(gates, gs...)
	}
	opts := evals.Options{Parallel: o.parallel, Agent: o.agent, Model: o.model, Timeout: o.timeout, Gates: gates,
		GitRevision: evals.GitRevision(ctx, ".")}
	if !o.quiet {
		opts.Progress = evals.NewBar(stderr)
	}

	var target evals.Target
	if o.remote != "" {
		if o.model != "" {
			return errors.New("eval: --model cannot choose the model of a remote cityagent; configure it on the server")
		}
		key := o.key
		if key == "" {
			key = os.Getenv("CITYAGENT_EVAL_KEY")
		}
		rt, err := evals.NewRemote(o.remote, key, nil)
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := rt.Close(cctx); err != nil {
				fmt.Fprintln(stderr, "eval: closing the remote:", err)
			}
		}()
		fmt.Fprintln(stderr, "eval: turns run on "+o.remote+" as the key's role and clearance, never above them; "+
			"proposals made by an eval are checked and listed in the report, never queued for approval")
		target = rt
	} else {
		if !dataGiven {
			tmp, err := os.MkdirTemp("", "cityagent-eval-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			cfg.DataDir = tmp
		}
		log := newLogger(config.LogConfig{Level: "warn", Format: cfg.Log.Format}, stderr)
		inst, err := build(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer inst.Close()
		target = evals.NewLocal(inst.runner)
		opts.Judge = judgeModel(inst, o.model)
		opts.DataSnapshot = evals.Snapshot(ctx, inst.kb, nil, cfg.DemoCity.Seed)
	}

	rep, err := evals.Run(ctx, target, suites, opts)
	if err != nil {
		return err
	}
	if err := rep.WriteSummary(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{o.jsonOut, rep.WriteJSON}, {o.junitOut, rep.WriteJUnit}, {o.mdOut, rep.WriteMarkdown}} {
		if out.path == "" {
			continue
		}
		if err := writeFileAtomic(out.path, out.write); err != nil {
			return err
		}
	}
	if !rep.Passed {
		return fmt.Errorf("%w: %d of %d (see the table above)", errGate, rep.GatesMissed(), len(rep.Gates))
	}
	return nil
}

// judgeModel is the model that grades answer rubrics: the model the cases
// run on, when it is a real one. The offline engine never judges.
func judgeModel(inst *installation, override string) llm.Model {
	name := override
	if name == "" {
		name = inst.models.Default
	}
	m := inst.models.ByName[name]
	if _, isOffline := m.(*offline.Engine); m == nil || isOffline {
		return nil
	}
	return m
}

// writeFileAtomic writes through a temporary file and a rename, so that a
// reader never sees half a report.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	return nil
}

func evalDiffCmd() *cobra.Command {
	var jsonOut bool
	var failOnRegression bool
	cmd := &cobra.Command{
		Use:   "diff A.json B.json",
		Short: "Compare two eval runs: cases that flipped, metrics that moved",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := evals.ReadReport(args[0])
			if err != nil {
				return err
			}
			b, err := evals.ReadReport(args[1])
			if err != nil {
				return err
			}
			d := evals.Compare(a, b)
			if jsonOut {
				if err := writeJSON(cmd.OutOrStdout(), d); err != nil {
					return err
				}
			} else if err := d.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if failOnRegression && d.Regressions() > 0 {
				return fmt.Errorf("eval diff: %d cases regressed", d.Regressions())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the diff as JSON")
	cmd.Flags().BoolVar(&failOnRegression, "fail-on-regression", false, "exit non-zero when a case that passed in A does not pass in B")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// newEvalService is the eval runner behind POST /v1/evals/runs: the same
// agent loop the server answers chats with.
func newEvalService(ctx context.Context, inst *installation, cfg config.Config) *evals.Service {
	return evals.NewService(evals.NewLocal(inst.runner), evals.Options{
		Judge:       judgeModel(inst, ""),
		GitRevision: cmp.Or(evals.BinaryRevision(), evals.GitRevision(ctx, ".")),
		SnapshotOf: func(ctx context.Context) string {
			return evals.Snapshot(ctx, inst.kb, nil, cfg.DemoCity.Seed)
		},
	})
}
