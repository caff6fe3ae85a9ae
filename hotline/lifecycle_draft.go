package hotline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/internal/pii"
	"github.com/cityagent/cityagent/internal/usererr"
)

// ReplyDraft is a reply to the citizen composed from the department's notes
// on a ticket and the knowledge base's handling rules, for the department to
// read, edit and post with the reply action. It is never sent by itself.
type ReplyDraft struct {
	TicketID string `json:"ticket_id"`
	Type     string `json:"type"`
	Lang     string `json:"lang"`
	Text     string `json:"text"`
	// Notes are the department's notes the draft states, in order: the
	// progress notes recorded on the ticket, then the notes sent with the
	// request. Personal data in them is masked.
	Notes []string `json:"notes"`
	// Citations are the knowledge-base passages the draft refers to, those
	// the key's clearance covers.
	Citations []agents.Citation `json:"citations"`
	// Check is what the reply check (CheckReply) says of the draft: "" when
	// it would be accepted as the reply, else what is missing.
	Check    string   `json:"check"`
	Warnings []string `json:"warnings"`
	// Sent is always false: a draft is posted only by the reply action.
	Sent bool `json:"sent"`
}

// DraftRequest asks for a reply draft; Notes are further notes of the
// department (what was done, the result) to state beside the recorded ones.
type DraftRequest struct {
	Notes string
}

// draftRoles may ask for a draft: the department the ticket is with (its
// own tickets only) and supervisors — those who post the reply.
var draftRoles = []access.Role{access.RoleDepartment, access.RoleSupervisor}

// Bounds of a draft's parts.
const (
	draftNotes     = 5   // the latest notes stated
	draftNoteRunes = 300 // each note, clipped
	draftSources   = 2   // knowledge passages cited
)

// ReplyDraft composes a reply draft for a ticket by may reply to now (it
// is with the department: accepted, in progress or reopened; otherwise a
// *TransitionError). The department's notes and the citizen's text are data:
// instruction-like parts of the notes are left out and flagged, the
// citizen's words are not repeated, and personal data stays masked. The
// draft cites the knowledge-base passages found for the ticket's category
// that by's clearance covers. Nothing is stored or sent.
func (s *Service) ReplyDraft(ctx context.Context, id string, by access.Principal, req DraftRequest) (ReplyDraft, error) {
	if !mayDraft(by) {
		return ReplyDraft{}, usererr.Wrapf(ErrForbidden, "a reply draft is for department and supervisor keys; this key's role is %s", by.Role)
	}
	extra := strings.TrimSpace(req.Notes)
	if msg := textProblem(extra); msg != "" {
		return ReplyDraft{}, &InputError{"notes", msg}
	}
	if utf8.RuneCountInString(extra) > MaxNoteRunes {
		return ReplyDraft{}, &InputError{"notes", fmt.Sprintf("must be at most %d characters", MaxNoteRunes)}
	}
	ls, err := s.lifecycleStore()
	if err != nil {
		return ReplyDraft{}, err
	}
	st, err := s.ticketFor(ctx, id, by)
	if err != nil {
		return ReplyDraft{}, err
	}
	if !legal(st.Status, ActionReply, StatusReplied) {
		return ReplyDraft{}, illegal(st, ActionReply)
	}
	t, err := s.fromStore(st)
	if err != nil {
		return ReplyDraft{}, err
	}
	rows, err := ls.TicketTransitions(ctx, id)
	if err != nil {
		return ReplyDraft{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var notes, flagged []string
	add := func(n string) {
		n, found := stripInstructions(pii.Mask(n))
		flagged = append(flagged, found...)
		n = strings.Trim(strings.TrimSpace(n), "。.；; ")
		if n != "" {
			notes = append(notes, clip(n, draftNoteRunes))
		}
	}
	for _, r := range rows {
		// The department's own words: its progress notes (a pause or
		// resume leaves a bracketed remark, not the department's).
		if r.To == StatusInProgress {
			add(clockRemarkRE.ReplaceAllString(r.Note, ""))
		}
	}
	if extra != "" {
		add(extra)
	}
	if len(notes) > draftNotes {
		notes = notes[len(notes)-draftNotes:]
	}
	if len(notes) == 0 {
		return ReplyDraft{}, &InputError{"notes", "the ticket has no progress notes yet: post progress or send notes saying what was done and its result"}
	}
	d := ReplyDraft{TicketID: t.ID, Type: t.Type, Lang: t.Lang, Notes: notes, Citations: []agents.Citation{}, Warnings: []string{}}
	if s.triager != nil {
		query := t.CategoryName.In(t.Lang) + " " + strings.Join(notes, " ")
		d.Citations = append(d.Citations, s.triager.retrieve(ctx, by, query, draftSources)...)
	}
	if len(flagged) > 0 {
		d.Warnings = append(d.Warnings, "the notes contain text that reads like instructions ("+clip(strings.Join(flagged, " / "), 200)+"); it was left out of the draft")
	}
	if len(d.Citations) == 0 {
		d.Warnings = append(d.Warnings, "no knowledge-base passage was found for this ticket: the draft cites none")
	}
	d.Text = composeDraft(t, notes, d.Citations)
	if err := CheckReply(t.Type, d.Text); err != nil {
		d.Check = err.Error()
		if ie := (*InputError)(nil); errors.As(err, &ie) {
			d.Check = ie.Message
		}
		d.Warnings = append(d.Warnings, "the draft does not pass the reply check yet: "+d.Check)
	}
	return d, nil
}

func mayDraft(by access.Principal) bool {
	for _, r := range draftRoles {
		if by.Role == r || r == access.RoleSupervisor && by.Role.Allows(access.RoleSupervisor) {
			return true
		}
	}
	return false
}

// composeDraft writes the draft in the ticket's language: a greeting naming
// the ticket and its category, the department's notes as what was done,
// the handling rule cited by title, and a closing. The citizen's own text
// is not repeated.
func composeDraft(t Ticket, notes []string, cites []agents.Citation) string {
	var b strings.Builder
	if t.Lang == LangEn {
		fmt.Fprintf(&b, "Hello, about your request on \"%s\" (ticket %s): ", t.CategoryName.In(LangEn), t.ID)
		fmt.Fprintf(&b, "the %s reports that %s.", t.DepartmentName.In(LangEn), strings.Join(notes, "; "))
		for i, c := range cites {
			if i == 0 {
				fmt.Fprintf(&b, " This was handled under %s [%d]", sourceTitle(c), i+1)
			} else {
				fmt.Fprintf(&b, " and %s [%d]", sourceTitle(c), i+1)
			}
		}
		if len(cites) > 0 {
			b.WriteString(".")
		}
		b.WriteString(" If the problem is not solved, please call 12345 again. Thank you for your patience.")
		return b.String()
	}
	fmt.Fprintf(&b, "您好，关于您反映的“%s”事项（工单号%s）：", t.CategoryName.In(LangZh), t.ID)
	fmt.Fprintf(&b, "经%s处理，%s。", t.DepartmentName.In(LangZh), strings.Join(notes, "；"))
	for i, c := range cites {
		if i == 0 {
			fmt.Fprintf(&b, "办理依据：《%s》[%d]", sourceTitle(c), i+1)
		} else {
			fmt.Fprintf(&b, "、《%s》[%d]", sourceTitle(c), i+1)
		}
	}
	if len(cites) > 0 {
		b.WriteString("。")
	}
	b.WriteString("如问题仍未解决，请再次拨打12345反映。感谢您的理解与支持。")
	return b.String()
}

// sourceTitle is a citation's document title without its heading path.
func sourceTitle(c agents.Citation) string {
	title, _, _ := strings.Cut(c.Title, " › ")
	return strings.TrimSpace(title)
}

// clockRemarkRE is the remark a pause or resume of the clock adds to a note.
var clockRemarkRE = regexp.MustCompile(`\s*\[clock (paused|resumed)[^\]]*\]`)
