package aliyun

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// group is a security group as the input describes it, merged across
// responses by its id: DescribeSecurityGroupAttribute gives its rules (over
// one or more pages), DescribeSecurityGroups its type, both its name.
type group struct {
	id        string
	name      string
	typ       string // basic, enterprise, or "" when no response says
	inner     string // accept, drop or ""
	vpcID     string
	origin    topology.Origin
	described bool // its rules are in the input
	perms     []obj
	rules     []topology.Rule
	seen      map[ruleKey]bool
	final     string // the name in the fragment
}

// ruleKey identifies a rule regardless of where it was read, so a page or
// file given twice adds its rules once (as the cloud keeps one copy of an
// identical rule).
type ruleKey struct {
	direction, policy, protocol, ports, source, sourceGroup, dest, destGroup, sourcePorts, local, nic, desc string
	priority                                                                                                int
}

func (im *importer) group(id string, o obj) *group {
	g := im.groupByID[id]
	if g == nil {
		g = &group{id: id, origin: o.origin(id)}
		im.groupByID[id] = g
		im.groups = append(im.groups, g)
	}
	return g
}

// securityGroupAttribute reads a DescribeSecurityGroupAttribute response.
func (im *importer) securityGroupAttribute(o obj) {
	id := o.str("SecurityGroupId")
	if id == "" {
		o.errf("SecurityGroupId", "", "a DescribeSecurityGroupAttribute response without SecurityGroupId: its rules cannot be given a group")
		return
	}
	o.entity = id
	if v := o.n.get("VpcId"); v != nil && o.str("VpcId") == "" {
		o.unsupported("VpcId", id, "a security group of the classic network (no VpcId); vpclab models a VPC")
		return
	}
	g := im.group(id, o)
	if !g.described {
		g.origin = o.origin(id)
	}
	g.described = true
	if name := o.str("SecurityGroupName"); name != "" {
		g.name = name
	}
	if v := o.str("VpcId"); v != "" {
		g.vpcID = v
		im.vpcRefs = append(im.vpcRefs, vpcRef{v, o, "VpcId"})
	}
	switch t := strings.ToLower(o.str("SecurityGroupType")); t { // in newer responses
	case "normal":
		g.typ = "basic"
	case "enterprise":
		g.typ = "enterprise"
	}
	switch p := strings.ToLower(o.str("InnerAccessPolicy")); p {
	case "":
	case "accept", "drop":
		g.inner = p
	default:
		o.errf("InnerAccessPolicy", "Accept, Drop", "unknown InnerAccessPolicy %q", o.str("InnerAccessPolicy"))
	}
	g.perms = append(g.perms, o.items("Permissions", "Permission")...)
}

// securityGroups reads a DescribeSecurityGroups response: names, types and
// VPCs of groups, whose rules come from DescribeSecurityGroupAttribute.
func (im *importer) securityGroups(o obj) {
	for _, s := range o.items("SecurityGroups", "SecurityGroup") {
		id := s.str("SecurityGroupId")
		if id == "" {
			s.errf("SecurityGroupId", "", "a security group without SecurityGroupId")
			continue
		}
		s.entity = id
		g := im.group(id, s)
		if name := s.str("SecurityGroupName"); name != "" {
			g.name = name
		}
		if v := s.str("VpcId"); v != "" {
			g.vpcID = v
			im.vpcRefs = append(im.vpcRefs, vpcRef{v, s, "VpcId"})
		}
		switch t := strings.ToLower(s.str("SecurityGroupType")); t {
		case "", "normal":
			if t != "" {
				g.typ = "basic"
			}
		case "enterprise":
			g.typ = "enterprise"
		default:
			s.errf("SecurityGroupType", "normal, enterprise", "unknown SecurityGroupType %q", s.str("SecurityGroupType"))
		}
	}
}

// groupRef returns the fragment name of the group with this id; every
// referenced group exists by now (see placeholders).
func (im *importer) groupRef(id string) string { return im.groupByID[id].final }

// convertRules converts the permissions of every described group. Group names are
// final by now, so references resolve to them.
func (im *importer) convertRules() {
	for i := 0; i < len(im.groups); i++ { // groupRef may append groups
		g := im.groups[i]
		for _, p := range g.perms {
			p.entity = g.final
			for _, r := range im.permission(g, p) {
				k := ruleKey{r.Direction, r.Policy, r.Protocol, r.PortRange, r.Source, r.SourceGroup, r.Destination,
					r.DestinationGroup, r.SourcePortRange, r.LocalCIDR, r.NICType, r.Description, r.Priority}
				if g.seen == nil {
					g.seen = map[ruleKey]bool{}
				}
				if g.seen[k] {
					continue
				}
				g.seen[k] = true
				g.rules = append(g.rules, r)
			}
		}
	}
}

// permDirection is the direction of a Permission, lower case. Old
// responses omit it; such a rule is read by which side it sets.
func permDirection(p obj) string {
	if d := strings.ToLower(p.str("Direction")); d != "" {
		return d
	}
	for _, k := range []string{"SourceCidrIp", "SourceGroupId", "Ipv6SourceCidrIp", "SourcePrefixListId"} {
		if p.str(k) != "" {
			return "ingress"
		}
	}
	for _, k := range []string{"DestCidrIp", "DestGroupId", "Ipv6DestCidrIp", "DestPrefixListId"} {
		if p.str(k) != "" {
			return "egress"
		}
	}
	return ""
}

var protocols = map[string]bool{"tcp": true, "udp": true, "icmp": true, "gre": true, "all": true}

// permission converts one Permission to the rules it means: one, or one per
// entry of a prefix list; none when it is unsupported or wrong (reported).
func (im *importer) permission(g *group, p obj) []topology.Rule {
	resource := p.str("SecurityGroupRuleId")
	if resource == "" {
		resource = g.id
	}
	r := topology.Rule{NICType: "intranet", Origin: p.origin(resource)}
	ok := true

	switch r.Direction = permDirection(p); r.Direction {
	case "ingress", "egress":
	case "":
		p.errf("Direction", "ingress, egress", "a rule without Direction and without a source or destination")
		return nil
	default:
		p.errf("Direction", "ingress, egress", "unknown Direction %q", p.str("Direction"))
		ok = false
	}

	switch pol := strings.ToLower(p.str("Policy")); pol {
	case "":
		r.Policy = "accept"
	case "accept", "drop":
		r.Policy = pol
	default:
		p.errf("Policy", "Accept, Drop", "unknown Policy %q", p.str("Policy"))
		ok = false
	}

	r.Priority = 1
	if s := p.str("Priority"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			p.errf("Priority", "1..100 (1 is the highest)", "priority %q is not a whole number", s)
			ok = false
		case n < 1 || n > 100:
			p.errf("Priority", "1..100 (1 is the highest)", "priority %d out of range", n)
			ok = false
		}
		r.Priority = n
	}

	proto := strings.ToLower(p.str("IpProtocol"))
	switch {
	case protocols[proto]:
		r.Protocol = proto
	case proto == "icmpv6":
		p.unsupported("IpProtocol", resource, "an ICMPv6 rule (vpclab's VPC is IPv4)")
		return nil
	case proto == "":
		p.errf("IpProtocol", "TCP, UDP, ICMP, GRE, ALL", "a rule without IpProtocol")
		ok = false
	default:
		p.errf("IpProtocol", "TCP, UDP, ICMP, GRE, ALL", "unknown IpProtocol %q", p.str("IpProtocol"))
		ok = false
	}

	if p.str("PortRangeListId") != "" {
		p.unsupported("PortRangeListId", resource, "a rule on a port list (PortRangeListId); vpclab rules take one port range")
		return nil
	}
	if r.Protocol != "" {
		pr, good := portRange(p.str("PortRange"), r.Protocol == "tcp" || r.Protocol == "udp")
		if !good {
			allowed := "-1/-1"
			if r.Protocol == "tcp" || r.Protocol == "udp" {
				allowed = "start/end within 1..65535, start ≤ end"
			}
			p.errf("PortRange", allowed, "port range %q is not valid for %s", p.str("PortRange"), strings.ToUpper(r.Protocol))
			ok = false
		}
		r.PortRange = pr
	}
	if s := p.str("SourcePortRange"); s != "" && s != "-1/-1" {
		pr, good := portRange(s, true)
		if !good {
			p.errf("SourcePortRange", "start/end within 1..65535, start ≤ end", "source port range %q is not valid", s)
			ok = false
		}
		r.SourcePortRange = pr
	}

	switch nic := strings.ToLower(p.str("NicType")); nic {
	case "", "intranet":
	case "internet":
		p.unsupported("NicType", resource, "an internet NIC rule; in a VPC the cloud refuses it (InvalidNicType.NotSupported) and intranet rules apply to internet traffic too")
		return nil
	default:
		p.errf("NicType", "intranet, internet", "unknown NicType %q", p.str("NicType"))
		ok = false
	}
	r.Description = strings.Map(func(c rune) rune {
		if c == '\n' || c == '\r' || c == '\t' {
			return ' '
		}
		return c
	}, p.str("Description"))

	// The remote side and the instance side: ingress reads the source as
	// remote and DestCidrIp as the local CIDR (five-tuple rules); egress the
	// other way round.
	remote, local := "Source", "Dest"
	if r.Direction == "egress" {
		remote, local = "Dest", "Source"
	}
	for _, k := range []string{"Ipv6SourceCidrIp", "Ipv6DestCidrIp"} {
		if p.str(k) != "" {
			p.unsupported(k, resource, "an IPv6 rule (vpclab's VPC is IPv4)")
			return nil
		}
	}
	if p.str(local+"PrefixListId") != "" {
		p.unsupported(local+"PrefixListId", resource, "a prefix list on the instance side of a rule")
		return nil
	}
	if lc := p.str(local + "CidrIp"); lc != "" {
		pf, good := p.parsePrefix(local+"CidrIp", lc)
		if good && pf.Bits() > 0 {
			r.LocalCIDR = pf.String()
		}
		ok = ok && good
	}
	var remotes []string
	cidr, gid, plist := p.str(remote+"CidrIp"), p.str(remote+"GroupId"), p.str(remote+"PrefixListId")
	switch {
	case cidr != "": // the cloud takes the CIDR when both are given
		pf, good := p.parsePrefix(remote+"CidrIp", cidr)
		ok = ok && good
		remotes = []string{pf.String()}
	case gid != "":
		for _, k := range []string{remote + "GroupOwnerAccount", remote + "GroupOwnerId"} {
			if p.str(k) != "" {
				p.unsupported(k, resource, fmt.Sprintf("a reference to group %s of another account (%s %s); vpclab models one account", gid, k, p.str(k)))
				return nil
			}
		}
		name := im.groupRef(gid)
		if r.Direction == "egress" {
			r.DestinationGroup = name
		} else {
			r.SourceGroup = name
		}
	case plist != "":
		pl := im.prefixes[plist]
		if pl == nil {
			p.unsupported(remote+"PrefixListId", resource, fmt.Sprintf("prefix list %s is not in the input: add its DescribePrefixListAttributes response to import its entries", plist))
			return nil
		}
		remotes = pl.cidrs
		if len(remotes) == 0 {
			return nil // an empty prefix list matches nothing
		}
	default:
		p.errf(remote+"CidrIp", "", "a rule without %sCidrIp, %sGroupId or %sPrefixListId", remote, remote, remote)
		ok = false
	}
	if !ok {
		return nil
	}
	if remotes == nil {
		return []topology.Rule{r}
	}
	out := make([]topology.Rule, len(remotes))
	for i, c := range remotes {
		out[i] = r
		if r.Direction == "egress" {
			out[i].Destination = c
		} else {
			out[i].Source = c
		}
	}
	return out
}

// portRange normalises a PortRange: "80/80", "80" (→ "80/80") for tcp and
// udp; "-1/-1" or "" for the others.
func portRange(s string, ports bool) (string, bool) {
	if !ports {
		return "-1/-1", s == "" || s == "-1/-1"
	}
	a, b, found := strings.Cut(s, "/")
	if !found {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return s, false
	}
	return strconv.Itoa(lo) + "/" + strconv.Itoa(hi), true
}

// prefixList is a DescribePrefixListAttributes response: the CIDRs a rule
// with SourcePrefixListId/DestPrefixListId stands for.
type prefixList struct {
	id    string
	cidrs []string
}

func (im *importer) prefixListResponse(o obj) {
	id := o.str("PrefixListId")
	if id == "" {
		o.errf("PrefixListId", "", "a DescribePrefixListAttributes response without PrefixListId")
		return
	}
	o.entity = id
	if af := strings.ToLower(o.str("AddressFamily")); af == "ipv6" {
		o.unsupported("AddressFamily", id, "an IPv6 prefix list")
		return
	}
	pl := im.prefixes[id]
	if pl == nil {
		pl = &prefixList{id: id}
		im.prefixes[id] = pl
	}
	for _, e := range o.items("Entries", "Entry") {
		if pf, ok := e.prefix("Cidr"); ok && pf.IsValid() {
			pl.cidrs = append(pl.cidrs, pf.String())
		} else if ok {
			e.errf("Cidr", "", "a prefix list entry without Cidr")
		}
	}
}
