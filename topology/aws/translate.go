package aws

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/vpclab/vpclab/topology"
)

// Translate maps AWS groups, instances, subnets and VPCs onto a topology
// Fragment with the translation of the package documentation. Unsupported
// items are errors unless opts.SkipUnsupported, which lists them in
// Fragment.Skipped. The error is a topology.Errors holding every problem,
// sorted by file and position. Translate never panics.
func Translate(groups []SecurityGroup, instances []Instance, subnets []Subnet, vpcs []Vpc, opts topology.ImportOptions) (*topology.Fragment, error) {
	t := newTranslator(&report{skip: opts.SkipUnsupported})
	frag := t.translate(groups, instances, subnets, vpcs)
	if err := t.rep.err(); err != nil {
		return nil, err
	}
	return frag, nil
}

func newTranslator(rep *report) *translator {
	return &translator{rep: rep, frag: &topology.Fragment{Format: "aws"}}
}

func (t *translator) translate(groups []SecurityGroup, instances []Instance, subnets []Subnet, vpcs []Vpc) *topology.Fragment {
	t.vpcs(vpcs)
	t.subnets(subnets)
	nm := t.groupNames(groups)
	for i := range groups {
		t.group(&groups[i], nm[i])
	}
	t.instances(instances)
	t.frag.Skipped = t.rep.skipped
	return t.frag
}

type translator struct {
	rep        *report
	frag       *topology.Fragment
	vpcID      string            // the imported VPC, "" if none
	vpcNet     netip.Prefix      // its CIDR, invalid if none
	groupName  map[string]string // GroupId → fragment name
	subnetName map[string]string // SubnetId → fragment name
}

// allV4 is 0.0.0.0/0.
var allV4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// names picks a fragment name for each entity: the user's name with spaces
// as '-', else (none, unprintable, reserved, or shared by two) the id.
func names(n int, name, id func(int) string, reserved string) []string {
	out := make([]string, n)
	count := map[string]int{}
	for i := range n {
		out[i] = cleanName(name(i))
		if out[i] == reserved {
			out[i] = ""
		}
		if out[i] != "" {
			count[out[i]]++
		}
	}
	for i := range n {
		if out[i] == "" || count[out[i]] > 1 {
			out[i] = id(i)
		}
	}
	return out
}

// cleanName turns a cloud name into a topology name (no spaces), or ""
// when it holds characters no name may hold.
func cleanName(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case unicode.IsSpace(r) && !unicode.IsControl(r) || r == '\t':
			b.WriteByte('-')
		case r == unicode.ReplacementChar || !unicode.IsGraphic(r):
			return ""
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (t *translator) vpcs(vpcs []Vpc) {
	for i := range vpcs {
		v := &vpcs[i]
		if v.VpcId == "" {
			t.rep.fail(v.Origin, v.Path+".VpcId", "", "missing", "")
		}
		if i > 0 {
			t.rep.unsupported(v.Origin, v.Path, v.VpcId, fmt.Sprintf("a second VPC: vpclab models one VPC per topology (%s is imported)", vpcs[0].VpcId))
			continue
		}
		p, ok := t.prefix(v.CidrBlock, v.Origin, v.Path+".CidrBlock", v.VpcId, true)
		if !ok {
			continue
		}
		for _, c := range v.CidrBlocks {
			if q, err := netip.ParsePrefix(c.CidrBlock); err == nil && q == p {
				continue
			}
			t.rep.unsupported(orOrigin(c.Origin, v.Origin), c.Path, v.VpcId,
				fmt.Sprintf("secondary VPC CIDR %s: vpclab VPCs have one CIDR", c.CidrBlock))
		}
		t.vpcID, t.vpcNet = v.VpcId, p
		name := cleanName(nameTag(v.Tags))
		if name == "" {
			name = v.VpcId
		}
		t.frag.VPC = topology.VPC{Name: name, CIDR: p, Origin: v.Origin}
	}
}

func (t *translator) subnets(subnets []Subnet) {
	nm := names(len(subnets), func(i int) string { return nameTag(subnets[i].Tags) },
		func(i int) string { return subnets[i].SubnetId }, "")
	t.subnetName = make(map[string]string, len(subnets))
	for i := range subnets {
		s := &subnets[i]
		if s.SubnetId == "" {
			t.rep.fail(s.Origin, s.Path+".SubnetId", "", "missing: instances name their subnet by its SubnetId", "")
			continue
		}
		if _, dup := t.subnetName[s.SubnetId]; dup {
			t.rep.fail(s.Origin, s.Path+".SubnetId", s.SubnetId, "the same subnet is given twice", "")
			continue
		}
		p, ok := t.prefix(s.CidrBlock, s.Origin, s.Path+".CidrBlock", s.SubnetId, true)
		if !ok {
			continue
		}
		t.subnetName[s.SubnetId] = nm[i]
		t.frag.VSwitches = append(t.frag.VSwitches, topology.VSwitch{Name: nm[i], CIDR: p, Origin: s.Origin})
	}
}

// groupNames names the groups and returns the names. A group called
// "default" (every VPC has one) is named by its id: in vpclab "default" is
// the system group of Alibaba Cloud, with its own rules.
func (t *translator) groupNames(groups []SecurityGroup) []string {
	nm := names(len(groups), func(i int) string { return groups[i].GroupName },
		func(i int) string { return groups[i].GroupId }, "default")
	t.groupName = make(map[string]string, len(groups))
	for i := range groups {
		g := &groups[i]
		if g.GroupId == "" {
			t.rep.fail(g.Origin, g.Path+".GroupId", g.GroupName, "missing: rules and instances reference a group by its GroupId", "")
			continue
		}
		if _, dup := t.groupName[g.GroupId]; dup {
			t.rep.fail(g.Origin, g.Path+".GroupId", g.GroupId, "the same group is given twice", "")
			nm[i] = ""
			continue
		}
		t.groupName[g.GroupId] = nm[i]
	}
	return nm
}

// refName is the fragment name of a group id: the imported group's name,
// else the id itself, for the user's file to define.
func (t *translator) refName(id string) string {
	if n, ok := t.groupName[id]; ok {
		return n
	}
	return id
}

// prefix parses an IPv4 CIDR (a bare address is a /32 unless network is
// set, where a CIDR is required).
func (t *translator) prefix(s string, o topology.Origin, path, entity string, network bool) (netip.Prefix, bool) {
	if s == "" {
		t.rep.fail(o, path, entity, "missing", "an IPv4 CIDR such as 10.0.0.0/16")
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil && !network {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			p, err = netip.PrefixFrom(a, a.BitLen()), nil
		}
	}
	if err != nil || !p.Addr().Is4() {
		t.rep.fail(o, path, entity, fmt.Sprintf("%q is not an IPv4 CIDR", s), "an IPv4 CIDR such as 10.0.0.0/16")
		return netip.Prefix{}, false
	}
	return p, true
}

// traffic is what a permission allows: a protocol and destination ports in
// the topology's vocabulary.
type traffic struct {
	proto    string // tcp, udp, icmp, gre, all
	from, to int    // tcp/udp ports; 0, 0 otherwise
}

func (tr traffic) portRange() string {
	if tr.proto == "tcp" || tr.proto == "udp" {
		return fmt.Sprintf("%d/%d", tr.from, tr.to)
	}
	return "-1/-1"
}

func (tr traffic) String() string {
	if tr.proto == "tcp" || tr.proto == "udp" {
		return tr.proto + " " + tr.portRange()
	}
	return tr.proto
}

// covers reports whether tr allows all of o.
func (tr traffic) covers(o traffic) bool {
	return tr.proto == "all" || tr.proto == o.proto && tr.from <= o.from && o.to <= tr.to
}

// traffic translates a permission's protocol and ports; ok false when it
// cannot (the error or unsupported entry is recorded).
func (t *translator) traffic(g *SecurityGroup, p *Permission) (traffic, bool) {
	const allowed = "-1 (all), tcp (6), udp (17), icmp (1), 47 (gre)"
	proto := strings.ToLower(strings.TrimSpace(p.IpProtocol))
	if n, err := strconv.Atoi(proto); err == nil && n >= 0 {
		proto = strconv.Itoa(n) // "006" is 6
	}
	path := p.Path + ".IpProtocol"
	switch proto {
	case "":
		t.rep.fail(p.Origin, path, g.GroupId, "missing", allowed)
		return traffic{}, false
	case "-1", "all":
		return traffic{proto: "all"}, true
	case "tcp", "6", "udp", "17":
		name := map[string]string{"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}[proto]
		if p.FromPort == nil || p.ToPort == nil {
			t.rep.fail(p.Origin, p.Path+".FromPort", g.GroupId, name+" needs FromPort and ToPort", "0..65535")
			return traffic{}, false
		}
		from, to := *p.FromPort, *p.ToPort
		if from == -1 && to == -1 {
			from, to = 0, 65535
		}
		if from < 0 || to < from {
			t.rep.fail(p.Origin, p.Path+".FromPort", g.GroupId, fmt.Sprintf("port range %d..%d is not a range", from, to), "0 <= FromPort <= ToPort <= 65535")
			return traffic{}, false
		}
		if to == 0 {
			t.rep.unsupported(p.Origin, p.Path+".ToPort", g.GroupId, "port 0 only: vpclab ports are 1..65535")
			return traffic{}, false
		}
		return traffic{proto: name, from: max(from, 1), to: to}, true
	case "icmp", "1":
		if p.FromPort != nil && *p.FromPort != -1 || p.ToPort != nil && *p.ToPort != -1 {
			t.rep.unsupported(p.Origin, p.Path+".FromPort", g.GroupId, fmt.Sprintf(
				"ICMP type %s code %s: vpclab rules match all of ICMP (port_range -1/-1), not a type or code",
				portText(p.FromPort), portText(p.ToPort)))
			return traffic{}, false
		}
		return traffic{proto: "icmp"}, true
	case "47", "gre":
		return traffic{proto: "gre"}, true
	case "icmpv6", "58":
		t.rep.unsupported(p.Origin, path, g.GroupId, "ICMPv6: vpclab is IPv4 only")
		return traffic{}, false
	}
	if n, err := strconv.Atoi(proto); err == nil && n >= 0 && n <= 255 {
		t.rep.unsupported(p.Origin, path, g.GroupId, fmt.Sprintf("IP protocol %d: vpclab rules match tcp, udp, icmp, gre or all", n))
		return traffic{}, false
	}
	t.rep.fail(p.Origin, path, g.GroupId, fmt.Sprintf("unknown protocol %q", p.IpProtocol), allowed)
	return traffic{}, false
}

func portText(p *int) string {
	if p == nil {
		return "-1"
	}
	return strconv.Itoa(*p)
}

// selfRef is a permission that references its own group.
type selfRef struct {
	dir  string
	tr   traffic
	pair *UserIdGroupPair
	perm *Permission
}

// group translates one group; with an empty name (a duplicate, or no id)
// its rules are still checked but it is not added.
func (t *translator) group(g *SecurityGroup, name string) {
	sg := topology.SecurityGroup{Name: name, Type: "basic", Origin: g.Origin}
	var selfs []selfRef
	for _, dir := range []string{"ingress", "egress"} {
		perms := g.IpPermissions
		if dir == "egress" {
			perms = g.IpPermissionsEgress
		}
		for i := range perms {
			selfs = append(selfs, t.permission(g, &sg, dir, &perms[i])...)
		}
	}
	sg.InnerAccess = t.selfRefs(g, &sg, selfs)
	if !t.allowsAll(&sg, "egress", traffic{proto: "all"}, allV4) {
		sg.Rules = append(sg.Rules, topology.Rule{Direction: "egress", Policy: "drop", Priority: 100,
			Protocol: "all", PortRange: "-1/-1", Destination: "0.0.0.0/0",
			Description: "AWS denies egress that no rule allows (added by the import)", Origin: g.Origin})
	}
	if name != "" && g.GroupId != "" {
		t.frag.SecurityGroups = append(t.frag.SecurityGroups, sg)
	}
}

// permission adds the rules of one permission to sg and returns its
// self-references, which selfRefs decides.
func (t *translator) permission(g *SecurityGroup, sg *topology.SecurityGroup, dir string, p *Permission) []selfRef {
	tr, ok := t.traffic(g, p)
	if !ok {
		return nil
	}
	rule := func(o topology.Origin, desc string) topology.Rule {
		if o.IsZero() {
			o = p.Origin
		}
		return topology.Rule{Direction: dir, Policy: "accept", Priority: 1, Protocol: tr.proto,
			PortRange: tr.portRange(), Description: cleanText(desc), Origin: o}
	}
	for i := range p.IpRanges {
		r := &p.IpRanges[i]
		o := r.Origin
		if o.IsZero() {
			o = p.Origin
		}
		pfx, ok := t.prefix(r.CidrIp, o, r.Path+".CidrIp", g.GroupId, false)
		if !ok {
			continue
		}
		out := rule(r.Origin, r.Description)
		if dir == "ingress" {
			out.Source = pfx.String()
		} else {
			out.Destination = pfx.String()
		}
		sg.Rules = append(sg.Rules, out)
	}
	for i := range p.Ipv6Ranges {
		r := &p.Ipv6Ranges[i]
		t.rep.unsupported(orOrigin(r.Origin, p.Origin), r.Path, g.GroupId,
			fmt.Sprintf("IPv6 range %s: vpclab is IPv4 only", r.CidrIpv6))
	}
	for i := range p.PrefixListIds {
		r := &p.PrefixListIds[i]
		t.rep.unsupported(orOrigin(r.Origin, p.Origin), r.Path, g.GroupId, fmt.Sprintf(
			"prefix list %s: its CIDRs are not in this output (list them as IpRanges, or describe them in your topology)", r.PrefixListId))
	}
	var selfs []selfRef
	for i := range p.UserIdGroupPairs {
		r := &p.UserIdGroupPairs[i]
		o := orOrigin(r.Origin, p.Origin)
		switch {
		case r.VpcPeeringConnectionId != "":
			t.rep.unsupported(o, r.Path, g.GroupId, fmt.Sprintf(
				"group %s across VPC peering %s: vpclab models one VPC", r.GroupId, r.VpcPeeringConnectionId))
			continue
		case r.UserId != "" && g.OwnerId != "" && r.UserId != g.OwnerId:
			t.rep.unsupported(o, r.Path, g.GroupId, fmt.Sprintf(
				"group %s of account %s: cross-account group references are not modelled", r.GroupId, r.UserId))
			continue
		case r.GroupId == "":
			t.rep.fail(o, r.Path+".GroupId", g.GroupId, "missing: a group is referenced by its GroupId", "")
			continue
		case r.GroupId == g.GroupId:
			selfs = append(selfs, selfRef{dir: dir, tr: tr, pair: r, perm: p})
			continue
		}
		out := rule(r.Origin, r.Description)
		if dir == "ingress" {
			out.SourceGroup = t.refName(r.GroupId)
		} else {
			out.DestinationGroup = t.refName(r.GroupId)
		}
		sg.Rules = append(sg.Rules, out)
	}
	return selfs
}

func orOrigin(o, fallback topology.Origin) topology.Origin {
	if o.IsZero() {
		return fallback
	}
	return o
}

// cleanText keeps a description printable on one line.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == unicode.ReplacementChar:
			return '?'
		case unicode.IsSpace(r):
			return ' '
		case !unicode.IsGraphic(r):
			return -1
		}
		return r
	}, s)
}

// allowsAll reports whether sg has an accept rule in dir allowing all of tr
// to or from every address of within (a CIDR rule whose prefix holds it).
func (t *translator) allowsAll(sg *topology.SecurityGroup, dir string, tr traffic, within netip.Prefix) bool {
	for i := range sg.Rules {
		r := &sg.Rules[i]
		remote := r.Source
		if dir == "egress" {
			remote = r.Destination
		}
		if r.Direction != dir || r.Policy != "accept" || remote == "" {
			continue
		}
		p, err := netip.ParsePrefix(remote)
		if err != nil || p.Bits() > within.Bits() || !p.Masked().Contains(within.Addr()) {
			continue
		}
		rt := traffic{proto: r.Protocol}
		if r.Protocol == "tcp" || r.Protocol == "udp" {
			if _, err := fmt.Sscanf(r.PortRange, "%d/%d", &rt.from, &rt.to); err != nil {
				continue
			}
		}
		if rt.covers(tr) {
			return true
		}
	}
	return false
}

// members is the narrowest CIDR known to hold every member of g: the
// imported VPC's when g is in it, else 0.0.0.0/0.
func (t *translator) members(g *SecurityGroup) netip.Prefix {
	if t.vpcNet.IsValid() && (g.VpcId == "" || g.VpcId == t.vpcID) {
		return t.vpcNet
	}
	return allV4
}

// selfRefs decides the group's inner_access from its self-references (see
// the package documentation) and reports those it cannot express.
func (t *translator) selfRefs(g *SecurityGroup, sg *topology.SecurityGroup, selfs []selfRef) string {
	within := t.members(g)
	var inAll, outAll bool
	for _, s := range selfs {
		inAll = inAll || s.dir == "ingress" && s.tr.proto == "all"
		outAll = outAll || s.dir == "egress" && s.tr.proto == "all"
	}
	egressToMembers := outAll || t.allowsAll(sg, "egress", traffic{proto: "all"}, within)
	inner := "drop"
	if inAll && egressToMembers {
		inner = "accept"
	}
	for _, s := range selfs {
		if inner == "accept" || t.allowsAll(sg, s.dir, s.tr, within) {
			continue // inner_access accept, or a CIDR rule of the same group, allows it already
		}
		o := orOrigin(s.pair.Origin, s.perm.Origin)
		var why string
		switch {
		case s.dir == "ingress" && s.tr.proto == "all":
			why = "the group lets its members in on all traffic, but its egress rules do not let all traffic out to them; " +
				"vpclab's inner_access: accept would allow both, and a rule may not reference its own group"
		case s.dir == "egress" && s.tr.proto == "all":
			why = "the group lets all traffic out to its members but not all traffic in from them; " +
				"vpclab's inner_access: accept would allow both, and a rule may not reference its own group"
		default:
			why = fmt.Sprintf("a self-reference limited to %s: vpclab's inner_access is all traffic or none, "+
				"and a rule may not reference its own group (InvalidParameter.Conflict)", s.tr)
		}
		t.rep.unsupported(o, s.pair.Path, g.GroupId, why)
	}
	return inner
}

func (t *translator) instances(instances []Instance) {
	live := make([]*Instance, 0, len(instances))
	for i := range instances {
		switch instances[i].State {
		case "terminated", "shutting-down":
			// Gone, or going: not part of the network.
		default:
			live = append(live, &instances[i])
		}
	}
	nm := names(len(live), func(i int) string { return nameTag(live[i].Tags) },
		func(i int) string { return live[i].InstanceId }, "")
	seen := make(map[string]bool, len(live))
	for i, in := range live {
		out := topology.Instance{Name: nm[i], Origin: in.Origin}
		// The instance's index is not the first of its path
		// (Reservations[0].Instances[1]): its id goes in the message.
		fail := func(o topology.Origin, field, msg string) {
			t.rep.fail(o, in.Path+"."+field, "", "instance "+in.InstanceId+": "+msg, "")
		}
		if in.InstanceId == "" {
			fail(in.Origin, "InstanceId", "missing")
		} else if seen[in.InstanceId] {
			fail(in.Origin, "InstanceId", "the same instance is given twice")
			continue
		}
		seen[in.InstanceId] = true
		if in.SubnetId == "" {
			fail(in.Origin, "SubnetId", "missing: the instance's subnet decides its vswitch")
			continue
		}
		out.VSwitch = in.SubnetId
		if n, ok := t.subnetName[in.SubnetId]; ok {
			out.VSwitch = n
		}
		if in.PrivateIpAddress == "" {
			out.Assigned = append(out.Assigned, "ip")
		} else if a, err := netip.ParseAddr(in.PrivateIpAddress); err != nil || !a.Is4() {
			fail(in.Origin, "PrivateIpAddress", fmt.Sprintf("%q is not an IPv4 address", in.PrivateIpAddress))
		} else {
			out.IP = a
		}
		if in.PublicIpAddress != "" {
			if a, err := netip.ParseAddr(in.PublicIpAddress); err != nil || !a.Is4() {
				fail(in.Origin, "PublicIpAddress", fmt.Sprintf("%q is not an IPv4 address", in.PublicIpAddress))
			} else {
				out.EIP = a
			}
		}
		if len(in.SecurityGroups) == 0 {
			fail(in.Origin, "SecurityGroups",
				"lists no security group (an AWS instance always has one; vpclab would put it in Alibaba Cloud's default group)")
		}
		for _, g := range in.SecurityGroups {
			if g.GroupId == "" {
				t.rep.fail(orOrigin(g.Origin, in.Origin), g.Path+".GroupId", "", "instance "+in.InstanceId+": missing", "")
				continue
			}
			out.SecurityGroups = append(out.SecurityGroups, t.refName(g.GroupId))
		}
		for j := 1; j < len(in.NetworkInterfaces); j++ {
			t.rep.unsupported(in.Origin, fmt.Sprintf("%s.NetworkInterfaces[%d]", in.Path, j), "",
				fmt.Sprintf("instance %s: a second network interface (%s): vpclab instances have one NIC", in.InstanceId, in.NetworkInterfaces[j]))
		}
		t.frag.Instances = append(t.frag.Instances, out)
	}
}
