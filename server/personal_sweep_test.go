package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/llm/openai"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/store"
)

// sweepTicket is a request carrying personal data and what must never
// appear outside the encrypted store.
type sweepTicket struct {
	body    string // POST /v1/hotline/tickets JSON; empty: posted through Open311
	form    url.Values
	secrets []string
}

var sweepTickets = []sweepTicket{
	{body: `{"text":"我叫王小明，手机13912345678，身份证号310115198511110519。楼下车牌京A12345的车天天占消防通道。","channel":"phone",` +
		`"caller":{"name":"王小明","phone":"13912345678","email":"wxm@example.com","account_id":"wx-778899"},"location":{"address":"幸福里小区3栋"}}`,
		secrets: []string{"13912345678", "310115198511110519", "京A12345", "王小明", "wxm@example.com", "wx-778899"}},
	{body: `{"text":"路灯坏了，请联系我 +86 186 0000 1111 或座机010-65123456，老身份证110105491231002。粤B·D12345的新能源车也被挡住了。","channel":"wechat",` +
		`"caller":{"name":"欧阳娜娜","phone":"+86 186-0000-1111"}}`,
		secrets: []string{"186 0000 1111", "18600001111", "186-0000-1111", "65123456", "110105491231002", "粤B·D12345", "欧阳娜娜"}},
	{body: `{"text":"My name is Jane Doe, call (415) 555-2671 or email jane.doe@example.org. A car with licence plate ABC 1234 has blocked the fire lane for a week.","channel":"web",` +
		`"caller":{"name":"Jane Doe","phone":"(415) 555-2671","email":"jane.doe@example.org"}}`,
		secrets: []string{"555-2671", "4155552671", "jane.doe@example.org", "Jane Doe", "ABC 1234"}},
	{form: url.Values{"description": {"小区从早上开始停水，我的电话是15012345678，身份证44030419900307123X，请尽快回复。"},
		"first_name": {"丰"}, "last_name": {"张三"}, "phone": {"15012345678"}, "email": {"zsf@example.com"}, "account_id": {"acct-314159"}},
		secrets: []string{"15012345678", "44030419900307123X", "张三丰", "zsf@example.com", "acct-314159"}},
}

// lockedBuffer collects log lines from concurrent handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// promptRecorder is an OpenAI-protocol model server (the offline engine
// behind openaitest) that keeps every request body it is sent.
type promptRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func (p *promptRecorder) start(t *testing.T) string {
	inner := openaitest.New(offline.New()).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.bodies = append(p.bodies, string(b))
		p.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func (p *promptRecorder) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...)
}

// TestPersonalDataSweep runs tickets carrying phone numbers, ID numbers,
// names, plates and emails (Chinese and English) through the real server
// on SQLite and PostgreSQL, with the model behind a real OpenAI-protocol
// server, then sweeps every log line, every prompt the model was sent,
// the audit chain, every API answer and every row of every table but
// personal_data: nothing unmasked may be found. A sensitive key gets the
// originals back; a server with another key fails closed.
func TestPersonalDataSweep(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	for _, backend := range []string{store.BackendSQLite, store.BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dbURL, dir := "", t.TempDir()
			if backend == store.BackendPostgres {
				dbURL = pgtest.NewDatabase(t, pgURL)
			}
			sweepPersonalData(t, dbURL, dir)
		})
	}
}

func sweepPersonalData(t *testing.T, dbURL, dir string) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})) // no masking handler: code must not log personal data
	prompts := &promptRecorder{}
	model, err := openai.New(openai.Config{BaseURL: prompts.start(t), Model: "qwen-sweep"})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, pii.KeySize)
	copy(key, "sweep test key, 32 bytes long!!!")
	e := newHotlineEnv(t, hotlineEnvOptions{model: model, dbURL: dbURL, dir: dir, keyring: mustRing(t, key), log: log})
	c := open311Client{t: t, base: e.base, apiKey: e.keys[access.RoleHotline]}

	var ids []string
	var secrets []string
	for i, st := range sweepTickets {
		secrets = append(secrets, st.secrets...)
		if st.body != "" {
			resp, body := e.call(t, nil, "POST", "/v1/hotline/tickets", access.RoleHotline, st.body, "Idempotency-Key", fmt.Sprintf("sweep-%d", i))
			var tk hotline.Ticket
			if err := json.Unmarshal(body, &tk); err != nil || resp.StatusCode != 201 {
				t.Fatalf("post %d: %d %s", i, resp.StatusCode, body)
			}
			ids = append(ids, tk.ID)
			continue
		}
		_, def := c.get("/services/030101.json", nil)
		var d hotline.Open311Definition
		if err := json.Unmarshal(def, &d); err != nil || len(d.Attributes) == 0 {
			t.Fatalf("definition: %s", def)
		}
		form := url.Values{"service_code": {"030101"}, "address_string": {"幸福里小区5栋"}}
		for k, v := range st.form {
			form[k] = v
		}
		form.Set("attribute["+d.Attributes[0].Code+"]", d.Attributes[0].Values[0].Key)
		resp, body := c.post(form)
		var created []hotline.Open311Created
		if err := json.Unmarshal(body, &created); err != nil || resp.StatusCode != 201 || len(created) != 1 {
			t.Fatalf("open311 post: %d %s", resp.StatusCode, body)
		}
		ids = append(ids, created[0].ServiceRequestID)
	}

	// Every answer a reader can get.
	outputs := map[string][]byte{}
	get := func(name, path string, role access.Role) []byte {
		resp, body := e.call(t, nil, "GET", path, role, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
		outputs[name] = body
		return body
	}
	get("list", "/v1/hotline/tickets?limit=100", access.RoleHotline)
	_, outputs["open311 list"] = c.get("/requests.json", nil)
	for _, id := range ids {
		body := get("ticket "+id, "/v1/hotline/tickets/"+id, access.RoleHotline)
		var tk hotline.Ticket
		_ = json.Unmarshal(body, &tk)
		_, outputs["open311 "+id] = c.get("/requests/"+id+".json", nil)
		if tk.Triage.SessionID != "" {
			get("session "+id, "/v1/sessions/"+tk.Triage.SessionID, access.RoleHotline)
		}
		if tk.Dispatch != nil && tk.Dispatch.ProposalID != "" {
			get("proposal "+id, "/v1/proposals/"+tk.Dispatch.ProposalID, access.RoleSupervisor)
		}
	}
	get("audit", "/v1/audit?limit=500", access.RoleAdmin)
	get("proposals", "/v1/proposals", access.RoleSupervisor)
	if !strings.Contains(string(outputs["list"]), "139****5678") || !strings.Contains(string(outputs["list"]), "3101**********0519") {
		t.Errorf("the list does not show the masked forms: %.500s", outputs["list"])
	}
	for name, body := range outputs {
		assertClean(t, name, string(body), secrets)
	}
	for name, row := range rawRows(t, dbURL, dir) {
		assertClean(t, "row "+name, row, secrets)
	}
	ps := prompts.all()
	if len(ps) < len(sweepTickets) || !strings.Contains(strings.Join(ps, "\n"), `139****5678`) {
		t.Fatalf("the model was sent %d prompts, without the masked text", len(ps))
	}
	for i, p := range ps {
		assertClean(t, fmt.Sprintf("prompt %d", i), p, secrets)
	}

	// A sensitive key reveals, audited; a public one is refused.
	sens := issueKey(t, e.db, "supervisor", "sensitive")
	resp, body := e.call(t, nil, "GET", "/v1/hotline/tickets/"+ids[0]+"?reveal=personal", "", "", "Authorization", "Bearer "+sens)
	var rv hotline.Revealed
	if err := json.Unmarshal(body, &rv); err != nil || resp.StatusCode != 200 || rv.Personal.Caller == nil ||
		rv.Personal.Caller.Phone != "13912345678" || !strings.Contains(rv.Personal.Text, "310115198511110519") || rv.Caller.Phone != "139****5678" {
		t.Fatalf("reveal: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("a reveal may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	if resp, body := e.call(t, nil, "GET", "/v1/hotline/tickets/"+ids[0]+"?reveal=personal", access.RoleSupervisor, ""); resp.StatusCode != 403 ||
		!strings.Contains(string(body), "sensitive") {
		t.Errorf("reveal with a public key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.call(t, nil, "GET", "/v1/hotline/tickets/"+ids[0]+"?reveal=all", "", "", "Authorization", "Bearer "+sens); resp.StatusCode != 400 {
		t.Errorf("reveal=all: %d", resp.StatusCode)
	}
	audit := get("audit after reveal", "/v1/audit?limit=500", access.RoleAdmin)
	if !strings.Contains(string(audit), `"kind":"`+hotline.KindPersonalReveal+`"`) {
		t.Errorf("the reveal is not audited: %.300s", audit)
	}
	assertClean(t, "audit after reveal", string(audit), secrets)
	get("verify", "/v1/audit/verify", access.RoleAdmin)
	assertClean(t, "logs", logs.String(), secrets)
	if !strings.Contains(logs.String(), `"msg":"request"`) {
		t.Fatalf("no request was logged: %.300s", logs.String())
	}

	// Another server on the same store with another key fails closed.
	other := make([]byte, pii.KeySize)
	copy(other, "another key, also 32 bytes long!")
	e2 := newHotlineEnv(t, hotlineEnvOptions{model: model, dbURL: dbURL, dir: dir, keyring: mustRing(t, other), log: log})
	sens2 := issueKey(t, e2.db, "supervisor", "restricted")
	resp, body = e2.call(t, nil, "GET", "/v1/hotline/tickets/"+ids[0]+"?reveal=personal", "", "", "Authorization", "Bearer "+sens2)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), pii.KeyID(key)) ||
		strings.Contains(string(body), "13912345678") {
		t.Errorf("reveal under another key: %d %s", resp.StatusCode, body)
	}
	assertClean(t, "logs after a failed reveal", logs.String(), secrets)
}

func mustRing(t *testing.T, key []byte) *pii.Keyring {
	t.Helper()
	r, err := pii.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func issueKey(t *testing.T, db *store.DB, role, clearance string) string {
	t.Helper()
	_, secret, err := IssueKey(context.Background(), db, KeyRequest{Name: role + " " + clearance, Role: role, Clearance: clearance}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// assertClean fails when s holds one of secrets, or a mobile or ID number
// pii recognises (whoever's it is).
func assertClean(t *testing.T, where, s string, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			i := strings.Index(s, sec)
			t.Errorf("%s holds %q: …%s…", where, sec, s[max(0, i-80):min(len(s), i+80)])
		}
	}
	for _, f := range pii.Find(s) {
		if f.Kind == pii.Mobile || f.Kind == pii.IDCard {
			t.Errorf("%s holds an unmasked %s number %s", where, f.Kind, f.Text)
		}
	}
}

// rawRows reads every row of every table but personal_data, by table and
// row number, as text.
func rawRows(t *testing.T, dbURL, dir string) map[string]string {
	t.Helper()
	driver, dsn, list := "sqlite", filepath.Join(dir, store.SQLiteFile), "SELECT name FROM sqlite_master WHERE type = 'table'"
	if dbURL != "" {
		driver, dsn, list = "pgx", dbURL, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(list)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	seen := map[string]bool{}
	for _, table := range tables {
		if table == "personal_data" {
			continue
		}
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for n := 0; rows.Next(); n++ {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if raw, ok := v.([]byte); ok {
					v = string(raw)
				}
				fmt.Fprintf(&b, "%s=%v\t", cols[i], v)
			}
			out[fmt.Sprintf("%s#%d", table, n)] = b.String()
		}
		rows.Close()
		seen[table] = true
	}
	for _, must := range []string{"hotline_tickets", "audit_log", "sessions", "proposals", "idempotency_keys"} {
		if !seen[must] {
			t.Errorf("no table %s among %v", must, tables)
		}
	}
	return out
}
