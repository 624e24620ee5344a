package netns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// TestGatewayTables checks the gateway's translation of each internet
// mapping, table by table: which lines there are and in which order (an
// EIP's SNAT before a NAT gateway's, the port-25 drop before any accept).
func TestGatewayTables(t *testing.T) {
	const file = `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches:
  - {name: public, cidr: 10.0.0.0/24}
  - {name: app, cidr: 10.0.1.0/24}
instances:
  - {name: app-1, vswitch: app, ip: 10.0.1.5}
  - {name: app-2, vswitch: app, ip: 10.0.1.6, eip: 47.100.0.33}
  - {name: db-1, vswitch: public, ip: 10.0.0.9}
nat_gateways:
  - name: nat-1
    vswitch: public
    eip: 47.100.0.100
    snat: [app]
    dnat: [{protocol: tcp, public_port: 2222, instance: db-1, port: 22}, {protocol: udp, public_port: 53, instance: db-1, port: 5353}]
%s`
	for _, tc := range []struct {
		name, platform string
		want           []string
	}{
		{"platform default", "", []string{
			"*nat",
			"-A PREROUTING -i eth1 -d 47.100.0.33 -j DNAT --to-destination 10.0.1.6",
			"-A PREROUTING -i eth1 -d 47.100.0.100 -p tcp --dport 2222 -j DNAT --to-destination 10.0.0.9:22",
			"-A PREROUTING -i eth1 -d 47.100.0.100 -p udp --dport 53 -j DNAT --to-destination 10.0.0.9:5353",
			"-A POSTROUTING -o eth1 -s 10.0.1.6 -j SNAT --to-source 47.100.0.33",
			"-A POSTROUTING -o eth1 -s 10.0.1.0/24 -j SNAT --to-source 47.100.0.100",
			"COMMIT",
			"*filter",
			":INPUT DROP [0:0]",
			":FORWARD DROP [0:0]",
			"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
			"-A FORWARD -i eth0 -o eth1 -p tcp --dport 25 -j DROP",
			"-A FORWARD -i eth0 -o eth1 -s 10.0.1.6 -j ACCEPT",
			"-A FORWARD -i eth0 -o eth1 -s 10.0.1.0/24 -j ACCEPT",
			"-A FORWARD -i eth1 -o eth0 -m conntrack --ctstate DNAT -j ACCEPT",
			"COMMIT",
		}},
		{"smtp allowed", "platform: {block_outbound_smtp: false}\n", []string{
			"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
			"-A FORWARD -i eth0 -o eth1 -s 10.0.1.6 -j ACCEPT",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := topology.Load("gw.yaml", []byte(strings.Replace(file, "%s", tc.platform, 1)))
			if err != nil {
				t.Fatal(err)
			}
			got := GatewayTables(topo)
			// The wanted lines appear in this order, nothing between
			// consecutive -A lines of one chain that is not wanted.
			at := 0
			for _, w := range tc.want {
				i := strings.Index(got[at:], w+"\n")
				if i < 0 {
					t.Fatalf("no line %q after offset %d in:\n%s", w, at, got)
				}
				at += i + len(w) + 1
			}
			if n, want := strings.Count(got, "-A "), 5+5; tc.platform == "" && n != want {
				t.Errorf("%d rules, want %d:\n%s", n, want, got)
			}
			if tc.platform != "" && strings.Contains(got, "--dport 25 ") {
				t.Errorf("port 25 dropped though the platform allows it:\n%s", got)
			}
		})
	}
}

// TestGatewayAddr checks that the gateway takes the highest free address
// of the VPC below its broadcast address.
func TestGatewayAddr(t *testing.T) {
	for _, tc := range []struct {
		cidr, taken, want string
	}{
		{"10.0.0.0/16", "10.0.1.5", "10.0.255.254"},
		{"10.0.0.0/16", "10.0.255.254", "10.0.255.253"},
		{"192.168.7.0/30", "192.168.7.2", "192.168.7.1"},
	} {
		topo := &topology.Topology{VPC: topology.VPC{CIDR: netip.MustParsePrefix(tc.cidr)},
			Instances: []topology.Instance{{Name: "a", IP: netip.MustParseAddr(tc.taken)}}}
		got, err := gatewayAddr(topo)
		if err != nil || got.String() != tc.want {
			t.Errorf("%s with %s taken: %v %v, want %s", tc.cidr, tc.taken, got, err, tc.want)
		}
	}
	full := &topology.Topology{VPC: topology.VPC{CIDR: netip.MustParsePrefix("192.168.7.0/30")},
		Instances: []topology.Instance{{Name: "a", IP: netip.MustParseAddr("192.168.7.1")}, {Name: "b", IP: netip.MustParseAddr("192.168.7.2")}}}
	if a, err := gatewayAddr(full); err == nil {
		t.Errorf("a full /30: %v, want an error", a)
	}
}
