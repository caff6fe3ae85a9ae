package hotline

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/traffic"
)

// testRequest is one citizen request of testdata/requests.yaml with the
// triage an operator would give.
type testRequest struct {
	ID         string `yaml:"id"`
	Split      string `yaml:"split"`
	Text       string `yaml:"text"`
	Lang       string `yaml:"lang"`
	Type       string `yaml:"type"`
	Category   string `yaml:"category"`
	Department string `yaml:"department"`
	Urgency    string `yaml:"urgency"`
}

func loadRequests(t testing.TB) []testRequest {
	t.Helper()
	data, err := os.ReadFile("testdata/requests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Requests []testRequest `yaml:"requests"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	return f.Requests
}

// hotlineKey is the principal tickets come in with in tests.
var hotlineKey = access.Principal{KeyID: "key_hotline", Name: "12345 gateway", Role: access.RoleHotline, Clearance: access.Public}

// rig is a whole hotline on real parts: the SQLite state store, the
// embedded knowledge base with the demo documents, the demo city's traffic
// tools, the built-in hotline agent on the given model, and the action
// service with the store dispatch executor.
type rig struct {
	db      *store.DB
	kb      *knowledge.Base
	runner  *agents.Runner // the triage runner
	triager *Triager
	actions *actions.Service
	svc     *Service
	tax     *Taxonomy
}

type rigOptions struct {
	model       llm.Model // nil: the offline engine
	deadline    time.Duration
	autoApprove bool
	noDispatch  bool
	now         func() time.Time
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, kb); err != nil {
		t.Fatal(err)
	}
	tax := DefaultTaxonomy()
	tool, err := NewTool(tax)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now
	city := democity.New(2024, clock)
	reg, err := tools.NewRegistry(append(traffic.Tools(city, clock), tool)...)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := agents.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	off := offline.New()
	models := agents.Models{ByName: map[string]llm.Model{"offline": off}, Default: "offline", Offline: off}
	if o.model != nil {
		models.ByName[o.model.Name()] = o.model
		models.Default = o.model.Name()
	}
	base := &agents.Runner{Catalog: cat, Models: models, Tools: reg, Knowledge: kb, Sessions: db, Audit: db}
	if o.deadline == 0 {
		o.deadline = DefaultDeadline
	}
	spec, err := cat.Get("hotline")
	if err != nil {
		t.Fatal(err)
	}
	runner, err := NewTriageRunner(base, TriageSpec(spec, ModelBudget(o.deadline)))
	if err != nil {
		t.Fatal(err)
	}
	acat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	asvc, err := actions.NewService(actions.Config{Catalog: acat, Store: db, Executors: map[string]actions.Executor{"store.dispatch": actions.NewStoreDispatch(db)}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, kb: kb, runner: runner, actions: asvc, tax: tax}
	r.triager = &Triager{Tax: tax, Rules: NewClassifier(tax), Runner: runner, Agent: "hotline", Retriever: kb}
	var disp Dispatcher
	if !o.noDispatch {
		disp = GovernedDispatcher{Gov: asvc}
	}
	r.svc, err = NewService(Config{Taxonomy: tax, Store: db, Triager: r.triager, Dispatcher: disp, Deadline: o.deadline,
		AutoApprove: o.autoApprove, Location: city.Location(), Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
