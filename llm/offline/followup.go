package offline

import (
	"encoding/json"
	"strings"

	"github.com/cityagent/cityagent/llm"
)

// entitySources are the earlier questions a message refers back to ("that
// road", "这个区"), latest first, then the earlier answers ("那个路段" after an
// answer naming S013), each allowed to fill only the arguments of the kinds
// referred to (district, road, segment, permit, building, ticket), or of any
// kind after a continuation that names none. An entity the user named wins
// over one an answer named.
func entitySources(own string, earlier, answers []string) []source {
	if len(earlier)+len(answers) == 0 {
		return nil
	}
	l := lex()
	kinds := l.referred(own)
	if len(kinds) == 0 {
		// A continuation that names no kind ("昨天呢？", "And over the
		// past week?") keeps whatever the earlier message named; what the
		// message names itself wins.
		if !l.continues(own) {
			return nil
		}
		kinds = map[string]bool{"any": true}
	}
	only := map[string]bool{}
	for prop, kind := range l.propKinds {
		if kinds[kind] || kinds["any"] {
			only[prop] = true
		}
	}
	out := make([]source, 0, len(earlier)+len(answers))
	for _, e := range earlier {
		s := newSource(e)
		s.only = only
		out = append(out, s)
	}
	for _, a := range answers {
		s := newSource(a)
		s.only, s.answer = only, true
		out = append(out, s)
	}
	return out
}

// forTool is srcs without the earlier answers when d is an action: what an
// answer quoted (a document, a tool's output) is data, and data never
// chooses what an action acts on.
func forTool(d *toolDoc, srcs []source) []source {
	if !isAction(d.spec.Name) {
		return srcs
	}
	out := srcs[:0:0]
	for _, s := range srcs {
		if !s.answer {
			out = append(out, s)
		}
	}
	return out
}

// earlierAnswers are the assistant's answers in msgs, latest first, up to
// maxEarlier, each cut before its list of sources and the engine's line.
func earlierAnswers(msgs []llm.Message) []string {
	var out []string
	for i := len(msgs) - 1; i >= 0 && len(out) < maxEarlier; i-- {
		m := msgs[i]
		if m.Role != llm.RoleAssistant || len(m.ToolCalls) > 0 || strings.TrimSpace(m.Content) == "" {
			continue
		}
		body, _, _ := strings.Cut(m.Content, "\n\n")
		out = append(out, strings.TrimSpace(body))
	}
	return out
}

// maxSteps is the most planning steps of one turn: look up, then propose,
// then answer.
const maxSteps = 2

// followOn plans the second step of a request whose first step looked data
// up: "the most congested corridor is jammed — propose a retiming" first
// ranks congestion, then proposes on the corridor the ranking names first.
// It calls only a propose_ tool, once per turn, with required values the
// question does not give taken from this turn's tool results, in the order
// the tools wrote them.
func (e *Engine) followOn(t turn, specs []llm.ToolSpec) []llm.ToolCall {
	if t.steps == 0 || t.steps >= maxSteps || len(t.results) == 0 || t.calledAction {
		return nil
	}
	var offered []llm.ToolSpec
	for _, s := range specs {
		if isAction(s.Name) {
			offered = append(offered, s)
		}
	}
	if len(offered) == 0 {
		return nil
	}
	rd := readMessage(t.question)
	if rd.act != actRequest {
		return nil
	}
	actions := e.index(offered)
	src := newSource(strings.TrimSpace(rd.own))
	src.full = t.question
	ranked := rankTerms(actions, src.text, src.terms)
	if len(ranked) == 0 {
		return nil
	}
	res := resultSource(t.results, ranked[0].doc)
	calls, _ := pick(ranked[:1], []source{src, res})
	return calls
}

// resultSource reads the tool results as a source for the enum and pattern
// arguments of d: for each, the value the results mention first.
func resultSource(results []llm.DataBlock, d *toolDoc) source {
	var b strings.Builder
	only := map[string]bool{}
	for i := range d.props {
		p := &d.props[i]
		if !p.required || p.s == nil {
			continue
		}
		if v, ok := firstValue(results, p); ok {
			only[p.name] = true
			b.WriteString(v + "\n")
		}
	}
	text := b.String()
	own := termSet(text)
	return source{text: text, full: text, own: own, terms: terms{own: own}, choice: terms{own: own}, only: only}
}

// firstValue is the earliest value of p in the results: an enum value
// written as a JSON string ("road":"renmin"), or a match of its pattern.
func firstValue(results []llm.DataBlock, p *property) (string, bool) {
	for _, r := range results {
		best, at := "", -1
		for _, c := range p.choices {
			q, err := json.Marshal(c.text)
			if err != nil {
				continue
			}
			if i := strings.Index(r.Body, string(q)); i >= 0 && (at < 0 || i < at) {
				best, at = c.text, i
			}
		}
		if at >= 0 {
			return best, true
		}
		if p.loose != nil {
			if v, ok := p.findPattern(r.Body); ok {
				return v, true
			}
		}
	}
	return "", false
}
