package outbound_test

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools/outbound"
)

// The oracle below is written from the RFCs, apart from the package, so
// the fuzz target compares two readings rather than one with itself.

// destinations returns every address a packet to a may reach: a with its
// zone and IPv4 mapping removed, and any IPv4 address it carries.
func destinations(a netip.Addr) []net.IP {
	b := a.As16()
	out := []net.IP{net.IP(b[:])} // net.IP ignores zones; To4 unmaps
	v4 := func(s []byte) net.IP { return net.IPv4(s[0], s[1], s[2], s[3]) }
	all0 := func(s []byte) bool { return strings.Trim(string(s), "\x00") == "" }
	if a.Is4() {
		return out
	}
	switch {
	case all0(b[:12]) && !(all0(b[12:15]) && b[15] <= 1): // IPv4-compatible
		out = append(out, v4(b[12:]))
	case all0(b[:8]) && b[8] == 0xff && b[9] == 0xff && all0(b[10:12]): // IPv4-translated
		out = append(out, v4(b[12:]))
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && all0(b[4:12]): // NAT64
		out = append(out, v4(b[12:]))
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1: // local-use NAT64
		out = append(out, v4([]byte{b[6], b[7], b[9], b[10]}), v4([]byte{b[7], b[9], b[10], b[11]}),
			v4(b[9:13]), v4(b[12:]))
	case b[0] == 0x20 && b[1] == 0x02: // 6to4
		out = append(out, v4(b[2:6]))
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0: // Teredo
		out = append(out, net.IPv4(^b[12], ^b[13], ^b[14], ^b[15]))
	}
	return out
}

var notPublic = func() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "fd00:ec2::254/128"} {
		_, n, _ := net.ParseCIDR(s)
		out = append(out, n)
	}
	return out
}()

// private reports whether ip is anything but public unicast.
func private(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() {
		return true
	}
	for _, n := range notPublic {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// inetAton reports whether s is an IPv4 address as inet_aton(3) reads
// it: one to four parts, each decimal, octal (0…) or hex (0x…).
func inetAton(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			p, base = p[2:], 16
			if p == "" {
				continue // glibc reads "0x" as 0
			}
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		if _, err := strconv.ParseUint(p, base, 32); err != nil || strings.ContainsAny(p, "+-_") {
			return false
		}
	}
	return true
}

func FuzzGuard(f *testing.F) {
	for _, forms := range []map[string]string{refusedForms, allowedForms} {
		for _, h := range forms {
			u, _ := url.Parse("http://" + h + "/")
			a, _ := netip.ParseAddr(u.Hostname())
			f.Add(u.Hostname(), a.AsSlice(), a.Zone())
		}
	}
	f.Add("api.example", netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), "")
	f.Add("api.example", netip.MustParseAddr("2002:7f00:1::").AsSlice(), "lo")
	f.Add("api.example", []byte{127, 0, 0, 1}, "")
	f.Add("127.0.0.1\n", []byte(nil), "")
	f.Add("0x7f.1", []byte(nil), "")

	p, err := outbound.NewPolicy(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string, resolved []byte, zone string) {
		// The decision function on the host as written.
		allowed, literal := p.LiteralAllowed(host)
		h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		a, perr := netip.ParseAddr(h)
		switch {
		case literal && allowed:
			if perr != nil {
				t.Fatalf("LiteralAllowed(%q) allowed a host netip does not parse", host)
			}
			for _, d := range destinations(a) {
				if private(d) {
					t.Fatalf("LiteralAllowed(%q) allowed %s, which reaches %s", host, a, d)
				}
			}
		case !literal:
			if perr == nil {
				t.Fatalf("LiteralAllowed(%q): an address taken for a name", host)
			}
			if inetAton(strings.TrimSuffix(h, ".")) {
				t.Fatalf("LiteralAllowed(%q): an inet_aton address taken for a name", host)
			}
		}

		// The client, with DNS answering the fuzzed address for any name:
		// whatever its dialer is asked for reaches only public addresses.
		var dns stubDNS
		if ip, ok := netip.AddrFromSlice(resolved); ok {
			dns = stubDNS{ip.WithZone(zone)}
		}
		n := &nowhere{}
		c, err := outbound.New(outbound.Config{Dial: n.dial, Resolver: dns})
		if err != nil {
			t.Fatal(err)
		}
		u := &url.URL{Scheme: "http", Host: net.JoinHostPort(h, "80"), Path: "/"}
		_ = c.Probe(context.Background(), u.String()) // refused, unresolved or not dialled: all fine
		for _, addr := range n.rec.all() {
			ap, perr := netip.ParseAddrPort(addr)
			if perr != nil {
				t.Fatalf("Probe(%s) dialled %q, not an address", u, addr)
			}
			for _, d := range destinations(ap.Addr()) {
				if private(d) {
					t.Fatalf("Probe(%s) dialled %s, which reaches %s", u, addr, d)
				}
			}
		}
	})
}

// stubDNS answers every name with its addresses.
type stubDNS []netip.Addr

func (s stubDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if len(s) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return s, nil
}
