// Package outbound is the one guarded HTTP client that registered tools and
// tool sources (HTTP tools, OpenAPI operations, MCP servers over HTTP) use
// to reach the network. It refuses loopback, private, link-local, carrier-
// grade NAT, multicast, unspecified and cloud metadata addresses unless the
// configuration allows them, and it decides at dial time on the resolved IP
// address — so DNS rebinding and redirects meet the same check — before any
// packet is sent. An address is decided without its zone, unmapped, and by
// any IPv4 address it embeds (NAT64, 6to4, Teredo); numeric hosts spelled
// other than a.b.c.d are refused. Responses are bounded in size and time.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Errors callers branch on.
var (
	// ErrForbidden: the destination is an address the guard refuses.
	ErrForbidden = errors.New("outbound: destination not allowed")
	// ErrTooLarge: the response body exceeds the limit.
	ErrTooLarge = errors.New("outbound: response too large")
)

// Defaults applied to a zero Config.
const (
	DefaultMaxResponseBytes = 4 << 20
	DefaultTimeout          = 30 * time.Second
	DefaultMaxRedirects     = 5
)

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Client.
type Config struct {
	// Allow lists what may be reached despite the guard: host names (exact,
	// or "*.example.org" for subdomains), IP addresses and CIDR ranges. A
	// metadata address is reachable only when listed as such, never through
	// a range.
	Allow            []string
	MaxResponseBytes int64
	Timeout          time.Duration
	MaxRedirects     int
	// NoRedirects returns a 3xx as the response instead of following it
	// (webhook deliveries: the registered URL is the only destination).
	NoRedirects bool
	// Dial opens the vetted connections (to an IP:port the guard has
	// checked). Nil: a net.Dialer whose Control hook checks the address
	// once more right before connect(2).
	Dial DialFunc
	// Resolver resolves host names; nil = net.DefaultResolver.
	Resolver Resolver
}

// Policy decides which addresses may be reached.
type Policy struct {
	hosts    map[string]bool
	suffixes []string
	addrs    map[netip.Addr]bool
	prefixes []netip.Prefix
}

// NewPolicy parses allow entries.
func NewPolicy(allow []string) (*Policy, error) {
	p := &Policy{hosts: map[string]bool{}, addrs: map[netip.Addr]bool{}}
	for _, raw := range allow {
		e := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			pf, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("outbound: allow %q: %w", raw, err)
			}
			p.prefixes = append(p.prefixes, pf.Masked())
		case strings.HasPrefix(e, "*."):
			p.suffixes = append(p.suffixes, e[1:])
		default:
			if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				p.addrs[normalize(a)] = true
				continue
			}
			if strings.ContainsAny(e, " :@") {
				return nil, fmt.Errorf("outbound: allow %q: want a host name, an IP address or a CIDR range", raw)
			}
			p.hosts[e] = true
		}
	}
	return p, nil
}

// hostAllowed reports whether host is listed by name.
func (p *Policy) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if p.hosts[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// metadata are the cloud instance metadata endpoints.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"), // ECS task metadata
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("fd00:ec2::254"),
}

// special are the ranges refused unless allowed: not the public internet.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

func isMetadata(a netip.Addr) bool {
	for _, m := range metadata {
		if a == m {
			return true
		}
	}
	return false
}

// Special reports whether a is loopback, private, link-local, metadata or
// otherwise not a public unicast address, in any of its forms (zoned,
// IPv4-mapped, or embedding such an IPv4 address).
func Special(a netip.Addr) bool {
	for _, f := range forms(a) {
		if specialForm(f) {
			return true
		}
	}
	return false
}

// specialForm decides one normalised form.
func specialForm(a netip.Addr) bool {
	if !a.IsValid() || isMetadata(a) {
		return true
	}
	for _, p := range special {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AddrAllowed decides one resolved address of host (host may be "" when
// the address was given literally). Every form of the address (see
// forms) must be allowed: zone and IPv4 mapping are dropped first, and
// an address embedding an IPv4 address is judged by that address too.
func (p *Policy) AddrAllowed(host string, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, f := range forms(a) {
		if !p.formAllowed(host, f) {
			return false
		}
	}
	return true
}

func (p *Policy) formAllowed(host string, a netip.Addr) bool {
	if isMetadata(a) {
		return p.addrs[a] // only ever by name of the address itself
	}
	if !specialForm(a) {
		return true
	}
	if p.addrs[a] || (host != "" && p.hostAllowed(host)) {
		return true
	}
	for _, pf := range p.prefixes {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// LiteralAllowed decides a host as it appears in a URL or a dial address
// (brackets and zone optional) before any lookup. When host is an IP
// address literal, literal is true and allowed is the decision. Numeric
// spellings other than dotted-decimal IPv4 — 2130706433, 0x7f.1,
// 017700000001, 127.1, 127.0.0.1. — count as literals and are refused:
// resolvers disagree about what they mean. A host name (literal false)
// is decided on its resolved addresses by AddrAllowed.
func (p *Policy) LiteralAllowed(host string) (allowed, literal bool) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return p.AddrAllowed("", a), true
	}
	if numericHost(h) {
		return false, true
	}
	return false, false
}

// Client is the guarded client. It is safe for concurrent use.
type Client struct {
	policy *Policy
	cfg    Config
	http   *http.Client
}

// New builds the guarded client.
func New(cfg Config) (*Client, error) {
	p, err := NewPolicy(cfg.Allow)
	if err != nil {
		return nil, err
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	c := &Client{policy: p, cfg: cfg}
	if c.cfg.Dial == nil {
		c.cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second, ControlContext: c.control}).DialContext
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           c.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	c.http = &http.Client{Transport: &limited{rt: tr, max: cfg.MaxResponseBytes}, Timeout: cfg.Timeout,
		CheckRedirect: checkRedirect(cfg.MaxRedirects)}
	if cfg.NoRedirects {
		c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

// HTTP returns the guarded *http.Client, for libraries that take one (the
// MCP streamable transport, OpenAPI document fetches). Streaming bodies are
// bounded by the response limit too; use a context for long-lived streams.
func (c *Client) HTTP() *http.Client { return c.http }

// Streaming returns a guarded client without the overall timeout, for
// long-lived event streams (MCP); every dial is still guarded.
func (c *Client) Streaming() *http.Client {
	h := *c.http
	h.Timeout = 0
	h.Transport = c.http.Transport.(*limited).rt
	return &h
}

// Policy returns the client's policy.
func (c *Client) Policy() *Policy { return c.policy }

// Do sends req through the guard. Only http and https are allowed.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q", ErrForbidden, req.URL.Scheme)
	}
	return c.http.Do(req)
}

// dial vets addr's host, resolving it here and connecting only to an
// address the policy allows, by IP, so the name is never resolved again.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("outbound: dial %q: %w", addr, err)
	}
	var ips []netip.Addr
	name := ""
	if allowed, literal := c.policy.LiteralAllowed(host); literal {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if !allowed || err != nil {
			return nil, fmt.Errorf("%w: %s (loopback, private, link-local, metadata or a numeric form other than a.b.c.d; add the address to outbound.allow to permit it)",
				ErrForbidden, host)
		}
		ips = []netip.Addr{a}
	} else {
		if !plainName(host) {
			return nil, fmt.Errorf("%w: %q is not a host name", ErrForbidden, host)
		}
		name = host
		ips, err = c.cfg.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("outbound: resolve %s: %w", host, err)
		}
	}
	var refused []string
	var lastErr error
	for _, ip := range ips {
		if !c.policy.AddrAllowed(name, ip) {
			refused = append(refused, ip.String())
			continue
		}
		conn, err := c.cfg.Dial(withHost(ctx, name), network, net.JoinHostPort(dialAddr(ip).String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if name == "" {
		name = host
	}
	return nil, fmt.Errorf("%w: %s resolves to %s (loopback, private, link-local or metadata; add it to outbound.allow to permit it)",
		ErrForbidden, name, strings.Join(refused, ", "))
}

// dialAddr is the address to connect to once ip is allowed: normalised,
// except that a link-local address keeps the zone that names its link.
func dialAddr(ip netip.Addr) netip.Addr {
	n := normalize(ip)
	if n.IsLinkLocalUnicast() || n.IsLinkLocalMulticast() || n.IsInterfaceLocalMulticast() {
		return n.WithZone(ip.Zone())
	}
	return n
}

type hostKey struct{}

func withHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, hostKey{}, host)
}

// control checks the address the kernel is about to connect to, the last
// line should anything have handed the dialer an unvetted address.
func (c *Client) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbidden, address)
	}
	host, _ := ctx.Value(hostKey{}).(string)
	if !c.policy.AddrAllowed(host, ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbidden, address)
	}
	return nil
}

// RawDial is the default socket dialer with its Control check, for tests
// that show an address is refused even when the policy step is skipped.
func (c *Client) RawDial(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: 10 * time.Second, ControlContext: c.control}).DialContext(ctx, network, addr)
}

// limited bounds every response body.
type limited struct {
	rt  http.RoundTripper
	max int64
}

func (l *limited) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > l.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, l.max)
	}
	resp.Body = &capped{rc: resp.Body, left: l.max}
	return resp, nil
}

type capped struct {
	rc   io.ReadCloser
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// Probe reports whether rawURL's host can be reached through the guard: it
// resolves the host, checks every address and opens (and closes) a TCP
// connection, sending no request. Availability checks use it.
func (c *Client) Probe(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrForbidden, rawURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := c.dial(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return err
	}
	return conn.Close()
}
