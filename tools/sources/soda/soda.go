// Package soda reads a building-permit register from a Socrata Open Data
// (SODA 2) dataset, such as Chicago's ydr8-5enu: permits.Source queries
// become SoQL ($where, $select, $order, $limit, $offset, $q, $group) with the
// app token in X-App-Token, and the dataset's columns are mapped onto
// BLDS-style permit fields.
package soda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cityagent/cityagent/tools/permits"
	"github.com/cityagent/cityagent/tools/sources/internal/bldsmap"
	"github.com/cityagent/cityagent/tools/sources/internal/cleantext"
	"github.com/cityagent/cityagent/tools/sources/internal/httpget"
)

// ErrDataset wraps a failure of the dataset: unreachable, an error status
// (Socrata's {"code","message"} body is kept), or rows it cannot read.
var ErrDataset = errors.New("soda: dataset error")

// ChicagoMapping maps BLDS fields to the columns of Chicago's building
// permits dataset (ydr8-5enu). A field may name several columns, joined
// with spaces (the address).
func ChicagoMapping() map[string]string {
	return map[string]string{
		"PermitNum":             "permit_",
		"PermitType":            "permit_type",
		"StatusCurrent":         "permit_status",
		"Description":           "work_description",
		"AppliedDate":           "application_start_date",
		"IssuedDate":            "issue_date",
		"EstProjectCost":        "reported_cost",
		"Fee":                   "total_fee",
		"OriginalAddress1":      "street_number street_direction street_name",
		"District":              "community_area",
		"Latitude":              "latitude",
		"Longitude":             "longitude",
		"ContractorCompanyName": "contact_1_name",
	}
}

// Config configures a Source.
type Config struct {
	// URL is the dataset's resource URL, e.g.
	// https://data.cityofchicago.org/resource/ydr8-5enu.json.
	URL      string
	AppToken string
	// Mapping maps BLDS fields to columns; nil = ChicagoMapping.
	Mapping  map[string]string
	HTTP     *http.Client
	Source   string         // citation name; default "soda:<host>/<dataset>"
	Location *time.Location // zone of the dataset's floating timestamps
	MaxBytes int64
	// Districts names the dataset's district codes, e.g. Chicago's
	// community areas: "7" → "Lincoln Park". Unnamed codes show as given.
	Districts map[string]string
	// Currency is the ISO 4217 code of the fees ("" = CNY).
	Currency string
}

// Source is a permits.Source over a SODA dataset.
type Source struct {
	cfg  Config
	url  string
	m    *bldsmap.Mapper
	cols map[string][]string // BLDS field → columns
	info permits.Info
}

var _ permits.Source = (*Source)(nil)

// New checks the configuration and reads the dataset's permit types,
// statuses and districts (SoQL $group queries) for the tools' enums.
func New(ctx context.Context, cfg Config) (*Source, error) {
	u, err := resolve(cfg.URL, &cfg.HTTP, &cfg.Location, &cfg.Source)
	if err != nil {
		return nil, err
	}
	if cfg.Mapping == nil {
		cfg.Mapping = ChicagoMapping()
	}
	m, err := bldsmap.New(cfg.Mapping, cfg.Location)
	if err != nil {
		return nil, fmt.Errorf("soda: %w", err)
	}
	s := &Source{cfg: cfg, url: u.Scheme + "://" + u.Host + u.Path, m: m, cols: m.Cols}
	s.info = permits.Info{Source: cfg.Source, Location: cfg.Location, Currency: cfg.Currency}
	values, err := s.distinct(ctx, "PermitType")
	if err != nil {
		return nil, err
	}
	for _, v := range bldsmap.Codes(values) {
		s.info.Types = append(s.info.Types, permits.PermitType{Code: v, NameEn: v, NameZh: v})
	}
	if values, err = s.distinct(ctx, "StatusCurrent"); err != nil {
		return nil, err
	}
	for _, v := range bldsmap.Codes(values) {
		s.info.Statuses = append(s.info.Statuses, bldsmap.Status(v))
	}
	if values, err = s.distinct(ctx, "District"); err != nil {
		return nil, err
	}
	for _, v := range bldsmap.Codes(values) {
		name := orCode(cleantext.Clean(cfg.Districts[v], 0), v)
		s.info.Districts = append(s.info.Districts, permits.District{ID: v, NameEn: name, NameZh: name})
	}
	return s, nil
}

// resolve checks a dataset URL and fills in the defaults every dataset
// shares: a 30 s client, UTC, and the citation "soda:<host>/<dataset>".
func resolve(raw string, client **http.Client, loc **time.Location, source *string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(u.Path, "/resource/") {
		return nil, fmt.Errorf("soda: dataset URL %q: want http(s)://host/resource/<4x4>.json", raw)
	}
	if *client == nil {
		*client = httpget.NewClient(30 * time.Second)
	}
	if *loc == nil {
		*loc = time.UTC
	}
	if *source == "" {
		*source = "soda:" + u.Host + "/" + strings.TrimSuffix(strings.TrimPrefix(u.Path[strings.Index(u.Path, "/resource/"):], "/resource/"), ".json")
	}
	return u, nil
}

func orCode(name, code string) string {
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	return code
}

// Info implements permits.Source.
func (s *Source) Info() permits.Info { return s.info }

// get runs one SoQL query and decodes its rows.
func (s *Source) get(ctx context.Context, v url.Values) ([]map[string]any, error) {
	h := http.Header{}
	h.Set("Accept", "application/json")
	if s.cfg.AppToken != "" {
		h.Set("X-App-Token", s.cfg.AppToken)
	}
	body, _, err := httpget.Get(ctx, s.cfg.HTTP, s.url+"?"+v.Encode(), h, s.cfg.MaxBytes)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var se *httpget.StatusError
		if errors.As(err, &se) {
			var e struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal([]byte(se.Body), &e)
			return nil, fmt.Errorf("%w: status %d %s %s", ErrDataset, se.Status, e.Code, e.Message)
		}
		return nil, fmt.Errorf("%w: %v", ErrDataset, err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("%w: rows are not a JSON array of objects: %w", ErrDataset, err)
	}
	return rows, nil
}

// distinct lists a field's values, most frequent first, up to 100.
func (s *Source) distinct(ctx context.Context, field string) ([]string, error) {
	cols := s.cols[field]
	if len(cols) != 1 {
		return nil, nil
	}
	v := url.Values{}
	v.Set("$select", cols[0]+", count(*) AS n")
	v.Set("$group", cols[0])
	v.Set("$order", "n DESC")
	v.Set("$limit", "100")
	rows, err := s.get(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("soda: values of %s: %w", cols[0], err)
	}
	var out []string
	for _, r := range rows {
		if x := bldsmap.Text(r[cols[0]]); x != "" {
			out = append(out, x)
		}
	}
	return out, nil
}

// quote writes a SoQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// floating writes a SoQL floating timestamp in the dataset's zone.
func (s *Source) floating(t time.Time) string {
	return quote(t.In(s.cfg.Location).Format("2006-01-02T15:04:05.000"))
}

// where builds a query's $where; ok is false when the query cannot match
// (it filters on something the dataset does not have).
func (s *Source) where(q permits.Query) (string, bool) {
	var c []string
	eq := func(field, v string) bool {
		if v == "" {
			return true
		}
		cols := s.cols[field]
		if len(cols) != 1 {
			return false
		}
		c = append(c, cols[0]+" = "+quote(v))
		return true
	}
	if !eq("District", q.District) || !eq("PermitType", q.PermitType) || !eq("StatusCurrent", q.Status) || !eq("WorkClass", q.WorkClass) {
		return "", false
	}
	if q.Flagged {
		return "", false // SODA datasets carry no review flags
	}
	if q.Open {
		var open []string
		for _, st := range s.info.Statuses {
			if st.Open {
				open = append(open, quote(st.Code))
			}
		}
		if len(open) == 0 || len(s.cols["StatusCurrent"]) != 1 {
			return "", false
		}
		c = append(c, s.cols["StatusCurrent"][0]+" IN ("+strings.Join(open, ", ")+")")
	}
	span := func(field string, from, to time.Time) bool {
		if from.IsZero() && to.IsZero() {
			return true
		}
		cols := s.cols[field]
		if len(cols) != 1 {
			return false
		}
		if !from.IsZero() {
			c = append(c, cols[0]+" >= "+s.floating(from))
		}
		if !to.IsZero() {
			c = append(c, cols[0]+" < "+s.floating(to))
		}
		return true
	}
	if !span("AppliedDate", q.AppliedFrom, q.AppliedTo) || !span("IssuedDate", q.IssuedFrom, q.IssuedTo) {
		return "", false
	}
	return strings.Join(c, " AND "), true
}

// Search implements permits.Source with two SoQL queries: the count and the page.
func (s *Source) Search(ctx context.Context, q permits.Query) (permits.Page, error) {
	where, ok := s.where(q)
	if !ok {
		return permits.Page{Permits: []permits.Permit{}}, nil
	}
	base := url.Values{}
	if where != "" {
		base.Set("$where", where)
	}
	if q.Text != "" {
		base.Set("$q", q.Text)
	}
	count := url.Values{}
	for k, v := range base {
		count[k] = v
	}
	count.Set("$select", "count(*) AS n")
	rows, err := s.get(ctx, count)
	if err != nil {
		return permits.Page{}, fmt.Errorf("soda: count: %w", err)
	}
	total := 0
	if len(rows) == 1 {
		total, _ = strconv.Atoi(bldsmap.Text(rows[0]["n"]))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	page := base
	page.Set("$limit", strconv.Itoa(limit))
	page.Set("$offset", strconv.Itoa(q.Offset))
	id, applied := s.cols["PermitNum"][0], s.cols["AppliedDate"][0]
	order := applied + " DESC, " + id + " DESC"
	switch q.OrderBy {
	case permits.OrderAppliedAsc:
		order = applied + " ASC, " + id + " ASC"
	case permits.OrderIssuedDesc:
		if cols := s.cols["IssuedDate"]; len(cols) == 1 {
			order = cols[0] + " DESC, " + id + " DESC"
		}
	}
	page.Set("$order", order)
	rows, err = s.get(ctx, page)
	if err != nil {
		return permits.Page{}, fmt.Errorf("soda: search: %w", err)
	}
	out := permits.Page{Total: total, Permits: make([]permits.Permit, 0, len(rows))}
	for _, r := range rows {
		p, err := s.m.Permit(r)
		if err != nil {
			out.Skipped++ // an incomplete row must not fail the question
			continue
		}
		out.Permits = append(out.Permits, p)
	}
	return out, nil
}

// Permit implements permits.Source.
func (s *Source) Permit(ctx context.Context, id string) (permits.Permit, error) {
	v := url.Values{}
	v.Set("$where", s.cols["PermitNum"][0]+" = "+quote(id))
	v.Set("$limit", "1")
	rows, err := s.get(ctx, v)
	if err != nil {
		return permits.Permit{}, fmt.Errorf("soda: permit %s: %w", id, err)
	}
	if len(rows) == 0 {
		return permits.Permit{}, fmt.Errorf("soda: permit %q: %w", id, permits.ErrNotFound)
	}
	return s.m.Permit(rows[0])
}
