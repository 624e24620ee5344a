package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// internetScenario generates a VPC of n instances per tier with every kind
// of internet traffic: web instances with EIPs, app instances behind a NAT
// gateway's SNAT with a DNAT entry each, isolated instances with no way
// out, and internet hosts with TCP and UDP services. Its expectations mix
// allow, block (security group, no route, no DNAT, hairpin) and refuse
// (TCP RST and ICMP port unreachable through the SNAT gateway).
func internetScenario(n int) string {
	var b strings.Builder
	b.WriteString(`version: 1
name: sharded-internet
vpc: {cidr: 10.0.0.0/16}
vswitches:
  - {name: public, cidr: 10.0.0.0/24}
  - {name: web, cidr: 10.0.1.0/24}
  - {name: app, cidr: 10.0.2.0/24}
  - {name: iso, cidr: 10.0.3.0/24}
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}
      - {direction: ingress, protocol: icmp, source: 0.0.0.0/0}
      - {direction: egress, protocol: tcp, port_range: 443/443, destination: 0.0.0.0/0, policy: drop, priority: 1, description: "no https out"}
  - name: sg-app
    rules:
      - {direction: ingress, protocol: tcp, port_range: 8080/8081, source: 198.51.100.0/24, description: "office"}
      - {direction: ingress, protocol: tcp, port_range: 8080/8080, source_group: sg-web}
  - {name: sg-iso}
instances:
`)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: web-%d, vswitch: web, eip: 47.100.1.%d, security_groups: [sg-web], services: [{kind: http, port: 80}]}\n", i, 10+i)
		fmt.Fprintf(&b, "  - {name: app-%d, vswitch: app, security_groups: [sg-app], services: [{kind: echo, port: 8080}]}\n", i)
		fmt.Fprintf(&b, "  - {name: iso-%d, vswitch: iso, security_groups: [sg-iso]}\n", i)
	}
	b.WriteString("nat_gateways:\n  - name: nat-1\n    vswitch: public\n    eip: 47.100.0.100\n    snat: [app]\n    dnat:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {protocol: tcp, public_port: %d, instance: app-%d, port: 8080}\n", 10000+i, i)
		fmt.Fprintf(&b, "      - {protocol: tcp, public_port: %d, instance: app-%d, port: 8081}\n", 20000+i, i)
	}
	b.WriteString(`internet:
  hosts:
    - name: mirror
      ip: 203.0.113.80
      services: [{kind: http, port: 80}, {kind: http, port: 443}, {kind: echo, port: 7, protocol: udp}]
    - {name: office, ip: 198.51.100.7}
    - {name: stranger, ip: 192.0.2.66}
expect:
`)
	e := func(from, to, proto string, port int, result string) {
		if port == 0 {
			fmt.Fprintf(&b, "  - {from: %s, to: %s, protocol: %s, result: %s}\n", from, to, proto, result)
			return
		}
		fmt.Fprintf(&b, "  - {from: %s, to: %s, protocol: %s, port: %d, result: %s}\n", from, to, proto, port, result)
	}
	for i := range n {
		web, app, iso := fmt.Sprintf("web-%d", i), fmt.Sprintf("app-%d", i), fmt.Sprintf("iso-%d", i)
		e(web, "mirror", "tcp", 80, Allow)  // out through its EIP
		e(web, "mirror", "tcp", 443, Block) // its egress rule
		e(web, "mirror", "udp", 9, Refuse)  // ICMP port unreachable back through the EIP
		e(app, "mirror", "tcp", 80, Allow)  // out through SNAT
		e(app, "mirror", "udp", 7, Allow)   // UDP through SNAT
		e(app, "mirror", "udp", 9, Refuse)  // ICMP error back through SNAT
		e(app, "mirror", "icmp", 0, Allow)  // echo through SNAT
		e(app, "mirror", "tcp", 81, Refuse) // RST back through SNAT
		e(iso, "mirror", "tcp", 80, Block)  // no EIP, no SNAT
		e("mirror", web, "tcp", 80, Allow)  // in through the EIP
		e("mirror", web, "icmp", 0, Allow)  // ping the EIP
		e("mirror", web, "tcp", 22, Block)  // not allowed in
		e("office", "47.100.0.100", "tcp", 10000+i, Allow)
		e("office", "47.100.0.100", "tcp", 20000+i, Refuse) // forwarded and allowed; nothing listens: the RST goes back through DNAT
		e("stranger", "47.100.0.100", "tcp", 10000+i, Block)
		e(web, app, "tcp", 8080, Allow)                            // intranet across shards
		e(app, "47.100.0.100", "tcp", 10000+i, Block)              // hairpin through the NAT address
		e(iso, fmt.Sprintf("47.100.1.%d", 10+i), "tcp", 80, Block) // hairpin through an EIP
		e("mirror", app, "tcp", 8080, Block)                       // no EIP: the private address has no route
	}
	e("office", "47.100.0.100", "tcp", 30000, Block) // no DNAT entry
	e("mirror", "office", "tcp", 80, Refuse)         // internet to internet
	return b.String()
}

// TestShardedInternetScenario: a generated VPC of 201 instances with EIPs,
// SNAT, DNAT and internet hosts gives with 3 shards the results of one process, field by
// field; its internet traffic really crossed the link both ways, and the
// SNAT mappings live on the edge shard only.
func TestShardedInternetScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a generated VPC up 4 times")
	}
	n := 67 // 201 instances, 1,275 expectations
	if raceEnabled {
		n = 8 // the race detector's cost makes the unsharded reference time out on a shared machine
	}
	topo, err := Load("sharded-internet.yaml", []byte(internetScenario(n)))
	require.NoError(t, err)
	shards := map[int]int{}
	for i := range topo.Instances {
		shards[topo.Shard(i, 3)]++
	}
	require.Len(t, shards, 3, "instances on every shard")

	labs, err := buildShards(t, topo, 3)
	require.NoError(t, err)
	for _, r := range requireShardedMatchLabs(t, topo, labs) {
		require.True(t, r.Pass, "%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
	}

	for i, l := range labs {
		_, injected := l.Shard.Stats()
		require.NotZero(t, injected, "shard %d received nothing over the link", i)
		st, ok := l.VPC.NATStats("nat-1")
		require.True(t, ok)
		mappings := st.Mappings["tcp"] + st.Mappings["udp"] + st.Mappings["icmp"]
		if i == EdgeShard {
			require.NotZero(t, mappings, "the edge holds the SNAT mappings")
		} else {
			require.Zero(t, mappings, "shard %d holds SNAT state", i)
		}
	}
}
