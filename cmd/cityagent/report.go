package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/reports"
)

// newReportService is the operations report over the installation's state
// store, in the city's zone.
func newReportService(db reports.Store, cfg config.Config) (*reports.Service, error) {
	loc, err := cfg.City.Location()
	if err != nil {
		return nil, fmt.Errorf("reports: city zone: %w", err)
	}
	return &reports.Service{Store: db, Location: loc}, nil
}

// reportCmd prints the operations report. Like `cityagent audit`, it reads
// the configured state store directly (no server or key needed), so it
// reports on what every replica has stored.
func reportCmd(g *globalFlags) *cobra.Command {
	var from, to, format string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the operations report: agents, governance, hotline and monitors over a range (reads the configured state store)",
		Long: "Print the operations report over [from, to): per agent turns, citations, degraded share, latency and tool errors;\n" +
			"proposals by action and outcome; hotline tickets by type and department with the on-time rate; alerts by monitor.\n" +
			"from and to are RFC 3339 times or dates (YYYY-MM-DD, the city's zone; to includes its whole day).\n" +
			"Without them the report covers the last 7 days. docs/reports.md explains every figure.",
		Example: "  cityagent report\n" +
			"  cityagent report --from 2026-11-01 --to 2026-11-30\n" +
			"  cityagent report --from 2026-12-01T00:00:00+08:00 --format csv > ops.csv",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" && format != "csv" {
				return fmt.Errorf("--format: want table, json or csv, got %q", format)
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			svc, err := newReportService(db, cfg)
			if err != nil {
				return err
			}
			f, t, err := svc.ParseRange(from, to)
			if err != nil {
				return err
			}
			rep, err := svc.Operations(cmd.Context(), f, t)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(out, string(b))
				return err
			case "csv":
				return rep.WriteCSV(out)
			}
			return rep.WriteText(out)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start, RFC 3339 or YYYY-MM-DD (default: 7 days before --to)")
	cmd.Flags().StringVar(&to, "to", "", "end (exclusive), RFC 3339 or YYYY-MM-DD (whole day included; default: now)")
	cmd.Flags().StringVar(&format, "format", "table", "table, json or csv")
	return cmd
}
