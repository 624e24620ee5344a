package ros

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// maxGroupSize is ROS's bound of InstanceGroup.MaxAmount (1,000 today; 100
// in older documentation).
const maxGroupSize = 1000

// groupSize is an InstanceGroup's MaxAmount.
func (t *template) groupSize(r *resource) (int, bool) {
	c := ctx{"Resources." + r.id + ".Properties.MaxAmount", r.id}
	raw := r.props.get("MaxAmount")
	if raw == nil {
		t.errs.add(r.at, c.path, r.id, "an InstanceGroup needs MaxAmount", "1..1000")
		return 0, false
	}
	v := t.eval(raw, c, 0)
	s, ok := t.str("MaxAmount", v, c)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxGroupSize {
		t.errs.add(v, c.path, r.id, fmt.Sprintf("MaxAmount %q is not a count of instances", s), "1..1000")
		return 0, false
	}
	return n, true
}

// boolProp is a Boolean property, or def when the template leaves it out.
func (b *builder) boolProp(r *resource, key string, def bool) (bool, bool) {
	v, c, present := b.prop(r, key)
	if !present {
		return def, true
	}
	s, ok := b.scalar(v, c)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	b.errs.add(v, c.path, r.id, fmt.Sprintf("%s %q is not a Boolean", key, s), "true, false")
	return false, false
}

// instance reads an ALIYUN::ECS::Instance, or an InstanceGroup as MaxAmount
// instances named Id[0], Id[1], ...
func (b *builder) instance(r *resource) {
	if r.props == nil {
		r.props = &node{kind: kMap, line: r.at.line, col: r.at.col}
	}
	n := 1
	if r.typ == typeInstanceGroup {
		var ok bool
		if n, ok = b.t.groupSize(r); !ok {
			return
		}
	}
	ok := true
	vsw := ""
	if v, c, present := b.prop(r, "VSwitchId"); !present {
		b.errs.unsupported(r.at, c.path, r.id, "VSwitchId", "an instance without VSwitchId is in the classic network, which vpclab does not model")
		return
	} else if tr, lit, good := b.target(v, c, typeVSwitch); !good {
		ok = false
	} else if lit != "" {
		vsw = lit // a vswitch of the user's file, named by its id
	} else {
		vsw = tr.res
	}
	var groups []string
	for _, key := range []string{"SecurityGroupId", "SecurityGroupIds"} {
		v, c, present := b.prop(r, key)
		if !present {
			continue
		}
		if v == nil {
			ok = false
			continue
		}
		items := []*node{v}
		if key == "SecurityGroupIds" {
			if v.kind != kList {
				b.errs.add(v, c.path, r.id, "SecurityGroupIds is a list; got "+v.describe(), "")
				ok = false
				continue
			}
			items = v.list
		}
		for i, it := range items {
			ic := c
			if key == "SecurityGroupIds" {
				ic = c.at(fmt.Sprintf("[%d]", i))
			}
			tr, lit, good := b.target(it, ic, typeSecurityGroup)
			switch {
			case !good:
				ok = false
			case lit != "" && !slices.Contains(groups, lit):
				groups = append(groups, lit)
			case lit == "" && !slices.Contains(groups, tr.res):
				groups = append(groups, tr.res)
			}
		}
	}
	var ip netip.Addr
	if v, c, present := b.prop(r, "PrivateIpAddress"); present {
		s, good := b.scalar(v, c)
		if good {
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil || !a.Is4():
				b.errs.add(v, c.path, r.id, fmt.Sprintf("PrivateIpAddress %q is not an IPv4 address", s), "")
				good = false
			case n > 1:
				b.errs.unsupported(v, c.path, r.id, "PrivateIpAddress", "one PrivateIpAddress for an InstanceGroup of more than one instance")
				good = false
			default:
				ip = a
			}
		}
		ok = ok && good
	}
	// ROS gives an instance a public address unless AllocatePublicIP is
	// false or InternetMaxBandwidthOut is 0 (their defaults: true, 1).
	public, good := b.boolProp(r, "AllocatePublicIP", true)
	ok = ok && good
	if v, c, present := b.prop(r, "InternetMaxBandwidthOut"); present {
		if s, good := b.scalar(v, c); good {
			bw, err := strconv.Atoi(s)
			if err != nil || bw < 0 {
				b.errs.add(v, c.path, r.id, fmt.Sprintf("InternetMaxBandwidthOut %q is not a bandwidth in Mbit/s", s), "0..1024")
				ok = false
			} else if bw == 0 {
				public = false
			}
		} else {
			ok = false
		}
	}
	if !ok {
		return
	}
	for i := range n {
		name := r.id
		if r.typ == typeInstanceGroup {
			name = fmt.Sprintf("%s[%d]", r.id, i)
		}
		in := topology.Instance{Name: name, VSwitch: vsw, IP: ip, SecurityGroups: slices.Clone(groups),
			Origin: b.origin(r.at, name)}
		if !ip.IsValid() {
			in.Assigned = append(in.Assigned, "ip")
		}
		if public {
			in.Assigned = append(in.Assigned, "eip")
		}
		b.instances[r.id] = append(b.instances[r.id], len(b.frag.Instances))
		b.frag.Instances = append(b.frag.Instances, in)
	}
}

// instanceAt is the fragment index of the instance a reference names: an
// Instance, or one member of an InstanceGroup.
func (b *builder) instanceAt(tr ref, at *node, c ctx) (int, bool) {
	idx, ok := b.instances[tr.res]
	if !ok {
		return 0, false // the instance was not imported; its own error says why
	}
	if b.t.resources[tr.res].typ == typeInstanceGroup {
		if tr.index < 0 {
			b.errs.add(at, c.path, c.entity, fmt.Sprintf("%s is an InstanceGroup; name one member (Fn::Select [i, Fn::GetAtt [%s, InstanceIds]])", tr.res, tr.res), "")
			return 0, false
		}
		return idx[tr.index], true
	}
	return idx[0], true
}

func (b *builder) nat(r *resource) {
	v, c, present := b.prop(r, "VSwitchId")
	if !present {
		b.errs.add(r.at, c.path, r.id, "a NAT gateway needs VSwitchId", "")
		return
	}
	tr, lit, ok := b.target(v, c, typeVSwitch)
	if !ok {
		return
	}
	if lit == "" {
		lit = tr.res
	}
	b.nats[r.id] = len(b.frag.NATGateways)
	b.frag.NATGateways = append(b.frag.NATGateways, topology.NATGateway{Name: r.id, VSwitch: lit,
		Origin: b.origin(r.at, r.id), Assigned: []string{"eip"}})
}

// eipAssoc binds an EIP to an instance (its public address) or to a NAT
// gateway (the gateway's address; a gateway has one in vpclab).
func (b *builder) eipAssoc(r *resource) {
	if r.props == nil {
		b.errs.add(r.at, "Resources."+r.id+".Properties", r.id, "an EIPAssociation needs AllocationId and InstanceId", "")
		return
	}
	av, ac, okA := b.prop(r, "AllocationId")
	iv, ic, okI := b.prop(r, "InstanceId")
	if !okA || !okI {
		if !okA {
			b.errs.add(r.at, ac.path, r.id, "an EIPAssociation needs AllocationId", "")
		}
		if !okI {
			b.errs.add(r.at, ic.path, r.id, "an EIPAssociation needs InstanceId", "")
		}
		return
	}
	eip, eipLit, ok := b.target(av, ac, typeEIP)
	if !ok {
		return
	}
	eipID := eip.res
	if eipLit != "" {
		eipID = "id:" + eipLit
	}
	if iv != nil && iv.kind == kRef && !iv.computed {
		if ty := b.t.resources[iv.ref.res].typ; ty != typeInstance && ty != typeInstanceGroup && ty != typeNAT {
			b.errs.unsupported(iv, ic.path, r.id, "InstanceId", fmt.Sprintf("an EIP bound to %s, a %s, which vpclab does not model", iv.ref.res, ty))
			return
		}
	}
	to, lit, ok := b.target(iv, ic, typeInstance, typeInstanceGroup, typeNAT)
	if !ok {
		return
	}
	if lit != "" {
		b.errs.unsupported(iv, ic.path, r.id, "InstanceId", fmt.Sprintf("an EIP bound to %s, which the template does not create", lit))
		return
	}
	if prev, dup := b.eipOf[eipID]; dup {
		b.errs.add(av, ac.path, r.id, fmt.Sprintf("the EIP %s is already associated with %s", eip.res, prev), "")
		return
	}
	b.eipOf[eipID] = to.res
	if b.t.resources[to.res].typ == typeNAT {
		if _, ok := b.nats[to.res]; !ok {
			return
		}
		if _, has := b.natEIP[to.res]; has {
			// A second EIP of the gateway: entries that use it are refused
			// where they are read; the association itself changes nothing.
			return
		}
		b.natEIP[to.res] = eipID
		return
	}
	i, ok := b.instanceAt(to, iv, ic)
	if !ok {
		return
	}
	if !slices.Contains(b.frag.Instances[i].Assigned, "eip") {
		b.frag.Instances[i].Assigned = append(b.frag.Instances[i].Assigned, "eip")
	}
}

// gateway is the NAT gateway a SnatTableId/ForwardTableId names.
func (b *builder) gateway(r *resource, keys ...string) (int, string, bool) {
	for _, key := range keys {
		v, c, present := b.prop(r, key)
		if !present {
			continue
		}
		tr, lit, ok := b.target(v, c, typeNAT)
		if !ok {
			return 0, "", false
		}
		if lit != "" {
			b.errs.unsupported(v, c.path, r.id, key, fmt.Sprintf("a table of NAT gateway %s, which the template does not create", lit))
			return 0, "", false
		}
		i, ok := b.nats[tr.res]
		return i, tr.res, ok
	}
	b.errs.add(r.at, "Resources."+r.id+".Properties."+keys[0], r.id, fmt.Sprintf("needs %s", keys[0]), "")
	return 0, "", false
}

// publicIP checks the EIP an entry uses (SnatIp, ExternalIp) is its
// gateway's: vpclab gives a NAT gateway one address.
func (b *builder) publicIP(r *resource, nat string, gi int, keys ...string) bool {
	for _, key := range keys {
		v, c, present := b.prop(r, key)
		if !present {
			continue
		}
		if v == nil {
			return false
		}
		if v.kind == kRef && !v.computed && b.t.resources[v.ref.res].typ == typeEIPAssoc {
			// Fn::GetAtt [Association, EipAddress]: the EIP it binds.
			assoc := b.t.resources[v.ref.res]
			if a, _, ok := b.prop(assoc, "AllocationId"); ok && a != nil && a.kind == kRef {
				v = a
			}
		}
		if v.kind == kRef && !v.computed && b.t.resources[v.ref.res].typ == typeEIP {
			want, has := b.natEIP[nat]
			if !has {
				b.natEIP[nat] = v.ref.res
				want = v.ref.res
			}
			if want != v.ref.res {
				b.errs.unsupported(v, c.path, r.id, key, fmt.Sprintf("a second EIP (%s) of NAT gateway %s; vpclab gives a gateway one address, %s", v.ref.res, nat, want))
				return false
			}
			return true
		}
		s, ok := b.scalar(v, c)
		if !ok {
			return false
		}
		if strings.Contains(s, ",") {
			b.errs.unsupported(v, c.path, r.id, key, "several addresses in one entry; vpclab gives a gateway one address")
			return false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			b.errs.add(v, c.path, r.id, fmt.Sprintf("%s %q is not an IPv4 address", key, s), "")
			return false
		}
		g := &b.frag.NATGateways[gi]
		if _, bound := b.natEIP[nat]; bound {
			b.errs.unsupported(v, c.path, r.id, key, fmt.Sprintf("a literal address while NAT gateway %s has an EIP of the template", nat))
			return false
		}
		if g.EIP.IsValid() && g.EIP != a {
			b.errs.unsupported(v, c.path, r.id, key, fmt.Sprintf("a second address (%s) of NAT gateway %s; vpclab gives a gateway one, %s", a, nat, g.EIP))
			return false
		}
		g.EIP, g.Assigned = a, nil
		return true
	}
	return true
}

func (b *builder) snat(r *resource) {
	if r.props == nil {
		b.errs.add(r.at, "Resources."+r.id+".Properties", r.id, "an SNAT entry needs SnatTableId and SourceVSwitchId", "")
		return
	}
	gi, nat, ok := b.gateway(r, "SnatTableId", "SNatTableId")
	if !ok || !b.publicIP(r, nat, gi, "SnatIp", "SNatIp") {
		return
	}
	var vsws []string
	if v, c, present := b.prop(r, "SourceVSwitchId"); present {
		tr, lit, ok := b.target(v, c, typeVSwitch)
		if !ok {
			return
		}
		vsws = append(vsws, cmpOr(lit, tr.res))
	}
	if v, c, present := b.prop(r, "SourceVSwitchIds"); present {
		if v == nil {
			return
		}
		if v.kind != kList {
			b.errs.add(v, c.path, r.id, "SourceVSwitchIds is a list; got "+v.describe(), "")
			return
		}
		for i, it := range v.list {
			tr, lit, ok := b.target(it, c.at(fmt.Sprintf("[%d]", i)), typeVSwitch)
			if !ok {
				return
			}
			vsws = append(vsws, cmpOr(lit, tr.res))
		}
	}
	if v, c, present := b.prop(r, "SourceCIDR"); present {
		s, ok := b.scalar(v, c)
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			b.errs.add(v, c.path, r.id, fmt.Sprintf("SourceCIDR %q is not a CIDR block", s), "")
			return
		}
		found := ""
		for _, sw := range b.frag.VSwitches {
			if sw.CIDR.Masked() == p.Masked() {
				found = sw.Name
			}
		}
		if found == "" {
			b.errs.unsupported(v, c.path, r.id, "SourceCIDR", fmt.Sprintf("SNAT for %s, which is not the CIDR block of a vswitch of the template; vpclab gives SNAT to whole vswitches", s))
			return
		}
		vsws = append(vsws, found)
	}
	if len(vsws) == 0 {
		b.errs.add(r.at, "Resources."+r.id+".Properties.SourceVSwitchId", r.id, "an SNAT entry needs SourceVSwitchId or SourceCIDR", "")
		return
	}
	g := &b.frag.NATGateways[gi]
	for _, s := range vsws {
		if !slices.Contains(g.SNAT, s) {
			g.SNAT = append(g.SNAT, s)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// port is a forward entry's port: one number (ranges and Any are refused).
func (b *builder) port(r *resource, key string) (int, bool) {
	v, c, present := b.prop(r, key)
	if !present {
		b.errs.add(r.at, c.path, r.id, "a forward entry needs "+key, "1..65535")
		return 0, false
	}
	s, ok := b.scalar(v, c)
	if !ok {
		return 0, false
	}
	if strings.EqualFold(s, "any") || strings.ContainsAny(s, "/-") {
		b.errs.unsupported(v, c.path, r.id, key, fmt.Sprintf("%s %q: vpclab forwards single ports, not ranges or Any (IP mapping)", key, s))
		return 0, false
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		b.errs.add(v, c.path, r.id, fmt.Sprintf("%s %q is not a port", key, s), "1..65535")
		return 0, false
	}
	return p, true
}

func (b *builder) dnat(r *resource) {
	if r.props == nil {
		b.errs.add(r.at, "Resources."+r.id+".Properties", r.id, "a forward entry needs ForwardTableId, ExternalIp, ExternalPort, IpProtocol, InternalIp and InternalPort", "")
		return
	}
	gi, nat, ok := b.gateway(r, "ForwardTableId")
	if !ok {
		return
	}
	proto := ""
	if v, c, present := b.prop(r, "IpProtocol"); present {
		s, good := b.scalar(v, c)
		if !good {
			return
		}
		switch strings.ToLower(s) {
		case "tcp", "udp":
			proto = strings.ToLower(s)
		case "any":
			b.errs.unsupported(v, c.path, r.id, "IpProtocol", "IpProtocol Any (IP mapping) forwards every port; vpclab forwards single TCP or UDP ports")
			return
		default:
			b.errs.add(v, c.path, r.id, fmt.Sprintf("unknown IpProtocol %q", s), "TCP, UDP, Any")
			return
		}
	} else {
		b.errs.add(r.at, c.path, r.id, "a forward entry needs IpProtocol", "TCP, UDP, Any")
		return
	}
	ext, ok1 := b.port(r, "ExternalPort")
	in, ok2 := b.port(r, "InternalPort")
	if !ok1 || !ok2 || !b.publicIP(r, nat, gi, "ExternalIp") {
		return
	}
	v, c, present := b.prop(r, "InternalIp")
	if !present {
		b.errs.add(r.at, c.path, r.id, "a forward entry needs InternalIp", "")
		return
	}
	if v == nil {
		return
	}
	target := ""
	switch {
	case v.kind == kRef && !v.computed:
		res := b.t.resources[v.ref.res]
		if res.typ != typeInstance && res.typ != typeInstanceGroup {
			b.errs.add(v, c.path, r.id, fmt.Sprintf("refers to %s, a %s; needs an instance's PrivateIp", v.ref.res, res.typ), "")
			return
		}
		i, ok := b.instanceAt(v.ref, v, c)
		if !ok {
			return
		}
		target = b.frag.Instances[i].Name
	default:
		s, ok := b.scalar(v, c)
		if !ok {
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			b.errs.add(v, c.path, r.id, fmt.Sprintf("InternalIp %q is not an IPv4 address", s), "")
			return
		}
		for _, inst := range b.frag.Instances {
			if inst.IP == a {
				target = inst.Name
			}
		}
		if target == "" {
			b.errs.unsupported(v, c.path, r.id, "InternalIp", fmt.Sprintf("forwarding to %s, which is no instance of the template with that PrivateIpAddress", s))
			return
		}
	}
	g := &b.frag.NATGateways[gi]
	g.DNAT = append(g.DNAT, topology.DNAT{Protocol: proto, PublicPort: ext, Instance: target, Port: in,
		Origin: b.origin(r.at, r.id)})
}
