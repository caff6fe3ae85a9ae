package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The OpenAI route reads a vocabulary the server does not own, so it cannot
// refuse every field it does not use: the official clients and the common
// chat UIs send sampling and bookkeeping fields with every request. It
// refuses what it cannot honour instead of dropping it silently: a field
// that is neither read nor in oaiIgnoredFields, a message field other than
// those of oaiMessageFields, n other than 1, a response_format other than
// text, and content parts other than text. docs/api.md lists them.

// oaiIgnoredFields are the request fields accepted and ignored: sampling,
// length and bookkeeping settings that cannot change what an agent may say
// (the agent's spec decides).
var oaiIgnoredFields = []string{
	"frequency_penalty", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
	"parallel_tool_calls", "presence_penalty", "prompt_cache_key", "reasoning_effort", "safety_identifier",
	"seed", "service_tier", "stop", "store", "top_logprobs", "user", "verbosity",
}

// oaiMessageFields are the fields a message may have; name, refusal and
// annotations (OpenAI's own assistant messages, sent back) are ignored.
var oaiMessageFields = []string{"role", "content", "tool_calls", "tool_call_id", "name", "refusal", "annotations"}

// oaiReadFields are the request fields the route reads (oaiRequest).
var oaiReadFields = []string{"model", "messages", "stream", "stream_options", "tools", "tool_choice",
	"temperature", "top_p", "n", "response_format"}

// checkOpenAIFields refuses the fields of a chat completion request, whose
// body decoded into req already, that the route would otherwise drop.
func checkOpenAIFields(body []byte, req oaiRequest) error {
	var top map[string]json.RawMessage
	var msgs struct {
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(body, &top) != nil || json.Unmarshal(body, &msgs) != nil {
		return nil // decoded as oaiRequest already: cannot happen
	}
	for _, k := range sortedKeys(top) {
		switch {
		case strings.EqualFold(k, "session_id"):
			return badRequest("the request is invalid", FieldError{k, "is not a field of this route: the messages you send select the session " +
				"(docs/api.md, Sessions); to continue a session by id, use POST /v1/agents/{agent}/chat"})
		case !hasFold(oaiReadFields, k) && !hasFold(oaiIgnoredFields, k):
			return badRequest("unknown field", FieldError{k, "is not a field this server supports (docs/api.md lists the accepted fields)"})
		}
	}
	for i, m := range msgs.Messages {
		for _, k := range sortedKeys(m) {
			if !hasFold(oaiMessageFields, k) {
				return badRequest("unknown field", FieldError{fmt.Sprintf("messages[%d].%s", i, k), "is not a message field this server supports"})
			}
		}
	}
	if req.N != nil && *req.N != 1 {
		return badRequest("the request is invalid", FieldError{"n", "must be 1: an agent gives one answer per request"})
	}
	if f := req.ResponseFormat; f != nil && f.Type != "text" {
		return badRequest("the request is invalid", FieldError{"response_format", fmt.Sprintf(`type must be "text", not %q: agents answer in text`, f.Type)})
	}
	return nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hasFold reports whether names holds k in any case, as encoding/json
// matches fields.
func hasFold(names []string, k string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) })
}

// text returns a message's text: a string, null (an assistant message that
// calls tools), or the text parts of an array. Other content, and parts
// other than text, are what is wrong with the message's content.
func (m oaiMessage) text() (string, string) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		if m.Role == "assistant" && len(m.ToolCalls) > 0 {
			return "", ""
		}
		return "", "must be a string or an array of content parts"
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, ""
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return "", "must be a string or an array of content parts"
	}
	var b strings.Builder
	for j, p := range parts {
		switch {
		case p.Type != "text":
			return "", fmt.Sprintf("part %d is of type %q; only text parts are supported", j, p.Type)
		case p.Text == nil:
			return "", fmt.Sprintf("part %d is a text part without text", j)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), ""
}
