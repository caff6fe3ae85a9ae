package httptool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cityagent/cityagent/tools/outbound"
)

// Auth is one credential a tool sends with every request, read from
// secrets at call time (an OpenAPI security scheme). The model never sees
// or fills it.
type Auth struct {
	// Type is apiKey, bearer, basic or oauth2 (client credentials).
	Type string `json:"type"`
	// In and Name place an apiKey: header, query or cookie.
	In   string `json:"in,omitempty"`
	Name string `json:"name,omitempty"`
	// Secret names the key or token: "${CITYAGENT_SECRET_X}".
	Secret string `json:"secret,omitempty"`
	// Username and Password name the basic credentials' secrets.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TokenURL, ClientID, ClientSecret and Scopes configure an OAuth 2
	// client-credentials grant; ClientID and ClientSecret name secrets.
	TokenURL     string   `json:"token_url,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
}

var secretRefRE = regexp.MustCompile(`^\$\{(` + SecretPrefix + `[A-Z0-9_]+)\}$`)

// problems lists what is wrong with a, for field f.
func (a Auth) problems(f string) []Problem {
	var ps []Problem
	ref := func(field, v string) {
		if !secretRefRE.MatchString(v) {
			ps = append(ps, Problem{f + "." + field, fmt.Sprintf("must name a secret as ${%sNAME}", SecretPrefix)})
		}
	}
	switch a.Type {
	case "apiKey":
		if a.In != "header" && a.In != "query" && a.In != "cookie" {
			ps = append(ps, Problem{f + ".in", "must be header, query or cookie"})
		}
		if a.Name == "" || (a.In == "header" && (!tokenRE.MatchString(a.Name) || forbiddenHeaders[strings.ToLower(a.Name)])) {
			ps = append(ps, Problem{f + ".name", "must name the header, query parameter or cookie"})
		}
		ref("secret", a.Secret)
	case "bearer":
		ref("secret", a.Secret)
	case "basic":
		ref("username", a.Username)
		ref("password", a.Password)
	case "oauth2":
		if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps = append(ps, Problem{f + ".token_url", "must be an http(s) URL"})
		}
		ref("client_id", a.ClientID)
		ref("client_secret", a.ClientSecret)
	default:
		ps = append(ps, Problem{f + ".type", "must be apiKey, bearer, basic or oauth2"})
	}
	return ps
}

// secret reads the variable a reference names; "" if unset.
func (t *Tool) secret(ref string) (string, error) {
	m := secretRefRE.FindStringSubmatch(ref)
	if m == nil {
		return "", fmt.Errorf("%w: %q is not a secret reference", ErrSecret, ref)
	}
	v := t.getenv(m[1])
	if v == "" {
		return "", fmt.Errorf("%w: %s", ErrSecret, m[1])
	}
	return v, nil
}

// checkAuth reports whether every secret the credentials name is set and
// every security scheme the operation requires has one.
func (t *Tool) checkAuth() error {
	if len(t.def.Unconfigured) > 0 {
		return fmt.Errorf("%w: security scheme %s has no secret; name one in the source's security.%s",
			ErrSecret, strings.Join(t.def.Unconfigured, ", "), t.def.Unconfigured[0])
	}
	for _, a := range t.def.Auth {
		for _, ref := range []string{a.Secret, a.Username, a.Password, a.ClientID, a.ClientSecret} {
			if ref == "" {
				continue
			}
			if _, err := t.secret(ref); err != nil {
				return err
			}
		}
	}
	return nil
}

// credentials is what the auth entries add to one request.
type credentials struct {
	header  http.Header
	query   []pair
	cookies []pair
}

func (t *Tool) credentials(ctx context.Context) (credentials, error) {
	c := credentials{header: http.Header{}}
	if err := t.checkAuth(); err != nil {
		return c, err
	}
	for _, a := range t.def.Auth {
		switch a.Type {
		case "apiKey":
			v, err := t.secret(a.Secret)
			if err != nil {
				return c, err
			}
			switch a.In {
			case "header":
				c.header.Set(a.Name, v)
			case "query":
				c.query = append(c.query, pair{escapeUnreserved(a.Name), escapeUnreserved(v)})
			case "cookie":
				c.cookies = append(c.cookies, pair{a.Name, escapeCookie(v)})
			}
		case "bearer":
			v, err := t.secret(a.Secret)
			if err != nil {
				return c, err
			}
			c.header.Set("Authorization", "Bearer "+v)
		case "basic":
			u, err := t.secret(a.Username)
			if err != nil {
				return c, err
			}
			p, err := t.secret(a.Password)
			if err != nil {
				return c, err
			}
			c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
		case "oauth2":
			tok, err := t.oauthToken(ctx, a)
			if err != nil {
				return c, err
			}
			c.header.Set("Authorization", "Bearer "+tok)
		}
	}
	return c, nil
}

// credentialNames lists the headers and query parameters that carry the
// tool's secrets, for the guard to drop on a redirect to another origin.
func (t *Tool) credentialNames() outbound.Credentials {
	var c outbound.Credentials
	for h := range t.def.Headers {
		c.Headers = append(c.Headers, h)
	}
	for _, a := range t.def.Auth {
		switch {
		case a.Type == "apiKey" && a.In == "header":
			c.Headers = append(c.Headers, a.Name)
		case a.Type == "apiKey" && a.In == "query":
			c.Query = append(c.Query, a.Name)
		case a.Type == "apiKey":
			c.Headers = append(c.Headers, "Cookie")
		default:
			c.Headers = append(c.Headers, "Authorization")
		}
	}
	return c
}

// tokenCache holds the access token of a client-credentials grant.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// oauthToken returns a cached access token or fetches a new one from the
// token URL through the tool's guarded client (RFC 6749 §4.4).
func (t *Tool) oauthToken(ctx context.Context, a Auth) (string, error) {
	t.tokens.mu.Lock()
	defer t.tokens.mu.Unlock()
	if t.tokens.token != "" && t.now().Before(t.tokens.expires) {
		return t.tokens.token, nil
	}
	id, err := t.secret(a.ClientID)
	if err != nil {
		return "", err
	}
	sec, err := t.secret(a.ClientSecret)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(a.Scopes) > 0 {
		form.Set("scope", strings.Join(a.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("httptool: %s: token request: %w", t.def.Name, err)
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	req.Header.Set("Content-Type", ContentForm)
	req.Header.Set("Accept", ContentJSON)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("httptool: %s: token request: %w", t.def.Name, withoutQuery(err))
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 || json.Unmarshal(raw, &tr) != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("httptool: %s: the token endpoint answered %d without an access token", t.def.Name, resp.StatusCode)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	t.tokens.token, t.tokens.expires = tr.AccessToken, t.now().Add(ttl*9/10)
	return tr.AccessToken, nil
}
