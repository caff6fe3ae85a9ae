package ngsildtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Broker is a context broker over fixed entities, for tests that start from
// real payloads (the Smart Data Models examples): /ngsi-ld/v1/entities
// with type, id and q filters and pagination, and either a temporal API
// over fixed temporal entities or none at all (501 Not Implemented, as a
// broker without a history store answers).
type Broker struct {
	URL string

	mu       sync.Mutex
	entities []map[string]any
	temporal []map[string]any // nil: no temporal API
	paths    []string
}

// NewBroker starts a broker over entities; temporal nil means no temporal
// API. It stops when the test ends.
func NewBroker(t testing.TB, entities, temporal []map[string]any) *Broker {
	t.Helper()
	b := &Broker{entities: entities, temporal: temporal}
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ngsi-ld/v1/entities", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		limit, offset, ok := s.begin(w, r)
		if !ok {
			return
		}
		b.serve(w, r, b.entities, limit, offset, s)
	})
	mux.HandleFunc("GET /ngsi-ld/v1/temporal/entities", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		if b.temporal == nil {
			problem(w, http.StatusNotImplemented, "OperationNotSupported", "this broker keeps no temporal history")
			return
		}
		limit, offset, ok := s.begin(w, r)
		if !ok {
			return
		}
		ents, err := window(b.temporal, r.URL.Query())
		if err != nil {
			problem(w, http.StatusBadRequest, "BadRequestData", err.Error())
			return
		}
		b.serve(w, r, ents, limit, offset, s)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

func (b *Broker) record(r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.paths = append(b.paths, r.URL.Path)
}

// Paths lists the paths requested so far.
func (b *Broker) Paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.paths...)
}

func (b *Broker) serve(w http.ResponseWriter, r *http.Request, ents []map[string]any, limit, offset int, s *Server) {
	q := r.URL.Query()
	var typed []map[string]any
	for _, e := range ents {
		if typ := q.Get("type"); typ == "" || e["type"] == typ {
			typed = append(typed, e)
		}
	}
	out, err := filter(typed, q.Get("id"), q.Get("q"))
	if err != nil {
		problem(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	s.reply(w, out, limit, offset)
}

// window keeps the attribute instances a temporal query asks for:
// observedAt in [timeAt, endTimeAt) for between, the lastN before timeAt
// for before.
func window(ents []map[string]any, q map[string][]string) ([]map[string]any, error) {
	get, at, err := timeAt(q)
	if err != nil {
		return nil, err
	}
	rel := get("timerel")
	end, lastN := time.Time{}, 1
	switch rel {
	case "between":
		if end, err = time.Parse(time.RFC3339, get("endTimeAt")); err != nil || !end.After(at) {
			return nil, fmt.Errorf("endTimeAt must be an RFC 3339 time after timeAt")
		}
	case "before":
		if v := get("lastN"); v != "" {
			if lastN, err = strconv.Atoi(v); err != nil || lastN < 1 {
				return nil, fmt.Errorf("bad lastN")
			}
		}
	default:
		return nil, fmt.Errorf("timerel must be between or before")
	}
	var out []map[string]any
	for _, e := range ents {
		c := map[string]any{}
		for k, v := range e {
			list, ok := v.([]any)
			if !ok {
				c[k] = v
				continue
			}
			var static, timed []any
			for _, x := range list {
				t := observedAt(x)
				switch {
				case t.IsZero():
					static = append(static, x) // a relationship or a static value
				case (rel == "between" && !t.Before(at) && t.Before(end)) || (rel == "before" && t.Before(at)):
					timed = append(timed, x)
				}
			}
			sort.SliceStable(timed, func(i, j int) bool { return observedAt(timed[i]).Before(observedAt(timed[j])) })
			if rel == "before" {
				timed = timed[max(0, len(timed)-lastN):]
			}
			c[k] = append(static, timed...)
		}
		out = append(out, c)
	}
	return out, nil
}

func observedAt(x any) time.Time {
	m, _ := x.(map[string]any)
	ts, _ := m["observedAt"].(string)
	t, _ := time.Parse(time.RFC3339Nano, ts)
	return t
}

// Fixture reads a JSON object from a file, e.g. a Smart Data Models example.
func Fixture(t testing.TB, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}
