package openapi

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools/httptool"
)

// security maps the document's security schemes to the source's secrets.
type security struct {
	doc        openapi3.SecurityRequirements
	configured map[string]httptool.Auth
	// carried are the parameters a scheme or a source header fills, by
	// "header:authorization", "query:api_key", "cookie:session": the
	// scheme's name, or "" for a source header.
	carried map[string]string
}

// newSecurity completes each configured credential from its scheme in the
// document and notes which parameters credentials carry.
func newSecurity(t *openapi3.T, opts Options, rep *Report) (*security, error) {
	s := &security{doc: t.Security, configured: map[string]httptool.Auth{}, carried: map[string]string{}}
	schemes := openapi3.SecuritySchemes{}
	if t.Components != nil && t.Components.SecuritySchemes != nil {
		schemes = t.Components.SecuritySchemes
	}
	var names []string
	for n := range schemes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ref := schemes[n]; ref != nil && ref.Value != nil && ref.Value.Type == "apiKey" {
			s.carried[strings.ToLower(ref.Value.In)+":"+strings.ToLower(ref.Value.Name)] = n
		}
	}
	for h := range opts.Headers {
		s.carried["header:"+strings.ToLower(h)] = ""
	}
	cfgNames := make([]string, 0, len(opts.Security))
	for n := range opts.Security {
		cfgNames = append(cfgNames, n)
	}
	sort.Strings(cfgNames)
	for _, n := range cfgNames {
		ref := schemes[n]
		if ref == nil || ref.Value == nil {
			return nil, usererr.Errorf("%w: security.%s: the document has no security scheme %q (it has: %s)", ErrDocument, n, n, strings.Join(names, ", "))
		}
		a, err := complete(n, ref.Value, opts.Security[n])
		if err != nil {
			return nil, err
		}
		s.configured[n] = a
		if _, byHeader := s.carried["header:authorization"]; a.Type != "apiKey" && !byHeader {
			s.carried["header:authorization"] = n
		}
	}
	var missing []string
	for _, n := range names {
		if _, ok := s.configured[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("security schemes without secrets: %s; operations that need them are unavailable (never sent unauthenticated) until security.<scheme> names a secret", strings.Join(missing, ", ")))
	}
	return s, nil
}

// complete fills a configured credential's type and placement from the
// document's scheme.
func complete(name string, sc *openapi3.SecurityScheme, a httptool.Auth) (httptool.Auth, error) {
	bad := func(format string, args ...any) (httptool.Auth, error) {
		return httptool.Auth{}, usererr.Errorf("%w: security.%s: %s", ErrDocument, name, fmt.Sprintf(format, args...))
	}
	switch {
	case sc.Type == "apiKey":
		a.Type, a.In, a.Name = "apiKey", sc.In, sc.Name
	case sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer"):
		a.Type = "bearer"
	case sc.Type == "http" && strings.EqualFold(sc.Scheme, "basic"):
		a.Type = "basic"
	case sc.Type == "oauth2":
		if sc.Flows == nil || sc.Flows.ClientCredentials == nil {
			return bad("only the oauth2 client-credentials flow can run without a person; this scheme has none")
		}
		a.Type = "oauth2"
		if a.TokenURL == "" {
			a.TokenURL = sc.Flows.ClientCredentials.TokenURL
		}
	default:
		return bad("scheme type %s %s is not supported (apiKey, http bearer, http basic, oauth2 client credentials are)", sc.Type, sc.Scheme)
	}
	return a, nil
}

// carrier says whether a credential fills parameter p, and which
// configured scheme does ("" for a source header or none configured).
func (s *security) carrier(p *openapi3.Parameter) (string, bool) {
	n, ok := s.carried[strings.ToLower(p.In)+":"+strings.ToLower(p.Name)]
	if _, configured := s.configured[n]; !configured {
		n = ""
	}
	return n, ok
}

// auth returns the credentials an operation sends: the first alternative
// of its security requirement whose schemes all have secrets, and the
// schemes that fill parameters it declares (extra).
//
// When no alternative has all its secrets, unconfigured names the schemes
// of the first alternative that have none: the tool is then unavailable
// (never sent unauthenticated), as with an unset secret.
func (s *security) auth(o op, extra []string) (auths []httptool.Auth, unconfigured []string) {
	out, unconfigured := s.required(o)
	for _, n := range extra {
		a := s.configured[n]
		if !slices.ContainsFunc(out, func(b httptool.Auth) bool { return b.Type == a.Type && b.In == a.In && b.Name == a.Name }) {
			out = append(out, a)
		}
	}
	return out, unconfigured
}

func (s *security) required(o op) ([]httptool.Auth, []string) {
	var missing []string
	reqs := s.doc
	if o.op.Security != nil {
		reqs = *o.op.Security
	}
	for _, alt := range reqs {
		var out []httptool.Auth
		ok := true
		keys := make([]string, 0, len(alt))
		for n := range alt {
			keys = append(keys, n)
		}
		sort.Strings(keys)
		for _, n := range keys {
			a, has := s.configured[n]
			if !has {
				if missing == nil {
					missing = s.unconfigured(keys)
				}
				ok = false
				break
			}
			if a.Type == "oauth2" && len(a.Scopes) == 0 {
				a.Scopes = alt[n]
			}
			out = append(out, a)
		}
		if ok {
			return out, nil
		}
	}
	return nil, missing
}

// unconfigured lists the schemes among names that have no secret.
func (s *security) unconfigured(names []string) []string {
	out := []string{}
	for _, n := range names {
		if _, ok := s.configured[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}
