package topology

import "github.com/vpclab/vpclab/firewall"

// OriginOf returns where the rule or group that decided x came from: the
// rule's origin: (or its group's, when the rule has none), the group's for
// an inner_access verdict. It is zero when x names no group, when the
// deciding rule is a system rule of the default group, when the file
// wrote it by hand, or when the rule is no longer the file's (one added
// or revoked while the VPC runs).
//
// x.RuleIndex counts the rules as the firewall holds them: the system
// rules first in the default group, and a rule identical to an earlier
// one once (docs/semantics.md §1.4).
func (t *Topology) OriginOf(x *firewall.Explanation) Origin {
	if x == nil || x.Group == "" {
		return Origin{}
	}
	var g *SecurityGroup
	for i := range t.SecurityGroups {
		if t.SecurityGroups[i].Name == x.Group {
			g = &t.SecurityGroups[i]
			break
		}
	}
	if g == nil || !g.hasOrigins() {
		return Origin{} // written by hand: nothing to look up
	}
	if x.RuleIndex < 0 {
		return g.Origin
	}
	seen := map[firewall.Rule]bool{}
	k := 0
	if g.Name == firewall.DefaultGroupName {
		for _, r := range firewall.SystemRules() {
			seen[identityKey(r)] = true
			k++
		}
	}
	for j := range g.Rules {
		fr, probs := g.Rules[j].firewall()
		if len(probs) > 0 {
			continue
		}
		key := identityKey(fr)
		if seen[key] {
			continue
		}
		seen[key] = true
		if k == x.RuleIndex {
			if x.Rule != "" && x.Rule != fr.String() {
				return Origin{} // the group changed since the file was loaded
			}
			if o := g.Rules[j].Origin; !o.IsZero() {
				return o
			}
			return g.Origin
		}
		k++
	}
	return Origin{}
}

// identityKey is a rule as the firewall tells identical rules apart.
func identityKey(r firewall.Rule) firewall.Rule {
	r = ruleKey(r)
	r.NICType = ""
	return r
}

// hasOrigins reports whether the group or one of its rules has an origin.
func (g *SecurityGroup) hasOrigins() bool {
	if !g.Origin.IsZero() {
		return true
	}
	for i := range g.Rules {
		if !g.Rules[i].Origin.IsZero() {
			return true
		}
	}
	return false
}
