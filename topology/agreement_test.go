package topology

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
)

// TestTraceAgreesWithTraffic checks that explain's static path analysis
// (VPC.Trace) and real packets agree, on every example, the default
// topology and generated topologies: for probes from every instance and
// internet host to every address the file names (private, EIP, NAT EIP,
// public, one nobody owns, one no instance holds), on every service port,
// a closed port and ICMP, the trace's outcome is what a real probe
// observes — and for a blocked probe, the drop event's code and reason are
// the trace's.
func TestTraceAgreesWithTraffic(t *testing.T) {
	for _, f := range exampleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			topo, err := LoadFile(f)
			require.NoError(t, err)
			checkAgreement(t, topo)
		})
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("generated-%d", seed), func(t *testing.T) {
			src := genRandomTopology(seed)
			topo, err := Load(fmt.Sprintf("generated-%d.yaml", seed), src)
			require.NoError(t, err, "%s", src)
			checkAgreement(t, topo)
		})
	}
}

func checkAgreement(t *testing.T, topo *Topology) {
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()

	type probe struct {
		e  Expect
		tr *netstack.Trace
	}
	var probes []probe
	for _, from := range agreementSources(topo) {
		for _, dst := range agreementTargets(topo) {
			for _, pp := range agreementPorts(topo, dst) {
				a, _ := netip.ParseAddr(dst)
				tr, err := lab.VPC.Trace(from, a, protoNumber(pp.proto), uint16(pp.port))
				require.NoError(t, err)
				want := Block
				switch {
				case tr.Allowed:
					want = Allow
				case tr.Verdict.Code == firewall.NoListener:
					want = Refuse
				}
				probes = append(probes, probe{Expect{From: from, To: dst, Protocol: pp.proto, Port: pp.port, Result: want}, tr})
			}
		}
	}
	expects := make([]Expect, len(probes))
	for i := range probes {
		expects[i] = probes[i].e
	}
	results := lab.RunExpects(context.Background(), expects, RunOptions{Timeout: 3 * time.Second})
	require.Len(t, results, len(probes))
	for i, r := range results {
		tr := probes[i].tr
		if !assert.True(t, r.Pass, "%s → %s %s/%d: trace says %s (%s), traffic %s: %s",
			r.From, r.To, r.Protocol, r.Port, r.Expected, tr.Final, r.Observed, r.Detail) {
			continue
		}
		if r.Observed == Block {
			assert.False(t, r.TimedOut, "%s: block known from a drop event: %s", r.Label(), r.Detail)
			if assert.NotNil(t, r.Why, r.Label()) {
				assert.Equal(t, tr.Final.Code, r.Why.Code, "%s: deciding code", r.Label())
				assert.Equal(t, tr.Final.Step, r.Why.Step, "%s: deciding step", r.Label())
			}
		}
	}
	t.Logf("%d probes agree", len(results))
}

func agreementSources(topo *Topology) []string {
	var out []string
	for _, in := range topo.Instances {
		out = append(out, in.Name)
	}
	for _, h := range topo.Internet.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// agreementTargets lists every address the file names, one public address
// nobody owns and one private address no instance holds.
func agreementTargets(topo *Topology) []string {
	var out []string
	add := func(a netip.Addr) {
		if a.IsValid() && !slices.Contains(out, a.String()) {
			out = append(out, a.String())
		}
	}
	for _, in := range topo.Instances {
		add(in.IP)
		add(in.EIP)
	}
	for _, gw := range topo.NATGateways {
		add(gw.EIP)
	}
	for _, h := range topo.Internet.Hosts {
		add(h.IP)
	}
	add(netip.MustParseAddr("198.18.0.99"))
	if len(topo.VSwitches) > 0 {
		_, last := netstack.AssignableRange(topo.VSwitches[0].CIDR)
		add(last)
	}
	return out
}

type protoPort struct {
	proto string
	port  int
}

// agreementPorts lists the probes toward dst: the ports of every service
// and DNAT entry the file has (so that EIPs and gateways are probed on what
// might listen behind them), a closed port and ICMP.
func agreementPorts(topo *Topology, dst string) []protoPort {
	out := []protoPort{{"tcp", 9}, {"udp", 9}, {"icmp", 0}}
	add := func(pp protoPort) {
		if !slices.Contains(out, pp) {
			out = append(out, pp)
		}
	}
	for _, in := range topo.Instances {
		for _, s := range in.Services {
			add(protoPort{s.Protocol, s.Port})
		}
	}
	for _, h := range topo.Internet.Hosts {
		for _, s := range h.Services {
			add(protoPort{s.Protocol, s.Port})
		}
	}
	for _, gw := range topo.NATGateways {
		if gw.EIP.String() == dst {
			for _, d := range gw.DNAT {
				add(protoPort{d.Protocol, d.PublicPort})
			}
		}
	}
	return out
}

// genRandomTopology writes a valid topology with random rules of every kind
// (directions, policies, priorities, protocols, ports, CIDRs, group
// references), basic groups with inner accept or drop, an enterprise
// group, EIPs, a NAT gateway with SNAT and DNAT, and internet hosts.
func genRandomTopology(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches:\n")
	b.WriteString("  - {name: a, cidr: 10.0.1.0/24}\n  - {name: b, cidr: 10.0.2.0/24}\n  - {name: c, cidr: 10.0.3.0/24}\n")
	ports := []int{22, 80, 443, 53, 7}
	remotes := []string{"0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "203.0.113.0/24", "198.51.100.7/32"}
	groups := []string{"sg-0", "sg-1", "sg-2", "sg-3"}
	rule := func(self string, enterprise bool) string {
		dir := []string{"ingress", "egress"}[r.IntN(2)]
		policy := []string{"accept", "accept", "drop"}[r.IntN(3)]
		proto := []string{"tcp", "tcp", "udp", "icmp", "all"}[r.IntN(5)]
		pr := "-1/-1"
		if proto == "tcp" || proto == "udp" {
			lo := ports[r.IntN(len(ports))]
			pr = fmt.Sprintf("%d/%d", lo, lo+r.IntN(2)*100)
		}
		key, remote := "source", remotes[r.IntN(len(remotes))]
		if dir == "egress" {
			key = "destination"
		}
		if !enterprise && r.IntN(4) == 0 {
			for remote = self; remote == self; {
				remote = groups[r.IntN(len(groups))]
			}
			key += "_group"
		}
		return fmt.Sprintf("      - {direction: %s, policy: %s, priority: %d, protocol: %s, port_range: %s, %s: %s}\n",
			dir, policy, 1+r.IntN(5), proto, pr, key, remote)
	}
	b.WriteString("security_groups:\n")
	for i, g := range groups {
		inner := []string{"accept", "drop"}[r.IntN(2)]
		fmt.Fprintf(&b, "  - name: %s\n    inner_access: %s\n    rules:\n", g, inner)
		for range 3 + r.IntN(5) {
			b.WriteString(rule(g, false))
		}
		if i == 0 { // something reaches the services
			b.WriteString("      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}\n")
		}
	}
	b.WriteString("  - name: sg-ent\n    type: enterprise\n    rules:\n")
	for range 4 {
		b.WriteString(rule("sg-ent", true))
	}
	b.WriteString("instances:\n")
	vsws := []string{"a", "b", "c"}
	for i := range 7 {
		var gs []string
		if i == 6 {
			gs = []string{"sg-ent"}
		} else {
			for _, g := range groups {
				if r.IntN(3) == 0 {
					gs = append(gs, g)
				}
			}
		}
		fmt.Fprintf(&b, "  - name: vm-%d\n    vswitch: %s\n", i, vsws[i%3])
		if len(gs) > 0 {
			fmt.Fprintf(&b, "    security_groups: [%s]\n", strings.Join(gs, ", "))
		}
		if i%3 == 2 {
			fmt.Fprintf(&b, "    eip: 47.100.0.%d\n", 10+i)
		}
		b.WriteString("    services: [{kind: http, port: 80}, {kind: echo, port: 7}, {kind: echo, port: 53, protocol: udp}")
		if i%2 == 0 {
			b.WriteString(", {kind: banner, port: 22, text: \"SSH-2.0-OpenSSH_9.6\"}")
		}
		b.WriteString("]\n")
	}
	// vm-0 (vswitch a) and vm-1 (b) have no EIP: DNAT targets.
	b.WriteString("nat_gateways:\n  - name: nat-1\n    vswitch: a\n    eip: 47.100.0.100\n    snat: [a, b]\n    dnat:\n")
	b.WriteString("      - {protocol: tcp, public_port: 2222, instance: vm-0, port: 22}\n")
	b.WriteString("      - {protocol: tcp, public_port: 8080, instance: vm-1, port: 80}\n")
	b.WriteString("      - {protocol: udp, public_port: 5353, instance: vm-1, port: 53}\n")
	b.WriteString("internet:\n  hosts:\n")
	b.WriteString("    - {name: office, ip: 198.51.100.7, services: [{kind: http, port: 80}, {kind: echo, port: 7}]}\n")
	b.WriteString("    - {name: customer, ip: 203.0.113.10, services: [{kind: echo, port: 53, protocol: udp}]}\n")
	b.WriteString("    - {name: mail, ip: 192.0.2.25, services: [{kind: banner, port: 25, text: \"220 mail ESMTP\"}]}\n")
	return []byte(b.String())
}
