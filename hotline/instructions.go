package hotline

import (
	"regexp"
	"strings"
)

// A citizen's text is data. Words in it that read like instructions to the
// triage ("ignore previous instructions", "SYSTEM:", 请派发给 X, 标记为紧急,
// type=…) never decide the department, type or urgency: the rules classify
// the text without them, the model's choices they would explain are
// refused, and the ticket and its dispatch proposal are flagged.

// instructionRE finds an instruction-like phrase. Sentence-wide ones
// (sentenceInstructionRE) make the rest of their sentence an instruction too.
var (
	sentenceInstructionRE = regexp.MustCompile(`(?i)(忽略|无视|忘记|忘掉|不要理会|不用管)(之前|以上|前面|上面|先前|此前)?的?(所有|全部|一切)?的?(指令|指示|规则|提示词|提示|设定|要求)` +
		`|\b(ignore|disregard|forget|override)\s+(all\s+|any\s+)?(of\s+)?(the\s+|your\s+|my\s+)?(previous|prior|above|earlier|preceding|former|system)\s+(instructions?|rules|prompts?|messages?|directions)` +
		`|(^|[\s(（\[【])(system|assistant|developer|系统|系统指令|系统提示)\s*[:：]`)
	instructionRE = regexp.MustCompile(`(?i)(请|麻烦|务必|必须|要求)(你们?)?(把|将)?(这个|此|本|该|我的|这条)?(工单|诉求|问题|投诉|举报|事情|事)?(直接)?(派发给|派发至|派给|派到|转给|转交给|转派给|分派给|指派给|分配给|移交给)` +
		`|(把|将)(这个|此|本|该|我的|这条)?(工单|诉求)(直接)?(派发给|派发至|派给|派到|转给|转交给|转派给|分派给|指派给|分配给|移交给|交给|发给)` +
		`|(标记|标注|标为|设为|设置为|列为|定为|改为|改成|升级为)为?(紧急|加急|特急|最高|一级)` +
		`|(部门|类型|类别|分类|紧急程度|优先级)\s*(改成|改为|设为|设置为|=)` +
		`|\b(dispatch|send|forward|route|assign|escalate|transfer|pass)\s+(this|it|the\s+ticket|this\s+ticket|my\s+request|this\s+request|my\s+complaint|this\s+case)\b(\s+\w+)?\s+(to|as)\b` +
		`|\b(mark|flag|set|classify|tag|treat|label|file|prioriti[sz]e|log)\s+(it|this|the\s+ticket|this\s+ticket|my\s+request)?\s*(as\s+)?(an?\s+)?(emergency|urgent|high\s+priority|top\s+priority)\b` +
		`|\bas\s+an?\s+(emergency|urgent\s+(case|matter|ticket))\b` +
		`|\b(type|category|department|dept|urgency|priority)\s*=\s*[a-z_]+`)
	// bracketRE is a parenthesised aside; one holding an instruction is
	// dropped whole ("（备注：本工单请派发给…，紧急处理）").
	bracketRE = regexp.MustCompile(`（[^（）]*）|\([^()]*\)|【[^【】]*】|\[[^\[\]]*\]`)
)

// instructionBreaks end the part of a text an instruction covers.
const (
	instructionClauseBreaks   = "，,；;\n"
	instructionSentenceBreaks = "。！？!?"
)

// stripInstructions returns s without its instruction-like parts (each
// replaced by a sentence break, so the clauses around it stay apart) and
// the parts it removed, in order.
func stripInstructions(s string) (string, []string) {
	var found []string
	s = bracketRE.ReplaceAllStringFunc(s, func(b string) string {
		if sentenceInstructionRE.MatchString(b) || instructionRE.MatchString(b) {
			found = append(found, strings.TrimSpace(b))
			return "。"
		}
		return b
	})
	var out strings.Builder
	rest := s
	for rest != "" {
		loc := sentenceInstructionRE.FindStringIndex(rest)
		wide := loc != nil
		if l := instructionRE.FindStringIndex(rest); l != nil && (loc == nil || l[0] < loc[0]) {
			loc, wide = l, false
		}
		if loc == nil {
			out.WriteString(rest)
			break
		}
		start := partStart(rest, loc[0], wide)
		end := partEnd(rest, loc[1], wide)
		out.WriteString(rest[:start])
		if part := strings.TrimSpace(rest[start:end]); part != "" {
			found = append(found, part)
		}
		out.WriteString("。")
		rest = rest[end:]
	}
	return out.String(), found
}

// partStart is where the clause (wide: the sentence) holding byte i begins.
func partStart(s string, i int, wide bool) int {
	breaks := instructionSentenceBreaks
	if !wide {
		breaks += instructionClauseBreaks
	}
	j := strings.LastIndexAny(s[:i], breaks)
	if k := lastEnglishStop(s[:i]); k > j {
		j = k
	}
	if j < 0 {
		return 0
	}
	_, size := firstRune(s[j:])
	return j + size
}

// partEnd is where the clause (wide: the sentence) holding byte i ends,
// its break included.
func partEnd(s string, i int, wide bool) int {
	breaks := instructionSentenceBreaks
	if !wide {
		breaks += instructionClauseBreaks
	}
	j := strings.IndexAny(s[i:], breaks)
	if k := strings.Index(s[i:], ". "); k >= 0 && (j < 0 || k < j) {
		j = k
	}
	if j < 0 {
		return len(s)
	}
	_, size := firstRune(s[i+j:])
	return i + j + size
}

// lastEnglishStop is the index of the last ". " in s, or -1.
func lastEnglishStop(s string) int {
	return strings.LastIndex(s, ". ")
}

func firstRune(s string) (rune, int) {
	for _, r := range s {
		return r, len(string(r))
	}
	return 0, 0
}

// InstructionWarning is the warning a ticket carries when its text holds
// instruction-like words.
func InstructionWarning(parts []string) string {
	return "the request contains text that reads like instructions (" + clip(strings.Join(parts, " / "), 200) +
		"); it was treated as the citizen's words and did not decide the department, type or urgency"
}
