package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

func auditCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and read the tamper-evident audit log (works on the configured state store)"}
	var anchors []string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the audit chain; exit 1 naming the first bad seq if any record was edited, deleted, inserted or moved",
		Example: "  cityagent audit verify\n" +
			"  cityagent audit verify --anchor 1200:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var as []audit.Anchor
			for _, s := range anchors {
				a, err := audit.ParseAnchor(s)
				if err != nil {
					return err
				}
				as = append(as, a)
			}
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := audit.Verify(cmd.Context(), db, as...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintln(out, string(b))
			} else if rep.OK {
				fmt.Fprintf(out, "audit chain OK: %d records on %s; head %d:%s\n", rep.Records, db.Backend(), rep.Head.Seq, rep.Head.Hash)
			}
			if !rep.OK {
				return fmt.Errorf("audit chain broken at seq %d: %s (%d records before it verify)", rep.FirstBadSeq, rep.Problem, rep.Records)
			}
			return nil
		},
	}
	verify.Flags().StringArrayVar(&anchors, "anchor", nil, "SEQ:HASH of a head recorded earlier (e.g. from a previous verify); the chain must still hold it")
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")

	var f store.AuditFilter
	list := &cobra.Command{
		Use:     "list",
		Short:   "List audit records, newest first",
		Example: "  cityagent audit list --kind proposal. --limit 20",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			recs, err := db.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(recs, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tKIND\tSUBJECT\tHASH")
			for _, r := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s…\n", r.Seq, r.At.Format(time.DateTime), r.Actor, r.Kind, r.Subject, r.Hash[:12])
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&f.Kind, "kind", "", "kind, or a prefix ending in '.' (proposal.)")
	list.Flags().StringVar(&f.Actor, "actor", "", "key id, system, cli or bootstrap")
	list.Flags().StringVar(&f.Subject, "subject", "", "session, proposal, key or tool id")
	list.Flags().Int64Var(&f.Before, "before", 0, "only records below this seq")
	list.Flags().IntVar(&f.Limit, "limit", 50, "at most this many records (≤ 1000)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(verify, list)
	return cmd
}
