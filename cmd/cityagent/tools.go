package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/devtools"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
	"github.com/cityagent/cityagent/tools/sources"
)

// buildDevTools builds the guarded outbound client and the developer tool
// manager, and loads the tools and sources registered before.
func buildDevTools(ctx context.Context, in *installation, cfg config.Config, log *slog.Logger) error {
	m, err := newDevTools(ctx, in.tools, in.db, cfg, log)
	if err != nil {
		return err
	}
	in.devtools = m
	in.closers = append(in.closers, m.Close)
	return nil
}

func newDevTools(ctx context.Context, reg *tools.Registry, db *store.DB, cfg config.Config, log *slog.Logger) (*devtools.Manager, error) {
	guard, err := outbound.New(outbound.Config{Allow: cfg.Outbound.Allow, MaxResponseBytes: cfg.Outbound.MaxResponseBytes, Timeout: cfg.Outbound.Timeout})
	if err != nil {
		return nil, err
	}
	m, err := devtools.New(devtools.Config{Registry: reg, Store: db, Outbound: guard, Commands: cfg.Outbound.Commands,
		Getenv: os.Getenv, Log: log, Version: version, SecretHosts: cfg.Outbound.SecretHosts,
		OpenAPI: openapi.Limits{MaxDocumentBytes: cfg.ToolSources.OpenAPI.MaxDocumentBytes, MaxOperations: cfg.ToolSources.OpenAPI.MaxOperations}})
	if err != nil {
		return nil, err
	}
	if err := m.Load(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// toolbox is the tools of an installation without the rest of it (no
// knowledge base, no models), for the tools subcommands.
type toolbox struct {
	reg *tools.Registry
	mgr *devtools.Manager
	db  *store.DB
}

func (b *toolbox) Close() {
	b.mgr.Close()
	b.db.Close()
}

func openToolbox(cmd *cobra.Command, g *globalFlags) (*toolbox, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	log := newLogger(config.LogConfig{Level: "error", Format: "text"}, cmd.ErrOrStderr())
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	city := democity.New(cfg.DemoCity.Seed, time.Now)
	ts, err := sources.Tools(ctx, cfg.Sources, sources.Deps{City: city, Clock: time.Now})
	if err != nil {
		db.Close()
		return nil, err
	}
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	mgr, err := newDevTools(ctx, reg, db, cfg, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	// MCP sources connect in the background; give them a moment.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	mgr.WaitReady(wctx)
	return &toolbox{reg: reg, mgr: mgr, db: db}, nil
}

func toolsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "tools", Short: "List and invoke the tools agents can call (built-in and registered)"}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List every tool with its kind, clearance and availability",
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := openToolbox(cmd, g)
			if err != nil {
				return err
			}
			defer b.Close()
			infos := b.mgr.List(cmd.Context(), asJSON)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"tools": infos, "sources": b.mgr.Sources(cmd.Context())})
			}
			return printTools(cmd.OutOrStdout(), infos)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON with the parameter schemas and sources")
	invoke := &cobra.Command{
		Use:     "invoke NAME [JSON]",
		Short:   "Call one tool with JSON arguments and print its result",
		Example: "  cityagent tools invoke traffic_congestion '{\"district\":\"gaoxin\",\"limit\":3}'\n  cityagent tools invoke permits_detail '{\"permit_id\":\"BP-20250603-04\"}'",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := openToolbox(cmd, g)
			if err != nil {
				return err
			}
			defer b.Close()
			raw := json.RawMessage("{}")
			if len(args) == 2 {
				if !json.Valid([]byte(args[1])) {
					return fmt.Errorf("the arguments are not JSON: %s", args[1])
				}
				raw = json.RawMessage(args[1])
			}
			return invokeTool(cmd.Context(), cmd.OutOrStdout(), b.reg, args[0], raw)
		},
	}
	cmd.AddCommand(list, invoke)
	return cmd
}

func printTools(w io.Writer, infos []devtools.ToolInfo) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tAVAILABLE\tCLEARANCE\tSOURCE\tDESCRIPTION")
	for _, t := range infos {
		avail := "yes"
		if !t.Available {
			avail = "no: " + shorten(t.Status, 40)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Kind, avail, t.Clearance, t.Source, shorten(t.Description, 60))
	}
	return tw.Flush()
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// invokeTool calls a tool as the local operator (every clearance) and
// prints {name, ok, content, citation, error}; a failing tool is an error.
func invokeTool(ctx context.Context, w io.Writer, reg *tools.Registry, name string, args json.RawMessage) error {
	t, err := reg.Get(name)
	if err != nil {
		return err
	}
	timeout := t.Spec().Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, callErr := reg.Call(ctx, access.Restricted, name, args)
	out := map[string]any{"name": name, "ok": callErr == nil, "duration_ms": time.Since(start).Milliseconds()}
	if callErr != nil {
		out["error"] = callErr.Error()
	} else {
		out["content"], out["citation"] = res.Content, res.Citation
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if callErr != nil {
		return fmt.Errorf("tool %s failed", name)
	}
	return nil
}
