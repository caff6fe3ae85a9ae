// Package sodatest provides a Socrata SODA 2 endpoint for tests: a real
// HTTP server on 127.0.0.1 serving a demo city's permit register in the
// shape of Chicago's building permits dataset (ydr8-5enu: permit_,
// permit_type, permit_status, application_start_date, issue_date,
// work_description, reported_cost, total_fee, community_area, …, every value
// a string as SODA sends them), answering a subset of SoQL — $select with
// count(*), $where with =, >=, <, IN and AND, $q, $order, $group, $limit and
// $offset — and checking the X-App-Token header.
package sodatest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/permits"
)

// Dataset is the 4x4 id the server answers for.
const Dataset = "ydr8-5enu"

// Path is the resource path of the dataset.
const Path = "/resource/" + Dataset + ".json"

// ChicagoType maps the demo city's permit types to Chicago's names.
var ChicagoType = map[string]string{
	democity.PermitBuilding:    "PERMIT - NEW CONSTRUCTION",
	democity.PermitRenovation:  "PERMIT - RENOVATION/ALTERATION",
	democity.PermitAdvertising: "PERMIT - SIGNS",
	democity.PermitOccupation:  "PERMIT - SCAFFOLDING",
	democity.PermitExcavation:  "PERMIT - EASY PERMIT PROCESS",
}

// ChicagoStatus maps the demo city's statuses to Chicago-style ones.
var ChicagoStatus = map[string]string{
	democity.StatusReceived:     "RECEIVED",
	democity.StatusUnderReview:  "UNDER REVIEW",
	democity.StatusDocsRequired: "HOLD - CORRECTIONS REQUIRED",
	democity.StatusApproved:     "APPROVED - FEES DUE",
	democity.StatusIssued:       "ISSUED",
	democity.StatusUnderway:     "ACTIVE",
	democity.StatusCompleted:    "COMPLETE",
	democity.StatusRefused:      "DENIED",
	democity.StatusWithdrawn:    "CANCELLED",
	democity.StatusExpired:      "EXPIRED",
}

// Server is a SODA endpoint over a demo city's register as it stands at the
// city's clock when the server starts.
type Server struct {
	URL   string // the dataset's resource URL
	Token string // the app token it expects ("" = none)
	rows  []map[string]string
	cols  map[string]bool
	srv   *httptest.Server

	mu      sync.Mutex
	queries []string
	tokens  []string
}

// New serves city's register; token, if not empty, is required.
func New(t testing.TB, city *democity.City, token string) *Server {
	t.Helper()
	var rows []map[string]string
	for _, p := range city.PermitsAt(city.Now()) {
		rows = append(rows, row(p, city.Location()))
	}
	cols := []string{"issue_date", "processing_time"}
	for k := range rows[0] {
		cols = append(cols, k)
	}
	return NewDataset(t, Dataset, rows, cols, token)
}

// NewDataset serves rows as dataset (a 4x4 id) with columns cols; a row
// without a column is a null, as Socrata leaves nulls out of its JSON.
func NewDataset(t testing.TB, dataset string, rows []map[string]string, cols []string, token string) *Server {
	t.Helper()
	s := &Server{Token: token, rows: rows, cols: map[string]bool{}}
	for _, c := range cols {
		s.cols[c] = true
	}
	path := "/resource/" + dataset + ".json"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path, s.handle)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + path
	t.Cleanup(s.srv.Close)
	return s
}

// Queries returns the query strings received.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// Tokens returns the X-App-Token headers received.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens)
}

func floating(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05.000")
}

// row writes a permit as Chicago's dataset would.
func row(p permits.Permit, loc *time.Location) map[string]string {
	num, name, _ := strings.Cut(p.OriginalAddress1, " ")
	r := map[string]string{
		"id": strings.ReplaceAll(strings.TrimPrefix(p.PermitNum, "BP-"), "-", ""), "permit_": p.PermitNum,
		"permit_type": ChicagoType[p.PermitType], "permit_status": ChicagoStatus[p.StatusCurrent],
		"application_start_date": floating(p.AppliedDate, loc), "work_description": p.Description,
		"street_number": num, "street_direction": "", "street_name": strings.ToUpper(name),
		"reported_cost": strconv.FormatFloat(p.EstProjectCost, 'f', -1, 64), "total_fee": strconv.FormatFloat(p.Fee, 'f', 2, 64),
		"community_area": p.District, "contact_1_name": p.ContractorCompanyName,
	}
	if p.IssuedDate != nil {
		r["issue_date"] = floating(*p.IssuedDate, loc)
		r["processing_time"] = strconv.Itoa(int(p.IssuedDate.Sub(p.AppliedDate).Hours() / 24))
	}
	return r
}

func soqlError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "error": true, "message": msg})
}

var (
	clauseRE = regexp.MustCompile(`^(\w+)\s*(=|>=|<|IN)\s*(.+)$`)
	stringRE = regexp.MustCompile(`'((?:[^']|'')*)'`)
)

type clause struct {
	col, op string
	vals    []string
}

func parseWhere(w string, cols map[string]bool) ([]clause, error) {
	if strings.TrimSpace(w) == "" {
		return nil, nil
	}
	var out []clause
	for _, part := range strings.Split(w, " AND ") {
		m := clauseRE.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return nil, fmt.Errorf("could not parse %q", part)
		}
		if !cols[m[1]] {
			return nil, fmt.Errorf("no such column: %s", m[1])
		}
		c := clause{col: m[1], op: m[2]}
		for _, sm := range stringRE.FindAllStringSubmatch(m[3], -1) {
			c.vals = append(c.vals, strings.ReplaceAll(sm[1], "''", "'"))
		}
		if len(c.vals) == 0 || (c.op != "IN" && len(c.vals) != 1) {
			return nil, fmt.Errorf("bad literal in %q", part)
		}
		out = append(out, c)
	}
	return out, nil
}

func (c clause) match(r map[string]string) bool {
	v, ok := r[c.col]
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return v == c.vals[0]
	case ">=":
		return v >= c.vals[0]
	case "<":
		return v < c.vals[0]
	}
	return slices.Contains(c.vals, v)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.queries = append(s.queries, r.URL.RawQuery)
	s.tokens = append(s.tokens, r.Header.Get("X-App-Token"))
	s.mu.Unlock()
	if s.Token != "" && r.Header.Get("X-App-Token") != s.Token {
		soqlError(w, http.StatusForbidden, "permission_denied", "Invalid app_token specified")
		return
	}
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(k, "$") && !slices.Contains([]string{"$select", "$where", "$order", "$group", "$limit", "$offset", "$q"}, k) {
			soqlError(w, http.StatusBadRequest, "query.soql.invalid", "unknown parameter "+k)
			return
		}
	}
	where, err := parseWhere(q.Get("$where"), s.cols)
	if err != nil {
		soqlError(w, http.StatusBadRequest, "query.soql.no-such-column", err.Error())
		return
	}
	text := strings.ToLower(q.Get("$q"))
	var hits []map[string]string
	for _, row := range s.rows {
		ok := true
		for _, c := range where {
			ok = ok && c.match(row)
		}
		if ok && text != "" {
			found := false
			for _, v := range row {
				found = found || strings.Contains(strings.ToLower(v), text)
			}
			ok = found
		}
		if ok {
			hits = append(hits, row)
		}
	}
	limit, offset := 1000, 0
	if v := q.Get("$limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 || limit > 50000 {
			soqlError(w, http.StatusBadRequest, "query.soql.invalid", "bad $limit")
			return
		}
	}
	if v := q.Get("$offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			soqlError(w, http.StatusBadRequest, "query.soql.invalid", "bad $offset")
			return
		}
	}
	sel := strings.TrimSpace(q.Get("$select"))
	var out []map[string]string
	switch {
	case sel == "count(*) AS n":
		out = []map[string]string{{"n": strconv.Itoa(len(hits))}}
	case q.Get("$group") != "":
		col := q.Get("$group")
		if !s.cols[col] {
			soqlError(w, http.StatusBadRequest, "query.soql.no-such-column", "no such column: "+col)
			return
		}
		if sel != col+", count(*) AS n" {
			soqlError(w, http.StatusBadRequest, "query.soql.invalid", "unsupported $group/$select")
			return
		}
		counts := map[string]int{}
		for _, row := range hits {
			counts[row[col]]++
		}
		for v, n := range counts {
			out = append(out, map[string]string{col: v, "n": strconv.Itoa(n)})
		}
		slices.SortFunc(out, func(a, b map[string]string) int {
			na, _ := strconv.Atoi(a["n"])
			nb, _ := strconv.Atoi(b["n"])
			if d := cmp.Compare(nb, na); d != 0 {
				return d
			}
			return cmp.Compare(a[col], b[col])
		})
	case sel == "":
		if err := sortRows(hits, q.Get("$order"), s.cols); err != nil {
			soqlError(w, http.StatusBadRequest, "query.soql.no-such-column", err.Error())
			return
		}
		out = hits
	default:
		soqlError(w, http.StatusBadRequest, "query.soql.invalid", "unsupported $select")
		return
	}
	out = out[min(offset, len(out)):min(offset+limit, len(out))]
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if out == nil {
		out = []map[string]string{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func sortRows(rows []map[string]string, order string, cols map[string]bool) error {
	if order == "" {
		return nil
	}
	type key struct {
		col  string
		desc bool
	}
	var keys []key
	for _, part := range strings.Split(order, ",") {
		f := strings.Fields(part)
		if len(f) == 0 || !cols[f[0]] {
			return fmt.Errorf("no such column in $order: %q", part)
		}
		keys = append(keys, key{f[0], len(f) > 1 && strings.EqualFold(f[1], "DESC")})
	}
	slices.SortStableFunc(rows, func(a, b map[string]string) int {
		for _, k := range keys {
			d := cmp.Compare(a[k.col], b[k.col])
			if k.desc {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return 0
	})
	return nil
}
