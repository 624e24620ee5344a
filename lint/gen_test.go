package lint

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// genTopology writes a topology of n instances and g groups with about
// rules rules each, ClassBench-like: sources from a few nested prefixes,
// single ports and ranges, some drops, group references and priorities.
func genTopology(seed uint64, n, g, rules int) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: gen\nvpc: {cidr: 10.0.0.0/8}\nvswitches: [{name: main, cidr: 10.0.0.0/16}]\nsecurity_groups:\n")
	prefixes := []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "192.168.0.0/16", "192.168.10.0/24",
		"172.16.0.0/12", "203.0.113.0/24", "198.51.100.7/32", "10.0.3.128/25"}
	ports := func() string {
		switch rng.IntN(5) {
		case 0:
			lo := 1 + rng.IntN(60000)
			return fmt.Sprintf("%d/%d", lo, lo+rng.IntN(2000))
		case 1:
			return "1/65535"
		default:
			common := []int{22, 80, 443, 8080, 3306, 5432, 6379, 9000, 53, 123}
			p := common[rng.IntN(len(common))]
			return fmt.Sprintf("%d/%d", p, p)
		}
	}
	for i := range g {
		fmt.Fprintf(&b, "  - name: sg-%d\n    rules:\n", i)
		for range rules {
			dir := "ingress"
			remote := "source"
			if rng.IntN(4) == 0 {
				dir, remote = "egress", "destination"
			}
			proto := []string{"tcp", "tcp", "tcp", "udp", "icmp", "all"}[rng.IntN(6)]
			policy := "accept"
			if rng.IntN(5) == 0 {
				policy = "drop"
			}
			fmt.Fprintf(&b, "      - {direction: %s, policy: %s, priority: %d, protocol: %s", dir, policy, 1+rng.IntN(100), proto)
			if proto == "tcp" || proto == "udp" {
				fmt.Fprintf(&b, ", port_range: %s", ports())
			}
			if rng.IntN(6) == 0 {
				fmt.Fprintf(&b, ", %s_group: sg-%d}\n", remote, (i+1+rng.IntN(g-1))%g) // never its own group
			} else {
				fmt.Fprintf(&b, ", %s: %s}\n", remote, prefixes[rng.IntN(len(prefixes))])
			}
		}
	}
	fmt.Fprintf(&b, "instances:\n")
	for i := range n {
		k := 1 + rng.IntN(3)
		seen := map[int]bool{}
		var gs []string
		for len(gs) < k {
			x := rng.IntN(g)
			if !seen[x] {
				seen[x] = true
				gs = append(gs, fmt.Sprintf("sg-%d", x))
			}
		}
		fmt.Fprintf(&b, "  - {name: vm-%d, vswitch: main, ip: 10.0.%d.%d, security_groups: [%s]}\n", i, 4+i/250, 1+i%250, strings.Join(gs, ", "))
	}
	return b.String()
}
