package netns

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Scenario writes a random topology file for the differential check: n
// instances (2..200) on one vswitch, four basic groups (inner access
// accept or drop) and one enterprise group, each with a handful of rules
// drawn so that priorities tie, drops and accepts overlap, groups
// reference each other and some rules restrict the local address; every
// instance serves http on 80 and 443, echo on TCP 8080 and UDP 53; and probes pairs of instances over TCP (a port with
// no listener among them), UDP and ICMP. The results written are all allow:
// the check compares vpclab with the kernel, not with the file.
func Scenario(seed uint64, n, probes int) []byte {
	r := rand.New(rand.NewPCG(seed, 14))
	n = min(max(n, 2), 200)
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: generated-%d\nvpc: {cidr: 10.0.0.0/16}\nvswitches:\n  - {name: main, cidr: 10.0.1.0/24}\n", seed)
	basic := []string{"g0", "g1", "g2", "g3"}
	addr := func(i int) string { return fmt.Sprintf("10.0.1.%d", 10+i) }
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	b.WriteString("security_groups:\n")
	for gi, g := range append(basic, "e0") {
		enterprise := g == "e0"
		if enterprise {
			fmt.Fprintf(&b, "  - name: %s\n    type: enterprise\n    rules:\n", g)
		} else {
			fmt.Fprintf(&b, "  - name: %s\n    inner_access: %s\n    rules:\n", g, pick("accept", "accept", "drop"))
		}
		for range 3 + r.IntN(5) {
			dir := pick("ingress", "ingress", "egress")
			proto := pick("tcp", "tcp", "tcp", "udp", "icmp", "all")
			ports := "-1/-1"
			if proto == "tcp" || proto == "udp" {
				ports = pick("80/80", "80/443", "443/443", "8000/9000", "1/65535", "53/53", "22/22")
			}
			remoteKey, groupKey := "source", "source_group"
			if dir == "egress" {
				remoteKey, groupKey = "destination", "destination_group"
			}
			remote := fmt.Sprintf("%s: %s", remoteKey, pick("10.0.1.0/24", "0.0.0.0/0", "10.0.2.0/24", addr(r.IntN(n))+"/32", "10.0.1.0/28", "10.0.1.16/28"))
			if !enterprise && r.IntN(3) == 0 {
				other := basic[(gi+1+r.IntN(len(basic)-1))%len(basic)]
				remote = fmt.Sprintf("%s: %s", groupKey, other)
			}
			if r.IntN(5) == 0 { // five-tuple rules: the instance-side address
				remote += ", local_cidr: " + pick("10.0.1.0/28", "10.0.1.16/28", addr(r.IntN(n)))
			}
			fmt.Fprintf(&b, "      - {direction: %s, policy: %s, priority: %d, protocol: %s, port_range: %s, %s}\n",
				dir, pick("accept", "accept", "drop"), 1+r.IntN(4), proto, ports, remote)
		}
	}
	b.WriteString("instances:\n")
	for i := range n {
		var groups []string
		switch {
		case r.IntN(6) == 0:
			groups = []string{"e0"}
		case r.IntN(8) == 0: // the default group
		default:
			groups = append(groups, basic[r.IntN(len(basic))])
			if g := basic[r.IntN(len(basic))]; r.IntN(2) == 0 && g != groups[0] {
				groups = append(groups, g)
			}
		}
		fmt.Fprintf(&b, "  - name: i%d\n    vswitch: main\n    ip: %s\n    security_groups: [%s]\n", i, addr(i), strings.Join(groups, ", "))
		b.WriteString("    services: [{kind: http, port: 80}, {kind: http, port: 443}, {kind: echo, port: 8080}, {kind: echo, port: 53, protocol: udp}, {kind: banner, port: 22}]\n")
	}
	b.WriteString("expect:\n")
	for range probes {
		from := r.IntN(n)
		to := (from + 1 + r.IntN(n-1)) % n
		switch p := pick("tcp", "tcp", "tcp", "udp", "icmp"); p {
		case "icmp":
			fmt.Fprintf(&b, "  - {from: i%d, to: i%d, protocol: icmp, result: allow}\n", from, to)
		default:
			port := pick("80", "443", "8080", "22", "9999")
			if p == "udp" {
				port = pick("53", "54")
			}
			fmt.Fprintf(&b, "  - {from: i%d, to: i%d, protocol: %s, port: %s, result: allow}\n", from, to, p, port)
		}
	}
	return []byte(b.String())
}
