package ros

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

type firewallError = firewall.Error

// The resource types the import reads. The older ALIYUN::ECS:: names of EIP
// and NAT entries are read as their ALIYUN::VPC:: successors.
const (
	typeVPC           = "ALIYUN::ECS::VPC"
	typeVSwitch       = "ALIYUN::ECS::VSwitch"
	typeSecurityGroup = "ALIYUN::ECS::SecurityGroup"
	typeIngress       = "ALIYUN::ECS::SecurityGroupIngress"
	typeEgress        = "ALIYUN::ECS::SecurityGroupEgress"
	typeInstance      = "ALIYUN::ECS::Instance"
	typeInstanceGroup = "ALIYUN::ECS::InstanceGroup"
	typeEIP           = "ALIYUN::VPC::EIP"
	typeEIPOld        = "ALIYUN::ECS::EIP"
	typeEIPAssoc      = "ALIYUN::VPC::EIPAssociation"
	typeNAT           = "ALIYUN::VPC::NatGateway"
	typeSNAT          = "ALIYUN::VPC::SnatEntry"
	typeDNAT          = "ALIYUN::VPC::ForwardEntry"
)

var aliases = map[string]string{
	"ALIYUN::ECS::EIPAssociation": typeEIPAssoc,
	"ALIYUN::ECS::NatGateway":     typeNAT,
	"ALIYUN::ECS::SNatEntry":      typeSNAT,
	"ALIYUN::ECS::ForwardEntry":   typeDNAT,
}

// unsupportedTypes decide reachability in ways vpclab does not model.
var unsupportedTypes = map[string]string{
	"ALIYUN::ECS::NetworkInterface":           "secondary network interfaces are not modelled; an instance has one NIC",
	"ALIYUN::ECS::NetworkInterfaceAttachment": "secondary network interfaces are not modelled; an instance has one NIC",
	"ALIYUN::ECS::Route":                      "custom routes (to an instance or elsewhere) are not modelled",
	"ALIYUN::VPC::RouteEntry":                 "custom routes (to an instance or elsewhere) are not modelled",
	"ALIYUN::ECS::PrefixList":                 "prefix lists are not supported in rules",
	"ALIYUN::ECS::SecurityGroupClone":         "a clone copies a group that exists outside the template",
	"ALIYUN::ECS::InstanceClone":              "a clone copies an instance that exists outside the template",
	"ALIYUN::ECS::InstanceGroupClone":         "a clone copies an instance that exists outside the template",
	"ALIYUN::VPC::CommonBandwidthPackageIp":   "EIPs shared through a bandwidth package are not modelled",
}

// The properties each type's import reads; a property that is not in its
// type's list but close to one of these is a typo, reported with the name
// it resembles (the others — images, disks, passwords — are ignored).
var relevant = map[string][]string{
	typeVPC:           {"CidrBlock", "VpcName"},
	typeVSwitch:       {"VpcId", "CidrBlock", "VSwitchName", "ZoneId"},
	typeSecurityGroup: {"VpcId", "SecurityGroupName", "SecurityGroupType", "SecurityGroupIngress", "SecurityGroupEgress", "InnerAccessPolicy"},
	typeInstance: {"VSwitchId", "VpcId", "SecurityGroupId", "SecurityGroupIds", "PrivateIpAddress", "InstanceName",
		"AllocatePublicIP", "InternetMaxBandwidthOut", "NetworkType"},
	typeInstanceGroup: {"VSwitchId", "VpcId", "SecurityGroupId", "SecurityGroupIds", "PrivateIpAddress", "InstanceName",
		"AllocatePublicIP", "InternetMaxBandwidthOut", "NetworkType", "MaxAmount"},
	typeEIPAssoc: {"AllocationId", "InstanceId", "InstanceType", "PrivateIpAddress"},
	typeNAT:      {"VpcId", "VSwitchId", "NatGatewayName"},
	typeSNAT:     {"SnatTableId", "SNatTableId", "SourceVSwitchId", "SourceVSwitchIds", "SourceCIDR", "SnatIp", "SNatIp", "SnatEntryName"},
	typeDNAT: {"ForwardTableId", "ExternalIp", "ExternalPort", "IpProtocol", "InternalIp", "InternalPort",
		"ForwardEntryName", "PortBreak"},
}

// knownOthers are real properties that are one or two edits from one the
// import reads: not typos.
var knownOthers = []string{"MinAmount", "ZoneIds", "VpcIds", "InstanceIds", "HostName", "HostNames"}

// Rule properties, all known (rules are read strictly: a misspelt
// SourceCidrIp would silently open nothing).
var ingressKeys = []string{"IpProtocol", "PortRange", "SourceCidrIp", "SourceGroupId", "SourceGroupOwnerId",
	"SourceGroupOwnerAccount", "SourcePortRange", "DestCidrIp", "Policy", "Priority", "NicType", "Description",
	"Ipv6SourceCidrIp", "Ipv6DestCidrIp", "SourcePrefixListId"}
var egressKeys = []string{"IpProtocol", "PortRange", "DestCidrIp", "DestGroupId", "DestGroupOwnerId",
	"DestGroupOwnerAccount", "SourcePortRange", "SourceCidrIp", "Policy", "Priority", "NicType", "Description",
	"Ipv6DestCidrIp", "Ipv6SourceCidrIp", "DestPrefixListId"}

// builder turns a template's resources into a fragment.
type builder struct {
	t    *template
	errs *errList
	file string
	frag *topology.Fragment

	vpc       string
	vswitches map[string]int   // logical id → index
	groups    map[string]int   // logical id → index
	instances map[string][]int // logical id → indexes (an InstanceGroup has several)
	nats      map[string]int
	natEIP    map[string]string // NAT gateway → the EIP resource that is its address
	eipOf     map[string]string // EIP resource → what it is associated with
	echoing   []string          // Res.Property being evaluated, for cycles
}

func newBuilder(t *template, file string, errs *errList) *builder {
	return &builder{t: t, errs: errs, file: file, frag: &topology.Fragment{Format: "ros"},
		vswitches: map[string]int{}, groups: map[string]int{}, instances: map[string][]int{},
		nats: map[string]int{}, natEIP: map[string]string{}, eipOf: map[string]string{}}
}

func (b *builder) origin(n *node, res string) topology.Origin {
	return topology.Origin{File: b.file, Line: n.line, Column: n.col, Resource: res}
}

// build reads the resources type by type (what an instance refers to is
// read before it), each type in file order.
func (b *builder) build() {
	for _, r := range b.t.order {
		if a, ok := aliases[r.typ]; ok {
			r.typ = a
		}
		if r.typ == typeEIPOld {
			r.typ = typeEIP
		}
	}
	phases := []struct {
		types []string
		fn    func(*resource)
	}{
		{[]string{typeVPC}, b.vpcRes}, {[]string{typeVSwitch}, b.vswitch}, {[]string{typeSecurityGroup}, b.group},
		{[]string{typeIngress, typeEgress}, b.ruleRes}, {[]string{typeInstance, typeInstanceGroup}, b.instance},
		{[]string{typeNAT}, b.nat}, {[]string{typeEIPAssoc}, b.eipAssoc}, {[]string{typeSNAT}, b.snat},
		{[]string{typeDNAT}, b.dnat},
	}
	for _, r := range b.t.order {
		if why, ok := unsupportedTypes[r.typ]; ok && r.on {
			b.errs.unsupported(r.at, "Resources."+r.id+".Type", r.id, r.typ, why)
		}
	}
	for _, ph := range phases {
		for _, r := range b.t.order {
			if !slices.Contains(ph.types, r.typ) || !r.on {
				continue
			}
			if c := r.decl.get("Count"); c != nil {
				b.errs.unsupported(c, "Resources."+r.id+".Count", r.id, "Count", "a resource with Count is not imported; use an InstanceGroup for instances")
				continue
			}
			b.typos(r)
			ph.fn(r)
		}
	}
}

// closest is the candidate within two edits of s (any case), or "": a
// property that close to one the import reads is taken for a typo of it.
func closest(s string, candidates []string) string {
	for _, c := range candidates {
		if len(s) >= 5 && topology.EditDistance(strings.ToLower(s), strings.ToLower(c)) <= 2 {
			return c
		}
	}
	return ""
}

// typos reports properties close to, but not, one the import reads.
func (b *builder) typos(r *resource) {
	rel := relevant[r.typ]
	if r.props == nil || rel == nil {
		return
	}
	for i, k := range r.props.keys {
		if slices.Contains(rel, k) || slices.Contains(knownOthers, k) {
			continue
		}
		if s := closest(k, rel); s != "" {
			b.errs.add(r.props.kpos[i], "Resources."+r.id+".Properties."+k, r.id,
				fmt.Sprintf("unknown property %s of %s; did you mean %s?", k, r.typ, s), "")
		}
	}
}

// prop evaluates one property. present is false when the template does not
// give it (or gives ALIYUN::NoValue or null); when it is true, v is nil if
// the value could not be evaluated (the error is reported).
func (b *builder) prop(r *resource, key string) (v *node, c ctx, present bool) {
	c = ctx{"Resources." + r.id + ".Properties." + key, r.id}
	if r.props == nil {
		return nil, c, false
	}
	raw := r.props.get(key)
	if raw == nil {
		return nil, c, false
	}
	v = b.t.eval(raw, c, 0)
	if v == noValue || (v != nil && v.kind == kNull) {
		return nil, c, false
	}
	return v, c, true // v is nil after an error, reported
}

// scalar is a property's text, for values that must be literal: a value
// only the cloud knows is an error saying so.
func (b *builder) scalar(v *node, c ctx) (string, bool) {
	if v == nil {
		return "", false
	}
	switch v.kind {
	case kString:
		return v.s, true
	case kRef:
		if prop, ok := echoes[b.t.resources[v.ref.res].typ][v.ref.attr]; ok && !v.computed {
			return b.echo(v, prop, c)
		}
		b.errs.add(v, c.path, c.entity, fmt.Sprintf("the value comes from %s, which the cloud assigns at creation and an offline import cannot know; write the value itself", v.ref), "")
	default:
		b.errs.add(v, c.path, c.entity, "needs a single value; got "+v.describe(), "")
	}
	return "", false
}

// echoes are the attributes that give back a property of their resource:
// Fn::GetAtt [Vpc, CidrBlock] is the CidrBlock the template gives the VPC.
var echoes = map[string]map[string]string{
	typeVPC:      {"CidrBlock": "CidrBlock"},
	typeVSwitch:  {"CidrBlock": "CidrBlock"},
	typeInstance: {"PrivateIp": "PrivateIpAddress", "InnerIp": "PrivateIpAddress"},
}

// echo evaluates the property an attribute gives back, detecting cycles
// (a vswitch whose CidrBlock is its own Fn::GetAtt).
func (b *builder) echo(v *node, prop string, c ctx) (string, bool) {
	res := b.t.resources[v.ref.res]
	key := res.id + "." + prop
	if i := slices.Index(b.echoing, key); i >= 0 {
		b.errs.add(v, c.path, c.entity, fmt.Sprintf("a cycle of Fn::GetAtt: %s → %s", strings.Join(b.echoing[i:], " → "), key), "")
		return "", false
	}
	pv, pc, present := b.prop(res, prop)
	if !present {
		if res.typ == typeVPC {
			return "172.16.0.0/12", true // the cloud's default
		}
		b.errs.add(v, c.path, c.entity, fmt.Sprintf("the %s of %s is assigned by the cloud and cannot be known offline; give %s a %s", v.ref.attr, res.id, res.id, prop), "")
		return "", false
	}
	b.echoing = append(b.echoing, key)
	defer func() { b.echoing = b.echoing[:len(b.echoing)-1] }()
	return b.scalar(pv, pc)
}

// target is the resource a property refers to (Ref X, Fn::GetAtt X.Id),
// which must be of one of the types; a literal id (vsw-..., sg-...) names
// something outside the template, returned as lit for the caller to decide.
func (b *builder) target(v *node, c ctx, types ...string) (r ref, lit string, ok bool) {
	if v == nil {
		return ref{}, "", false
	}
	switch {
	case v.kind == kString:
		return ref{}, v.s, true
	case v.kind == kRef && !v.computed:
		res := b.t.resources[v.ref.res]
		if slices.Contains(types, res.typ) {
			return v.ref, "", true
		}
		if res.typ == "ALIYUN::ROS::Stack" {
			b.errs.add(v, c.path, c.entity, fmt.Sprintf("comes from the outputs of nested stack %s, which an offline import does not read; import the nested template, or pass the value with --param", v.ref.res), "")
			return ref{}, "", false
		}
		b.errs.add(v, c.path, c.entity, fmt.Sprintf("refers to %s, a %s; needs a %s", v.ref.res, res.typ, strings.Join(types, " or ")), "")
	case v.kind == kRef:
		b.errs.add(v, c.path, c.entity, fmt.Sprintf("is a string computed from %s, which the cloud assigns; refer to the resource itself (Ref or Fn::GetAtt)", v.ref), "")
	default:
		b.errs.add(v, c.path, c.entity, "needs a resource reference or an id; got "+v.describe(), "")
	}
	return ref{}, "", false
}

func (b *builder) vpcRes(r *resource) {
	if b.vpc != "" {
		b.errs.unsupported(r.at, "Resources."+r.id, r.id, r.id, fmt.Sprintf("a second VPC (the first is %s); a topology has one VPC", b.vpc))
		return
	}
	b.vpc = r.id
	cidr := netip.MustParsePrefix("172.16.0.0/12") // the cloud's default
	if v, c, ok := b.prop(r, "CidrBlock"); ok {
		s, ok := b.scalar(v, c)
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			b.errs.add(v, c.path, r.id, fmt.Sprintf("CidrBlock %q is not a CIDR block", s), "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or a subnet of them")
			return
		}
		cidr = p
	}
	b.frag.VPC = topology.VPC{Name: r.id, CIDR: cidr, Origin: b.origin(r.at, r.id)}
}

func (b *builder) vswitch(r *resource) {
	v, c, ok := b.prop(r, "CidrBlock")
	if !ok {
		b.errs.add(r.at, c.path, r.id, "a vswitch needs CidrBlock", "")
		return
	}
	s, ok := b.scalar(v, c)
	if !ok {
		return
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		b.errs.add(v, c.path, r.id, fmt.Sprintf("CidrBlock %q is not a CIDR block", s), "")
		return
	}
	b.vswitches[r.id] = len(b.frag.VSwitches)
	b.frag.VSwitches = append(b.frag.VSwitches, topology.VSwitch{Name: r.id, CIDR: p, Origin: b.origin(r.at, r.id)})
}

func (b *builder) group(r *resource) {
	g := topology.SecurityGroup{Name: r.id, Type: "basic", Origin: b.origin(r.at, r.id)}
	if v, c, ok := b.prop(r, "SecurityGroupType"); ok {
		if s, ok := b.scalar(v, c); ok {
			switch strings.ToLower(s) {
			case "normal":
				g.Type = "basic"
			case "enterprise":
				g.Type = "enterprise"
			default:
				b.errs.add(v, c.path, r.id, fmt.Sprintf("unknown SecurityGroupType %q", s), "normal, enterprise")
			}
		}
	}
	if v, c, ok := b.prop(r, "InnerAccessPolicy"); ok {
		if s, ok := b.scalar(v, c); ok {
			switch strings.ToLower(s) {
			case "accept", "drop":
				g.InnerAccess = strings.ToLower(s)
			default:
				b.errs.add(v, c.path, r.id, fmt.Sprintf("unknown InnerAccessPolicy %q", s), "Accept, Drop")
			}
		}
	}
	b.groups[r.id] = len(b.frag.SecurityGroups)
	b.frag.SecurityGroups = append(b.frag.SecurityGroups, g)
	gi := len(b.frag.SecurityGroups) - 1
	for _, dir := range []string{"ingress", "egress"} {
		key := "SecurityGroupIngress"
		if dir == "egress" {
			key = "SecurityGroupEgress"
		}
		v, c, ok := b.prop(r, key)
		if !ok || v == nil {
			continue // absent, or its error is reported
		}
		if v.kind != kList {
			b.errs.add(v, c.path, r.id, key+" is a list of rules; got "+v.describe(), "")
			continue
		}
		for i, item := range v.list {
			ic := c.at(fmt.Sprintf("[%d]", i))
			if item.kind != kMap {
				b.errs.add(item, ic.path, r.id, "a rule is a mapping; got "+item.describe(), "")
				continue
			}
			if rule, ok := b.rule(item, dir, ic, r.id, nil); ok {
				b.frag.SecurityGroups[gi].Rules = append(b.frag.SecurityGroups[gi].Rules, rule)
			}
		}
	}
}

// ruleRes reads an ALIYUN::ECS::SecurityGroupIngress/Egress resource: a rule
// added to a group of the template (or, by id, to a group the user's file
// names so).
func (b *builder) ruleRes(r *resource) {
	dir := "ingress"
	if r.typ == typeEgress {
		dir = "egress"
	}
	c := ctx{"Resources." + r.id + ".Properties", r.id}
	if r.props == nil {
		b.errs.add(r.at, c.path, r.id, "a rule needs Properties with SecurityGroupId, IpProtocol and PortRange", "")
		return
	}
	props := b.t.eval(r.props, c, 0)
	if props == nil {
		return
	}
	sg := props.get("SecurityGroupId")
	sc := c.at("SecurityGroupId")
	if sg == nil {
		b.errs.add(r.at, sc.path, r.id, "a rule needs SecurityGroupId", "")
		return
	}
	tr, lit, ok := b.target(sg, sc, typeSecurityGroup)
	if !ok {
		return
	}
	rule, ok := b.rule(props, dir, c, r.id, []string{"SecurityGroupId"})
	if !ok {
		return
	}
	rule.Origin = b.origin(r.at, r.id)
	if lit != "" {
		b.errs.unsupported(sg, sc.path, r.id, "SecurityGroupId",
			fmt.Sprintf("a rule added to group %s, which the template does not create (import the group too, or write the rule in your topology)", lit))
		return
	}
	gi := b.groups[tr.res]
	b.frag.SecurityGroups[gi].Rules = append(b.frag.SecurityGroups[gi].Rules, rule)
}

// ruleFields maps the topology rule fields to the ROS properties, per
// direction, for error positions.
func rosField(dir, field string) string {
	switch field {
	case "protocol":
		return "IpProtocol"
	case "port_range":
		return "PortRange"
	case "policy":
		return "Policy"
	case "priority":
		return "Priority"
	case "nic_type":
		return "NicType"
	case "source_port_range":
		return "SourcePortRange"
	case "description":
		return "Description"
	case "source":
		return "SourceCidrIp"
	case "destination":
		return "DestCidrIp"
	case "source_group":
		return "SourceGroupId"
	case "destination_group":
		return "DestGroupId"
	case "local_cidr":
		if dir == "ingress" {
			return "DestCidrIp"
		}
		return "SourceCidrIp"
	}
	return ""
}

// rule reads one rule, inline or a resource's properties (extra are the
// resource's own keys), and checks it as the loader will, so that a bad
// value is reported at its place in the template.
func (b *builder) rule(m *node, dir string, c ctx, entity string, extra []string) (topology.Rule, bool) {
	keys := ingressKeys
	if dir == "egress" {
		keys = egressKeys
	}
	ok := true
	for i, k := range m.keys {
		if slices.Contains(keys, k) || slices.Contains(extra, k) {
			continue
		}
		msg := fmt.Sprintf("unknown %s rule property %s", dir, k)
		if s := suggest(k, keys); s != "" {
			msg += "; did you mean " + s + "?"
		}
		b.errs.add(m.vals[i], c.at(k).path, entity, msg, strings.Join(keys, ", "))
		ok = false
	}
	for _, k := range []string{"Ipv6SourceCidrIp", "Ipv6DestCidrIp"} {
		if v := m.get(k); v != nil && v.kind != kNull {
			b.errs.unsupported(v, c.at(k).path, entity, k, "IPv6 rules (the VPC is IPv4)")
			return topology.Rule{}, false
		}
	}
	for _, k := range []string{"SourcePrefixListId", "DestPrefixListId"} {
		if v := m.get(k); v != nil && v.kind != kNull {
			b.errs.unsupported(v, c.at(k).path, entity, k, "prefix lists in rules")
			return topology.Rule{}, false
		}
	}
	for _, k := range []string{"SourceGroupOwnerId", "SourceGroupOwnerAccount", "DestGroupOwnerId", "DestGroupOwnerAccount"} {
		if v := m.get(k); v != nil && v.kind != kNull && !(v.kind == kString && v.s == "") {
			b.errs.unsupported(v, c.at(k).path, entity, k, "a group of another account")
			return topology.Rule{}, false
		}
	}
	if !ok {
		return topology.Rule{}, false
	}
	text := func(k string) (string, bool) {
		v := m.get(k)
		if v == nil || v.kind == kNull {
			return "", true
		}
		return b.scalar(v, c.at(k))
	}
	rule := topology.Rule{Direction: dir, Origin: b.origin(m, entity)}
	fields := map[string]string{"direction": dir}
	set := func(field, key string, dst *string) {
		s, good := text(key)
		if !good {
			ok = false
			return
		}
		if s != "" {
			*dst = s
			fields[field] = s
		}
	}
	set("protocol", "IpProtocol", &rule.Protocol)
	set("port_range", "PortRange", &rule.PortRange)
	set("policy", "Policy", &rule.Policy)
	set("nic_type", "NicType", &rule.NICType)
	set("source_port_range", "SourcePortRange", &rule.SourcePortRange)
	set("description", "Description", &rule.Description)
	// The cloud's defaults, written out: accept, priority 1, intranet.
	rule.Protocol = strings.ToLower(rule.Protocol)
	rule.Policy = cmpOr(strings.ToLower(rule.Policy), "accept")
	rule.NICType = cmpOr(strings.ToLower(rule.NICType), "intranet")
	rule.Priority = 1
	if rule.Protocol == "icmpv6" {
		b.errs.unsupported(m.get("IpProtocol"), c.at("IpProtocol").path, entity, "IpProtocol", "IPv6 rules (ICMPv6; the VPC is IPv4)")
		return topology.Rule{}, false
	}
	if rule.NICType == "internet" {
		b.errs.unsupported(m.get("NicType"), c.at("NicType").path, entity, "NicType",
			"internet NIC rules in a VPC (in a VPC the intranet rules apply to internet traffic too)")
		return topology.Rule{}, false
	}
	if p, good := text("Priority"); !good {
		ok = false
	} else if p != "" {
		fields["priority"] = p
		n, err := strconv.Atoi(p)
		if err != nil {
			n = -1 // reported by the check below
		}
		rule.Priority = n
	}
	cidrKey, groupKey, localKey := "SourceCidrIp", "SourceGroupId", "DestCidrIp"
	cidrField, groupField := "source", "source_group"
	if dir == "egress" {
		cidrKey, groupKey, localKey = "DestCidrIp", "DestGroupId", "SourceCidrIp"
		cidrField, groupField = "destination", "destination_group"
	}
	if v := m.get(cidrKey); v != nil && v.kind != kNull {
		s, good := b.address(v, c.at(cidrKey))
		if !good {
			return topology.Rule{}, false
		}
		fields[cidrField] = s
		if dir == "ingress" {
			rule.Source = s
		} else {
			rule.Destination = s
		}
	}
	if v := m.get(localKey); v != nil && v.kind != kNull {
		s, good := b.address(v, c.at(localKey))
		if !good {
			return topology.Rule{}, false
		}
		fields["local_cidr"] = s
		rule.LocalCIDR = s
	}
	if v := m.get(groupKey); v != nil && v.kind != kNull {
		tr, lit, good := b.target(v, c.at(groupKey), typeSecurityGroup)
		if !good {
			return topology.Rule{}, false
		}
		name := lit
		if lit == "" {
			name = tr.res
		}
		fields[groupField] = name
		if dir == "ingress" {
			rule.SourceGroup = name
		} else {
			rule.DestinationGroup = name
		}
	}
	if !ok {
		return topology.Rule{}, false
	}
	if fields[cidrField] == "" && fields[groupField] == "" {
		b.errs.add(m, c.path, entity, fmt.Sprintf("an %s rule needs %s or %s", dir, cidrKey, groupKey), "")
		return topology.Rule{}, false
	}
	if fields[cidrField] != "" && fields[groupField] != "" {
		b.errs.add(m.get(groupKey), c.at(groupKey).path, entity, fmt.Sprintf("an %s rule gives %s or %s, not both", dir, cidrKey, groupKey), "")
		return topology.Rule{}, false
	}
	if _, err := topology.ParseRule(fields); err != nil {
		for _, e := range unjoin(err) {
			key := rosField(dir, e.Field)
			at := m.get(key)
			if at == nil {
				at = m
			}
			msg := e.Msg
			if e.Value != "" && !strings.Contains(msg, e.Value) {
				msg = fmt.Sprintf("%q: %s", e.Value, msg)
			}
			if e.Code != "" {
				msg = e.Code + ": " + msg
			}
			b.errs.add(at, c.at(key).path, entity, msg, e.Allowed)
		}
		return topology.Rule{}, false
	}
	return rule, true
}

// address is a rule's CIDR: a literal (a bare address is /32, as the cloud
// stores it), or the private address of an instance of the template that
// gives one.
func (b *builder) address(v *node, c ctx) (string, bool) {
	if v.kind == kRef && !v.computed && (v.ref.attr == "PrivateIp" || v.ref.attr == "InnerIp") {
		if ip, ok := b.literalIP(v.ref, v, c); ok {
			return ip.String() + "/32", true
		}
		return "", false
	}
	s, ok := b.scalar(v, c)
	if !ok {
		return "", false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return s + "/32", true
	}
	return s, true
}

// literalIP is the PrivateIpAddress an instance of the template gives,
// evaluated on demand (an instance may take its address from another's).
func (b *builder) literalIP(r ref, at *node, c ctx) (netip.Addr, bool) {
	res := b.t.resources[r.res]
	if res.typ != typeInstance && res.typ != typeInstanceGroup {
		b.errs.add(at, c.path, c.entity, fmt.Sprintf("%s is a %s, not an instance", r.res, res.typ), "")
		return netip.Addr{}, false
	}
	v, pc, ok := b.prop(res, "PrivateIpAddress")
	if !ok {
		b.errs.add(at, c.path, c.entity, fmt.Sprintf("the private address of %s is assigned by the cloud and cannot be known offline; give %s a PrivateIpAddress, or use a group (SourceGroupId/DestGroupId)", r.res, r.res), "")
		return netip.Addr{}, false
	}
	s, ok := b.scalar(v, pc)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		b.errs.add(v, pc.path, res.id, fmt.Sprintf("PrivateIpAddress %q is not an IPv4 address", s), "")
		return netip.Addr{}, false
	}
	return a, true
}

func unjoin(err error) []*firewallError {
	var out []*firewallError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if fe, ok := e.(*firewallError); ok {
			out = append(out, fe)
			return
		}
		out = append(out, &firewallError{Msg: e.Error()})
	}
	walk(err)
	return out
}
