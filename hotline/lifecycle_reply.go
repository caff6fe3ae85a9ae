package hotline

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinReplyRunes is the shortest reply accepted.
const MinReplyRunes = 4

// replyRule is what a reply to one request type must contain: at least one
// cue, in either language. The check is deliberately simple (rules, not a
// model): it catches the replies that do not answer at all — an
// acknowledgement, a forwarding note, "in progress" — not bad answers.
type replyRule struct {
	noun string // the request, for the error message
	what string // what the reply must state
	cues []string
}

// replyRules by request type. A complaint or a report is answered with the
// handling and its result (经核实…已整改); a request for help with what
// was done or arranged; an inquiry with an answer; a suggestion with what
// becomes of it; praise with an acknowledgement.
var replyRules = map[string]replyRule{
	"complaint": {"a complaint", "the handling and its result (e.g. 经核实……已整改 / we inspected … and fixed it)", resultCues},
	"report":    {"a report", "the handling and its result (e.g. 经查……已依法处理 / we investigated and fined …)", resultCues},
	"help": {"a request for help", "what was done or arranged (e.g. 已安排维修人员到场 / a crew was sent and restored …)", append([]string{
		"安排", "派", "协助", "联系", "arranged", "sent", "helped", "contacted", "will ", "scheduled"}, resultCues...)},
	"inquiry": {"an inquiry", "an answer to the question (e.g. 可于工作日到……办理 / you can apply at …)", []string{
		"可以", "可于", "可在", "可通过", "请", "需要", "需", "是", "为", "办理", "时间", "地点", "电话", "材料", "流程", "网址", "规定",
		"you can", "please", " is ", " are ", "need", "call", "visit", "open", "hours", "required", "apply"}},
	"suggestion": {"a suggestion", "what becomes of the suggestion (e.g. 已纳入……研究 / we will consider it in …)", []string{
		"采纳", "研究", "考虑", "纳入", "感谢", "反馈", "suggestion", "consider", "adopt", "thank", "plan", "review"}},
	"praise": {"praise", "an acknowledgement (e.g. 感谢您的肯定，已转达 / thank you, we passed it on)", []string{
		"感谢", "谢谢", "转达", "表扬", "thank", "pass", "forwarded", "appreciat"}},
}

// resultCues say that something was done and how it ended.
var resultCues = []string{
	"已处理", "处理结果", "处理完毕", "已解决", "解决了", "整改", "修复", "已修", "恢复", "核实", "经查", "查处", "责令", "清理", "更换",
	"已完成", "处罚", "到场", "已拆除", "已疏通", "已维修",
	"fixed", "repaired", "resolved", "restored", "inspected", "investigated", "completed", "removed", "replaced", "cleaned",
	"fined", "found that", "has been", "have been", "was ", "were ",
}

// acknowledgements are replies that answer nothing (compared without
// spaces and punctuation, case-folded).
var acknowledgements = map[string]bool{
	"收到": true, "已收到": true, "好的": true, "处理中": true, "正在处理": true, "正在处理中": true, "已转办": true, "已受理": true,
	"ok": true, "okay": true, "received": true, "noted": true, "inprogress": true, "wewilllookintoit": true, "processing": true,
}

// CheckReply checks a department's reply to a ticket of request type typ:
// not empty, at most MaxNoteRunes, valid text, not a mere
// acknowledgement, and stating what the type asks for (replyRules). The
// error is an *InputError on field text whose message says what is missing.
func CheckReply(typ, text string) error {
	text = strings.TrimSpace(text)
	if msg := textProblem(text); msg != "" {
		return &InputError{"text", msg}
	}
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0:
		return &InputError{"text", "is required: the reply to the citizen"}
	case n > MaxNoteRunes:
		return &InputError{"text", fmt.Sprintf("must be at most %d characters", MaxNoteRunes)}
	case acknowledgements[squash(text)]:
		return &InputError{"text", "an acknowledgement is not a reply: state what was done and its result"}
	case n < MinReplyRunes:
		return &InputError{"text", fmt.Sprintf("must be at least %d characters: a reply states what was done", MinReplyRunes)}
	}
	rule, ok := replyRules[typ]
	if !ok {
		return nil
	}
	low := " " + strings.ToLower(text) + " "
	for _, c := range rule.cues {
		if strings.Contains(low, c) {
			return nil
		}
	}
	return &InputError{"text", fmt.Sprintf("a reply to %s must state %s", rule.noun, rule.what)}
}

// squash drops spaces and punctuation and folds case.
func squash(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
