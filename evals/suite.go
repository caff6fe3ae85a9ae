package evals

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
)

// Suite is one YAML suite file: defaults and the cases they apply to.
type Suite struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	File        string        `json:"file"`
	Hash        string        `json:"hash"` // first 12 hex digits of the file's SHA-256
	Agent       string        `json:"agent,omitempty"`
	Model       string        `json:"model,omitempty"`
	K           int           `json:"k,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	Gates       []Gate        `json:"gates,omitempty"`
	Cases       []Case        `json:"cases"`
}

// Case is one question with what must be true of the answer. Agent, Model,
// role, clearance, tags and requirements are resolved against the suite's
// defaults when the suite is parsed.
type Case struct {
	ID       string        `json:"id"`
	Line     int           `json:"line"`
	Agent    string        `json:"agent"`
	Model    string        `json:"model,omitempty"`
	Input    Input         `json:"input"`
	Tags     []string      `json:"tags,omitempty"`
	Requires []Requirement `json:"requires,omitempty"`
	Expect   Expect        `json:"expect"`
	Timeout  time.Duration `json:"timeout,omitempty"`
}

// Input is what the case sends: earlier user turns (run first, in one
// session), then Message, as a caller with Role and Clearance.
type Input struct {
	Message   string           `json:"message"`
	Turns     []string         `json:"turns,omitempty"`
	Role      access.Role      `json:"role"`
	Clearance access.Clearance `json:"clearance"`

	// Where Role and Clearance were set ("input.role", "role (suite)");
	// empty: they are the defaults. A run bounded by a caller refuses what
	// a suite asks for above the caller, and lowers defaults to the caller.
	roleField, clearanceField string
}

// Requirement names something a case needs from the installation; a case
// whose requirement is missing is reported as not applicable.
type Requirement struct {
	Kind string `json:"kind"` // "tool" or "action"
	Name string `json:"name"`
}

func (r Requirement) String() string { return r.Kind + ":" + r.Name }

// Expect is every expectation of a case; nil parts are not checked.
type Expect struct {
	Refused      bool             `json:"refused,omitempty"`
	Retrieved    *RetrievedExpect `json:"retrieved,omitempty"`
	Tools        *ToolsExpect     `json:"tools,omitempty"`
	Answer       *AnswerExpect    `json:"answer,omitempty"`
	Proposals    *ProposalsExpect `json:"proposals,omitempty"`
	MaxLatencyMS int64            `json:"max_latency_ms,omitempty"`
}

// RetrievedExpect: documents that must (not) be among the top K retrieved.
type RetrievedExpect struct {
	MustInclude    []string `json:"must_include,omitempty"`
	MustNotInclude []string `json:"must_not_include,omitempty"`
	K              int      `json:"k,omitempty"` // 0: the suite's k, else everything retrieved
}

// ToolsExpect: tools that must, may and must not be called in the final turn.
type ToolsExpect struct {
	None        bool        `json:"none,omitempty"` // no tool may be called
	MustCall    []ToolMatch `json:"must_call,omitempty"`
	MayCall     []string    `json:"may_call,omitempty"`
	MustNotCall []string    `json:"must_not_call,omitempty"`
	Exclusive   bool        `json:"exclusive,omitempty"` // calls outside must_call and may_call fail the case
}

// ToolMatch is a tool that must be called, with argument matchers that at
// least one of its calls must satisfy.
type ToolMatch struct {
	Name      string             `json:"name"`
	Arguments map[string]Matcher `json:"arguments,omitempty"`
}

// AnswerExpect: text the answer must and must not contain, after Normalize.
type AnswerExpect struct {
	MustContain    [][]string `json:"must_contain,omitempty"` // each entry: any one of its alternatives
	MustNotContain []string   `json:"must_not_contain,omitempty"`
	Language       string     `json:"language,omitempty"` // "zh", "en" or "same" (as the question)
	Judge          string     `json:"judge,omitempty"`    // rubric for an LLM judge; only used with a real model
}

// ProposalsExpect: governance proposals the final turn must (not) make.
type ProposalsExpect struct {
	None           bool            `json:"none,omitempty"`
	MustPropose    []ProposalMatch `json:"must_propose,omitempty"`
	MustNotPropose []string        `json:"must_not_propose,omitempty"`
}

// ProposalMatch is an action that must be proposed, with argument matchers.
type ProposalMatch struct {
	Action    string             `json:"action"`
	Arguments map[string]Matcher `json:"arguments,omitempty"`
}

// Defaults used when neither the suite nor the case says.
const (
	DefaultRole        = access.RoleOperator
	DefaultClearance   = access.Internal
	DefaultCaseTimeout = 60 * time.Second
)

// ErrInvalidSuite is wrapped by every suite parse error.
var ErrInvalidSuite = errors.New("evals: invalid suite")

// Problem is one thing wrong in a suite file, with where it is.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// SuiteError lists every problem found in one or more suite files.
type SuiteError struct {
	Problems []Problem
}

func (e *SuiteError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "evals: invalid suite: " + strings.Join(lines, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalidSuite) hold.
func (e *SuiteError) Unwrap() error { return ErrInvalidSuite }

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseSuite parses one suite file. file names it in error messages.
// Every problem is reported with its line, column and field path.
func ParseSuite(data []byte, file string) (*Suite, error) {
	p := &parser{file: file}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		p.syntax(err)
		return nil, p.err()
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	sum := sha256.Sum256(data)
	s := &Suite{File: file, Hash: hex.EncodeToString(sum[:])[:12]}
	m := p.mapping(doc, "", "name", "description", "agent", "model", "k", "timeout", "role", "clearance",
		"tags", "requires", "thresholds", "cases")
	if m == nil {
		return nil, p.err()
	}
	s.Name = p.str(m.get("name"), "name")
	if m.get("name") == nil {
		p.fail(doc, "name", "is required")
	} else if s.Name != "" && !idRE.MatchString(s.Name) {
		p.fail(m.get("name"), "name", "must match %s", idRE)
	}
	s.Description = p.str(m.get("description"), "description")
	s.Agent = p.str(m.get("agent"), "agent")
	s.Model = p.str(m.get("model"), "model")
	s.K = p.positiveInt(m.get("k"), "k")
	s.Timeout = p.duration(m.get("timeout"), "timeout")
	def := Input{Role: p.role(m.get("role"), "role", DefaultRole), Clearance: p.clearance(m.get("clearance"), "clearance", DefaultClearance)}
	if m.get("role") != nil {
		def.roleField = "role (suite)"
	}
	if m.get("clearance") != nil {
		def.clearanceField = "clearance (suite)"
	}
	tags := p.strList(m.get("tags"), "tags")
	requires := p.requires(m.get("requires"), "requires")
	if n := m.get("thresholds"); n != nil {
		s.Gates = p.thresholds(n, "thresholds", "suite:"+s.Name)
	}
	cases := m.get("cases")
	if cases == nil {
		p.fail(doc, "cases", "is required")
	} else if cases.Kind != yaml.SequenceNode {
		p.fail(cases, "cases", "must be a list of cases")
	} else {
		if len(cases.Content) == 0 {
			p.fail(cases, "cases", "must hold at least one case")
		}
		seen := map[string]int{}
		for i, cn := range cases.Content {
			field := fmt.Sprintf("cases[%d]", i)
			c, ok := p.parseCase(cn, field, s, def, tags, requires)
			if !ok {
				continue
			}
			if prev, dup := seen[c.ID]; dup {
				p.fail(cn, field+".id", "%q is already the id of the case on line %d", c.ID, prev)
				continue
			}
			seen[c.ID] = c.Line
			s.Cases = append(s.Cases, c)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) parseCase(n *yaml.Node, field string, s *Suite, def Input, suiteTags []string, suiteReq []Requirement) (Case, bool) {
	before := len(p.problems)
	m := p.mapping(n, field, "id", "agent", "model", "input", "tags", "requires", "expect", "timeout")
	if m == nil {
		return Case{}, false
	}
	c := Case{Line: n.Line, Agent: s.Agent, Model: s.Model, Timeout: s.Timeout}
	c.ID = p.str(m.get("id"), field+".id")
	switch {
	case m.get("id") == nil:
		p.fail(n, field+".id", "is required")
	case !idRE.MatchString(c.ID):
		p.fail(m.get("id"), field+".id", "must match %s", idRE)
	}
	if v := p.str(m.get("agent"), field+".agent"); v != "" {
		c.Agent = v
	}
	if c.Agent == "" {
		p.fail(n, field+".agent", "no agent: set agent on the suite or the case")
	}
	if v := p.str(m.get("model"), field+".model"); v != "" {
		c.Model = v
	}
	if d := p.duration(m.get("timeout"), field+".timeout"); d > 0 {
		c.Timeout = d
	}
	c.Input = p.input(m.get("input"), n, field+".input", def)
	c.Tags = mergeStrings(suiteTags, p.strList(m.get("tags"), field+".tags"))
	c.Requires = mergeRequirements(suiteReq, p.requires(m.get("requires"), field+".requires"))
	if en := m.get("expect"); en == nil {
		p.fail(n, field+".expect", "is required")
	} else {
		c.Expect = p.expect(en, field+".expect")
	}
	return c, len(p.problems) == before
}

func (p *parser) input(n, parent *yaml.Node, field string, def Input) Input {
	in := Input{Role: def.Role, Clearance: def.Clearance, roleField: def.roleField, clearanceField: def.clearanceField}
	if n == nil {
		p.fail(parent, field, "is required")
		return in
	}
	if n.Kind == yaml.ScalarNode {
		in.Message = p.str(n, field)
	} else {
		m := p.mapping(n, field, "message", "turns", "role", "clearance")
		if m == nil {
			return in
		}
		in.Message = p.str(m.get("message"), field+".message")
		if m.get("message") == nil {
			p.fail(n, field+".message", "is required")
		}
		in.Turns = p.strList(m.get("turns"), field+".turns")
		for i, t := range in.Turns {
			if strings.TrimSpace(t) == "" {
				p.fail(m.get("turns").Content[i], fmt.Sprintf("%s.turns[%d]", field, i), "must not be empty")
			}
		}
		in.Role = p.role(m.get("role"), field+".role", def.Role)
		in.Clearance = p.clearance(m.get("clearance"), field+".clearance", def.Clearance)
		if m.get("role") != nil {
			in.roleField = "input.role"
		}
		if m.get("clearance") != nil {
			in.clearanceField = "input.clearance"
		}
	}
	if strings.TrimSpace(in.Message) == "" && n.Kind == yaml.ScalarNode {
		p.fail(n, field, "the message must not be empty")
	}
	return in
}

func (p *parser) expect(n *yaml.Node, field string) Expect {
	var e Expect
	before := len(p.problems)
	m := p.mapping(n, field, "refused", "retrieved", "tools", "answer", "proposals", "max_latency_ms")
	if m == nil {
		return e
	}
	if v := m.get("refused"); v != nil {
		e.Refused = p.boolean(v, field+".refused")
	}
	if v := m.get("retrieved"); v != nil {
		e.Retrieved = p.retrieved(v, field+".retrieved")
	}
	if v := m.get("tools"); v != nil {
		e.Tools = p.tools(v, field+".tools")
	}
	if v := m.get("answer"); v != nil {
		e.Answer = p.answer(v, field+".answer")
	}
	if v := m.get("proposals"); v != nil {
		e.Proposals = p.proposals(v, field+".proposals")
	}
	if v := m.get("max_latency_ms"); v != nil {
		e.MaxLatencyMS = int64(p.positiveInt(v, field+".max_latency_ms"))
	}
	if e.Refused && (e.Retrieved != nil || e.Tools != nil || e.Answer != nil || e.Proposals != nil) {
		p.fail(n, field+".refused", "a refused turn has no answer, tools or proposals to check; drop the other expectations")
	}
	if !e.Refused && e.Retrieved == nil && e.Tools == nil && e.Answer == nil && e.Proposals == nil && e.MaxLatencyMS == 0 && len(p.problems) == before {
		p.fail(n, field, "expects nothing: give at least one of refused, retrieved, tools, answer, proposals, max_latency_ms")
	}
	return e
}

func (p *parser) retrieved(n *yaml.Node, field string) *RetrievedExpect {
	r := &RetrievedExpect{}
	if n.Kind == yaml.SequenceNode {
		r.MustInclude = p.strList(n, field)
	} else {
		m := p.mapping(n, field, "must_include", "must_not_include", "k")
		if m == nil {
			return r
		}
		r.MustInclude = p.strList(m.get("must_include"), field+".must_include")
		r.MustNotInclude = p.strList(m.get("must_not_include"), field+".must_not_include")
		r.K = p.positiveInt(m.get("k"), field+".k")
	}
	if len(r.MustInclude) == 0 && len(r.MustNotInclude) == 0 {
		p.fail(n, field, "names no document")
	}
	return r
}

func (p *parser) tools(n *yaml.Node, field string) *ToolsExpect {
	t := &ToolsExpect{}
	if n.Kind == yaml.ScalarNode {
		if n.Value != "none" {
			p.fail(n, field, "must be none or a mapping with must_call, may_call, must_not_call")
		}
		t.None = true
		return t
	}
	m := p.mapping(n, field, "must_call", "may_call", "must_not_call", "exclusive")
	if m == nil {
		return t
	}
	if mc := m.get("must_call"); mc != nil {
		if mc.Kind != yaml.SequenceNode {
			p.fail(mc, field+".must_call", "must be a list of tool names or {name, arguments}")
		} else {
			for i, c := range mc.Content {
				f := fmt.Sprintf("%s.must_call[%d]", field, i)
				if c.Kind == yaml.ScalarNode {
					t.MustCall = append(t.MustCall, ToolMatch{Name: p.name(c, f)})
					continue
				}
				cm := p.mapping(c, f, "name", "arguments")
				if cm == nil {
					continue
				}
				if cm.get("name") == nil {
					p.fail(c, f+".name", "is required")
				}
				t.MustCall = append(t.MustCall, ToolMatch{Name: p.name(cm.get("name"), f+".name"), Arguments: p.arguments(cm.get("arguments"), f+".arguments")})
			}
		}
	}
	t.MayCall = p.names(m.get("may_call"), field+".may_call")
	t.MustNotCall = p.names(m.get("must_not_call"), field+".must_not_call")
	if v := m.get("exclusive"); v != nil {
		t.Exclusive = p.boolean(v, field+".exclusive")
	}
	for _, c := range t.MustCall {
		for i, no := range t.MustNotCall {
			if c.Name == no {
				p.fail(m.get("must_not_call").Content[i], fmt.Sprintf("%s.must_not_call[%d]", field, i), "%s is also in must_call", no)
			}
		}
	}
	if len(t.MustCall) == 0 && len(t.MayCall) == 0 && len(t.MustNotCall) == 0 {
		p.fail(n, field, "names no tool (write tools: none to expect no tool call)")
	}
	return t
}

func (p *parser) answer(n *yaml.Node, field string) *AnswerExpect {
	a := &AnswerExpect{}
	m := p.mapping(n, field, "must_contain", "must_not_contain", "language", "judge")
	if m == nil {
		return a
	}
	if mc := m.get("must_contain"); mc != nil {
		if mc.Kind != yaml.SequenceNode {
			p.fail(mc, field+".must_contain", "must be a list; an entry is a string or a list of alternatives")
		} else {
			for i, item := range mc.Content {
				f := fmt.Sprintf("%s.must_contain[%d]", field, i)
				var alts []string
				if item.Kind == yaml.SequenceNode {
					alts = p.strList(item, f)
				} else {
					alts = []string{p.str(item, f)}
				}
				alts = nonEmpty(alts)
				if len(alts) == 0 {
					p.fail(item, f, "must not be empty")
					continue
				}
				a.MustContain = append(a.MustContain, alts)
			}
		}
	}
	a.MustNotContain = nonEmpty(p.strList(m.get("must_not_contain"), field+".must_not_contain"))
	if v := m.get("language"); v != nil {
		a.Language = p.str(v, field+".language")
		if a.Language != "zh" && a.Language != "en" && a.Language != "same" {
			p.fail(v, field+".language", "must be zh, en or same, not %q", a.Language)
		}
	}
	a.Judge = strings.TrimSpace(p.str(m.get("judge"), field+".judge"))
	if len(a.MustContain) == 0 && len(a.MustNotContain) == 0 && a.Language == "" && a.Judge == "" {
		p.fail(n, field, "expects nothing: give must_contain, must_not_contain, language or judge")
	}
	return a
}

func (p *parser) proposals(n *yaml.Node, field string) *ProposalsExpect {
	pe := &ProposalsExpect{}
	if n.Kind == yaml.ScalarNode {
		if n.Value != "none" {
			p.fail(n, field, "must be none or a mapping with must_propose, must_not_propose")
		}
		pe.None = true
		return pe
	}
	m := p.mapping(n, field, "must_propose", "must_not_propose")
	if m == nil {
		return pe
	}
	if mp := m.get("must_propose"); mp != nil {
		if mp.Kind != yaml.SequenceNode {
			p.fail(mp, field+".must_propose", "must be a list of action names or {action, arguments}")
		} else {
			for i, c := range mp.Content {
				f := fmt.Sprintf("%s.must_propose[%d]", field, i)
				if c.Kind == yaml.ScalarNode {
					pe.MustPropose = append(pe.MustPropose, ProposalMatch{Action: p.name(c, f)})
					continue
				}
				cm := p.mapping(c, f, "action", "arguments")
				if cm == nil {
					continue
				}
				if cm.get("action") == nil {
					p.fail(c, f+".action", "is required")
				}
				pe.MustPropose = append(pe.MustPropose, ProposalMatch{Action: p.name(cm.get("action"), f+".action"), Arguments: p.arguments(cm.get("arguments"), f+".arguments")})
			}
		}
	}
	pe.MustNotPropose = p.names(m.get("must_not_propose"), field+".must_not_propose")
	if len(pe.MustPropose) == 0 && len(pe.MustNotPropose) == 0 {
		p.fail(n, field, "names no action (write proposals: none to expect no proposal)")
	}
	return pe
}

func (p *parser) arguments(n *yaml.Node, field string) map[string]Matcher {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, field, "must be a mapping of argument name to matcher")
		return nil
	}
	out := map[string]Matcher{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := field + "." + k.Value
		if _, dup := out[k.Value]; dup {
			p.fail(k, f, "is given twice")
			continue
		}
		m, err := parseMatcher(v)
		if err != nil {
			p.failErr(v, f, err)
			continue
		}
		out[k.Value] = m
	}
	return out
}

func (p *parser) requires(n *yaml.Node, field string) []Requirement {
	var out []Requirement
	for i, s := range p.strList(n, field) {
		kind, name, ok := strings.Cut(s, ":")
		if !ok || (kind != "tool" && kind != "action") || name == "" {
			p.fail(n.Content[i], fmt.Sprintf("%s[%d]", field, i), "%q must be tool:NAME or action:NAME", s)
			continue
		}
		out = append(out, Requirement{Kind: kind, Name: name})
	}
	return out
}

// thresholds reads {fail_under: {metric: value}, fail_over: {metric: value}}.
func (p *parser) thresholds(n *yaml.Node, field, scope string) []Gate {
	m := p.mapping(n, field, "fail_under", "fail_over")
	if m == nil {
		return nil
	}
	var gates []Gate
	for _, sec := range []string{"fail_under", "fail_over"} {
		sn := m.get(sec)
		if sn == nil {
			continue
		}
		if sn.Kind != yaml.MappingNode {
			p.fail(sn, field+"."+sec, "must be a mapping of metric name to value")
			continue
		}
		for i := 0; i+1 < len(sn.Content); i += 2 {
			k, v := sn.Content[i], sn.Content[i+1]
			f := field + "." + sec + "." + k.Value
			val, err := strconv.ParseFloat(v.Value, 64)
			if v.Kind != yaml.ScalarNode || err != nil {
				p.fail(v, f, "must be a number")
				continue
			}
			g, err := newGate(scope, k.Value, sec == "fail_over", val, fmt.Sprintf("%s:%d", p.file, k.Line))
			if err != nil {
				p.failErr(k, f, err)
				continue
			}
			gates = append(gates, g)
		}
	}
	return gates
}
