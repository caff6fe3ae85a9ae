package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/outbound"
)

// refusedForms are spellings of addresses that are not the public
// internet, as they appear in a URL's host. Each must be refused before
// any connection is attempted.
var refusedForms = map[string]string{
	"zoned IPv6 loopback":             "[::1%25lo]",
	"zoned IPv6 loopback, other zone": "[::1%25eth0]",
	"zoned link-local":                "[fe80::1%25eth0]",
	"zoned metadata":                  "[fd00:ec2::254%25eth0]",
	"zoned IPv4-mapped loopback":      "[::ffff:127.0.0.1%25lo]",
	"decimal IPv4":                    "2130706433",
	"hex IPv4":                        "0x7f000001",
	"hex first part":                  "0x7f.1",
	"octal IPv4":                      "017700000001",
	"octal dotted":                    "0177.0.0.1",
	"hex dotted":                      "0x7f.0x0.0x0.0x1",
	"short IPv4":                      "127.1",
	"zero-padded IPv4":                "127.000.000.001",
	"trailing dot":                    "127.0.0.1.",
	"bare zero":                       "0",
	"unspecified IPv4":                "0.0.0.0",
	"unspecified IPv6":                "[::]",
	"long IPv6 loopback":              "[0:0:0:0:0:0:0:1]",
	"IPv4-mapped dotted":              "[::ffff:127.0.0.1]",
	"IPv4-mapped hex":                 "[::ffff:7f00:1]",
	"IPv4-mapped metadata":            "[::ffff:169.254.169.254]",
	"IPv4-compatible loopback":        "[::127.0.0.1]",
	"IPv4-translated loopback":        "[::ffff:0:127.0.0.1]",
	"NAT64 loopback":                  "[64:ff9b::127.0.0.1]",
	"NAT64 metadata":                  "[64:ff9b::a9fe:a9fe]",
	"NAT64 local-use loopback":        "[64:ff9b:1::7f00:1]",
	"6to4 loopback":                   "[2002:7f00:1::1]",
	"6to4 metadata":                   "[2002:a9fe:a9fe::1]",
	"6to4 private":                    "[2002:a00:1::1]",
	"Teredo loopback client":          "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
	"Teredo private client":           "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
	"link-local IPv6":                 "[fe80::1]",
	"unique-local fc00::/7":           "[fc00::1]",
	"unique-local fd":                 "[fd12:3456::1]",
	"metadata IPv6":                   "[fd00:ec2::254]",
	"metadata IPv4":                   "169.254.169.254",
	"link-local IPv4":                 "169.254.1.1",
	"CGNAT":                           "100.64.0.1",
	"private 10/8":                    "10.0.0.1",
	"private 172.16/12":               "172.16.0.1",
	"private 192.168/16":              "192.168.1.1",
	"loopback":                        "127.0.0.1",
	"multicast IPv4":                  "224.0.0.1",
	"broadcast":                       "255.255.255.255",
	"multicast IPv6":                  "[ff02::1]",
}

// allowedForms are public addresses, which the guard lets through.
var allowedForms = map[string]string{
	"public IPv4":              "93.184.216.34",
	"public IPv6":              "[2606:4700::1]",
	"public IPv6 (1111)":       "[2606:4700::1111]",
	"6to4 of a public IPv4":    "[2002:5db8:d822::1]",
	"Teredo of a public IPv4":  "[2001:0:4136:e378:8000:63bf:a247:27dd]",
	"zoned public IPv6":        "[2606:4700::1%25eth0]",
	"IPv4-mapped public IPv4":  "[::ffff:93.184.216.34]",
	"public IPv4 on port 8443": "93.184.216.34:8443",
}

// hostOf returns the host of a URL written with urlHost, as the transport
// hands it to the dialer (without port or brackets, zone unescaped).
func hostOf(t *testing.T, urlHost string) string {
	t.Helper()
	u, err := url.Parse("http://" + urlHost + "/")
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", urlHost, err)
	}
	return u.Hostname()
}

// nowhere is a dialer that records what it is asked for and connects to
// nothing, so allowed public addresses can be checked offline.
type nowhere struct{ rec recorder }

var errNotDialled = errors.New("test: not dialled")

func (n *nowhere) dial(_ context.Context, network, addr string) (net.Conn, error) {
	n.rec.mu.Lock()
	n.rec.addrs = append(n.rec.addrs, addr)
	n.rec.mu.Unlock()
	return nil, errNotDialled
}

func TestLiteralForms(t *testing.T) {
	p, err := outbound.NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, urlHost string, want bool) {
		t.Helper()
		host := hostOf(t, urlHost)
		if allowed, literal := p.LiteralAllowed(host); !literal || allowed != want {
			t.Errorf("LiteralAllowed(%q) = %v, literal %v; want %v, literal", host, allowed, literal, want)
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if got := p.AddrAllowed("", a); got != want {
				t.Errorf("AddrAllowed(%s) = %v, want %v", a, got, want)
			}
		}
		// The whole path: the client's dialer is asked for an address
		// only when the guard allows it.
		n := &nowhere{}
		c, err := outbound.New(outbound.Config{Dial: n.dial, Resolver: fakeDNS{}})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Probe(context.Background(), "http://"+urlHost+"/")
		dialled := n.rec.all()
		if want {
			if !errors.Is(err, errNotDialled) || len(dialled) != 1 {
				t.Errorf("Probe(http://%s/): %v after dialling %v, want one dial", urlHost, err, dialled)
			}
			return
		}
		if !errors.Is(err, outbound.ErrForbidden) || len(dialled) != 0 {
			t.Errorf("Probe(http://%s/): %v after dialling %v, want ErrForbidden and no dial", urlHost, err, dialled)
		}
	}
	for name, h := range refusedForms {
		t.Run("refused/"+name, func(t *testing.T) { check(t, h, false) })
	}
	for name, h := range allowedForms {
		t.Run("allowed/"+name, func(t *testing.T) { check(t, h, true) })
	}
}

// TestResolvedForms: the same forms, handed back by DNS, are refused at
// dial time without a connection.
func TestResolvedForms(t *testing.T) {
	dns := fakeDNS{}
	for name, h := range refusedForms {
		a, err := netip.ParseAddr(hostOf(t, h))
		if err != nil {
			continue // not an address a resolver returns
		}
		host := strings.NewReplacer(" ", "-", "/", "-", ":", "-", ",", "", "(", "", ")", "").Replace(strings.ToLower(name)) + ".example"
		dns[host] = []string{a.String()}
	}
	for host := range dns {
		t.Run(host, func(t *testing.T) {
			rec := &recorder{}
			c := client(t, nil, dns, rec)
			err := get(c, "http://"+host+"/")
			if !errors.Is(err, outbound.ErrForbidden) {
				t.Errorf("GET http://%s/ (%s): %v, want ErrForbidden", host, dns[host][0], err)
			}
			if got := rec.all(); len(got) != 0 {
				t.Errorf("the dialer was asked to connect to %v", got)
			}
		})
	}
}

// loopbackServer serves on network's loopback address and counts requests.
func loopbackServer(t *testing.T, addr string) (port string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("no loopback on %s here (%v); the test needs one", addr, err)
	}
	hits = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "secret")
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

// TestZonedAndMappedLoopbackEndToEnd uses the real dialer and its Control
// hook against real servers on loopback.
func TestZonedAndMappedLoopbackEndToEnd(t *testing.T) {
	for name, tc := range map[string]struct{ listen, url string }{
		"zoned ::1":          {"[::1]:0", "http://[::1%%25lo]:%s/"},
		"zoned ::1, eth0":    {"[::1]:0", "http://[::1%%25eth0]:%s/"},
		"mapped 127.0.0.1":   {"127.0.0.1:0", "http://[::ffff:127.0.0.1]:%s/"},
		"mapped hex":         {"127.0.0.1:0", "http://[::ffff:7f00:1]:%s/"},
		"zoned mapped":       {"127.0.0.1:0", "http://[::ffff:127.0.0.1%%25lo]:%s/"},
		"long-form ::1":      {"[::1]:0", "http://[0:0:0:0:0:0:0:1]:%s/"},
		"plain ::1 (sanity)": {"[::1]:0", "http://[::1]:%s/"},
	} {
		t.Run(name, func(t *testing.T) {
			port, hits := loopbackServer(t, tc.listen)
			u := fmt.Sprintf(tc.url, port)
			c, err := outbound.New(outbound.Config{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := get(c, u); !errors.Is(err, outbound.ErrForbidden) {
				t.Errorf("GET %s: %v, want ErrForbidden", u, err)
			}
			// The socket hook alone, with the policy step skipped.
			host := hostOf(t, strings.TrimPrefix(strings.TrimSuffix(u, "/"), "http://"))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if conn, err := c.RawDial(ctx, "tcp", net.JoinHostPort(host, port)); !errors.Is(err, outbound.ErrForbidden) {
				if conn != nil {
					conn.Close()
				}
				t.Errorf("RawDial(%s): %v, want ErrForbidden", net.JoinHostPort(host, port), err)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the loopback server got %d requests", n)
			}
		})
	}
}

// TestAllowedLoopbackStillReachable: allowing loopback explicitly keeps
// working, zone or mapping notwithstanding.
func TestAllowedLoopbackStillReachable(t *testing.T) {
	for name, tc := range map[string]struct {
		allow, listen, url string
	}{
		"::1 allowed, zoned URL":            {"::1", "[::1]:0", "http://[::1%%25lo]:%s/"},
		"127.0.0.1 allowed, mapped URL":     {"127.0.0.1", "127.0.0.1:0", "http://[::ffff:127.0.0.1]:%s/"},
		"127.0.0.0/8 allowed, plain":        {"127.0.0.0/8", "127.0.0.1:0", "http://127.0.0.1:%s/"},
		"::1/128 allowed, long-form":        {"::1/128", "[::1]:0", "http://[0:0:0:0:0:0:0:1]:%s/"},
		"::1 allowed, zoned other than lo":  {"::1", "[::1]:0", "http://[::1%%25eth0]:%s/"},
		"127.0.0.1 allowed, hex mapped URL": {"127.0.0.1", "127.0.0.1:0", "http://[::ffff:7f00:1]:%s/"},
	} {
		t.Run(name, func(t *testing.T) {
			port, hits := loopbackServer(t, tc.listen)
			u := fmt.Sprintf(tc.url, port)
			c, err := outbound.New(outbound.Config{Allow: []string{tc.allow}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := get(c, u); err != nil {
				t.Fatalf("GET %s with %s allowed: %v", u, tc.allow, err)
			}
			if hits.Load() != 1 {
				t.Fatalf("the server got %d requests, want 1", hits.Load())
			}
		})
	}
}

func TestLiteralAllowedNames(t *testing.T) {
	p, _ := outbound.NewPolicy(nil)
	for host, literal := range map[string]bool{
		"example.com":            false,
		"example.com.":           false,
		"127.0.0.1.nip.io":       false, // a name: its addresses are checked when resolved
		"0x7f.example":           false,
		"localhost":              false,
		"example.123":            true, // ends in a number: some parsers read it as IPv4
		"1.2.3.4.5":              true,
		"0x":                     true,
		"[::1]":                  true,
		"93.184.216.34":          true,
		"2606:4700::1%eth0":      true,
		"::ffff:93.184.216.34":   true,
		"64:ff9b::93.184.216.34": true,
	} {
		if _, got := p.LiteralAllowed(host); got != literal {
			t.Errorf("LiteralAllowed(%q): literal %v, want %v", host, got, literal)
		}
	}
}

// TestEmbeddedNeedsBothAllowed: allowing the IPv6 range of a translation
// prefix does not open the private IPv4 addresses it embeds.
func TestEmbeddedNeedsBothAllowed(t *testing.T) {
	for name, tc := range map[string]struct {
		allow []string
		addr  string
		want  bool
	}{
		"NAT64 prefix allowed, public inside":   {[]string{"64:ff9b::/96"}, "64:ff9b::93.184.216.34", true},
		"NAT64 prefix allowed, private inside":  {[]string{"64:ff9b::/96"}, "64:ff9b::10.0.0.1", false},
		"NAT64 prefix and the IPv4 allowed":     {[]string{"64:ff9b::/96", "10.0.0.0/8"}, "64:ff9b::10.0.0.1", true},
		"NAT64 not allowed, public inside":      {nil, "64:ff9b::93.184.216.34", false},
		"NAT64 prefix allowed, metadata inside": {[]string{"64:ff9b::/96", "169.254.0.0/16"}, "64:ff9b::169.254.169.254", false},
		"6to4 range allowed, loopback inside":   {[]string{"2002::/16"}, "2002:7f00:1::1", false},
		"IPv4 allowed, 6to4 of it":              {[]string{"10.0.0.1"}, "2002:a00:1::1", true},
		"loopback allowed, Teredo client of it": {[]string{"127.0.0.0/8"}, "2001:0:4136:e378:8000:63bf:80ff:fffe", true},
		"zoned allow entry, other zone":         {[]string{"fe80::1%eth0"}, "fe80::1%eth1", true},
		"zoned allow entry, other address":      {[]string{"fe80::1%eth0"}, "fe80::2%eth0", false},
		"::1 allowed, zoned":                    {[]string{"::1"}, "::1%lo", true},
		"127.0.0.1 allowed, mapped":             {[]string{"127.0.0.1"}, "::ffff:127.0.0.1", true},
	} {
		p, err := outbound.NewPolicy(tc.allow)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.AddrAllowed("", netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: AddrAllowed(%s) with %v allowed = %v, want %v", name, tc.addr, tc.allow, got, tc.want)
		}
	}
}
