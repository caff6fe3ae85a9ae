// Package tabular reads city data that no standard API covers from a CSV
// file (or CSV URL) or an HTTP JSON array, with a column mapping: a permit
// register (BLDS fields) or interval meter readings (building, start, kW).
// The data is read again when it is older than a refresh interval, so a file
// or feed that is rewritten moves the tools with it.
package tabular

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/tools/energy"
	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/internal/bldsmap"
	"github.com/cityagent/cityagent/tools/sources/internal/httpget"
)

// Kinds of table.
const (
	KindCSV  = "csv"
	KindJSON = "httpjson"
)

// ErrTable wraps a table that cannot be read: missing, unreachable, not CSV
// or JSON, or without a mapped column.
var ErrTable = errors.New("tabular: bad table")

// Config configures a table.
type Config struct {
	Kind string // csv or httpjson
	// URL is a file path or an http(s) URL (csv), or an http(s) URL (httpjson).
	URL     string
	Mapping map[string]string
	// Records is the dotted path to the array inside a JSON object
	// ("data.rows"); empty when the document is the array. Also settable
	// as Mapping["$records"].
	Records  string
	Token    string // sent as a bearer token to URLs
	HTTP     *http.Client
	Source   string
	Location *time.Location
	Refresh  time.Duration // default one minute
	MaxBytes int64
	Currency string // ISO 4217 code of permit fees ("" = CNY)
}

// table loads rows and keeps them for Refresh.
type table struct {
	cfg Config

	mu     sync.Mutex
	rows   []map[string]any
	loaded time.Time
}

func newTable(cfg Config) (*table, error) {
	if cfg.Kind != KindCSV && cfg.Kind != KindJSON {
		return nil, fmt.Errorf("tabular: kind %q: want csv or httpjson", cfg.Kind)
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("tabular: empty url")
	}
	if cfg.Kind == KindJSON && !isURL(cfg.URL) {
		return nil, fmt.Errorf("tabular: httpjson needs an http(s) URL, got %q", cfg.URL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = httpget.NewClient(30 * time.Second)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Minute
	}
	if r := cfg.Mapping["$records"]; r != "" && cfg.Records == "" {
		cfg.Records = r
	}
	return &table{cfg: cfg}, nil
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// get returns the rows, reading them again when stale.
func (t *table) get(ctx context.Context) ([]map[string]any, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rows != nil && time.Since(t.loaded) < t.cfg.Refresh {
		return t.rows, nil
	}
	rows, err := t.read(ctx)
	if err != nil {
		return nil, err
	}
	t.rows, t.loaded = rows, time.Now()
	return rows, nil
}

func (t *table) read(ctx context.Context) ([]map[string]any, error) {
	var data []byte
	var err error
	if isURL(t.cfg.URL) {
		h := http.Header{}
		if t.cfg.Token != "" {
			h.Set("Authorization", "Bearer "+t.cfg.Token)
		}
		data, _, err = httpget.Get(ctx, t.cfg.HTTP, t.cfg.URL, h, t.cfg.MaxBytes)
	} else {
		data, err = os.ReadFile(t.cfg.URL)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrTable, err)
	}
	if t.cfg.Kind == KindCSV {
		return readCSV(data)
	}
	return readJSON(data, t.cfg.Records)
}

func readCSV(data []byte) ([]map[string]any, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %v", ErrTable, err)
	}
	var rows []map[string]any
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: CSV line %d: %v", ErrTable, line, err)
		}
		row := make(map[string]any, len(head))
		for i, h := range head {
			if i < len(rec) {
				row[strings.TrimSpace(h)] = rec[i]
			}
		}
		rows = append(rows, row)
	}
}

func readJSON(data []byte, path string) ([]map[string]any, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: JSON: %w", ErrTable, err)
	}
	if path != "" {
		for _, k := range strings.Split(path, ".") {
			m, ok := doc.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: JSON has no object at %q", ErrTable, k)
			}
			doc = m[k]
		}
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: JSON records are not an array (set the records path)", ErrTable)
	}
	rows := make([]map[string]any, 0, len(list))
	for i, it := range list {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: JSON record %d is not an object", ErrTable, i)
		}
		for k, v := range m {
			if n, ok := v.(json.Number); ok {
				m[k] = n.String()
			}
		}
		rows = append(rows, m)
	}
	return rows, nil
}

// ---- permits ----------------------------------------------------------------

// Permits is a permits.Source over a table of BLDS-mapped rows (identity
// mapping when the configuration gives none: the columns are BLDS names).
type Permits struct {
	t    *table
	m    *bldsmap.Mapper
	info permits.Info
}

var _ permits.Source = (*Permits)(nil)

// NewPermits reads the table once to check the mapping and learn the
// types, statuses and districts.
func NewPermits(ctx context.Context, cfg Config) (*Permits, error) {
	mapping := map[string]string{}
	for k, v := range cfg.Mapping {
		if k != "$records" {
			mapping[k] = v
		}
	}
	if len(mapping) == 0 {
		for f := range bldsmap.Fields {
			mapping[f] = f
		}
	}
	t, err := newTable(cfg)
	if err != nil {
		return nil, err
	}
	m, err := bldsmap.New(mapping, t.cfg.Location)
	if err != nil {
		return nil, fmt.Errorf("tabular: %w", err)
	}
	if cfg.Source == "" {
		cfg.Source = cfg.Kind + ":permits"
	}
	p := &Permits{t: t, m: m, info: permits.Info{Source: cfg.Source, Location: t.cfg.Location, Currency: cfg.Currency}}
	all, _, err := p.all(ctx)
	if err != nil {
		return nil, err
	}
	types, statuses, districts := map[string]int{}, map[string]int{}, map[string]int{}
	for _, x := range all {
		types[x.PermitType]++
		statuses[x.StatusCurrent]++
		districts[x.District]++
	}
	for _, v := range bldsmap.Codes(byCount(types)) {
		p.info.Types = append(p.info.Types, permits.PermitType{Code: v, NameEn: v, NameZh: v})
	}
	for _, v := range bldsmap.Codes(byCount(statuses)) {
		p.info.Statuses = append(p.info.Statuses, bldsmap.Status(v))
	}
	for _, v := range bldsmap.Codes(byCount(districts)) {
		p.info.Districts = append(p.info.Districts, permits.District{ID: v, NameEn: v, NameZh: v})
	}
	return p, nil
}

// byCount lists non-empty keys, most frequent first.
func byCount(m map[string]int) []string {
	var out []string
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if d := cmp.Compare(m[b], m[a]); d != 0 {
			return d
		}
		return cmp.Compare(a, b)
	})
	return out
}

// all reads every row that is a permit; skipped counts the rows that are
// not (incomplete records), which must not fail a question.
func (p *Permits) all(ctx context.Context) (out []permits.Permit, skipped int, err error) {
	rows, err := p.t.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	out = make([]permits.Permit, 0, len(rows))
	for _, r := range rows {
		x, err := p.m.Permit(r)
		if err != nil {
			skipped++
			continue
		}
		out = append(out, x)
	}
	return out, skipped, nil
}

// Info implements permits.Source.
func (p *Permits) Info() permits.Info { return p.info }

// Search implements permits.Source in memory. Incomplete rows cannot be
// filtered, so they follow the matching permits in every result, counted
// in Total and, in the page holding them, as Skipped.
func (p *Permits) Search(ctx context.Context, q permits.Query) (permits.Page, error) {
	all, bad, err := p.all(ctx)
	if err != nil {
		return permits.Page{}, err
	}
	open := map[string]bool{}
	for _, s := range p.info.Statuses {
		open[s.Code] = s.Open
	}
	text := strings.ToLower(q.Text)
	var hits []permits.Permit
	for _, x := range all {
		switch {
		case q.District != "" && x.District != q.District, q.PermitType != "" && x.PermitType != q.PermitType,
			q.Status != "" && x.StatusCurrent != q.Status, q.WorkClass != "" && !strings.EqualFold(x.WorkClass, q.WorkClass),
			q.Open && !open[x.StatusCurrent], q.Flagged,
			!q.AppliedFrom.IsZero() && x.AppliedDate.Before(q.AppliedFrom), !q.AppliedTo.IsZero() && !x.AppliedDate.Before(q.AppliedTo),
			(!q.IssuedFrom.IsZero() || !q.IssuedTo.IsZero()) && x.IssuedDate == nil,
			x.IssuedDate != nil && !q.IssuedFrom.IsZero() && x.IssuedDate.Before(q.IssuedFrom),
			x.IssuedDate != nil && !q.IssuedTo.IsZero() && !x.IssuedDate.Before(q.IssuedTo),
			text != "" && !strings.Contains(strings.ToLower(x.PermitNum+" "+x.Description+" "+x.OriginalAddress1+" "+x.ContractorCompanyName), text):
			continue
		}
		hits = append(hits, x)
	}
	slices.SortStableFunc(hits, func(a, b permits.Permit) int {
		switch q.OrderBy {
		case permits.OrderAppliedAsc:
			if d := a.AppliedDate.Compare(b.AppliedDate); d != 0 {
				return d
			}
			return cmp.Compare(a.PermitNum, b.PermitNum)
		case permits.OrderIssuedDesc:
			ia, ib := time.Time{}, time.Time{}
			if a.IssuedDate != nil {
				ia = *a.IssuedDate
			}
			if b.IssuedDate != nil {
				ib = *b.IssuedDate
			}
			if d := ib.Compare(ia); d != 0 {
				return d
			}
		}
		if d := b.AppliedDate.Compare(a.AppliedDate); d != 0 {
			return d
		}
		return cmp.Compare(b.PermitNum, a.PermitNum)
	})
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	page := hits[min(q.Offset, len(hits)):min(q.Offset+limit, len(hits))]
	inWindow := max(0, min(q.Offset+limit, len(hits)+bad)-max(q.Offset, len(hits)))
	return permits.Page{Total: len(hits) + bad, Permits: append([]permits.Permit{}, page...), Skipped: inWindow}, nil
}

// Permit implements permits.Source.
func (p *Permits) Permit(ctx context.Context, id string) (permits.Permit, error) {
	all, _, err := p.all(ctx)
	if err != nil {
		return permits.Permit{}, err
	}
	for _, x := range all {
		if x.PermitNum == id {
			return x, nil
		}
	}
	return permits.Permit{}, fmt.Errorf("tabular: permit %q: %w", id, permits.ErrNotFound)
}

// ---- energy -----------------------------------------------------------------

// Default energy columns; Mapping keys override them.
var energyColumns = map[string]string{
	"building_id": "building_id",
	"start":       "start", // interval start: RFC 3339, or local "2006-01-02 15:04[:05]"
	"kw":          "kw",    // average kW over the interval; or map "kwh"
	"kwh":         "",      // energy over the interval, converted to kW
	"name":        "name",  // optional building columns
	"name_zh":     "name_zh",
	"district":    "district",
	"type":        "type",
}

// Energy is an energy.Source over a table of interval readings.
type Energy struct {
	t        *table
	cols     map[string]string
	interval time.Duration
	grid     energy.Grid
}

var _ energy.Source = (*Energy)(nil)

// NewEnergy reads the table once to learn the buildings.
func NewEnergy(ctx context.Context, cfg Config, interval time.Duration) (*Energy, error) {
	t, err := newTable(cfg)
	if err != nil {
		return nil, err
	}
	if interval <= 0 {
		interval = 15 * time.Minute
	}
	e := &Energy{t: t, cols: map[string]string{}, interval: interval}
	for k, v := range energyColumns {
		e.cols[k] = v
	}
	for k, v := range cfg.Mapping {
		if k == "$records" {
			continue
		}
		if _, ok := energyColumns[k]; !ok {
			return nil, fmt.Errorf("tabular: energy mapping key %q: want building_id, start, kw, kwh, name, name_zh, district or type", k)
		}
		e.cols[k] = v
		if k == "kwh" {
			e.cols["kw"] = ""
		}
	}
	rows, err := t.get(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Source == "" {
		cfg.Source = cfg.Kind + ":energy"
	}
	e.grid = energy.Grid{Source: cfg.Source, Location: t.cfg.Location, Interval: interval}
	seen := map[string]bool{}
	districts := map[string]bool{}
	for i, r := range rows {
		id := bldsmap.Text(r[e.cols["building_id"]])
		if id == "" {
			return nil, fmt.Errorf("%w: row %d has no %s", ErrTable, i+1, e.cols["building_id"])
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		b := energy.Building{ID: id, NameEn: bldsmap.Text(r[e.cols["name"]]), NameZh: bldsmap.Text(r[e.cols["name_zh"]]),
			District: bldsmap.Text(r[e.cols["district"]]), Type: bldsmap.Text(r[e.cols["type"]])}
		if b.NameEn == "" {
			b.NameEn = id
		}
		if b.NameZh == "" {
			b.NameZh = b.NameEn
		}
		if b.Type == "" {
			b.Type = energy.TypeOther
		}
		e.grid.Buildings = append(e.grid.Buildings, b)
		if b.District != "" && !districts[b.District] {
			districts[b.District] = true
			e.grid.Districts = append(e.grid.Districts, energy.District{ID: b.District, NameEn: b.District, NameZh: b.District})
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%w: no readings", ErrTable)
	}
	slices.SortFunc(e.grid.Buildings, func(a, b energy.Building) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(e.grid.Districts, func(a, b energy.District) int { return cmp.Compare(a.ID, b.ID) })
	return e, nil
}

// Grid implements energy.Source.
func (e *Energy) Grid() energy.Grid { return e.grid }

func (e *Energy) parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(l, s, e.grid.Location); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a time", ErrTable, s)
}

// Readings implements energy.Source.
func (e *Energy) Readings(ctx context.Context, q energy.ReadingsQuery) ([]energy.Series, error) {
	rows, err := e.t.get(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, b := range e.grid.Buildings {
		known[b.ID] = true
	}
	want := map[string]bool{}
	for _, id := range q.BuildingIDs {
		if !known[id] {
			return nil, fmt.Errorf("tabular: building %q: %w", id, energy.ErrNotFound)
		}
		want[id] = true
	}
	by := map[string][]energy.Reading{}
	for i, r := range rows {
		id := bldsmap.Text(r[e.cols["building_id"]])
		if len(want) > 0 && !want[id] {
			continue
		}
		start, err := e.parseTime(bldsmap.Text(r[e.cols["start"]]))
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		if start.Before(q.From) || !start.Before(q.To) {
			continue
		}
		var v float64
		if c := e.cols["kw"]; c != "" {
			v, err = strconv.ParseFloat(bldsmap.Text(r[c]), 64)
		} else {
			v, err = strconv.ParseFloat(bldsmap.Text(r[e.cols["kwh"]]), 64)
			v /= e.interval.Hours()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: row %d: the reading is not a number", ErrTable, i+1)
		}
		by[id] = append(by[id], energy.Reading{Start: start.In(e.grid.Location), KW: v})
	}
	ids := q.BuildingIDs
	if len(ids) == 0 {
		for _, b := range e.grid.Buildings {
			ids = append(ids, b.ID)
		}
	}
	out := make([]energy.Series, 0, len(ids))
	for _, id := range ids {
		rs := by[id]
		slices.SortFunc(rs, func(a, b energy.Reading) int { return a.Start.Compare(b.Start) })
		if rs == nil {
			rs = []energy.Reading{}
		}
		out = append(out, energy.Series{BuildingID: id, Readings: rs})
	}
	return out, nil
}
