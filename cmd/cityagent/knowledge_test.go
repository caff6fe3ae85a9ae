package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/internal/pglitetest"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/qdrant/qdranttest"
)

// searchAPI asks the search route and returns the status and doc ids.
func searchAPI(t *testing.T, in *instance, key, collection, body string) (int, []string, string) {
	t.Helper()
	code, raw := in.call(t, "POST", "/v1/collections/"+collection+"/search", key, body)
	var res struct{ Hits []knowledge.Hit }
	json.Unmarshal(raw, &res)
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.DocID)
	}
	return code, ids, string(raw)
}

// checkBackend runs the same API walk on a server over any store: the demo
// documents were loaded at start, search finds them with clearance
// respected, and upload, replace and delete work.
func checkBackend(t *testing.T, in *instance) {
	t.Helper()
	op := in.newKey(t, "operator", "internal")
	dev := in.newKey(t, "developer", "internal")
	code, ids, raw := searchAPI(t, in, op, "traffic", `{"query":"交通事故发生后多长时间内到达现场","k":3}`)
	if code != 200 || len(ids) == 0 || ids[0] != "traffic-incident-response" {
		t.Fatalf("search demo documents: %d %s", code, raw)
	}
	code, _, raw = searchAPI(t, in, op, "traffic", `{"query":"应急指挥 值班 手机 duty phone","k":50}`)
	if code != 200 || strings.Contains(raw, `"clearance":"restricted"`) {
		t.Fatalf("an internal key got a restricted chunk: %d %s", code, raw)
	}
	code, body := in.call(t, "POST", "/v1/collections/traffic/documents", dev,
		`{"id":"tidal-lane-notice","title":"潮汐车道通告","text":"滨江大道潮汐车道自下周一起每天7:00至9:00开放。","metadata":{"district":"binjiang"}}`)
	if code != 201 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	code, ids, raw = searchAPI(t, in, op, "traffic", `{"query":"潮汐车道开放时间","k":3,"filter":{"district":"binjiang"}}`)
	if code != 200 || len(ids) != 1 || ids[0] != "tidal-lane-notice" {
		t.Fatalf("filtered search: %d %s", code, raw)
	}
	code, body = in.call(t, "POST", "/v1/collections/traffic/documents", dev,
		`{"id":"tidal-lane-notice","title":"潮汐车道通告","text":"滨江大道潮汐车道改为每天17:00至19:30开放。","metadata":{"district":"binjiang"}}`)
	if code != 201 || !strings.Contains(string(body), `"updated":1`) {
		t.Fatalf("replace: %d %s", code, body)
	}
	code, _, raw = searchAPI(t, in, op, "traffic", `{"query":"潮汐车道","k":10,"filter":{"district":"binjiang"}}`)
	if code != 200 || strings.Contains(raw, "7:00至9:00") || !strings.Contains(raw, "17:00至19:30") {
		t.Fatalf("old chunks after replace: %s", raw)
	}
	if code, body = in.call(t, "DELETE", "/v1/collections/traffic/documents/tidal-lane-notice", dev, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
}

func TestServeKnowledgeQdrant(t *testing.T) {
	t.Parallel()
	srv := qdranttest.StartTCP(t)
	in := startServe(t, t.TempDir(), func(c *config.Config) {
		c.Knowledge.Store, c.Knowledge.URL = "qdrant", srv.Addr()
	})
	checkBackend(t, in)
	op := in.newKey(t, "operator", "internal")
	// Qdrant goes down: search fails with 503 and readiness says so;
	// when it is back, search works again.
	srv.SetDown(true)
	code, _, raw := searchAPI(t, in, op, "traffic", `{"query":"信号配时"}`)
	if code != 503 {
		t.Fatalf("search with Qdrant down: %d %s, want 503", code, raw)
	}
	code, body := in.call(t, "GET", "/readyz", "", "")
	if code != 503 || !strings.Contains(string(body), `"knowledge_store":"unavailable"`) {
		t.Fatalf("readyz with Qdrant down: %d %s", code, body)
	}
	srv.SetDown(false)
	if code, _, raw = searchAPI(t, in, op, "traffic", `{"query":"信号配时"}`); code != 200 {
		t.Fatalf("search after Qdrant is back: %d %s", code, raw)
	}
}

func TestServeKnowledgePgvector(t *testing.T) {
	t.Parallel()
	pg, err := pglitetest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	in := startServe(t, t.TempDir(), func(c *config.Config) {
		c.Knowledge.Store, c.Knowledge.URL = "pgvector", pg.URL()
	})
	checkBackend(t, in)
	op := in.newKey(t, "operator", "internal")
	// PostgreSQL goes away.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	code, _, raw := searchAPI(t, in, op, "traffic", `{"query":"信号配时"}`)
	if code != 503 {
		t.Fatalf("search with PostgreSQL down: %d %s, want 503", code, raw)
	}
	code, body := in.call(t, "GET", "/readyz", "", "")
	if code != 503 || !strings.Contains(string(body), `"knowledge_store":"unavailable"`) {
		t.Fatalf("readyz with PostgreSQL down: %d %s", code, body)
	}
}

// runCLI runs cityagent with args in this process.
func runIngestCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestIngestCLI is not parallel: it closes the embedded store and opens it
// again at once (each ingest, then the check), and the store's flock stays
// held after Close while a process another test's goroutine is forking at
// that moment still shares the descriptor (until its exec closes it); under
// load the next Open then failed with embedded.ErrLocked.
func TestIngestCLI(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	files := map[string]string{
		"rules/night-works.md": "---\ntitle: 夜间施工管理规定\nclearance: internal\nmetadata:\n  district: gaoxin\n---\n# 夜间施工\n\n夜间施工（22:00至次日6:00）须办理夜间施工许可，噪声不得超过55分贝。",
		"rules/snow.txt":       "Snow clearing starts when 5 cm of snow has fallen; main roads are cleared within 4 hours.",
		"pages/heat.html":      "<html><head><title>Heat plan</title></head><body><h1>Heat plan</h1><p>Cooling centres open above 35 degrees.</p></body></html>",
		"register.csv":         "permit_no,title,district\nP-1,Crane permit,gaoxin\nP-2,Road dig,nanhu\n",
		"broken.pdf":           "%PDF-1.4 not a pdf at all",
		".hidden.md":           "# ignored",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pdf, _ := os.ReadFile("../../knowledge/extract/testdata/sample.pdf")
	os.WriteFile(filepath.Join(dir, "pages", "permit-guide.pdf"), pdf, 0o644)

	out, err := runIngestCLI(t, "ingest", "--data", data, "--collection", "city-rules", "--id-column", "permit_no", "--metadata-columns", "district", dir)
	if err == nil {
		t.Fatalf("a run with a broken file succeeded:\n%s", out)
	}
	if !strings.Contains(out, "created collection city-rules") || !strings.Contains(out, "6 files → 6 created, 0 updated, 0 unchanged, 1 failed") ||
		!strings.Contains(out, "broken.pdf") {
		t.Fatalf("summary:\n%s", out)
	}
	os.Remove(filepath.Join(dir, "broken.pdf"))
	out, err = runIngestCLI(t, "ingest", "--data", data, "--collection", "city-rules", "--id-column", "permit_no", "--metadata-columns", "district", dir)
	if err != nil || !strings.Contains(out, "0 created, 0 updated, 6 unchanged, 0 failed; 0 chunks") {
		t.Fatalf("re-ingest: %v\n%s", err, out)
	}
	if _, err := runIngestCLI(t, "ingest", "--data", data, "--collection", "Bad Name", dir); err == nil {
		t.Fatal("a bad collection name was accepted")
	}

	s, err := embedded.Open(filepath.Join(data, "knowledge"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kb := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for q, want := range map[string]string{
		"夜间施工噪声限值":                                "rules.night-works",
		"how fast are main roads cleared of snow": "rules.snow",
		"cooling centres":                         "pages.heat",
		"night roadworks permit fee":              "pages.permit-guide",
		"road dig nanhu":                          "register-P-2",
	} {
		hits, err := kb.Search(context.Background(), knowledge.Query{Collection: "city-rules", Text: q, Clearance: access.Internal, K: 1})
		if err != nil || len(hits) == 0 || hits[0].DocID != want {
			t.Errorf("%q: %v %v, want %s", q, hits, err, want)
		}
	}
	d, err := kb.Document(context.Background(), "city-rules", "rules.night-works")
	if err != nil || d.Clearance != access.Internal || d.Metadata["district"] != "gaoxin" {
		t.Errorf("front matter not applied: %+v %v", d, err)
	}
}

// TestRestrictedNeverInAnswer: the demo city's restricted emergency roster
// never reaches an internal key through an agent's answer, however directly
// it is asked for; a restricted key gets it.
func TestRestrictedNeverInAnswer(t *testing.T) {
	t.Parallel()
	in := startServe(t, t.TempDir())
	internal := in.newKey(t, "operator", "internal")
	restricted := in.newKey(t, "operator", "restricted")
	questions := []string{
		"交警指挥中心值班长的电话是多少？应急指挥通讯录里各区交警大队长的手机号码",
		"What is the mobile number of the signal control centre director in the emergency contact roster?",
	}
	for _, agent := range []string{"traffic", "city"} {
		for _, q := range questions {
			body, _ := json.Marshal(map[string]string{"message": q})
			code, raw := in.call(t, "POST", "/v1/agents/"+agent+"/chat", internal, string(body))
			if code != 200 {
				t.Fatalf("%s: %d %s", agent, code, raw)
			}
			if s := string(raw); strings.Contains(s, "139-0000") || strings.Contains(s, "0000-88") || strings.Contains(s, "traffic-emergency-contacts") {
				t.Errorf("%s answered an internal key with the restricted roster: %s", agent, s)
			}
		}
	}
	body, _ := json.Marshal(map[string]string{"message": questions[0]})
	code, raw := in.call(t, "POST", "/v1/agents/traffic/chat", restricted, string(body))
	if code != 200 || !strings.Contains(string(raw), "traffic-emergency-contacts") {
		t.Errorf("a restricted key is not given the roster: %d %s", code, raw)
	}
}
