package actions

import (
	"regexp"
	"strings"
)

// instructionPatterns find text that addresses a model or claims authority
// it does not have: what prompt injection in a document or a tool result
// looks like. A match never blocks anything (the agent loop already keeps
// data from acting); it flags the proposal so that the approver looks twice.
var instructionPatterns = []struct {
	label string
	re    *regexp.Regexp
}{
	{"ignore previous instructions", regexp.MustCompile(`(?i)\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|system)\b.{0,20}\b(instructions?|rules?|prompts?|messages?)`)},
	{"忽略之前的指令", regexp.MustCompile(`(忽略|无视|忘记|不要理会|覆盖).{0,12}(之前|以上|上述|先前|所有|系统).{0,8}(指令|指示|规则|提示|要求|设定)`)},
	{"fake system or developer message", regexp.MustCompile(`(?i)(^|\n|\[|<|\|)\s*(system|developer|assistant)\s*(message|prompt)?\s*[:：\]>|]`)},
	{"claims system authority", regexp.MustCompile(`(?i)\b(system|developer|admin(istrator)?)\s+(override|instructions?|command|directive)\b|\bpre-?approved\b`)},
	{"伪造的系统消息", regexp.MustCompile(`(系统消息|系统提示|系统指令|管理员指令|开发者消息)\s*[:：】\]]`)},
	{"asks to approve or execute", regexp.MustCompile(`(?i)\b(approve|execute|auto-?approve|authori[sz]e)\b.{0,30}\b(proposal|action|request|plan|prop_[a-z0-9]+)`)},
	{"要求批准或执行", regexp.MustCompile(`(批准|审批通过|自动执行|立即执行|直接执行).{0,12}(提议|提案|方案|操作|请求|工单)`)},
	{"asks to reveal or send data", regexp.MustCompile(`(?i)\b(reveal|print|send|exfiltrate|leak|include|output)\b.{0,40}\b(secret|password|api key|system prompt|restricted|confidential|credentials?)`)},
	{"要求泄露数据", regexp.MustCompile(`(泄露|发送|输出|打印|附上|透露).{0,12}(密码|密钥|机密|绝密|受限|系统提示|内部资料)`)},
	{"link carrying data", regexp.MustCompile(`(?i)!\[[^\]]*\]\(\s*https?://|https?://[^\s)]+[?&][a-z_]+=\{?`)},
	{"hidden text", regexp.MustCompile(`(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|<!--|\x{200b}|\x{2060}`)},
	{"new tools or roles", regexp.MustCompile(`(?i)\b(you (now )?have access to|call the tool|use the tool|you are now|act as|new role)\b`)},
	{"names a tool to call", regexp.MustCompile(`(?i)\b(call|invoke|run|use)\s+(the\s+)?(tool|function)?\s*` + "`?" + `[a-z][a-z0-9]*_[a-z0-9_]+`)},
	{"要求调用工具", regexp.MustCompile(`(调用|执行|使用)\s*(工具|函数)?\s*[a-zA-Z][a-zA-Z0-9]*_[a-zA-Z0-9_]+`)},
}

// InstructionFlags lists the kinds of instruction-like text in s, each once.
func InstructionFlags(s string) []string {
	var out []string
	for _, p := range instructionPatterns {
		if p.re.MatchString(s) {
			out = append(out, p.label)
		}
	}
	return out
}

// flagsFor builds a proposal's warning flags from its evidence and rationale.
func flagsFor(evidence []Evidence, rationale string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, e := range evidence {
		text := e.Text
		if text == "" {
			text = e.Snippet
		}
		for _, f := range InstructionFlags(text) {
			add("instruction-like text in evidence " + e.Ref + " (" + e.Kind + "): " + f)
		}
	}
	for _, f := range InstructionFlags(rationale) {
		add("instruction-like text in the rationale: " + f)
	}
	return out
}

// clip returns the first n runes of s, marked when cut.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
