package lint

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpclab/vpclab/firewall"
)

// WorldPorts are the management and database ports OPEN_TO_WORLD looks
// for: SSH, RDP, MySQL, PostgreSQL, Redis, Elasticsearch, MongoDB,
// Memcached.
var WorldPorts = []int{22, 3389, 3306, 5432, 6379, 9200, 27017, 11211}

var anyPrefix = netip.MustParsePrefix("0.0.0.0/0")

// risky reports the rules and groups a cloud user usually regrets.
func (c *checker) risky() {
	q := c.st.Quotas
	nicGroups := map[string]bool{} // groups that share a NIC with default
	for _, n := range c.st.NICs {
		groups := n.Groups
		if len(groups) == 0 {
			groups = []string{firewall.DefaultGroupName}
		}
		for _, g := range groups {
			if g == firewall.DefaultGroupName {
				for _, h := range groups {
					nicGroups[h] = true
				}
			}
		}
		if q.GroupsPerNIC > 0 && len(groups)*10 >= q.GroupsPerNIC*9 && len(groups) > 1 {
			f := Finding{Code: CodeQuotaNear, Severity: SeverityInfo, NICs: []string{n.Name}, File: c.t.File,
				Message: fmt.Sprintf("instance %s is in %d of at most %d security groups (quotas.groups_per_nic)", n.Name, len(groups), q.GroupsPerNIC),
				Fix:     "merge groups that always go together, or ask for a higher quota (quotas.groups_per_nic)"}
			for i := range c.t.Instances {
				if c.t.Instances[i].Name == n.Name {
					p := c.t.Pos(fmt.Sprintf("instances[%d].security_groups", i))
					f.Line, f.Column = p.Line, p.Column
				}
			}
			c.rep.Findings = append(c.rep.Findings, f)
		}
	}
	for _, name := range c.order {
		g := c.groups[name]
		if len(g.members) == 0 && !g.refd && (name != firewall.DefaultGroupName || g.file != nil) {
			c.add(Finding{Code: CodeUnusedGroup, Severity: SeverityWarning,
				Message: "no instance is in the group and no rule references it: it decides nothing",
				Fix:     "delete the group, or add it to the instances it was meant for"}, g, nil)
		}
		if n := g.g.UserRules(); q.RulesPerGroup > 0 && n*10 >= q.RulesPerGroup*9 {
			save := len(c.rep.Redundant[name]) - c.dups[name] // duplicates do not count against the quota
			fix := fmt.Sprintf("lint --fix removes %s (%d of %d left)", count(save, "redundant rule"), n-save, q.RulesPerGroup)
			if save == 0 {
				fix = "no rule is redundant: split the group in two (each instance joins both), or merge rules with adjacent ports or CIDRs"
			}
			c.add(Finding{Code: CodeQuotaNear, Severity: SeverityInfo,
				Message: fmt.Sprintf("the group holds %d of at most %d rules (quotas.rules_per_group)", n, q.RulesPerGroup),
				Fix:     fix}, g, nil)
		}
		for k := range g.g.Rules {
			r := &g.g.Rules[k]
			if r.IsSystem() {
				continue
			}
			ref := g.refs[k]
			if r.Direction == firewall.Ingress && r.Policy == firewall.Accept && r.RemoteGroup == "" && r.Remote == anyPrefix {
				if open := worldOpen(r); open != "" {
					c.add(Finding{Code: CodeOpenToWorld, Severity: SeverityWarning,
						Message: fmt.Sprintf("accepts %s from anywhere (0.0.0.0/0)", open),
						Fix:     "restrict source to the addresses that need it (a bastion, an office CIDR) or use source_group"}, g, &ref)
				}
			}
			if r.RemoteGroup != "" {
				if rg, ok := c.groups[r.RemoteGroup]; ok && len(rg.members) == 0 {
					c.add(Finding{Code: CodeEmptyReference, Severity: SeverityWarning,
						Message: fmt.Sprintf("references group %s, which has no members: the rule matches no packet", r.RemoteGroup),
						Fix:     fmt.Sprintf("add instances to %s, or delete the rule", r.RemoteGroup)}, g, &ref)
				}
			}
			if r.Direction == firewall.Ingress && r.Policy == firewall.Drop && (name == firewall.DefaultGroupName || nicGroups[name]) {
				if hidden := hidesSystem(r); hidden != "" {
					sev, how := SeverityInfo, "drops part of what"
					if r.RemoteGroup == "" && r.Remote == anyPrefix && r.LocalCIDR == (netip.Prefix{}) && (r.SourcePorts == firewall.Ports{} || r.SourcePorts.IsAny()) {
						sev, how = SeverityWarning, "drops everything"
					}
					c.add(Finding{Code: CodeSystemRuleOutranked, Severity: sev,
						Message: fmt.Sprintf("%s the default group's system rule accepts (%s from 0.0.0.0/0, priority 110): any user rule outranks it", how, hidden),
						Fix:     "if the instances should be reachable that way, delete the rule or narrow it; if not, say so in its description"}, g, &ref)
				}
			}
		}
	}
}

// worldOpen names the risky ports an accept rule opens ("" none).
func worldOpen(r *firewall.Rule) string {
	switch r.Protocol {
	case firewall.ProtocolAll:
		return "every protocol and port"
	case firewall.ProtocolTCP, firewall.ProtocolUDP:
	default:
		return ""
	}
	if r.Ports.IsAny() || r.Ports == (firewall.Ports{}) {
		return r.Protocol + " every port"
	}
	var hit []string
	for _, p := range WorldPorts {
		if p >= r.Ports.Start && p <= r.Ports.End {
			hit = append(hit, fmt.Sprint(p))
		}
	}
	if len(hit) == 0 {
		return ""
	}
	return r.Protocol + " port " + strings.Join(hit, ", ")
}

// hidesSystem names the system rules a drop rule overlaps ("" none).
func hidesSystem(r *firewall.Rule) string {
	var out []string
	tcp := r.Protocol == firewall.ProtocolAll || r.Protocol == firewall.ProtocolTCP
	for _, p := range []int{22, 3389} {
		if tcp && (r.Ports.IsAny() || r.Ports == (firewall.Ports{}) || p >= r.Ports.Start && p <= r.Ports.End) {
			out = append(out, fmt.Sprintf("tcp %d", p))
		}
	}
	if r.Protocol == firewall.ProtocolAll || r.Protocol == firewall.ProtocolICMP {
		out = append(out, "icmp")
	}
	return strings.Join(out, ", ")
}

// conflicts lists the pairs (accept, drop) of user-rule entries of p at the
// same priority that match a common packet sent or received by addr.
func conflicts(p *firewall.Policy, addr netip.Addr) [][2]int {
	a, local := firewall.AddrToU32(addr)
	var out [][2]int
	es := p.Entries
	for i := 0; i < len(es); {
		j := i
		for j < len(es) && es[j].Rule >= 0 && es[i].Rule >= 0 && es[j].R.Priority == es[i].R.Priority {
			j++
		}
		if j == i {
			i++
			continue
		}
		for x := i; x < j; x++ {
			for y := i; y < j; y++ {
				if es[x].Code != firewall.SGRuleAccept || es[y].Code != firewall.SGRuleDrop || es[x].R.IsSystem() {
					continue
				}
				if overlap(&es[x].Match, &es[y].Match, p.Dir, a, local) {
					out = append(out, [2]int{x, y})
				}
			}
		}
		i = j
	}
	return out
}

// overlap reports whether two match rules share a packet whose
// instance-side address is a (any, without local).
func overlap(x, y *firewall.MatchRule, dir firewall.Direction, a uint32, local bool) bool {
	if !x.AnyProto && !y.AnyProto && x.Proto != y.Proto {
		return false
	}
	if !portsMeet(x.SrcPort, y.SrcPort) || !portsMeet(x.DstPort, y.DstPort) {
		return false
	}
	xl, yl, xr, yr := x.Dst, y.Dst, x.Src, y.Src
	if dir == firewall.Egress {
		xl, yl, xr, yr = x.Src, y.Src, x.Dst, y.Dst
	}
	if !local {
		return rangesMeet(xl, yl) && rangesMeet(xr, yr)
	}
	return holds(xl, a) && holds(yl, a) && rangesMeet(xr, yr)
}

func portsMeet(a, b firewall.PortRange) bool { return a.Lo <= b.Hi && b.Lo <= a.Hi }

func holds(rs []firewall.Range32, v uint32) bool {
	for _, r := range rs {
		if v >= r.Lo && v <= r.Hi {
			return true
		}
	}
	return false
}

func rangesMeet(a, b []firewall.Range32) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Lo <= y.Hi && y.Lo <= x.Hi {
				return true
			}
		}
	}
	return false
}

// conflictFindings reports every accept/drop pair that conflicts on some NIC.
// In the order of the two rules: findings at one rule keep it.
func (c *checker) conflictFindings() {
	id := func(a, b RuleID) int { return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Rule, b.Rule)) }
	keys := slices.SortedFunc(maps.Keys(c.conflicts), func(a, b [2]RuleID) int { return cmp.Or(id(a[0], b[0]), id(a[1], b[1])) })
	for _, k := range keys {
		cf := c.conflicts[k]
		ga, gd := c.groups[cf.accept.Group], c.groups[cf.drop.Group]
		if ga == nil || gd == nil {
			continue
		}
		acc, drop := ga.refs[cf.accept.Rule], gd.refs[cf.drop.Rule]
		on := "on every instance of the group"
		var nics []string
		if len(cf.nics) < len(ga.members) || len(ga.members) == 0 {
			nics = cf.nics
			on = "on " + strings.Join(cf.nics, ", ")
			if len(ga.members) == 0 {
				on = "within the group alone"
				nics = nil
			}
		}
		c.add(Finding{Code: CodeConflict, Severity: SeverityWarning, NICs: nics, By: []RuleRef{drop},
			Message: fmt.Sprintf("accepts packets that rule %s of %s drops at the same priority %d %s: the drop wins", indexText(drop.Index), drop.Group,
				ga.g.Rules[cf.accept.Rule].Priority, on),
			Fix: "give the rule that should win a smaller priority number, or narrow one of the two so they no longer overlap"}, ga, &acc)
	}
}

// LiveHits sums the per-rule hit counters of the named NICs' policies
// (instances with the same groups share one policy and its counters: it is
// counted once). A rule no policy holds (its group has no members) is
// absent.
func LiveHits(fw *firewall.Firewall, nics []string) map[RuleID]uint64 {
	out := map[RuleID]uint64{}
	seen := map[*firewall.Policy]bool{}
	for _, name := range nics {
		n, ok := fw.NIC(name)
		if !ok || n.Policy() == nil {
			continue
		}
		pol := n.Policy()
		for _, p := range []*firewall.Policy{pol.Ingress, pol.Egress} {
			if p == nil || seen[p] {
				continue
			}
			seen[p] = true
			hits := p.Hits()
			for i, e := range p.Entries {
				if e.Rule >= 0 && !e.R.IsSystem() {
					out[RuleID{e.Group, e.Rule}] += hits[i]
				}
			}
		}
	}
	return out
}

// neverMatched reports the rules that decided no packet on any NIC.
func (c *checker) neverMatched(hits map[RuleID]uint64) {
	for _, name := range c.order {
		g := c.groups[name]
		for k := range g.g.Rules {
			n, ok := hits[RuleID{name, k}]
			if !ok || n > 0 {
				continue
			}
			ref := g.refs[k]
			c.add(Finding{Code: CodeNeverMatched, Severity: SeverityInfo,
				Message: "decided no connection since the sandbox started (or since its instances' groups last changed)",
				Fix:     "if traffic it was meant for has run, the rule is not needed by it: check its source and ports, or delete it"}, g, &ref)
		}
	}
}
