package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/config"
)

// load reads the configuration: defaults, --config / CITYAGENT_CONFIG, the
// environment, then flags given on the command line.
func (g *globalFlags) load() (config.Config, error) {
	path := g.config
	if path == "" {
		path = os.Getenv("CITYAGENT_CONFIG")
	}
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		return cfg, err
	}
	if g.addr != "" {
		cfg.Addr = g.addr
	}
	if g.data != "" {
		cfg.DataDir = g.data
	}
	return cfg, cfg.Validate()
}

func configCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "env",
		Short: "List every environment variable cityagent reads",
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			for _, e := range config.Env {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.Description)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration, then print it (secrets hidden)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			cfg.LLM.APIKey = redact(cfg.LLM.APIKey)
			for i := range cfg.LLM.Fallbacks {
				cfg.LLM.Fallbacks[i].APIKey = redact(cfg.LLM.Fallbacks[i].APIKey)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "configuration is valid\n%+v\n", cfg)
			return nil
		},
	})
	return cmd
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}
