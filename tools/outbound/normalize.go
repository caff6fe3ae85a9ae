package outbound

import (
	"net/netip"
	"strings"
)

// normalize returns a as the guard decides on it: without its zone (a
// zone picks an interface, not a destination) and with an IPv4-mapped
// address (::ffff:a.b.c.d) unmapped to the IPv4 address. A zoned address
// never matches a netip.Prefix, so deciding on a unnormalised address
// would let [::1%lo] past every range.
func normalize(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// forms returns the addresses a packet to a can end up at: normalize(a),
// followed by every IPv4 address a embeds — IPv4-compatible (::/96),
// IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96; each layout
// RFC 6052 allows in the local-use 64:ff9b:1::/48), 6to4 (2002::/16) and
// Teredo (2001::/32, whose client address is the last 32 bits inverted).
// The guard allows a only when it allows every form.
func forms(a netip.Addr) []netip.Addr {
	n := normalize(a)
	out := []netip.Addr{n}
	if !n.Is6() {
		return out
	}
	b := n.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	switch {
	case n == netip.IPv6Unspecified() || n == netip.IPv6Loopback():
		// Not IPv4-compatible (RFC 4291 2.5.5.1): addresses of their own.
	case zero(b[:12]): // IPv4-compatible, deprecated
		out = append(out, v4(12, 13, 14, 15))
	case zero(b[:8]) && b[8] == 0xff && b[9] == 0xff && zero(b[10:12]): // IPv4-translated
		out = append(out, v4(12, 13, 14, 15))
	case nat64.Contains(n):
		out = append(out, v4(12, 13, 14, 15))
	case nat64Local.Contains(n):
		// The operator picks the prefix length inside the /48; bits 64–71
		// are always skipped. Any layout might be the one in use.
		out = append(out, v4(6, 7, 9, 10), v4(7, 9, 10, 11), v4(9, 10, 11, 12), v4(12, 13, 14, 15))
	case sixToFour.Contains(n):
		out = append(out, v4(2, 3, 4, 5))
	case teredo.Contains(n):
		out = append(out, netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}))
	}
	return out
}

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
)

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// numericHost reports whether host, not an address netip parses, is still
// one a resolver may read as IPv4: inet_aton(3) takes 2130706433,
// 0x7f.1, 017700000001 and 127.1 for 127.0.0.1, and URL parsers (WHATWG)
// take any host whose last label is a number as IPv4. No DNS name ends
// in a numeric label, so the guard refuses these outright rather than
// guess which reading the resolver will make.
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X") {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// plainName reports whether host is spelled as a DNS name: ASCII letters,
// digits, '-', '_' and '.'. The transport hands the dialer IDNA names in
// their ASCII form; anything else (spaces, control characters, '%') is
// a string resolvers parse in ways of their own.
func plainName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
