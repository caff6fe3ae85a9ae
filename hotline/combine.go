package hotline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Sources of a triage field.
const (
	SourceModel  = "model"  // the model's choice, checked by the rules
	SourceRules  = "rules"  // the rules' choice (no model choice, or the model's was refused)
	SourceAgreed = "agreed" // model and rules chose the same
	SourceCaller = "caller" // the caller fixed it (an Open311 service code)
)

// Decision is a triage with where each field came from.
type Decision struct {
	Type       string            `json:"type"`
	Category   string            `json:"category"`
	Department string            `json:"department"`
	Urgency    string            `json:"urgency"`
	Reply      string            `json:"-"` // the model's draft reply, if it passed the checks
	Sources    map[string]string `json:"sources"`
	Warnings   []string          `json:"warnings,omitempty"`
}

// decide checks a model's triage (nil: none) against the rules'
// classification of text and returns the triage to use. The model's choice
// stands unless it is invalid, or the text has no cue for it while it has
// cues for the rules' choice; urgency never drops below what the text's
// cues demand, and rises above it only with cues for the higher level.
// forcedCategory, when not empty, is the caller's category.
func (c *Classifier) decide(text string, model *TriageArgs, rules Classification, forcedCategory string) Decision {
	tax := c.tax
	d := Decision{Sources: map[string]string{}}
	warn := func(format string, args ...any) { d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...)) }
	// Instruction-like text in the request may have steered the model:
	// its choices then need the text's own cues.
	steered := len(rules.Instructions) > 0
	if steered {
		warn("%s", InstructionWarning(rules.Instructions))
	}
	pick := func(field, mv, rv string, modelOK bool, refuse string) string {
		switch {
		case !modelOK:
			d.Sources[field] = SourceRules
			return rv
		case mv == rv:
			d.Sources[field] = SourceAgreed
			return rv
		case refuse != "":
			d.Sources[field] = SourceRules
			warn("model's %s %q replaced by %q: %s", field, mv, rv, refuse)
			return rv
		}
		d.Sources[field] = SourceModel
		return mv
	}

	// Category first: the rest depends on it.
	switch {
	case forcedCategory != "":
		d.Category = forcedCategory
		d.Sources["category"] = SourceCaller
		if rules.Category != forcedCategory {
			rules = c.reclassify(text, rules, forcedCategory)
		}
	default:
		var mv string
		ok := false
		if model != nil && model.Category != "" {
			_, ok = tax.Category(model.Category)
			mv = model.Category
			if !ok {
				warn("model chose unknown category %q", mv)
			}
		}
		refuse := ""
		switch {
		case !ok || mv == rules.Category:
		case steered && rules.catEvidence[mv] <= rules.catEvidence[rules.Category]:
			refuse = "the request's instruction-like text may have chosen it"
		case slices.Contains(rules.hazardCats, rules.Category) && !slices.Contains(rules.hazardCats, mv):
			refuse = "the request describes a hazard (" + strings.Join(rules.Hazards, ", ") + ") filed under the other"
		case rules.interrupted && !c.interruption(mv):
			refuse = "the request states an interruption of service, filed under the other"
		case c.namedLeads(c.prepareRequest(text), rules.Category, mv):
			refuse = "the request names the department that leads the other"
		case rules.Via == ViaExamples:
			// The labelled requests chose it over the keywords' leader,
			// which is what a reading of the words alone returns to.
			refuse = "the labelled requests the rules learn from chose the other"
		case rules.Via == "paraphrase" && rules.catEvidence[mv] == 0:
			refuse = "the request says the other's keyword in other words and has no cue for it"
		case rules.Via != "keywords":
		case rules.catEvidence[mv] == 0:
			refuse = "the request has no cue for it and has cues for the other"
		case rules.catEvidence[mv] < rules.catEvidence[rules.Category]:
			refuse = "the request has more cues for the other"
		}
		d.Category = pick("category", mv, rules.Category, ok, refuse)
		if d.Category != rules.Category {
			rules = c.reclassify(text, rules, d.Category)
		}
	}
	cat, _ := tax.Category(d.Category)

	// Type.
	{
		var mv string
		ok := false
		if model != nil {
			_, ok = tax.Type(model.Type)
			mv = model.Type
			if !ok && mv != "" {
				warn("model chose unknown type %q", mv)
			}
		}
		refuse := ""
		switch {
		case !ok || mv == rules.Type:
		case rules.TypeStrong && rules.typeEvidence[mv] < typeKeywordWeight:
			refuse = "the request says " + strings.Join(rules.TypeCues, ", ")
		case rules.typeEvidence[mv] <= 0:
			refuse = "the request has no cue for it"
		case steered && rules.typeEvidence[mv] <= rules.typeEvidence[rules.Type]:
			refuse = "the request's instruction-like text may have chosen it"
		case len(rules.Hazards) > 0 && rules.Type == typeDefault && rules.typeEvidence[mv] < typeKeywordWeight:
			refuse = "the request describes a hazard: " + strings.Join(rules.Hazards, ", ")
		case rules.Urgency == UrgencyEmergency && rules.Type == typeDefault && hazardMutes(mv) && rules.typeEvidence[mv] < typeKeywordWeight:
			// An emergency recognised by its words or the labelled
			// requests, not by a hazard's thing and sign (燃汽味, a typo):
			// a hint of a question or of displeasure does not make it one.
			refuse = "the request is an emergency"
		case rules.typeEvidence[mv] <= rules.typeEvidence[rules.Type]:
			refuse = "the request has more cues for " + rules.Type
		}
		d.Type = pick("type", mv, rules.Type, ok, refuse)
	}

	// Department: the model's if it handles the category.
	{
		mv := ""
		ok := false
		if model != nil && model.Department != "" {
			mv = model.Department
			_, known := tax.Department(mv)
			ok = known && cat.Owns(mv)
			if !ok {
				warn("model's department %q does not handle category %s; using %s", mv, cat.Code, rules.Department)
			}
		}
		refuse := ""
		switch {
		case steered && ok && mv != rules.Department:
			refuse = "the request's instruction-like text may have chosen it"
		case ok && mv != rules.Department && mv != cat.Department && !c.namedDepartments(c.prepareRequest(text))[mv]:
			// The taxonomy's also: who else may lead when the request says so.
			refuse = "another department leads " + cat.Code + " only when the request names it"
		}
		d.Department = pick("department", mv, rules.Department, ok, refuse)
	}

	// Urgency, recomputed for the final type.
	{
		ru := rules.Urgency
		mv := ""
		ok := false
		if model != nil {
			_, ok = tax.Urgency(model.Urgency)
			mv = model.Urgency
		}
		refuse := ""
		if ok && mv != ru {
			switch {
			case tax.moreUrgent(mv, ru) == ru:
				refuse = "the request's cues call for " + ru
			case !rules.urgencyEvidence[mv]:
				refuse = "the request has no cue for it"
			}
		}
		d.Urgency = pick("urgency", mv, ru, ok, refuse)
		if d.Type != rules.Type {
			rules = c.retype(text, rules, d.Type)
		}
		if ty, ok := tax.Type(d.Type); ok && !rules.capLifted && ty.MaxUrgency != "" && tax.moreUrgent(d.Urgency, ty.MaxUrgency) == d.Urgency && d.Urgency != ty.MaxUrgency {
			d.Urgency = ty.MaxUrgency
		}
	}

	if model != nil && model.Reply != "" {
		if why := replyProblem(model.Reply, rules.Lang); why != "" {
			warn("model's draft reply not used: %s", why)
		} else {
			d.Reply = strings.TrimSpace(model.Reply)
		}
	}
	return d
}

// interruption reports whether category code is the interruption of a
// service: its least urgency lies between normal and emergency.
func (c *Classifier) interruption(code string) bool {
	cat, ok := c.tax.Category(code)
	return ok && cat.Urgency != "" && cat.Urgency != UrgencyNormal && cat.Urgency != UrgencyEmergency
}

// reclassify redoes the rules' department and urgency for another category.
func (c *Classifier) reclassify(text string, rules Classification, code string) Classification {
	r := c.prepareRequest(text)
	cat, _ := c.tax.Category(code)
	rules.Category = code
	rules.Department = cat.Department
	named := c.namedDepartments(r)
	for d := range named {
		if d != cat.Department && cat.Owns(d) {
			rules.Department = d
		}
	}
	if !rules.TypeStrong && cat.Type != "" && rules.typeEvidence[rules.Type] < typeKeywordWeight {
		rules.Type = cat.Type
	}
	rules.UrgencyCues = nil
	raised := rules.examplesEmergency
	c.classifyUrgency(r, &rules)
	if raised && rules.Urgency != UrgencyEmergency {
		c.examplesEmergency(&rules)
	}
	return rules
}

// retype redoes whether the urgency cap is lifted for another type.
func (c *Classifier) retype(text string, rules Classification, typ string) Classification {
	r := c.prepareRequest(text)
	for i, ty := range c.tax.Types {
		if ty.ID == typ {
			rules.capLifted = len(r.hazards) > 0 || c.capLifted(r, i, rules.urgencyEvidence[UrgencyEmergency])
		}
	}
	return rules
}

var linkRE = regexp.MustCompile(`(?i)https?://|www\.|<[a-z/]`)

// replyProblem says why a model's draft reply cannot go to a citizen, or "".
func replyProblem(reply, lang string) string {
	r := strings.TrimSpace(reply)
	switch {
	case r == "":
		return "empty"
	case utf8.RuneCountInString(r) > MaxReplyRunes:
		return "too long"
	case linkRE.MatchString(r):
		return "it contains a link or markup"
	case Language(r) != lang:
		return "it is not in the citizen's language"
	}
	return ""
}
