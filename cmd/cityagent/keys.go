package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/server"
	"github.com/cityagent/cityagent/store"
)

func keysCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list and revoke API keys (works on the configured state store)"}
	var req server.KeyRequest
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print it once",
		Example: "  cityagent keys create --name ops-desk --role operator --clearance internal\n" +
			"  cityagent keys create --name hotline-gw --role hotline --clearance public --expires-in 2160h",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKeyDepartment(g, req.Department); err != nil {
				return err
			}
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			k, secret, err := server.IssueKey(cmd.Context(), db, req, "cli", time.Now())
			if err != nil {
				return err
			}
			if err := db.Audit(cmd.Context(), server.KeyAudit(audit.KindKeyCreate, "cli", k)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s, role %s, clearance %s)\n%s\n", k.ID, k.Name, k.Role, k.Clearance, secret)
			fmt.Fprintln(cmd.ErrOrStderr(), "the key is shown only once; store it now")
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "who or what uses the key (required)")
	create.Flags().StringVar(&req.Role, "role", "operator", "operator, supervisor, hotline, department, developer or admin")
	create.Flags().StringVar(&req.Department, "department", "", "the hotline department a department key serves (required for role department), e.g. water")
	create.Flags().StringVar(&req.Clearance, "clearance", "internal", "public, internal, sensitive or restricted")
	create.Flags().StringVar(&req.ExpiresIn, "expires-in", "", "lifetime such as 720h (default: never expires)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			ks, err := db.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCLEARANCE\tCREATED\tSTATUS")
			now := time.Now()
			for _, k := range ks {
				status := "active"
				switch {
				case k.RevokedAt != nil:
					status = "revoked " + k.RevokedAt.Format(time.DateOnly)
				case !k.Active(now):
					status = "expired"
				case k.ExpiresAt != nil:
					status = "active until " + k.ExpiresAt.Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.Clearance, k.CreatedAt.Format(time.DateTime), status)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key; requests with it get 401 from then on (a running server caches keys for up to 2 s)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openStore(cmd, g)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RevokeKey(cmd.Context(), args[0], time.Now().UTC()); err != nil {
				return err
			}
			if k, err := db.GetKey(cmd.Context(), args[0]); err == nil {
				if err := db.Audit(cmd.Context(), server.KeyAudit(audit.KindKeyRevoke, "cli", k)); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// checkKeyDepartment refuses a department the configured hotline taxonomy
// does not have (the server's POST /v1/keys checks the same).
func checkKeyDepartment(g *globalFlags, dept string) error {
	if dept == "" {
		return nil
	}
	cfg, err := g.load()
	if err != nil {
		return err
	}
	tax, err := hotline.LoadTaxonomy(cfg.Hotline.Taxonomy)
	if err != nil {
		return err
	}
	if _, ok := tax.Department(dept); !ok {
		return fmt.Errorf("department %q is not a department of the hotline taxonomy %s", dept, tax.Origin)
	}
	return nil
}

func openStore(cmd *cobra.Command, g *globalFlags) (*store.DB, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	return store.Open(cmd.Context(), cfg.DatabaseURL, cfg.DataDir)
}
