package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/hotline"
)

// hotlineCmd groups the hotline's offline commands: they read the
// configured state store.
func hotlineCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "hotline", Short: "Hotline results from the configured state store"}
	cmd.AddCommand(hotlineStatsCmd(g))
	return cmd
}

func hotlineStatsCmd(g *globalFlags) *cobra.Command {
	var from, to, dept string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats --from TIME --to TIME",
		Short: "Results per department over [from, to): received, on-time handling, response, solved and satisfaction rates, returned, reopened, overdue now, mean handling time",
		Example: "  cityagent hotline stats --from 2026-03-01T00:00:00+08:00 --to 2026-04-01T00:00:00+08:00\n" +
			"  cityagent hotline stats --from 2026-03-01 --to 2026-03-08 --department water --json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseCLITime("--from", from)
			if err != nil {
				return err
			}
			t, err := parseCLITime("--to", to)
			if err != nil {
				return err
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			tax, err := hotline.LoadTaxonomy(cfg.Hotline.Taxonomy)
			if err != nil {
				return err
			}
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			svc, err := hotline.NewService(hotline.Config{Taxonomy: tax, Store: db})
			if err != nil {
				return err
			}
			res, err := svc.Results(cmd.Context(), f, t, dept)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			return printResults(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start of the period, RFC 3339 or YYYY-MM-DD (UTC) (required)")
	cmd.Flags().StringVar(&to, "to", "", "end of the period, exclusive (required)")
	cmd.Flags().StringVar(&dept, "department", "", "one department id (default every department)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON, with the definitions")
	return cmd
}

func parseCLITime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%s is required", flag)
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-03-01T00:00:00+08:00) or a date (2026-03-01)", flag, v)
}

// printResults writes one row per department and the total.
func printResults(w io.Writer, r hotline.Results) error {
	fmt.Fprintf(w, "hotline results %s – %s (overdue as of %s)\n", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.At.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPARTMENT\tRECEIVED\tON-TIME\tRESPONSE\tSOLVED\tSATISFIED\tSTRICT\tRETURNED\tREOPENED\tOVERDUE NOW\tMEAN HOURS")
	row := func(name string, d hotline.DepartmentResult) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", name, d.Received,
			pct(d.OnTimeRate, d.OnTime, d.Due), pct(d.ResponseRate, d.Accepted, d.Dispatched), pct(d.SolvedRate, d.Solved, d.Visited),
			pct(d.SatisfactionRate, d.Satisfied+d.BasicallySatisfied, d.Visited), pct(d.StrictSatisfaction, d.Satisfied, d.Visited),
			d.Returned, d.Reopened, d.OverdueNow, hours(d.MeanHandlingHours))
	}
	for _, d := range r.Departments {
		row(d.Department, d)
	}
	row("TOTAL", r.Total)
	return tw.Flush()
}

func pct(rate *float64, n, d int) string {
	if rate == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", *rate*100, n, d)
}

func hours(h *float64) string {
	if h == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f", *h)
}
