package httptool

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// HeaderProblems checks headers a definition or a tool source sends:
// names a tool may set, values that name a secret. Fields are
// prefix+"."+name ("headers.X-Key").
func HeaderProblems(prefix string, headers map[string]string) []Problem {
	var ps []Problem
	for _, h := range slices.Sorted(maps.Keys(headers)) {
		switch {
		case !headerRE.MatchString(h) || forbiddenHeaders[strings.ToLower(h)]:
			ps = append(ps, Problem{prefix + "." + h, "is not a header a tool may set"})
		case !secretRE.MatchString(headers[h]):
			ps = append(ps, Problem{prefix + "." + h, "must name a secret as ${" + SecretPrefix + "NAME}, optionally after a short prefix such as \"Bearer \"; secret values are never stored"})
		}
	}
	return ps
}

// SecretDestinations maps each secret variable the definition names to the
// hosts it is sent to: the endpoint's, or an OAuth token URL's.
func (d Def) SecretDestinations() map[string][]string {
	out := map[string][]string{}
	add := func(ref, rawURL string) {
		m := secretRE.FindStringSubmatch(ref)
		if m == nil {
			return
		}
		if u, err := url.Parse(placeholderRE.ReplaceAllString(rawURL, "x")); err == nil && u.Hostname() != "" {
			out[m[2]] = append(out[m[2]], strings.ToLower(u.Hostname()))
		}
	}
	for _, v := range d.Headers {
		add(v, d.Endpoint)
	}
	for _, a := range d.Auth {
		for _, ref := range []string{a.Secret, a.Username, a.Password} {
			add(ref, d.Endpoint)
		}
		add(a.ClientID, a.TokenURL)
		add(a.ClientSecret, a.TokenURL)
	}
	return out
}
