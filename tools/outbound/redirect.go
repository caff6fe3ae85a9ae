package outbound

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Credentials names what carries a secret in a request: header names and
// query parameter names. On a redirect to another origin they are dropped.
type Credentials struct {
	Headers []string
	Query   []string
}

type credentialsKey struct{}

// WithCredentials marks the headers and query parameters of the requests
// made with ctx that carry secrets, so that a redirect to another origin
// (scheme, host or port) does not send them on.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// alwaysCredential are headers that carry credentials whoever sent them.
var alwaysCredential = []string{"Authorization", "Cookie", "Cookie2", "Proxy-Authorization", "Www-Authenticate"}

// checkRedirect vets one redirect: at most max hops, http(s) only, never a
// Referer, and no credentials to another origin than the first request's.
func checkRedirect(max int) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= max {
			return fmt.Errorf("outbound: stopped after %d redirects", len(via))
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to scheme %q", ErrForbidden, req.URL.Scheme)
		}
		// The Referer would carry the previous URL, query credentials included.
		req.Header.Del("Referer")
		if sameOrigin(via[0].URL, req.URL) {
			return nil
		}
		c, _ := req.Context().Value(credentialsKey{}).(Credentials)
		for _, h := range append(alwaysCredential, c.Headers...) {
			req.Header.Del(h)
		}
		if len(c.Query) > 0 && req.URL.RawQuery != "" {
			req.URL.RawQuery = dropQuery(req.URL.RawQuery, c.Query)
		}
		return nil
	}
}

// sameOrigin compares scheme, host and port (defaulted by scheme).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// dropQuery removes the named parameters from a raw query, keeping the
// rest byte for byte.
func dropQuery(raw string, names []string) string {
	var kept []string
	for _, part := range strings.Split(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		drop := false
		for _, q := range names {
			drop = drop || name == q
		}
		if !drop {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "&")
}
