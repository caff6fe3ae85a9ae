package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/outbound"
)

// recorder is the dial function under the guard: it records every address
// it is asked to connect to, then connects for real. Anything the guard
// lets through reaches it; anything it refuses never does, so no packet
// can have been sent there.
type recorder struct {
	mu    sync.Mutex
	addrs []string
}

func (r *recorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
}

func (r *recorder) saw(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.addrs {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

// fakeDNS answers host names from a table, as a malicious or rebinding
// resolver might.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func client(t *testing.T, allow []string, dns fakeDNS, rec *recorder, tweak ...func(*outbound.Config)) *outbound.Client {
	t.Helper()
	cfg := outbound.Config{Allow: allow, Dial: rec.dial, Resolver: dns, Timeout: 5 * time.Second}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := outbound.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(c *outbound.Client, url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

func TestRefusedBeforeAnyPacket(t *testing.T) {
	dns := fakeDNS{"metadata.internal": {"169.254.169.254"}, "intranet.example": {"10.0.0.1"}, "rebind.example": {"10.0.0.1", "127.0.0.1"},
		"mapped.example": {"::ffff:10.0.0.1"}}
	for name, url := range map[string]string{
		"metadata by address":      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"metadata by name":         "http://metadata.internal/computeMetadata/v1/",
		"private by address":       "http://10.0.0.1/admin",
		"private by name (DNS)":    "http://intranet.example:8080/",
		"rebinding to private":     "http://rebind.example/",
		"IPv4-mapped IPv6":         "http://mapped.example/",
		"loopback":                 "http://127.0.0.1:9/",
		"IPv6 loopback":            "http://[::1]:9/",
		"unspecified":              "http://0.0.0.0:9/",
		"metadata on another port": "https://169.254.169.254:8443/",
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			c := client(t, nil, dns, rec)
			err := get(c, url)
			if !errors.Is(err, outbound.ErrForbidden) {
				t.Fatalf("GET %s: %v, want ErrForbidden", url, err)
			}
			if got := rec.all(); len(got) != 0 {
				t.Fatalf("the dialer was asked to connect to %v", got)
			}
		})
	}
	// A broad range never opens the metadata address; naming it does.
	p, _ := outbound.NewPolicy([]string{"169.254.0.0/16", "0.0.0.0/0"})
	if p.AddrAllowed("", netip.MustParseAddr("169.254.169.254")) {
		t.Error("a CIDR range allowed the metadata address")
	}
	p, _ = outbound.NewPolicy([]string{"169.254.169.254"})
	if !p.AddrAllowed("", netip.MustParseAddr("169.254.169.254")) {
		t.Error("the metadata address listed by itself is refused")
	}
}

func TestRedirectToLoopbackRefused(t *testing.T) {
	var hitB atomic.Int32
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitB.Add(1)
		fmt.Fprint(w, "secret")
	}))
	defer b.Close()
	_, portB, _ := net.SplitHostPort(strings.TrimPrefix(b.URL, "http://"))
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := map[string]string{"/ip": b.URL, "/name": "http://localhost:" + portB + "/"}[r.URL.Path]
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer a.Close()
	_, portA, _ := net.SplitHostPort(strings.TrimPrefix(a.URL, "http://"))

	// tools.example is allowed by name and resolves to loopback; the
	// redirect names loopback directly or by another name.
	dns := fakeDNS{"tools.example": {"127.0.0.1"}, "localhost": {"127.0.0.1"}}
	for _, path := range []string{"/ip", "/name"} {
		rec := &recorder{}
		c := client(t, []string{"tools.example"}, dns, rec)
		err := get(c, "http://tools.example:"+portA+path)
		if !errors.Is(err, outbound.ErrForbidden) {
			t.Fatalf("redirect %s: %v, want ErrForbidden", path, err)
		}
		if !rec.saw("127.0.0.1:"+portA) || rec.saw("127.0.0.1:"+portB) {
			t.Fatalf("redirect %s: dialled %v (A is :%s, B is :%s)", path, rec.all(), portA, portB)
		}
	}
	if hitB.Load() != 0 {
		t.Fatalf("the redirect target got %d requests", hitB.Load())
	}
	// Allowed explicitly, the same redirect goes through.
	rec := &recorder{}
	c := client(t, []string{"tools.example", "127.0.0.1"}, dns, rec)
	if err := get(c, "http://tools.example:"+portA+"/ip"); err != nil || hitB.Load() != 1 {
		t.Fatalf("allowed redirect: %v, %d hits", err, hitB.Load())
	}
}

func TestControlRefusesWithoutThePolicyStep(t *testing.T) {
	c, err := outbound.New(outbound.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// RawDial skips the policy step entirely; the socket's Control hook
	// still refuses before connect(2).
	for _, addr := range []string{"169.254.169.254:80", "10.0.0.1:80", "127.0.0.1:9", "[::1]:9"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.RawDial(ctx, "tcp", addr)
		cancel()
		if !errors.Is(err, outbound.ErrForbidden) {
			t.Errorf("RawDial(%s): %v, want ErrForbidden", addr, err)
		}
	}
}

func TestLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 5000)))
		case "/chunked":
			for range 10 {
				_, _ = w.Write([]byte(strings.Repeat("y", 500)))
				w.(http.Flusher).Flush()
			}
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	rec := &recorder{}
	c := client(t, []string{"127.0.0.1"}, fakeDNS{}, rec, func(cfg *outbound.Config) {
		cfg.MaxResponseBytes = 1000
		cfg.Timeout = 300 * time.Millisecond
	})
	if err := get(c, srv.URL+"/ok"); err != nil {
		t.Fatalf("allowed GET: %v", err)
	}
	for _, path := range []string{"/big", "/chunked"} {
		if err := get(c, srv.URL+path); !errors.Is(err, outbound.ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", path, err)
		}
	}
	var netErr net.Error
	if err := get(c, srv.URL+"/slow"); !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("slow: %v, want a timeout", err)
	}
	if err := get(c, "file:///etc/passwd"); !errors.Is(err, outbound.ErrForbidden) {
		t.Errorf("file URL: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	p, err := outbound.NewPolicy([]string{"*.corp.example", "192.168.10.0/24", "10.1.2.3", "api.example"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		host string
		addr string
		want bool
	}{
		"public":           {"", "93.184.216.34", true},
		"suffix host":      {"db.corp.example", "10.9.9.9", true},
		"bare suffix":      {"corp.example", "10.9.9.9", false},
		"cidr":             {"", "192.168.10.7", true},
		"outside cidr":     {"", "192.168.11.7", false},
		"exact ip":         {"", "10.1.2.3", true},
		"named host":       {"api.example", "127.0.0.1", true},
		"other host":       {"evil.example", "127.0.0.1", false},
		"cgnat":            {"", "100.64.1.1", false},
		"ipv6 ula":         {"", "fd12::1", false},
		"ipv6 link-local":  {"", "fe80::1", false},
		"metadata by host": {"api.example", "169.254.169.254", false},
		"ipv6 public":      {"", "2606:4700::1111", true},
	} {
		if got := p.AddrAllowed(tc.host, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: AddrAllowed(%q, %s) = %v", name, tc.host, tc.addr, got)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "host name", "user@host"} {
		if _, err := outbound.NewPolicy([]string{bad}); err == nil {
			t.Errorf("NewPolicy(%q) accepted", bad)
		}
	}
}
