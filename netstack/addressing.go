package netstack

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

// The VPC's address rules. The data plane enforces them and the topology
// loader validates files by asking them, so a file is refused exactly when
// the VPC would refuse it.

// PrivateRanges are the IPv4 ranges a VPC's CIDR must lie in (RFC 1918).
var PrivateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// notPublic are IPv4 ranges that are neither private nor reachable on the
// internet: shared address space (CGNAT), loopback, link local, "this
// network", multicast and reserved.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("224.0.0.0/3"),
}

// MaxVSwitchBits is the longest vswitch prefix: a /29 has 8 addresses, of
// which 4 are reserved (ours: the cloud's smallest vswitch is a /29).
const MaxVSwitchBits = 29

// IsPrivateRange reports whether p lies inside one of PrivateRanges.
func IsPrivateRange(p netip.Prefix) bool {
	return slices.ContainsFunc(PrivateRanges, func(r netip.Prefix) bool {
		return r.Bits() <= p.Bits() && r.Contains(p.Addr())
	})
}

// PrivateRangesText lists PrivateRanges for error messages.
func PrivateRangesText() string { return prefixList(PrivateRanges) }

// IsPublic reports whether a is an IPv4 address an internet host, an EIP
// or a NAT gateway may have: not private, not loopback, link local,
// multicast, CGNAT or "this network". The documentation ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) count as public so that
// examples can use them.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	in := func(r netip.Prefix) bool { return r.Contains(a) }
	return a.Is4() && !slices.ContainsFunc(PrivateRanges, in) && !slices.ContainsFunc(notPublic, in)
}

// PublicRuleText says which addresses IsPublic refuses, for error messages.
func PublicRuleText() string {
	return "not in " + prefixList(PrivateRanges) + ", " + prefixList(notPublic)
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Reserved reports whether a is one of vswitch p's reserved addresses: as
// in Alibaba Cloud, its first address (the network address) and its last
// three.
func Reserved(p netip.Prefix, a netip.Addr) bool {
	lo, hi := prefixRange(p)
	x, ok := firewall.AddrToU32(a)
	return ok && (x == lo || x+3 > hi)
}

// AssignableRange returns the first and last address of vswitch p that an
// instance may hold.
func AssignableRange(p netip.Prefix) (first, last netip.Addr) {
	lo, hi := prefixRange(p)
	return firewall.U32ToAddr(lo + 1), firewall.U32ToAddr(hi - 3)
}

// NextFree returns the lowest address of vswitch p, from from on (the
// zero Addr: from the first assignable one), that is neither reserved nor
// taken. ok is false when none is left.
func NextFree(p netip.Prefix, from netip.Addr, taken func(netip.Addr) bool) (a netip.Addr, ok bool) {
	lo, hi := prefixRange(p)
	x := lo + 1
	if f, valid := firewall.AddrToU32(from); valid && f > x {
		x = f
	}
	for ; x+3 <= hi; x++ {
		if a := firewall.U32ToAddr(x); !taken(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
