package netns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// defaultGroup is the system group an instance naming none joins
// (docs/semantics.md §3).
const defaultGroup = "default"

// systemRules are the default group's rules at priority 110.
var systemRules = []topology.Rule{
	{Direction: "ingress", Policy: "accept", Priority: 110, Protocol: "tcp", PortRange: "22/22", Source: "0.0.0.0/0"},
	{Direction: "ingress", Policy: "accept", Priority: 110, Protocol: "tcp", PortRange: "3389/3389", Source: "0.0.0.0/0"},
	{Direction: "ingress", Policy: "accept", Priority: 110, Protocol: "icmp", PortRange: "-1/-1", Source: "0.0.0.0/0"},
}

// Policy is what the translation needs of a loaded topology: each group,
// and the instances' groups and addresses.
type Policy struct {
	groups  map[string]*topology.SecurityGroup
	members map[string][]netip.Addr // group → private addresses, in file order
}

// NewPolicy indexes the groups and memberships of t.
func NewPolicy(t *topology.Topology) *Policy {
	p := &Policy{groups: map[string]*topology.SecurityGroup{}, members: map[string][]netip.Addr{}}
	for i := range t.SecurityGroups {
		p.groups[t.SecurityGroups[i].Name] = &t.SecurityGroups[i]
	}
	if g, ok := p.groups[defaultGroup]; !ok {
		p.groups[defaultGroup] = &topology.SecurityGroup{Name: defaultGroup, Type: "basic", InnerAccess: "accept", Rules: systemRules}
	} else {
		// A file may declare the default group to add rules to it: the
		// system rules stay (docs/semantics.md §3).
		withSystem := *g
		withSystem.Rules = append(slices.Clip(g.Rules), systemRules...)
		p.groups[defaultGroup] = &withSystem
	}
	for _, in := range t.Instances {
		for _, g := range groupsOf(in) {
			p.members[g] = append(p.members[g], in.IP)
		}
	}
	return p
}

func groupsOf(in topology.Instance) []string {
	if len(in.SecurityGroups) == 0 {
		return []string{defaultGroup}
	}
	return in.SecurityGroups
}

// Table returns the iptables-restore filter table of an instance: INPUT is
// its NIC's ingress, OUTPUT its egress, each in the order of
// docs/semantics.md §2 — conntrack's established and related first, then
// intra-group accept, every group's rules sorted by priority with drop
// before accept on ties (stable in group then rule order), intra-group drop
// on ingress, and the implicit default as the chain's policy.
func (p *Policy) Table(in topology.Instance) string {
	groups := groupsOf(in)
	enterprise := false
	for _, g := range groups {
		if p.groups[g] != nil && p.groups[g].Type == "enterprise" {
			enterprise = true
		}
	}
	egressDefault := "ACCEPT"
	if enterprise {
		egressDefault = "DROP"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT %s [0:0]\n", egressDefault)
	for _, dir := range []string{"ingress", "egress"} {
		chain, remote, local := "INPUT", "-s", "-d"
		if dir == "egress" {
			chain, remote, local = "OUTPUT", "-d", "-s"
		}
		lo := "-i"
		if dir == "egress" {
			lo = "-o"
		}
		fmt.Fprintf(&b, "-A %s %s lo -j ACCEPT\n", chain, lo)
		fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain)
		// Step 3: intra-group accept.
		for _, g := range groups {
			if inner(p.groups[g]) == "accept" {
				if addrs := hosts(others(p.members[g], in.IP)); addrs != "" {
					fmt.Fprintf(&b, "-A %s %s %s -j ACCEPT\n", chain, remote, addrs)
				}
			}
		}
		// Step 4: the rules of every group, one list.
		type ranked struct {
			r          topology.Rule
			gi, ri     int
			drop, prio int
		}
		var rules []ranked
		for gi, g := range groups {
			sg := p.groups[g]
			if sg == nil {
				continue
			}
			for ri, r := range sg.Rules {
				if r.Direction != dir {
					continue
				}
				drop := 1
				if r.Policy == "drop" {
					drop = 0
				}
				rules = append(rules, ranked{r, gi, ri, drop, r.Priority})
			}
		}
		slices.SortStableFunc(rules, func(a, b ranked) int {
			return cmp.Or(cmp.Compare(a.prio, b.prio), cmp.Compare(a.drop, b.drop), cmp.Compare(a.gi, b.gi), cmp.Compare(a.ri, b.ri))
		})
		for _, x := range rules {
			if line, ok := p.rule(x.r, remote, local); ok {
				fmt.Fprintf(&b, "-A %s %s\n", chain, line)
			}
		}
		// Step 5: intra-group drop, ingress only, below every rule.
		if dir == "ingress" {
			for _, g := range groups {
				if inner(p.groups[g]) == "drop" {
					if addrs := hosts(others(p.members[g], in.IP)); addrs != "" {
						fmt.Fprintf(&b, "-A %s %s %s -j DROP\n", chain, remote, addrs)
					}
				}
			}
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// inner is a group's intra-group policy: enterprise groups always drop.
func inner(g *topology.SecurityGroup) string {
	switch {
	case g == nil:
		return ""
	case g.Type == "enterprise":
		return "drop"
	case g.InnerAccess == "":
		return "accept"
	}
	return g.InnerAccess
}

// others is addrs without self: an instance's traffic to itself stays on lo.
func others(addrs []netip.Addr, self netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if a != self {
			out = append(out, a)
		}
	}
	return out
}

// hosts writes addresses as iptables takes a list: a,b,c.
func hosts(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// rule translates one security-group rule's match and verdict; ok is false
// for a rule that can match nothing (a group without members).
func (p *Policy) rule(r topology.Rule, remote, local string) (string, bool) {
	var f []string
	if r.Protocol != "all" {
		f = append(f, "-p", r.Protocol)
	}
	peer := r.Source
	group := r.SourceGroup
	if remote == "-d" {
		peer, group = r.Destination, r.DestinationGroup
	}
	switch {
	case group != "":
		addrs := hosts(p.members[group])
		if addrs == "" {
			return "", false
		}
		f = append(f, remote, addrs)
	case peer != "" && peer != "0.0.0.0/0":
		f = append(f, remote, peer)
	}
	if r.LocalCIDR != "" {
		f = append(f, local, r.LocalCIDR)
	}
	if r.Protocol == "tcp" || r.Protocol == "udp" {
		if pr := ports(r.PortRange); pr != "" {
			f = append(f, "--dport", pr)
		}
		if pr := ports(r.SourcePortRange); pr != "" {
			f = append(f, "--sport", pr)
		}
	}
	verdict := "ACCEPT"
	if r.Policy == "drop" {
		verdict = "DROP"
	}
	f = append(f, "-j", verdict)
	return strings.Join(f, " "), true
}

// ports turns "80/90" into iptables' "80:90"; any range is "".
func ports(pr string) string {
	lo, hi, ok := strings.Cut(pr, "/")
	if !ok || pr == "" || lo == "-1" || (lo == "1" && hi == "65535") {
		return ""
	}
	if lo == hi {
		return lo
	}
	return lo + ":" + hi
}
