package main

import (
	"fmt"
	"os"
	"strconv"
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
			for _, e := range turnEnv {
				fmt.Fprintf(tw, "%s\t%s\n", e.name, e.description)
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

// turnLimits are the server's admission limits for chat turns
// (server.Options.MaxTurns and TurnQueue). They are read from the
// environment here until they have a place in config.ServerConfig
// (server.max_turns, server.turn_queue).
type turnLimits struct {
	maxTurns, queue int
}

var turnEnv = []struct {
	name, description string
	set               func(l *turnLimits, n int)
}{
	{"CITYAGENT_MAX_TURNS", "chat turns answered at once; more wait in the queue (default 0 = 4 × GOMAXPROCS)", func(l *turnLimits, n int) { l.maxTurns = n }},
	{"CITYAGENT_TURN_QUEUE", "chat turns that may wait for a slot, up to 5 s each, before 503 + Retry-After (default 0 = 64 × GOMAXPROCS; -1 = no queue)", func(l *turnLimits, n int) { l.queue = n }},
}

// loadTurnLimits reads turnEnv from getenv; an unset variable keeps the
// server's default.
func loadTurnLimits(getenv func(string) string) (turnLimits, error) {
	var l turnLimits
	for _, e := range turnEnv {
		v := getenv(e.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return l, fmt.Errorf("config: %s: %q is not a whole number ≥ -1", e.name, v)
		}
		e.set(&l, n)
	}
	return l, nil
}
