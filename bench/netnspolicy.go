package bench

import (
	"fmt"
	"strings"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/internal/netns"
	"github.com/vpclab/vpclab/topology"
)

// netnsClient and netnsServer are the instances of the namespace baseline's
// pair, as netns places them.
var (
	netnsClient = "10.0.1.1"
	netnsServer = "10.0.1.2"
)

// fabricPolicyTopology is the fabric and connrate benchmarks' policy
// (policy500 on the client and on the server) written as a topology: the
// same groups and rules, the pair at the namespace baseline's addresses.
func fabricPolicyTopology() (*topology.Topology, error) {
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {name: bench, cidr: 10.0.0.0/16}\nvswitches:\n  - {name: vsw, cidr: 10.0.1.0/24}\nsecurity_groups:\n")
	var groups [2][]string
	for i, inst := range []string{"cli", "srv"} {
		for _, g := range policy500(inst) {
			groups[i] = append(groups[i], g.Name)
			fmt.Fprintf(&b, "  - name: %s\n    rules:\n", g.Name)
			for _, r := range g.Rules {
				peer := "source"
				if r.Direction == firewall.Egress {
					peer = "destination"
				}
				ports := "-1/-1"
				if r.Ports != firewall.AnyPorts {
					ports = fmt.Sprintf("%d/%d", r.Ports.Start, r.Ports.End)
				} else if r.Protocol == "tcp" || r.Protocol == "udp" {
					ports = "1/65535"
				}
				fmt.Fprintf(&b, "      - {direction: %s, policy: %s, priority: %d, protocol: %s, port_range: %q, %s: %s}\n",
					r.Direction, r.Policy, r.Priority, r.Protocol, ports, peer, r.Remote)
			}
		}
	}
	fmt.Fprintf(&b, "instances:\n  - {name: cli, vswitch: vsw, ip: %s, security_groups: [%s]}\n  - {name: srv, vswitch: vsw, ip: %s, security_groups: [%s]}\n",
		netnsClient, strings.Join(groups[0], ", "), netnsServer, strings.Join(groups[1], ", "))
	return topology.Load("fabric-policy.yaml", []byte(b.String()))
}

// fabricPolicyTables is the fabric's policy as the namespace baseline's
// iptables filter tables, translated as kernel-check translates every
// example (netns.Policy): so the Linux figures carry the cost of the same
// rules, in the same order, as vpclab's.
func fabricPolicyTables() (netns.PairTables, error) {
	t, err := fabricPolicyTopology()
	if err != nil {
		return netns.PairTables{}, fmt.Errorf("the fabric policy as a topology: %w", err)
	}
	p := netns.NewPolicy(t)
	return netns.PairTables{Client: p.Table(t.Instances[0]), Server: p.Table(t.Instances[1])}, nil
}
