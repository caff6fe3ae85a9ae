// Command cityagent runs the city's agents: `cityagent serve` starts the HTTP
// API; other subcommands manage keys and inspect the installation.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cityagent:", err)
		os.Exit(1)
	}
}

// globalFlags are shared by every subcommand that opens the installation.
type globalFlags struct {
	config string
	addr   string
	data   string
}

func rootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "cityagent",
		Short:         "Self-hosted platform for a city's AI agents",
		Long:          "cityagent hosts city agents that answer operators' questions from the city's knowledge base and live data.\nRun `cityagent serve` to start the HTTP API on the embedded default.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().StringVar(&g.config, "config", "", "YAML config file (env CITYAGENT_CONFIG)")
	root.PersistentFlags().StringVar(&g.data, "data", "", "data directory (env CITYAGENT_DATA, default ./data)")
	root.AddCommand(serveCmd(g), keysCmd(g), configCmd(g))
	root.AddCommand(evalCmd(g))
	root.AddCommand(auditCmd(g))
	root.AddCommand(toolsCmd(g))
	root.AddCommand(ingestCmd(g)) // cmd/cityagent/ingest.go
	root.AddCommand(reportCmd(g)) // cmd/cityagent/report.go
	root.AddCommand(hotlineCmd(g))
	return root
}
