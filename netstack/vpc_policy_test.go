package netstack

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// addPolicy500 creates five basic groups prefix-0..prefix-4 of 100 rules
// each — the most that may act on one NIC — and returns their names. The
// rules look like a real estate's: ingress and egress, accept and drop, for
// addresses and ports that the benchmark traffic (10.0.1.0/24, TCP/UDP
// 5001, ICMP) never matches, at priorities 1..99. Only the last rule of the
// last group, at the lowest priority, accepts the benchmark traffic, so a
// first packet is checked against every other rule before it.
func addPolicy500(t testing.TB, v *VPC, prefix string) []string {
	t.Helper()
	var names []string
	for g := range 5 {
		name := fmt.Sprintf("%s-%d", prefix, g)
		var rules []firewall.Rule
		for i := range 100 {
			r := firewall.Rule{
				Direction: firewall.Direction(i % 2),
				Policy:    firewall.Action(i / 2 % 2),
				Priority:  1 + i%99,
				Protocol:  []string{"tcp", "udp", "tcp", "icmp"}[i%4],
			}
			if r.Protocol != "icmp" {
				lo := 1 + (g*100+i)*7%4000
				r.Ports = firewall.Ports{Start: lo, End: lo + i%20}
			}
			if i%3 == 0 {
				r.Remote = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(g), byte(i)}), 32)
			} else {
				r.Remote = netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(g*20 + i%20), 0}), 24)
			}
			rules = append(rules, r)
		}
		if g == 4 {
			rules[99] = allowIn("tcp", "5001/5001", "10.0.1.0/24")
			rules[99].Priority = 100
			rules[98] = allowIn("udp", "5001/5001", "10.0.1.0/24")
			rules[98].Priority = 100
			rules[97] = allowIn("icmp", "", "10.0.1.0/24")
			rules[97].Priority = 100
		}
		require.NoError(t, v.Firewall().CreateGroup(firewall.Group{Name: name, Rules: rules}))
		names = append(names, name)
	}
	return names
}
