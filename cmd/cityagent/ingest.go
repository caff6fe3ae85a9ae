package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/extract"
)

// ingestFlags are the options of `cityagent ingest`.
type ingestFlags struct {
	collection      string
	clearance       string
	source          string
	metadata        []string
	effective       string
	expires         string
	format          string
	idColumn        string
	titleColumn     string
	metadataColumns []string
	batch           int
}

func ingestCmd(g *globalFlags) *cobra.Command {
	f := &ingestFlags{}
	cmd := &cobra.Command{
		Use:   "ingest --collection NAME PATH...",
		Short: "Ingest files and directories into a knowledge collection",
		Long: `Ingest text, Markdown, HTML, PDF and CSV files (one document per CSV row) into a
collection of the configured knowledge store, creating the collection if needed.
Directories are walked recursively; hidden files are skipped. Re-ingesting unchanged
files writes nothing; a changed file replaces its document.

A document's id is its path under the directory given (or its file name), without
the extension, '/' becoming '.'; a Markdown front matter can set id, title, source,
clearance, effective, expires and metadata. A progress bar goes to stderr when it is
a terminal; a summary ends the run. The embedded store is one process's: stop the
server first, or upload through POST /v1/collections/{c}/documents.`,
		Example: `  cityagent ingest --collection traffic ./docs/traffic
  cityagent ingest --collection permits --clearance internal --metadata district=gaoxin register.csv
  cityagent ingest --collection permits --id-column permit_no --metadata-columns district,status permits.csv`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIngest(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.collection, "collection", "c", "", "collection to ingest into (required)")
	fl.StringVar(&f.clearance, "clearance", "", "clearance of every document: public, internal, sensitive or restricted (default: the file's front matter, else public)")
	fl.StringVar(&f.source, "source", "", "source shown in citations (default: the file's front matter, else its name)")
	fl.StringArrayVar(&f.metadata, "metadata", nil, "metadata key=value for every document (repeatable)")
	fl.StringVar(&f.effective, "effective", "", "in force from this date (YYYY-MM-DD, UTC+8, or RFC 3339)")
	fl.StringVar(&f.expires, "expires", "", "in force until this date")
	fl.StringVar(&f.format, "format", "", "force the format: text, markdown, html, pdf or csv (default: by extension and content)")
	fl.StringVar(&f.idColumn, "id-column", "", "CSV: column naming each row's document (default: id, else the row number)")
	fl.StringVar(&f.titleColumn, "title-column", "", "CSV: column giving each row's title (default: title or name)")
	fl.StringSliceVar(&f.metadataColumns, "metadata-columns", nil, "CSV: columns copied into each row's metadata, for filtering")
	fl.IntVar(&f.batch, "batch", 64, "documents written per batch")
	cmd.MarkFlagRequired("collection")
	return cmd
}

// source is one file to ingest and the id its document gets.
type source struct {
	path string
	name string // the name extract sees: relative path, '/' → '.'
}

// ingestSummary counts what a run did.
type ingestSummary struct {
	files, created, updated, unchanged, failed, chunks int
	failures                                           []string
	elapsed                                            time.Duration
}

func runIngest(cmd *cobra.Command, g *globalFlags, f *ingestFlags, args []string) error {
	ctx := cmd.Context()
	base, err := ingestBase(f)
	if err != nil {
		return err
	}
	if err := knowledge.CheckCollectionName(f.collection); err != nil {
		return err
	}
	cfg, err := g.load()
	if err != nil {
		return err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}
	log := newLogger(cfg.Log, cmd.ErrOrStderr())
	in := &installation{}
	defer in.Close()
	kb, err := openKnowledge(ctx, cfg, in, log)
	if errors.Is(err, embedded.ErrLocked) {
		return fmt.Errorf("%w\n(a running server holds the embedded knowledge store: stop it, or upload through POST /v1/collections/%s/documents)", err, f.collection)
	}
	if err != nil {
		return fmt.Errorf("knowledge store: %w", err)
	}
	sources, err := collectSources(args)
	if err != nil {
		return err
	}
	created, err := kb.CreateCollection(ctx, f.collection)
	if err != nil {
		return err
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if created {
		fmt.Fprintf(out, "created collection %s\n", f.collection)
	}
	sum := ingestSources(ctx, kb, f, base, sources, newProgress(errOut, len(sources)))
	printSummary(out, f.collection, sum)
	if sum.failed > 0 {
		return fmt.Errorf("%d of the documents or files failed", sum.failed)
	}
	return nil
}

// ingestBase turns the flags into the fields every document starts from.
func ingestBase(f *ingestFlags) (knowledge.Document, error) {
	base := knowledge.Document{Collection: f.collection, Source: f.source}
	if f.clearance != "" {
		c, err := access.ParseClearance(f.clearance)
		if err != nil {
			return base, err
		}
		base.Clearance = c
	}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return base, fmt.Errorf("--metadata %q: want key=value", kv)
		}
		if base.Metadata == nil {
			base.Metadata = map[string]string{}
		}
		base.Metadata[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, d := range []struct {
		flag, value string
		dst         **time.Time
	}{{"--effective", f.effective, &base.Effective}, {"--expires", f.expires, &base.Expires}} {
		if d.value == "" {
			continue
		}
		t, err := extract.ParseDate(d.value)
		if err != nil {
			return base, fmt.Errorf("%s: %w", d.flag, err)
		}
		*d.dst = &t
	}
	if f.format != "" {
		if _, err := extract.ParseFormat(f.format); err != nil {
			return base, err
		}
	}
	return base, nil
}

// collectSources lists the files under args, in a stable order.
func collectSources(args []string) ([]source, error) {
	var out []source
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, source{path: arg, name: filepath.Base(arg)})
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != arg {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(arg, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			ext := path.Ext(rel)
			out = append(out, source{path: p, name: strings.ReplaceAll(strings.TrimSuffix(rel, ext), "/", ".") + ext})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ingestSources extracts, validates and ingests the files in batches; a
// file that fails is counted and reported, and the others go on.
func ingestSources(ctx context.Context, kb *knowledge.Base, f *ingestFlags, base knowledge.Document, sources []source, bar *progress) ingestSummary {
	start := time.Now()
	sum := ingestSummary{files: len(sources)}
	opts := extract.Options{IDColumn: f.idColumn, TitleColumn: f.titleColumn, MetadataColumns: f.metadataColumns}
	format, _ := extract.ParseFormat(f.format)
	if f.format == "" {
		format = ""
	}
	fail := func(what string, err error) {
		sum.failed++
		sum.failures = append(sum.failures, fmt.Sprintf("%s: %v", what, strings.ReplaceAll(err.Error(), "extract: ", "")))
	}
	var batch []knowledge.Document
	flush := func() {
		if len(batch) == 0 {
			return
		}
		results, errs := kb.IngestEach(ctx, batch)
		for i, r := range results {
			if errs[i] != nil {
				fail(batch[i].ID, errs[i])
				continue
			}
			switch r.Status {
			case knowledge.IngestCreated:
				sum.created++
			case knowledge.IngestUpdated:
				sum.updated++
			case knowledge.IngestUnchanged:
				sum.unchanged++
			}
			sum.chunks += r.Chunks
		}
		batch = batch[:0]
	}
	for i, src := range sources {
		if ctx.Err() != nil {
			fail(src.path, ctx.Err())
			continue
		}
		data, err := os.ReadFile(src.path)
		if err != nil {
			fail(src.path, err)
			bar.step(i+1, sum)
			continue
		}
		docs, err := extract.Extract(extract.File{Name: src.name, Data: data, Format: format}, base, opts)
		if err != nil {
			fail(src.path, err)
			bar.step(i+1, sum)
			continue
		}
		for _, d := range docs {
			if err := kb.Validate(d); err != nil {
				fail(fmt.Sprintf("%s (%s)", src.path, d.ID), err)
				continue
			}
			batch = append(batch, d)
			if len(batch) >= max(f.batch, 1) {
				flush()
			}
		}
		bar.step(i+1, sum)
	}
	flush()
	sum.elapsed = time.Since(start)
	bar.done(sum)
	return sum
}

func printSummary(w io.Writer, collection string, s ingestSummary) {
	rate := 0.0
	if s.elapsed > 0 {
		rate = float64(s.chunks) / s.elapsed.Seconds()
	}
	fmt.Fprintf(w, "%s: %d files → %d created, %d updated, %d unchanged, %d failed; %d chunks in %s (%.0f chunks/s)\n",
		collection, s.files, s.created, s.updated, s.unchanged, s.failed, s.chunks, s.elapsed.Round(time.Millisecond), rate)
	slices.Sort(s.failures)
	for _, f := range s.failures {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
}

// progress draws a bar on a terminal and nothing elsewhere (logs and
// pipes get the summary only).
type progress struct {
	w     io.Writer
	total int
	tty   bool
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) step(done int, s ingestSummary) {
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && done < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width * done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d files, %d chunks, %d failed", strings.Repeat("█", filled), strings.Repeat("░", width-filled), done, p.total, s.chunks, s.failed)
}

func (p *progress) done(s ingestSummary) {
	if p.tty {
		p.step(p.total, s)
		fmt.Fprintln(p.w)
	}
}
