package hotline

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Type is a request type (诉求类型): inquiry, help, complaint, report,
// suggestion or praise in the shipped taxonomy.
type Type struct {
	ID          string   `yaml:"id" json:"id"`
	Name        string   `yaml:"name" json:"name"`
	NameZh      string   `yaml:"name_zh" json:"name_zh"`
	Description string   `yaml:"description" json:"description"`
	Keywords    []string `yaml:"keywords" json:"-"` // strong cues
	Hints       []string `yaml:"hints" json:"-"`    // weak cues
	Reply       Text     `yaml:"reply" json:"-"`    // the draft reply template
	// MaxUrgency caps the urgency of tickets of this type (an inquiry
	// about a planned outage is not itself an outage); empty: no cap.
	MaxUrgency string `yaml:"max_urgency" json:"max_urgency,omitempty"`
	// Live cues say a problem is happening now ("现在", "right now"):
	// MaxUrgency does not cap a request with a live cue and no Planned cue
	// (an inquiry about a live outage is as urgent as the outage).
	Live    []string `yaml:"live" json:"-"`
	Planned []string `yaml:"planned" json:"-"`
	// Openers are how a question of this type opens ("how do", "请问"): a
	// sentence that opens with one and ends with a question mark is a
	// strong cue.
	Openers []string `yaml:"openers" json:"-"`
}

// Text is a string in both languages.
type Text struct {
	Zh string `yaml:"zh" json:"zh"`
	En string `yaml:"en" json:"en"`
}

// In returns the text in lang ("zh" or "en"), falling back to the other.
func (t Text) In(lang string) string {
	if lang == LangEn && t.En != "" || t.Zh == "" {
		return t.En
	}
	return t.Zh
}

// Urgency is an urgency level (紧急程度).
type Urgency struct {
	ID          string   `yaml:"id" json:"id"`
	Name        string   `yaml:"name" json:"name"`
	NameZh      string   `yaml:"name_zh" json:"name_zh"`
	Description string   `yaml:"description" json:"description"`
	Keywords    []string `yaml:"keywords" json:"-"`
	// Hazards recognise this urgency by meaning: a thing at risk and a
	// sign of danger in the same sentence, in any words the lists hold.
	Hazards []Hazard `yaml:"hazards" json:"-"`
}

// Hazard is a danger to life or property described in a request: one of
// Things (gas, a power line, the road surface, a lift, a person) with one
// of Signs (a smell, sparks, sinking, trapped, bleeding) in one sentence.
// Category, when set, is the item such a hazard is usually filed under.
type Hazard struct {
	Name     string   `yaml:"name"`
	Category string   `yaml:"category"`
	Things   []string `yaml:"things"`
	Signs    []string `yaml:"signs"`
}

// Mentions mark clauses whose words should not decide a request's type or
// category: Negated clauses say what the request is not about ("不是投诉",
// "this isn't a complaint"), Reported clauses pass on what someone else
// said or did ("物业说", "the property manager says").
type Mentions struct {
	Negated  []string `yaml:"negated"`
	Reported []string `yaml:"reported"`
	// Setting clauses tell who is calling, where they were or whom they
	// called ("我是开出租车的", "coming home from the bus stop", "打了物业电话"):
	// their words count as little as reported ones.
	Setting []string `yaml:"setting"`
	// A category word followed by LandmarkAfter (旁边, 门口) or preceded by
	// LandmarkBefore ("next to the") names a place, not the problem.
	LandmarkAfter  []string `yaml:"landmark_after"`
	LandmarkBefore []string `yaml:"landmark_before"`
	// Focus marks the clause that says what the request is about
	// ("就想问", "I want to know"): its words count 1.5 times.
	Focus []string `yaml:"focus"`
	// NearMiss words right before a hazard's sign ("差点", "almost") say it
	// did not happen: no hazard.
	NearMiss []string `yaml:"near_miss"`
	// PastAfter words right after a hazard's sign say it happened once,
	// not now ("上个月还困过人"): no hazard.
	PastAfter []string `yaml:"past_after"`
	// A sentence with a Past word and no Now word tells of a hazard that is
	// over ("上次煤气泄漏你们处理得很快"): its signs raise nothing.
	Past []string `yaml:"past"`
	Now  []string `yaml:"now"`
	// Unreal words in a clause say the hazard it names is not happening: a
	// drill, the news, somewhere else ("演练", "on the news").
	Unreal []string `yaml:"unreal"`
	// Hypothetical words say what follows them in the clause is a fear, not
	// what is happening ("万一", "what if").
	Hypothetical []string `yaml:"hypothetical"`
	// Resolved words in a sentence say its hazard has been dealt with ("已经
	// 扑灭了", "人没事", "put out"), unless a Still word says it is back or
	// goes on ("还", "又", "but", "still").
	Resolved []string `yaml:"resolved"`
	Still    []string `yaml:"still"`
	// Explained words find a cause that is no hazard for what the sentence
	// describes ("一看是垃圾桶", "it's just the battery"): a hazard none of
	// whose signs follows them is explained away.
	Explained []string `yaml:"explained"`
}

// DeadlineRule sets the deadline of the tickets it matches. Empty fields
// match everything; the first matching rule of a taxonomy wins.
type DeadlineRule struct {
	Name     string        `yaml:"name" json:"name"`
	NameZh   string        `yaml:"name_zh" json:"name_zh"`
	Urgency  string        `yaml:"urgency" json:"urgency,omitempty"`
	Types    []string      `yaml:"types" json:"types,omitempty"`
	Codes    []string      `yaml:"codes" json:"codes,omitempty"` // category code prefixes
	Complex  *bool         `yaml:"complex" json:"complex,omitempty"`
	Within   time.Duration `yaml:"within" json:"-"`
	WithinHr float64       `yaml:"-" json:"within_hours"`
	// PauseForCitizen lets the clock of the rule's tickets pause while the
	// department waits for the citizen (documents, access to the home);
	// the pause is recorded and moves the deadline (hotline/lifecycle.go).
	PauseForCitizen bool `yaml:"pause_for_citizen" json:"pause_for_citizen,omitempty"`
}

func (r DeadlineRule) matches(typ string, c *Category, urgency string) bool {
	if r.Urgency != "" && r.Urgency != urgency {
		return false
	}
	if len(r.Types) > 0 && !slices.Contains(r.Types, typ) {
		return false
	}
	if len(r.Codes) > 0 && !slices.ContainsFunc(r.Codes, func(p string) bool { return strings.HasPrefix(c.Code, p) }) {
		return false
	}
	if r.Complex != nil && *r.Complex != c.Complex {
		return false
	}
	return true
}

// Department is a handling unit (承办单位).
type Department struct {
	ID      string   `yaml:"id" json:"id"`
	Name    string   `yaml:"name" json:"name"`
	NameZh  string   `yaml:"name_zh" json:"name_zh"`
	Aliases []string `yaml:"aliases" json:"aliases,omitempty"`
}

// Attribute is an Open311 service attribute a category asks for.
type Attribute struct {
	Code        string           `yaml:"code" json:"code"`
	Datatype    string           `yaml:"datatype" json:"datatype"` // string, number, datetime, text, singlevaluelist, multivaluelist
	Required    bool             `yaml:"required" json:"required"`
	Description string           `yaml:"description" json:"description"`
	Values      []AttributeValue `yaml:"values" json:"values,omitempty"`
}

// AttributeValue is one allowed value of a list attribute.
type AttributeValue struct {
	Key  string `yaml:"key" json:"key"`
	Name string `yaml:"name" json:"name"`
}

// Category is an item category tickets are filed under, with its place in
// the hierarchy (domain and group) and its handling rules.
type Category struct {
	Code              string      `yaml:"code" json:"code"`
	Name              string      `yaml:"name" json:"name"`
	NameZh            string      `yaml:"name_zh" json:"name_zh"`
	Department        string      `yaml:"department" json:"department"`
	Type              string      `yaml:"type" json:"type,omitempty"` // the usual type of its requests
	Also              []string    `yaml:"also" json:"also,omitempty"`
	Urgency           string      `yaml:"urgency" json:"urgency"`
	Complex           bool        `yaml:"complex" json:"complex,omitempty"`
	LowRisk           bool        `yaml:"low_risk" json:"low_risk,omitempty"`
	Keywords          []string    `yaml:"keywords" json:"-"`
	EmergencyKeywords []string    `yaml:"emergency_keywords" json:"-"`
	Advice            Text        `yaml:"advice" json:"-"`
	Attributes        []Attribute `yaml:"attributes" json:"attributes,omitempty"`

	Domain string `yaml:"-" json:"domain"` // the domain's code
	Group  string `yaml:"-" json:"group"`  // the group's code
	// Path names the domain, group and item, for people: "公用事业 › 供水 › 停水".
	Path   string `yaml:"-" json:"path"`
	PathEn string `yaml:"-" json:"path_en"`
}

// Owns reports whether department may lead tickets of the category.
func (c *Category) Owns(department string) bool {
	return c.Department == department || slices.Contains(c.Also, department)
}

// Domain is the first level of the category hierarchy.
type Domain struct {
	Code   string  `yaml:"code"`
	Name   string  `yaml:"name"`
	NameZh string  `yaml:"name_zh"`
	Groups []Group `yaml:"groups"`
}

// Group is the second level of the category hierarchy.
type Group struct {
	Code   string      `yaml:"code"`
	Name   string      `yaml:"name"`
	NameZh string      `yaml:"name_zh"`
	Items  []*Category `yaml:"items"`
}

// Taxonomy is the hotline's rules as data: types, urgencies, deadline rules,
// departments and the category hierarchy. Load it with DefaultTaxonomy or
// LoadTaxonomy; it is read-only afterwards and safe to share.
type Taxonomy struct {
	Version     string         `yaml:"version"`
	Standard    string         `yaml:"standard"`
	Types       []Type         `yaml:"types"`
	Urgencies   []Urgency      `yaml:"urgencies"`
	Deadlines   []DeadlineRule `yaml:"deadlines"`
	Departments []Department   `yaml:"departments"`
	Domains     []Domain       `yaml:"domains"`
	Mentions    Mentions       `yaml:"mentions"`

	// Origin says where it was loaded from.
	Origin string `yaml:"-"`

	categories []*Category // items in code order
	byCode     map[string]*Category
	types      map[string]*Type
	urgencies  map[string]*Urgency
	depts      map[string]*Department
}

// Languages of replies.
const (
	LangZh = "zh"
	LangEn = "en"
)

// Urgency levels of the shipped taxonomy that the code relies on: the
// lowest level a category may leave unset, and the one that makes advice
// part of the reply.
const (
	UrgencyNormal    = "normal"
	UrgencyEmergency = "emergency"
)

//go:embed taxonomy.yaml
var builtinTaxonomy []byte

// ErrInvalidTaxonomy wraps every taxonomy validation failure.
var ErrInvalidTaxonomy = errors.New("hotline: invalid taxonomy")

// DefaultTaxonomy returns the demo city's taxonomy shipped in the binary.
func DefaultTaxonomy() *Taxonomy {
	t, err := ParseTaxonomy(builtinTaxonomy, "builtin:taxonomy.yaml")
	if err != nil {
		panic(err) // the shipped file is tested
	}
	return t
}

// LoadTaxonomy reads a taxonomy file; an empty path is the built-in one.
func LoadTaxonomy(path string) (*Taxonomy, error) {
	if path == "" {
		return DefaultTaxonomy(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hotline: taxonomy: %w", err)
	}
	return ParseTaxonomy(data, path)
}

var (
	codeRE = regexp.MustCompile(`^[0-9]{2}$`)
	idRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)
)

// ParseTaxonomy decodes and validates a taxonomy, reporting every problem
// at once.
func ParseTaxonomy(data []byte, origin string) (*Taxonomy, error) {
	var t Taxonomy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidTaxonomy, origin, err)
	}
	t.Origin = origin
	if err := t.index(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidTaxonomy, origin, err)
	}
	return &t, nil
}

// problems collects what is wrong with a taxonomy, in the order found.
type problems []string

func (p *problems) bad(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (t *Taxonomy) index() error {
	var p problems
	t.indexTypes(&p)
	t.indexUrgencies(&p)
	t.indexDepartments(&p)
	t.indexCategories(&p)
	t.checkHazards(&p)
	if len(t.Types) == 0 || len(t.categories) == 0 || len(t.Departments) == 0 {
		p.bad("types, departments and categories must not be empty")
	}
	t.checkDeadlines(&p)
	slices.SortFunc(t.categories, func(a, b *Category) int { return strings.Compare(a.Code, b.Code) })
	if len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}

func (t *Taxonomy) indexTypes(p *problems) {
	t.types = map[string]*Type{}
	for i := range t.Types {
		ty := &t.Types[i]
		if !idRE.MatchString(ty.ID) || t.types[ty.ID] != nil {
			p.bad("types[%d]: id %q must be a unique lower-case identifier", i, ty.ID)
		}
		if ty.MaxUrgency != "" && t.urgencyRank(ty.MaxUrgency) == 0 {
			p.bad("type %s: unknown max_urgency %q", ty.ID, ty.MaxUrgency)
		}
		if ty.Reply.Zh == "" || ty.Reply.En == "" {
			p.bad("type %s: reply needs zh and en templates", ty.ID)
		}
		t.types[ty.ID] = ty
	}
}

func (t *Taxonomy) indexUrgencies(p *problems) {
	t.urgencies = map[string]*Urgency{}
	for i := range t.Urgencies {
		u := &t.Urgencies[i]
		if !idRE.MatchString(u.ID) || t.urgencies[u.ID] != nil {
			p.bad("urgencies[%d]: id %q must be a unique lower-case identifier", i, u.ID)
		}
		t.urgencies[u.ID] = u
		for j, h := range u.Hazards {
			if len(h.Things) == 0 || len(h.Signs) == 0 {
				p.bad("urgency %s: hazards[%d] (%s) needs things and signs", u.ID, j, h.Name)
			}
		}
	}
	for _, need := range []string{UrgencyNormal, UrgencyEmergency} {
		if t.urgencies[need] == nil {
			p.bad("urgencies: %q is required", need)
		}
	}
}

func (t *Taxonomy) indexDepartments(p *problems) {
	t.depts = map[string]*Department{}
	for i := range t.Departments {
		d := &t.Departments[i]
		if !idRE.MatchString(d.ID) || t.depts[d.ID] != nil {
			p.bad("departments[%d]: id %q must be a unique lower-case identifier", i, d.ID)
		}
		if d.Name == "" || d.NameZh == "" {
			p.bad("department %s: name and name_zh are required", d.ID)
		}
		t.depts[d.ID] = d
	}
}

// indexCategories checks the codes of the hierarchy and every item
// category, filling each one's domain, group and paths.
func (t *Taxonomy) indexCategories(p *problems) {
	t.byCode = map[string]*Category{}
	t.categories = nil
	for _, dom := range t.Domains {
		if !codeRE.MatchString(dom.Code) {
			p.bad("domain %q: code must be two digits", dom.Code)
		}
		for _, g := range dom.Groups {
			if len(g.Code) != 4 || !codeRE.MatchString(g.Code[2:]) || g.Code[:2] != dom.Code {
				p.bad("group %q: code must be its domain's code %s and two digits", g.Code, dom.Code)
			}
			for _, c := range g.Items {
				if len(c.Code) != 6 || !codeRE.MatchString(c.Code[4:]) || c.Code[:4] != g.Code {
					p.bad("category %q: code must be its group's code %s and two digits", c.Code, g.Code)
				}
				t.checkCategory(p, c)
				c.Domain, c.Group = dom.Code, g.Code
				c.Path = dom.NameZh + " › " + g.NameZh + " › " + c.NameZh
				c.PathEn = dom.Name + " › " + g.Name + " › " + c.Name
				t.byCode[c.Code] = c
				t.categories = append(t.categories, c)
			}
		}
	}
}

// checkHazards checks that hazards name known categories.
func (t *Taxonomy) checkHazards(p *problems) {
	for _, u := range t.Urgencies {
		for _, h := range u.Hazards {
			if h.Category != "" && t.byCode[h.Category] == nil {
				p.bad("urgency %s: hazard %s: unknown category %q", u.ID, h.Name, h.Category)
			}
		}
	}
}

// checkCategory checks one item category against the types, urgencies and
// departments, defaulting its urgency.
func (t *Taxonomy) checkCategory(p *problems, c *Category) {
	if t.byCode[c.Code] != nil {
		p.bad("category %s: defined twice", c.Code)
	}
	if c.Name == "" || c.NameZh == "" {
		p.bad("category %s: name and name_zh are required", c.Code)
	}
	if t.depts[c.Department] == nil {
		p.bad("category %s: unknown department %q", c.Code, c.Department)
	}
	for _, a := range c.Also {
		if t.depts[a] == nil {
			p.bad("category %s: also: unknown department %q", c.Code, a)
		}
	}
	if c.Type != "" && t.types[c.Type] == nil {
		p.bad("category %s: unknown type %q", c.Code, c.Type)
	}
	if c.Urgency == "" {
		c.Urgency = UrgencyNormal
	}
	if t.urgencies[c.Urgency] == nil {
		p.bad("category %s: unknown urgency %q", c.Code, c.Urgency)
	}
	for _, a := range c.Attributes {
		switch a.Datatype {
		case "string", "number", "datetime", "text":
		case "singlevaluelist", "multivaluelist":
			if len(a.Values) == 0 {
				p.bad("category %s: attribute %s: a list needs values", c.Code, a.Code)
			}
		default:
			p.bad("category %s: attribute %s: unknown datatype %q", c.Code, a.Code, a.Datatype)
		}
		if a.Code == "address_id" || a.Code == "media_url" || a.Code == "device_id" {
			p.bad("category %s: attribute code %q is reserved (Open311 fields)", c.Code, a.Code)
		}
		if !idRE.MatchString(a.Code) {
			p.bad("category %s: attribute code %q must be a lower-case identifier", c.Code, a.Code)
		}
	}
}

// checkDeadlines checks the deadline rules; the last must match every ticket.
func (t *Taxonomy) checkDeadlines(p *problems) {
	if len(t.Deadlines) == 0 {
		p.bad("deadlines: at least one rule is required")
	}
	for i := range t.Deadlines {
		r := &t.Deadlines[i]
		if r.Within <= 0 {
			p.bad("deadlines[%d] (%s): within must be a positive duration such as 24h", i, r.Name)
		}
		if r.Urgency != "" && t.urgencies[r.Urgency] == nil {
			p.bad("deadlines[%d] (%s): unknown urgency %q", i, r.Name, r.Urgency)
		}
		for _, ty := range r.Types {
			if t.types[ty] == nil {
				p.bad("deadlines[%d] (%s): unknown type %q", i, r.Name, ty)
			}
		}
		r.WithinHr = r.Within.Hours()
	}
	if n := len(t.Deadlines); n > 0 {
		last := t.Deadlines[n-1]
		if last.Urgency != "" || len(last.Types) > 0 || len(last.Codes) > 0 || last.Complex != nil {
			p.bad("deadlines: the last rule must match every ticket (no conditions)")
		}
	}
}

// Categories lists the item categories in code order.
func (t *Taxonomy) Categories() []*Category { return t.categories }

// Category returns the item category with the code.
func (t *Taxonomy) Category(code string) (*Category, bool) {
	c, ok := t.byCode[code]
	return c, ok
}

// Type returns the request type with the id.
func (t *Taxonomy) Type(id string) (*Type, bool) {
	ty, ok := t.types[id]
	return ty, ok
}

// Urgency returns the urgency level with the id.
func (t *Taxonomy) Urgency(id string) (*Urgency, bool) {
	u, ok := t.urgencies[id]
	return u, ok
}

// Department returns the department with the id.
func (t *Taxonomy) Department(id string) (*Department, bool) {
	d, ok := t.depts[id]
	return d, ok
}

// urgencyRank orders urgencies as listed: the first is the most urgent.
func (t *Taxonomy) urgencyRank(id string) int {
	for i, u := range t.Urgencies {
		if u.ID == id {
			return len(t.Urgencies) - i
		}
	}
	return 0
}

// moreUrgent returns the more urgent of a and b.
func (t *Taxonomy) moreUrgent(a, b string) string {
	if t.urgencyRank(b) > t.urgencyRank(a) {
		return b
	}
	return a
}

// Deadline returns the rule that sets the deadline of a ticket of type typ,
// category c and urgency; the last rule matches everything.
func (t *Taxonomy) Deadline(typ string, c *Category, urgency string) DeadlineRule {
	for _, r := range t.Deadlines {
		if r.matches(typ, c, urgency) {
			return r
		}
	}
	return t.Deadlines[len(t.Deadlines)-1]
}
