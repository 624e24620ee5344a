package topology

import (
	"fmt"
	"net/netip"
	"slices"
)

// The ranges assigned EIPs come from, in order: the documentation ranges of
// RFC 5737 (TEST-NET-3, -1, -2), public to vpclab but never routed on the
// real internet, so an assigned address is never mistaken for a real one.
var eipPool = []netip.Prefix{
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
}

// assignEIPs gives every instance and NAT gateway that lists eip in
// assigned and has no EIP the first address of eipPool (.1 to .254 of each
// range) that no EIP, NAT gateway, internet host, internet.host_client or
// expectation of the file uses: instances in order, then NAT gateways.
func assignEIPs(t *Topology, errs *errorList) {
	used := map[netip.Addr]bool{t.Internet.HostClient: true}
	for i := range t.Instances {
		used[t.Instances[i].EIP] = true
	}
	for i := range t.NATGateways {
		used[t.NATGateways[i].EIP] = true
	}
	for i := range t.Internet.Hosts {
		used[t.Internet.Hosts[i].IP] = true
	}
	for i := range t.Expect {
		if a, err := netip.ParseAddr(t.Expect[i].To); err == nil {
			used[a] = true
		}
	}
	pool, host := 0, 1
	take := func(path string) netip.Addr {
		for pool < len(eipPool) {
			b := eipPool[pool].Addr().As4()
			b[3] = byte(host)
			if host++; host > 254 {
				pool, host = pool+1, 1
			}
			if a := netip.AddrFrom4(b); !used[a] {
				used[a] = true
				return a
			}
		}
		errs.add(path, "", "no address left to assign an EIP from: every address of 203.0.113.0/24, 192.0.2.0/24 and 198.51.100.0/24 is taken; give eip explicitly", "a public IPv4 address")
		return netip.Addr{}
	}
	for i := range t.Instances {
		in := &t.Instances[i]
		if !in.EIP.IsValid() && slices.Contains(in.Assigned, "eip") && !errs.paths[fmt.Sprintf("instances[%d].eip", i)] {
			in.EIP = take(fmt.Sprintf("instances[%d].eip", i))
		}
	}
	for i := range t.NATGateways {
		n := &t.NATGateways[i]
		if !n.EIP.IsValid() && slices.Contains(n.Assigned, "eip") && !errs.paths[fmt.Sprintf("nat_gateways[%d].eip", i)] {
			n.EIP = take(fmt.Sprintf("nat_gateways[%d].eip", i))
		}
	}
}
