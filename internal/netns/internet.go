package netns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// The internet side of a topology (docs/semantics.md §5) as namespaces: a
// gateway namespace with eth0 on the VPC bridge and eth1 on a second,
// internet bridge, holding every public address of the VPC (EIPs and NAT
// gateways' EIPs); one namespace per internet host on the internet bridge;
// every instance routing to the internet through the gateway. The gateway
// translates with iptables' nat table — an EIP is a 1:1 DNAT in and SNAT
// out, a NAT gateway's snat an SNAT of its vswitches, its dnat entries
// port forwards — and filters what the cloud would not route
// (GatewayTables).

// hasInternet reports whether t has an internet side to build.
func hasInternet(t *topology.Topology) bool {
	if len(t.Internet.Hosts) > 0 || len(t.NATGateways) > 0 {
		return true
	}
	for _, in := range t.Instances {
		if in.EIP.IsValid() {
			return true
		}
	}
	return false
}

// gatewayAddr is the gateway's address in the VPC: the highest address of
// the VPC's CIDR that no instance has, below the broadcast address.
func gatewayAddr(t *topology.Topology) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, in := range t.Instances {
		used[in.IP] = true
	}
	p := t.VPC.CIDR.Masked()
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	for h := host - 1; h >= 1 && h < host; h-- {
		v := base | h
		c := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !used[c] {
			return c, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("vpc %s: no free address for the internet gateway's namespace", p)
}

// publicAddrs are the addresses the gateway holds on the internet side:
// the instances' EIPs and the NAT gateways' EIPs, in file order.
func publicAddrs(t *topology.Topology) []netip.Addr {
	var out []netip.Addr
	for _, in := range t.Instances {
		if in.EIP.IsValid() {
			out = append(out, in.EIP)
		}
	}
	for _, g := range t.NATGateways {
		if g.EIP.IsValid() {
			out = append(out, g.EIP)
		}
	}
	return out
}

// GatewayTables returns the gateway namespace's iptables-restore nat and
// filter tables for t (eth0 faces the VPC, eth1 the internet):
//
//   - nat PREROUTING, from the internet only (hairpin is not supported):
//     each EIP to its instance's private address; each DNAT entry, the
//     NAT gateway's EIP and public port to the instance and its port.
//   - nat POSTROUTING, to the internet: each instance with an EIP from its
//     private address to the EIP, first (an EIP before SNAT, §5.4); then
//     each vswitch a NAT gateway's snat lists to that gateway's EIP.
//   - filter FORWARD (policy drop): replies of tracked connections; TCP to
//     port 25 dropped when the platform blocks outbound SMTP (§2.1); out
//     from the sources that have a translation; in only what a DNAT
//     translated. filter INPUT drops everything: the gateway's own
//     addresses (a NAT gateway's EIP on a port without a DNAT entry) do not
//     answer, as the cloud's do not.
func GatewayTables(t *topology.Topology) string {
	var nat, fwd strings.Builder
	nat.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	fwd.WriteString("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	fwd.WriteString("-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n")
	if t.Platform.BlockOutboundSMTP {
		fwd.WriteString("-A FORWARD -i eth0 -o eth1 -p tcp --dport 25 -j DROP\n")
	}
	ip := map[string]netip.Addr{}
	for _, in := range t.Instances {
		ip[in.Name] = in.IP
		if in.EIP.IsValid() {
			fmt.Fprintf(&nat, "-A PREROUTING -i eth1 -d %s -j DNAT --to-destination %s\n", in.EIP, in.IP)
		}
	}
	for _, g := range t.NATGateways {
		for _, d := range g.DNAT {
			fmt.Fprintf(&nat, "-A PREROUTING -i eth1 -d %s -p %s --dport %d -j DNAT --to-destination %s:%d\n",
				g.EIP, d.Protocol, d.PublicPort, ip[d.Instance], d.Port)
		}
	}
	for _, in := range t.Instances {
		if in.EIP.IsValid() {
			fmt.Fprintf(&nat, "-A POSTROUTING -o eth1 -s %s -j SNAT --to-source %s\n", in.IP, in.EIP)
			fmt.Fprintf(&fwd, "-A FORWARD -i eth0 -o eth1 -s %s -j ACCEPT\n", in.IP)
		}
	}
	vsw := map[string]netip.Prefix{}
	for _, v := range t.VSwitches {
		vsw[v.Name] = v.CIDR
	}
	for _, g := range t.NATGateways {
		for _, name := range g.SNAT {
			fmt.Fprintf(&nat, "-A POSTROUTING -o eth1 -s %s -j SNAT --to-source %s\n", vsw[name], g.EIP)
			fmt.Fprintf(&fwd, "-A FORWARD -i eth0 -o eth1 -s %s -j ACCEPT\n", vsw[name])
		}
	}
	fwd.WriteString("-A FORWARD -i eth1 -o eth0 -m conntrack --ctstate DNAT -j ACCEPT\n")
	nat.WriteString("COMMIT\n")
	fwd.WriteString("COMMIT\n")
	return nat.String() + fwd.String()
}

// buildInternet adds the gateway and the internet hosts to tp's lab and
// routes every instance through the gateway; it returns the hosts' nodes.
func (tp *Topo) buildInternet(instances []Node) ([]Node, error) {
	t := tp.t
	gw, err := gatewayAddr(t)
	if err != nil {
		return nil, err
	}
	l := tp.Lab
	l.mu.Lock()
	base := len(l.nodes)
	gwNS := fmt.Sprintf("%s-%d", l.name, base)
	l.nodes = append(l.nodes, gwNS)
	hosts := make([]Node, len(t.Internet.Hosts))
	for i, h := range t.Internet.Hosts {
		hosts[i] = Node{NS: fmt.Sprintf("%s-%d", l.name, base+1+i), Addr: h.IP}
		l.nodes = append(l.nodes, hosts[i].NS)
	}
	l.mu.Unlock()

	var add, links strings.Builder
	fmt.Fprintf(&add, "netns add %s\n", gwNS)
	for _, h := range hosts {
		fmt.Fprintf(&add, "netns add %s\n", h.NS)
	}
	if err := run(strings.NewReader(add.String()), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	// Veth names are v<index of the namespace>, as AddNodes names them;
	// the gateway's second one is i<index>.
	links.WriteString("link add br1 type bridge\nlink set br1 up\n")
	fmt.Fprintf(&links, "link add v%d type veth peer name eth0 netns %s\nlink set v%d master br0 up\n", base, gwNS, base)
	fmt.Fprintf(&links, "link add i%d type veth peer name eth1 netns %s\nlink set i%d master br1 up\n", base, gwNS, base)
	for i, h := range hosts {
		fmt.Fprintf(&links, "link add v%d type veth peer name eth0 netns %s\nlink set v%d master br1 up\n", base+1+i, h.NS, base+1+i)
	}
	if err := run(strings.NewReader(links.String()), "ip", "-n", l.bridge, "-batch", "-"); err != nil {
		return nil, err
	}
	var gwCmds strings.Builder
	fmt.Fprintf(&gwCmds, "addr add %s/%d dev eth0\nlink set eth0 up\nlink set eth1 up\nlink set lo up\n", gw, l.prefix.Bits())
	for _, a := range publicAddrs(t) {
		fmt.Fprintf(&gwCmds, "addr add %s/32 dev eth1\n", a)
	}
	gwCmds.WriteString("route add default dev eth1\n")
	if err := run(strings.NewReader(gwCmds.String()), "ip", "-n", gwNS, "-batch", "-"); err != nil {
		return nil, err
	}
	if err := run(nil, "ip", "netns", "exec", gwNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	if err := run(strings.NewReader(GatewayTables(t)), "ip", "netns", "exec", gwNS, "iptables-restore"); err != nil {
		return nil, fmt.Errorf("internet gateway: %w", err)
	}
	// Internet hosts: one address each, every other address on the link.
	for _, h := range hosts {
		cmds := fmt.Sprintf("addr add %s/32 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default dev eth0\n", h.Addr)
		if err := run(strings.NewReader(cmds), "ip", "-n", h.NS, "-batch", "-"); err != nil {
			return nil, err
		}
	}
	for _, n := range instances {
		if err := run(nil, "ip", "-n", n.NS, "route", "add", "default", "via", gw.String()); err != nil {
			return nil, err
		}
	}
	return hosts, nil
}

// destination is where an expectation's probe ends inside the VPC, after
// the gateway's translation: the instance and its port, or "" when the
// probe goes to the internet or nowhere.
func (tp *Topo) destination(e topology.Expect, to netip.Addr) (string, int) {
	for _, in := range tp.t.Instances {
		if in.IP == to || (in.EIP.IsValid() && in.EIP == to) {
			return in.Name, e.Port
		}
	}
	for _, g := range tp.t.NATGateways {
		if g.EIP != to {
			continue
		}
		if i := slices.IndexFunc(g.DNAT, func(d topology.DNAT) bool { return d.Protocol == e.Protocol && d.PublicPort == e.Port }); i >= 0 {
			return g.DNAT[i].Instance, g.DNAT[i].Port
		}
	}
	return "", 0
}
