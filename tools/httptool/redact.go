package httptool

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"

	"github.com/cityagent/cityagent/tools"
)

// Redacted replaces a secret value in what a tool returns.
const Redacted = "[redacted]"

// minRedact is the shortest value redacted: shorter ones would blank out
// ordinary text and are no secret worth the name.
const minRedact = 4

// secretValues lists the configured secret values the tool sends, in the
// forms they take on the wire (as set, percent-encoded, JSON-escaped, the
// basic credentials' base64), longest first.
func (t *Tool) secretValues() []string {
	var raw []string
	for _, v := range t.def.Headers {
		if m := secretRE.FindStringSubmatch(v); m != nil {
			raw = append(raw, t.getenv(m[2]))
		}
	}
	for _, a := range t.def.Auth {
		var user, pass string
		for i, ref := range []string{a.Secret, a.Username, a.Password, a.ClientID, a.ClientSecret} {
			m := secretRefRE.FindStringSubmatch(ref)
			if m == nil {
				continue
			}
			v := t.getenv(m[1])
			raw = append(raw, v)
			switch i {
			case 1:
				user = v
			case 2:
				pass = v
			}
		}
		if user != "" || pass != "" {
			raw = append(raw, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		}
	}
	t.tokens.mu.Lock()
	raw = append(raw, t.tokens.token)
	t.tokens.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, v := range raw {
		j, _ := json.Marshal(v)
		for _, f := range []string{v, escapeUnreserved(v), url.QueryEscape(v), escapeCookie(v), strings.Trim(string(j), `"`)} {
			if len(f) >= minRedact && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact replaces every secret value in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	return s
}

// redactedError is an error whose text has the tool's secrets replaced;
// it unwraps to the cause so that errors.Is and errors.As still hold.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactError hides the tool's secrets in err's text. Argument errors keep
// their type with a redacted reason.
func redactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	if ae, ok := err.(*tools.ArgsError); ok {
		cp := *ae
		cp.Reason = redact(cp.Reason, secrets)
		return &cp
	}
	msg := redact(err.Error(), secrets)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// withoutQuery strips the query and fragment from the URL of a transport
// error, where a query credential would otherwise show.
func withoutQuery(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "(URL not shown)", Err: ue.Err}
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}

// redactResult hides the tool's secrets in a result's content.
func redactResult(res tools.Result, secrets []string) tools.Result {
	if len(res.Content) == 0 {
		return res
	}
	red := redact(string(res.Content), secrets)
	if red != string(res.Content) && !json.Valid([]byte(red)) {
		// A secret that was a JSON number or literal: keep the result JSON.
		b, _ := json.Marshal(map[string]string{"text": red})
		red = string(b)
	}
	res.Content = json.RawMessage(red)
	return res
}
