package extract

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/knowledge"
)

// extractCSV makes one document per data row of a CSV file with a header
// row. A row's text lists every non-empty "column: value"; its id is
// "<file id>-<id column or row number>"; the metadata columns are copied
// into its metadata (base metadata wins on a clash).
func extractCSV(f File, base knowledge.Document, text string, opts Options) ([]knowledge.Document, error) {
	corrupt := func(format string, args ...any) error {
		return usererr.Errorf("%w: %s: %s", ErrCorrupt, describe(f.Name, f.ContentType), fmt.Sprintf(format, args...))
	}
	maxRows := cmp.Or(opts.MaxRows, DefaultMaxRows)
	r := csv.NewReader(strings.NewReader(text))
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, corrupt("no header row")
	}
	if err != nil {
		return nil, corrupt("%v", err)
	}
	if len(header) > MaxCSVFields {
		return nil, corrupt("%d columns (limit %d)", len(header), MaxCSVFields)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if h == "" {
			return nil, corrupt("column %d has no name", i+1)
		}
		if _, dup := col[strings.ToLower(h)]; dup {
			return nil, corrupt("column %q appears twice", h)
		}
		col[strings.ToLower(h)] = i
	}
	find := func(name string, defaults ...string) (int, error) {
		if name != "" {
			i, ok := col[strings.ToLower(name)]
			if !ok {
				return -1, usererr.Errorf("%w: %s: no column %q (columns: %s)", ErrCorrupt, describe(f.Name, ""), name, strings.Join(header, ", "))
			}
			return i, nil
		}
		for _, d := range defaults {
			if i, ok := col[d]; ok {
				return i, nil
			}
		}
		return -1, nil
	}
	idCol, err := find(opts.IDColumn, "id")
	if err != nil {
		return nil, err
	}
	titleCol, err := find(opts.TitleColumn, "title", "name", "标题", "名称")
	if err != nil {
		return nil, err
	}
	metaCols := make([]int, 0, len(opts.MetadataColumns))
	for _, m := range opts.MetadataColumns {
		i, err := find(m)
		if err != nil {
			return nil, err
		}
		metaCols = append(metaCols, i)
	}
	stem := cmp.Or(base.ID, knowledge.DocumentID(f.Name), "row")
	var docs []knowledge.Document
	seen := map[string]int{}
	for row := 1; ; row++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, corrupt("%v", err)
		}
		if len(docs) == maxRows {
			return nil, usererr.Errorf("%w: %s has more than %d rows", ErrTooLarge, describe(f.Name, ""), maxRows)
		}
		if blank(rec) {
			continue
		}
		doc := base
		key := strconv.Itoa(row)
		if idCol >= 0 {
			if v := strings.TrimSpace(rec[idCol]); v != "" {
				key = v
			} else {
				return nil, corrupt("row %d has an empty %s", row+1, header[idCol])
			}
		}
		doc.ID = knowledge.CleanID(stem + "-" + key)
		if prev, dup := seen[doc.ID]; dup {
			return nil, corrupt("rows %d and %d have the same id %q", prev+1, row+1, doc.ID)
		}
		seen[doc.ID] = row
		if titleCol >= 0 && strings.TrimSpace(rec[titleCol]) != "" {
			doc.Title = strings.TrimSpace(rec[titleCol])
		} else {
			doc.Title = cmp.Or(base.Title, stem) + " #" + key
		}
		var sb strings.Builder
		for i, v := range rec {
			if v = strings.TrimSpace(v); v != "" {
				sb.WriteString(header[i])
				sb.WriteString(": ")
				sb.WriteString(v)
				sb.WriteString("\n")
			}
		}
		doc.Text = sb.String()
		if len(metaCols) > 0 || base.Metadata != nil {
			meta := map[string]string{}
			for _, i := range metaCols {
				if v := strings.TrimSpace(rec[i]); v != "" {
					meta[header[i]] = v
				}
			}
			maps.Copy(meta, base.Metadata)
			doc.Metadata = meta
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: %s has a header but no rows", knowledge.ErrEmptyDocument, describe(f.Name, ""))
	}
	return docs, nil
}

func blank(rec []string) bool {
	return !slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" })
}
