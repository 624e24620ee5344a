package terraform

import (
	"cmp"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/vpclab/vpclab/topology"
)

// defaultVPCCIDR is the CIDR block the cloud gives a VPC created without
// one.
var defaultVPCCIDR = netip.MustParsePrefix("172.16.0.0/12")

// mapper turns evaluated alicloud resources into a Fragment.
type mapper struct {
	opts   topology.ImportOptions
	errs   errorList
	frag   *topology.Fragment
	byID   map[string]*Resource
	byAddr map[string]*Resource
	tables map[string]*Resource // NAT gateway snat/forward table id → gateway

	vpc       *Resource
	vswitches map[*Resource]int // → index in frag.VSwitches
	groups    map[*Resource]int
	instances map[*Resource]int
	nats      map[*Resource]int
	natEIP    map[*Resource]*Resource // NAT gateway → its EIP resource
	eipOf     map[*Resource]*Resource // instance → EIP resource

	// In fragment order, for deterministic searches.
	vswitchRes, instanceRes, natRes, eipRes []*Resource
}

func mapAlicloud(res []*Resource, opts topology.ImportOptions) (*topology.Fragment, topology.Errors) {
	m := &mapper{opts: opts, frag: &topology.Fragment{Format: "terraform"},
		byID: map[string]*Resource{}, byAddr: map[string]*Resource{}, tables: map[string]*Resource{},
		vswitches: map[*Resource]int{}, groups: map[*Resource]int{}, instances: map[*Resource]int{},
		nats: map[*Resource]int{}, natEIP: map[*Resource]*Resource{}, eipOf: map[*Resource]*Resource{}}
	byType := map[string][]*Resource{}
	for _, r := range res {
		m.byID[r.ID] = r
		m.byAddr[r.Address] = r
		byType[r.Type] = append(byType[r.Type], r)
		if r.Type == "alicloud_nat_gateway" {
			for _, a := range []string{"snat_table_ids", "forward_table_ids"} {
				if s, ok := m.optStr(r, a); ok {
					for _, id := range strings.Split(s, ",") {
						m.tables[strings.TrimSpace(id)] = r
					}
				}
			}
		}
	}
	for _, r := range byType["alicloud_vpc"] {
		m.mapVPC(r)
	}
	for _, r := range byType["alicloud_vswitch"] {
		m.mapVSwitch(r)
	}
	for _, r := range byType["alicloud_security_group"] {
		m.mapGroup(r)
	}
	for _, r := range byType["alicloud_instance"] {
		m.mapInstance(r)
	}
	for _, r := range byType["alicloud_nat_gateway"] {
		m.mapNAT(r)
	}
	for _, r := range byType["alicloud_security_group_rule"] {
		m.mapRule(r)
	}
	for _, r := range byType["alicloud_eip_association"] {
		m.mapAssociation(r)
	}
	m.eipRes = slices.Concat(byType["alicloud_eip_address"], byType["alicloud_eip"])
	for _, r := range m.eipRes {
		m.checkEIP(r)
	}
	for _, r := range byType["alicloud_snat_entry"] {
		m.mapSNAT(r)
	}
	for _, r := range byType["alicloud_forward_entry"] {
		m.mapDNAT(r)
	}
	for _, r := range byType["alicloud_route_entry"] {
		m.checkRoute(r)
	}
	m.assignEIPs()
	slices.SortStableFunc(m.frag.Skipped, func(a, b topology.Skipped) int {
		return cmp.Or(strings.Compare(a.Origin.File, b.Origin.File), cmp.Compare(a.Origin.Line, b.Origin.Line), cmp.Compare(a.Origin.Column, b.Origin.Column))
	})
	return m.frag, m.errs.sorted()
}

// origin is where r is defined.
func origin(r *Resource) topology.Origin {
	return topology.Origin{File: r.Range.Filename, Line: max(r.Range.Start.Line, 1), Column: max(r.Range.Start.Column, 1), Resource: r.Address}
}

// name is what users call r: its address, spaces (from a for_each key)
// written as "-", as topology names have none.
func name(r *Resource) string { return strings.ReplaceAll(r.Address, " ", "-") }

// rangeOf is the range of r's argument a, or r's own when a is not set.
func rangeOf(r *Resource, a string) hcl.Range {
	if rng, ok := r.AttrRanges[a]; ok {
		return rng
	}
	return r.Range
}

// fail records an error about argument a of r.
func (m *mapper) fail(r *Resource, a, msg string, allowed ...string) {
	m.errs.add(rangeOf(r, a), "resource."+r.Address+"."+a, msg, allowed...)
}

// unsupported records something vpclab understands but does not model
// in r's argument a: an error, or with SkipUnsupported a skipped item.
func (m *mapper) unsupported(r *Resource, a, why string) {
	m.unsupportedAt(r, rangeOf(r, a), a, why)
}

func (m *mapper) unsupportedAt(r *Resource, rng hcl.Range, a, why string) {
	if m.opts.SkipUnsupported {
		o := origin(r)
		o.Line, o.Column = max(rng.Start.Line, 1), max(rng.Start.Column, 1)
		m.frag.Skipped = append(m.frag.Skipped, topology.Skipped{Origin: o, What: a, Why: why})
		return
	}
	m.errs.add(rng, "resource."+r.Address+"."+a, "not supported: "+why+" (--skip-unsupported leaves it out)")
}

// isSet reports whether r sets argument a: to anything but null or ""
// (show JSON writes unset string arguments as "").
func isSet(r *Resource, a string) bool {
	v, ok := r.Attrs[a]
	if !ok || v == cty.NilVal || !v.IsKnown() {
		return ok && v != cty.NilVal
	}
	v, _ = v.Unmark()
	return !v.IsNull() && !(v.Type() == cty.String && v.AsString() == "")
}

// value is r's argument a when it is set and known; an unknown value is an
// error saying why, since the mapping reads only what decides reachability.
func (m *mapper) value(r *Resource, a string) (cty.Value, bool) {
	v, ok := r.Attrs[a]
	if !ok || v == cty.NilVal {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		m.unknownArg(r, a, v)
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return cty.NilVal, false
	}
	return v, true
}

// unknownArg reports that r's argument a, which decides reachability, is
// the unknown v, saying why; not when v is unknown only because it is part
// of a reference cycle, which is reported once, where it closes.
func (m *mapper) unknownArg(r *Resource, a string, v cty.Value) {
	ws := WhyOf(v)
	if len(ws) > 0 && !slices.ContainsFunc(ws, func(w Why) bool { return w.Kind != "cycle" }) {
		return
	}
	m.fail(r, a, a+" decides reachability but is not known: "+whyText(v))
}

// str is r's argument a as a string; ok is false when it is not set, not
// known or not a string (the last two reported).
func (m *mapper) str(r *Resource, a string) (string, bool) {
	v, ok := m.value(r, a)
	if !ok {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		m.fail(r, a, fmt.Sprintf("%s must be a string, not %s", a, v.Type().FriendlyName()))
		return "", false
	}
	return s.AsString(), true
}

// optStr is r's argument a as a string when set and known, without errors.
func (m *mapper) optStr(r *Resource, a string) (string, bool) {
	v, ok := r.Attrs[a]
	if !ok || v == cty.NilVal || !v.IsWhollyKnown() {
		return "", false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}

// intArg is r's argument a as a whole number.
func (m *mapper) intArg(r *Resource, a string) (int, bool) {
	v, ok := m.value(r, a)
	if !ok {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err == nil {
		if i, acc := n.AsBigFloat().Int64(); acc == big.Exact && i >= -1<<31 && i < 1<<31 {
			return int(i), true
		}
	}
	m.fail(r, a, fmt.Sprintf("%s must be a whole number", a))
	return 0, false
}

// target resolves a reference: a known id of a resource (its address
// offline), a NAT gateway's table id, or an unknown value the cloud
// computes for a resource (an EIP's ip_address). attr is the attribute
// referenced ("id" for an id).
func (m *mapper) target(v cty.Value) (r *Resource, attr string) {
	if v.IsWhollyKnown() {
		v, _ = v.UnmarkDeep()
		if v.IsNull() || v.Type() != cty.String {
			return nil, ""
		}
		s := v.AsString()
		if r := m.byID[s]; r != nil {
			return r, "id"
		}
		if r := m.tables[s]; r != nil {
			return r, "table"
		}
		return nil, ""
	}
	ws := WhyOf(v)
	if len(ws) == 1 && ws[0].Kind == "computed" {
		return m.byAddr[ws[0].Name], ws[0].Attr
	}
	return nil, ""
}

// ref resolves argument a of r to a resource of one of types; it reports
// an argument that is unknown for another reason than a computed
// attribute, or that names nothing of the configuration.
func (m *mapper) ref(r *Resource, a string, v cty.Value, types ...string) *Resource {
	t, _ := m.target(v)
	if t != nil && slices.Contains(types, t.Type) {
		return t
	}
	switch {
	case !v.IsWhollyKnown():
		m.unknownArg(r, a, v)
	case t != nil:
		m.fail(r, a, fmt.Sprintf("%s names %s, not a %s", a, t.Address, strings.Join(types, " or ")))
	default:
		s, _ := v.UnmarkDeep()
		txt := s.GoString()
		if s.Type() == cty.String && !s.IsNull() {
			txt = strconv.Quote(s.AsString())
		}
		m.fail(r, a, fmt.Sprintf("%s is %s, which is no %s of this configuration: vpclab needs its definition (or import the JSON of `terraform show -json`)", a, txt, strings.Join(types, " or ")))
	}
	return nil
}

// refArg resolves r's argument a (which must be set) to one of types.
func (m *mapper) refArg(r *Resource, a string, required bool, types ...string) *Resource {
	v, ok := r.Attrs[a]
	if !ok || v == cty.NilVal || (v.IsKnown() && v.IsNull()) {
		if required {
			m.fail(r, a, a+" is required")
		}
		return nil
	}
	return m.ref(r, a, v, types...)
}

func (m *mapper) mapVPC(r *Resource) {
	if m.vpc != nil {
		m.unsupported(r, "cidr_block", fmt.Sprintf("a second VPC (the topology models one, %s)", m.vpc.Address))
		return
	}
	m.vpc = r
	vpc := topology.VPC{Name: name(r), CIDR: defaultVPCCIDR, Origin: origin(r)}
	if s, ok := m.str(r, "cidr_block"); ok {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			m.fail(r, "cidr_block", fmt.Sprintf("cidr_block %q is not an IPv4 CIDR block", s))
		}
		vpc.CIDR = p
	} else if _, set := r.Attrs["cidr_block"]; !set {
		if _, ipam := r.Attrs["ipv4_ipam_pool_id"]; ipam {
			m.fail(r, "ipv4_ipam_pool_id", "the VPC takes its CIDR block from an IPAM pool, which vpclab cannot read: set cidr_block")
		}
	}
	m.frag.VPC = vpc
}

func (m *mapper) mapVSwitch(r *Resource) {
	if v, ok := r.Attrs["vpc_id"]; ok {
		if t, _ := m.target(v); t != nil && t.Type == "alicloud_vpc" && t != m.vpc {
			m.unsupported(r, "vpc_id", fmt.Sprintf("a vswitch of a second VPC (%s)", t.Address))
			return
		}
	}
	sw := topology.VSwitch{Name: name(r), Origin: origin(r)}
	s, ok := m.str(r, "cidr_block")
	if !ok {
		if _, set := r.Attrs["cidr_block"]; !set {
			m.fail(r, "cidr_block", "cidr_block is required")
		}
		return
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		m.fail(r, "cidr_block", fmt.Sprintf("cidr_block %q is not an IPv4 CIDR block", s))
		return
	}
	sw.CIDR = p
	m.vswitches[r] = len(m.frag.VSwitches)
	m.vswitchRes = append(m.vswitchRes, r)
	m.frag.VSwitches = append(m.frag.VSwitches, sw)
}

func (m *mapper) mapGroup(r *Resource) {
	g := topology.SecurityGroup{Name: name(r), Origin: origin(r)}
	if s, ok := m.str(r, "security_group_type"); ok {
		switch s {
		case "normal":
			g.Type = "basic"
		case "enterprise":
			g.Type = "enterprise"
		default:
			m.fail(r, "security_group_type", fmt.Sprintf("security_group_type %q is not a group type", s), "normal", "enterprise")
		}
	}
	if s, ok := m.str(r, "inner_access_policy"); ok {
		switch strings.ToLower(s) {
		case "accept":
			g.InnerAccess = "accept"
		case "drop":
			g.InnerAccess = "drop"
		default:
			m.fail(r, "inner_access_policy", fmt.Sprintf("inner_access_policy %q is not a policy", s), "Accept", "Drop")
		}
	} else if v, ok := m.value(r, "inner_access"); ok {
		b, err := convert.Convert(v, cty.Bool)
		switch {
		case err != nil:
			m.fail(r, "inner_access", "inner_access must be true or false")
		case b.True():
			g.InnerAccess = "accept"
		default:
			g.InnerAccess = "drop"
		}
	}
	m.groups[r] = len(m.frag.SecurityGroups)
	m.frag.SecurityGroups = append(m.frag.SecurityGroups, g)
}

// protocols are the ip_protocol values of the provider.
var protocols = []string{"tcp", "udp", "icmp", "gre", "all"}

func (m *mapper) mapRule(r *Resource) {
	gr := m.refArg(r, "security_group_id", true, "alicloud_security_group")
	rule := topology.Rule{Origin: origin(r), Policy: "accept", Priority: 1, NICType: "intranet"}
	ok := true
	if s, set := m.str(r, "type"); set {
		if s != "ingress" && s != "egress" {
			m.fail(r, "type", fmt.Sprintf("type %q is not a direction", s), "ingress", "egress")
			ok = false
		}
		rule.Direction = s
	} else {
		if _, set := r.Attrs["type"]; !set {
			m.fail(r, "type", "type is required", "ingress", "egress")
		}
		ok = false
	}
	if s, set := m.str(r, "ip_protocol"); set {
		switch {
		case slices.Contains(protocols, s):
			rule.Protocol = s
		case strings.EqualFold(s, "icmpv6"):
			m.unsupported(r, "ip_protocol", "IPv6 rules (icmpv6)")
			return
		default:
			m.fail(r, "ip_protocol", fmt.Sprintf("ip_protocol %q is not a protocol", s), protocols...)
			ok = false
		}
	} else {
		if _, set := r.Attrs["ip_protocol"]; !set {
			m.fail(r, "ip_protocol", "ip_protocol is required", protocols...)
		}
		ok = false
	}
	if s, set := m.str(r, "policy"); set {
		if s != "accept" && s != "drop" {
			m.fail(r, "policy", fmt.Sprintf("policy %q is not a policy", s), "accept", "drop")
			ok = false
		}
		rule.Policy = s
	}
	if p, set := m.intArg(r, "priority"); set {
		if p < 1 || p > 100 {
			m.fail(r, "priority", fmt.Sprintf("priority %d is out of range", p), "1..100")
			ok = false
		}
		rule.Priority = p
	}
	if s, set := m.str(r, "nic_type"); set {
		switch s {
		case "intranet":
		case "internet":
			m.unsupported(r, "nic_type", "internet NIC rules: in a VPC the cloud applies intranet rules to internet traffic too")
			return
		default:
			m.fail(r, "nic_type", fmt.Sprintf("nic_type %q is not a NIC type", s), "intranet", "internet")
			ok = false
		}
	}
	if s, set := m.str(r, "description"); set {
		rule.Description = s
	}
	rule.PortRange = "-1/-1"
	if s, set := m.str(r, "port_range"); set && rule.Protocol != "" {
		if pr, good := m.portRange(r, s, rule.Protocol); good {
			rule.PortRange = pr
		} else {
			ok = false
		}
	} else if rule.Protocol == "tcp" || rule.Protocol == "udp" {
		if _, set := r.Attrs["port_range"]; !set {
			m.fail(r, "port_range", "port_range is required for tcp and udp", `"start/end" with 1 <= start <= end <= 65535`)
		}
		ok = false
	}
	// The remote side: exactly one of these.
	var set []string
	for _, a := range []string{"cidr_ip", "source_security_group_id", "prefix_list_id", "ipv6_cidr_ip"} {
		if isSet(r, a) {
			set = append(set, a)
		}
	}
	for _, a := range []string{"source_group_owner_account", "source_group_owner_id"} {
		if s, has := m.str(r, a); has && s != "" {
			m.unsupported(r, a, "security groups of another account")
			return
		}
	}
	switch {
	case len(set) == 0:
		m.fail(r, "cidr_ip", "one of cidr_ip, source_security_group_id and prefix_list_id is required")
		return
	case len(set) > 1:
		m.fail(r, set[1], fmt.Sprintf("%s and %s cannot both be set", set[0], set[1]))
		return
	}
	remote := func(rule *topology.Rule, cidr string) {
		if rule.Direction == "egress" {
			rule.Destination = cidr
		} else {
			rule.Source = cidr
		}
	}
	var rules []topology.Rule
	switch set[0] {
	case "ipv6_cidr_ip":
		m.unsupported(r, "ipv6_cidr_ip", "IPv6 rules")
		return
	case "cidr_ip":
		s, has := m.str(r, "cidr_ip")
		if !has {
			return
		}
		c, good := m.cidr(r, "cidr_ip", s)
		if !good {
			return
		}
		remote(&rule, c)
		rules = append(rules, rule)
	case "source_security_group_id":
		g := m.refArg(r, "source_security_group_id", true, "alicloud_security_group")
		if g == nil {
			return
		}
		// On egress the argument names the destination group.
		if rule.Direction == "egress" {
			rule.DestinationGroup = name(g)
		} else {
			rule.SourceGroup = name(g)
		}
		rules = append(rules, rule)
	case "prefix_list_id":
		pl := m.refArg(r, "prefix_list_id", true, "alicloud_ecs_prefix_list")
		if pl == nil {
			return
		}
		if fam, has := m.str(pl, "address_family"); has && fam != "IPv4" {
			m.unsupported(r, "prefix_list_id", fmt.Sprintf("%s is an %s prefix list (IPv6 rules)", pl.Address, fam))
			return
		}
		for i, e := range pl.Blocks["entry"] {
			v, has := e.Attrs["cidr"]
			where := e.AttrRanges["cidr"]
			path := fmt.Sprintf("resource.%s.entry[%d].cidr", pl.Address, i)
			if !has {
				m.errs.add(e.Range, path, "cidr is required")
				continue
			}
			if !v.IsWhollyKnown() {
				m.errs.add(where, path, "cidr decides reachability but is not known: "+whyText(v))
				continue
			}
			v, _ = v.UnmarkDeep()
			s, err := convert.Convert(v, cty.String)
			if err != nil || s.IsNull() {
				m.errs.add(where, path, "cidr must be a string")
				continue
			}
			c, good := parseCIDR(s.AsString())
			if !good {
				m.errs.add(where, path, fmt.Sprintf("cidr %q is not an IPv4 CIDR block or address", s.AsString()))
				continue
			}
			one := rule
			remote(&one, c)
			if one.Description == "" {
				one.Description = fmt.Sprintf("%s entry %s", pl.Address, c)
			}
			rules = append(rules, one)
		}
	}
	if !ok || gr == nil {
		return
	}
	g := &m.frag.SecurityGroups[m.groups[gr]]
	g.Rules = append(g.Rules, rules...)
}

// portRange checks a port_range for protocol: "start/end" with 1 <= start
// <= end <= 65535 for tcp and udp, "-1/-1" for the others.
func (m *mapper) portRange(r *Resource, s, protocol string) (string, bool) {
	if strings.ContainsAny(s, ",;") {
		m.unsupported(r, "port_range", fmt.Sprintf("port lists (%q)", s))
		return "", false
	}
	a, b, found := strings.Cut(s, "/")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !found || err1 != nil || err2 != nil {
		m.fail(r, "port_range", fmt.Sprintf("port_range %q is not \"start/end\"", s), `"start/end" with 1 <= start <= end <= 65535`, `"-1/-1" for icmp, gre and all`)
		return "", false
	}
	if protocol == "tcp" || protocol == "udp" {
		if lo < 1 || hi > 65535 || lo > hi {
			m.fail(r, "port_range", fmt.Sprintf("port_range %q is not a range of ports for %s", s, protocol), `"start/end" with 1 <= start <= end <= 65535`)
			return "", false
		}
		return fmt.Sprintf("%d/%d", lo, hi), true
	}
	if lo != -1 || hi != -1 {
		m.fail(r, "port_range", fmt.Sprintf("port_range %q has ports, which %s has not", s, protocol), `"-1/-1"`)
		return "", false
	}
	return "-1/-1", true
}

// parseCIDR reads an IPv4 CIDR block or a bare address (/32).
func parseCIDR(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String(), a.Is4()
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", false
	}
	return p.String(), p.Addr().Is4()
}

// cidr checks the IPv4 CIDR block s of r's argument a.
func (m *mapper) cidr(r *Resource, a, s string) (string, bool) {
	if strings.Contains(s, "*") {
		m.fail(r, a, fmt.Sprintf("%s %q is masked: give the real address (--var, or the unmasked value)", a, s))
		return "", false
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is6() {
		m.unsupported(r, a, "IPv6 rules")
		return "", false
	}
	if a6, err := netip.ParseAddr(s); err == nil && a6.Is6() {
		m.unsupported(r, a, "IPv6 rules")
		return "", false
	}
	c, ok := parseCIDR(s)
	if !ok {
		m.fail(r, a, fmt.Sprintf("%s %q is not an IPv4 CIDR block or address", a, s))
	}
	return c, ok
}

func (m *mapper) mapInstance(r *Resource) {
	in := topology.Instance{Name: name(r), Origin: origin(r)}
	a := "vswitch_id"
	if _, ok := r.Attrs[a]; !ok {
		if _, ok := r.Attrs["subnet_id"]; ok {
			a = "subnet_id"
		}
	}
	sw := m.refArg(r, a, true, "alicloud_vswitch")
	if s, ok := m.str(r, "private_ip"); ok {
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			m.fail(r, "private_ip", fmt.Sprintf("private_ip %q is not an IPv4 address", s))
		}
		in.IP = ip
	} else if _, set := r.Attrs["private_ip"]; !set {
		in.Assigned = append(in.Assigned, "ip")
	}
	v, ok := r.Attrs["security_groups"]
	if ok && v.IsKnown() {
		v, _ = v.Unmark() // the elements keep theirs
	}
	switch {
	case !ok:
		m.fail(r, "security_groups", "security_groups is required (vpclab does not read launch templates or network_interfaces)")
	case !v.IsKnown():
		m.unknownArg(r, "security_groups", v)
	case v.IsNull():
		m.fail(r, "security_groups", "security_groups is required")
	case !v.CanIterateElements() || v.Type().IsMapType() || v.Type().IsObjectType():
		m.fail(r, "security_groups", "security_groups must be a list of security group ids")
	default:
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if g := m.ref(r, "security_groups", ev, "alicloud_security_group"); g != nil {
				in.SecurityGroups = append(in.SecurityGroups, name(g))
			}
		}
	}
	if nics := r.Blocks["network_interfaces"]; len(nics) > 0 {
		// With SkipUnsupported the instance keeps its primary NIC.
		m.unsupportedAt(r, nics[0].Range, "network_interfaces", "secondary network interfaces (a vpclab instance has one NIC)")
		if !m.opts.SkipUnsupported {
			return
		}
	}
	if bw, ok := m.intArg(r, "internet_max_bandwidth_out"); ok && bw > 0 {
		// A public IP is 1:1 NAT like an EIP: treated as one, assigned
		// unless show JSON gives it.
		if s, ok := m.optStr(r, "public_ip"); ok {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				in.EIP = a
			}
		}
		if !in.EIP.IsValid() {
			in.Assigned = append(in.Assigned, "eip")
		}
	}
	if sw == nil {
		return
	}
	in.VSwitch = name(sw)
	m.instances[r] = len(m.frag.Instances)
	m.instanceRes = append(m.instanceRes, r)
	m.frag.Instances = append(m.frag.Instances, in)
}

func (m *mapper) mapNAT(r *Resource) {
	if s, ok := m.str(r, "network_type"); ok && s == "intranet" {
		m.unsupported(r, "network_type", "VPC NAT gateways (network_type intranet)")
		return
	}
	sw := m.refArg(r, "vswitch_id", true, "alicloud_vswitch")
	if sw == nil {
		return
	}
	m.nats[r] = len(m.frag.NATGateways)
	m.natRes = append(m.natRes, r)
	m.frag.NATGateways = append(m.frag.NATGateways, topology.NATGateway{Name: name(r), VSwitch: name(sw), Origin: origin(r)})
}

func (m *mapper) mapAssociation(r *Resource) {
	eip := m.refArg(r, "allocation_id", true, "alicloud_eip_address", "alicloud_eip")
	typ, _ := m.str(r, "instance_type")
	if typ == "NetworkInterface" || typ == "HaVip" || typ == "IpAddress" {
		m.unsupported(r, "instance_type", fmt.Sprintf("EIPs bound to a %s", typ))
		return
	}
	v, ok := r.Attrs["instance_id"]
	if !ok {
		m.fail(r, "instance_id", "instance_id is required")
		return
	}
	if ws := WhyOf(v); len(ws) == 1 && ws[0].Kind == "unmodeled" {
		return // an SLB or another resource vpclab does not model
	}
	t := m.ref(r, "instance_id", v, "alicloud_instance", "alicloud_nat_gateway")
	if t == nil || eip == nil {
		return
	}
	switch t.Type {
	case "alicloud_instance":
		if old := m.eipOf[t]; old != nil {
			m.fail(r, "instance_id", fmt.Sprintf("%s already has the EIP %s", t.Address, old.Address))
			return
		}
		m.eipOf[t] = eip
	case "alicloud_nat_gateway":
		if old := m.natEIP[t]; old != nil {
			m.unsupported(r, "allocation_id", fmt.Sprintf("a second EIP on %s (it has %s)", t.Address, old.Address))
			return
		}
		m.natEIP[t] = eip
	}
}

// checkEIP checks an EIP's ip_address.
func (m *mapper) checkEIP(r *Resource) {
	if s, ok := m.str(r, "ip_address"); ok {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			m.fail(r, "ip_address", fmt.Sprintf("ip_address %q is not an IPv4 address", s))
		}
	}
}

// eipAddr is an EIP's address, or zero when the cloud assigns it.
func (m *mapper) eipAddr(eip *Resource) netip.Addr {
	if s, ok := m.optStr(eip, "ip_address"); ok {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// assignEIPs writes the associated EIPs into instances and NAT gateways:
// the address when known, else "eip" in Assigned.
func (m *mapper) assignEIPs() {
	for i, r := range m.instanceRes {
		in := &m.frag.Instances[i]
		eip := m.eipOf[r]
		if eip == nil {
			continue
		}
		in.Assigned = slices.DeleteFunc(in.Assigned, func(s string) bool { return s == "eip" })
		if in.EIP = m.eipAddr(eip); !in.EIP.IsValid() {
			in.Assigned = append(in.Assigned, "eip")
		}
	}
	for i, r := range m.natRes {
		n := &m.frag.NATGateways[i]
		if eip := m.natEIP[r]; eip != nil {
			n.EIP = m.eipAddr(eip)
		}
		if !n.EIP.IsValid() {
			n.Assigned = []string{"eip"}
		}
	}
}

// natIP checks that r's argument a (snat_ip, external_ip) is the EIP of
// the NAT gateway nat, adopting it when the gateway has none yet.
func (m *mapper) natIP(r *Resource, a string, nat *Resource) bool {
	v, ok := r.Attrs[a]
	if !ok {
		m.fail(r, a, a+" is required")
		return false
	}
	if t, attr := m.target(v); t != nil && (t.Type == "alicloud_eip_address" || t.Type == "alicloud_eip") && (attr == "ip_address" || attr == "id") {
		if old := m.natEIP[nat]; old != nil && old != t {
			m.unsupported(r, a, fmt.Sprintf("a second EIP on %s (it has %s)", nat.Address, old.Address))
			return false
		}
		m.natEIP[nat] = t
		return true
	}
	s, ok := m.str(r, a)
	if !ok {
		return false
	}
	if strings.Contains(s, ",") {
		m.unsupported(r, a, fmt.Sprintf("more than one EIP (%q)", s))
		return false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		m.fail(r, a, fmt.Sprintf("%s %q is not an IPv4 address", a, s))
		return false
	}
	if old := m.natEIP[nat]; old != nil {
		if got := m.eipAddr(old); got != ip {
			m.unsupported(r, a, fmt.Sprintf("a second EIP %s on %s (it has %s)", ip, nat.Address, old.Address))
			return false
		}
		return true
	}
	for _, e := range m.eipRes {
		if m.eipAddr(e) == ip {
			m.natEIP[nat] = e
			return true
		}
	}
	n := &m.frag.NATGateways[m.nats[nat]]
	if n.EIP.IsValid() && n.EIP != ip {
		m.unsupported(r, a, fmt.Sprintf("a second EIP %s on %s (it has %s)", ip, nat.Address, n.EIP))
		return false
	}
	n.EIP = ip
	return true
}

// natOf resolves a snat_table_id or forward_table_id to its NAT gateway.
func (m *mapper) natOf(r *Resource, a string) *Resource {
	nat := m.refArg(r, a, true, "alicloud_nat_gateway")
	if nat == nil {
		return nil
	}
	if _, ok := m.nats[nat]; !ok {
		return nil // the gateway was refused; that is reported
	}
	return nat
}

func (m *mapper) mapSNAT(r *Resource) {
	nat := m.natOf(r, "snat_table_id")
	var sw *Resource
	if _, ok := r.Attrs["source_vswitch_id"]; ok {
		sw = m.refArg(r, "source_vswitch_id", true, "alicloud_vswitch")
	} else if s, ok := m.str(r, "source_cidr"); ok {
		p, err := netip.ParsePrefix(s)
		for i, rs := range m.vswitchRes {
			if err == nil && sw == nil && m.frag.VSwitches[i].CIDR == p.Masked() {
				sw = rs
			}
		}
		if sw == nil {
			m.unsupported(r, "source_cidr", fmt.Sprintf("SNAT of %q, which is not the CIDR block of one vswitch", s))
			return
		}
	} else if _, set := r.Attrs["source_cidr"]; !set {
		m.fail(r, "source_vswitch_id", "one of source_vswitch_id and source_cidr is required")
		return
	}
	if nat == nil || sw == nil || !m.natIP(r, "snat_ip", nat) {
		return
	}
	if _, ok := m.vswitches[sw]; !ok {
		return
	}
	n := &m.frag.NATGateways[m.nats[nat]]
	if !slices.Contains(n.SNAT, name(sw)) {
		n.SNAT = append(n.SNAT, name(sw))
	}
}

// port reads a forward entry's port: a single port; "any" and ranges are
// not supported.
func (m *mapper) port(r *Resource, a string) (int, bool) {
	s, ok := m.str(r, a)
	if !ok {
		if _, set := r.Attrs[a]; !set {
			m.fail(r, a, a+" is required")
		}
		return 0, false
	}
	if strings.EqualFold(s, "any") || strings.ContainsAny(s, "/-,") {
		m.unsupported(r, a, fmt.Sprintf("forwarding of %q (only single ports)", s))
		return 0, false
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		m.fail(r, a, fmt.Sprintf("%s %q is not a port", a, s), "1..65535")
		return 0, false
	}
	return p, true
}

func (m *mapper) mapDNAT(r *Resource) {
	nat := m.natOf(r, "forward_table_id")
	proto, ok := m.str(r, "ip_protocol")
	switch {
	case !ok:
		if _, set := r.Attrs["ip_protocol"]; !set {
			m.fail(r, "ip_protocol", "ip_protocol is required", "tcp", "udp", "any")
		}
		return
	case proto == "any":
		m.unsupported(r, "ip_protocol", "forwarding of every protocol (ip_protocol any)")
		return
	case proto != "tcp" && proto != "udp":
		m.fail(r, "ip_protocol", fmt.Sprintf("ip_protocol %q is not a protocol", proto), "tcp", "udp", "any")
		return
	}
	pub, ok1 := m.port(r, "external_port")
	priv, ok2 := m.port(r, "internal_port")
	in := m.internal(r)
	if nat == nil || !ok1 || !ok2 || in == nil || !m.natIP(r, "external_ip", nat) {
		return
	}
	n := &m.frag.NATGateways[m.nats[nat]]
	n.DNAT = append(n.DNAT, topology.DNAT{Protocol: proto, PublicPort: pub, Instance: name(in), Port: priv, Origin: origin(r)})
}

// internal resolves a forward entry's internal_ip to the instance with that
// private address.
func (m *mapper) internal(r *Resource) *Resource {
	v, ok := r.Attrs["internal_ip"]
	if !ok {
		m.fail(r, "internal_ip", "internal_ip is required")
		return nil
	}
	if t, attr := m.target(v); t != nil && t.Type == "alicloud_instance" && (attr == "private_ip" || attr == "primary_ip_address") {
		if _, ok := m.instances[t]; ok {
			return t
		}
		return nil
	}
	s, ok := m.str(r, "internal_ip")
	if !ok {
		return nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		m.fail(r, "internal_ip", fmt.Sprintf("internal_ip %q is not an IPv4 address", s))
		return nil
	}
	for i, rs := range m.instanceRes {
		if m.frag.Instances[i].IP == ip {
			return rs
		}
	}
	m.fail(r, "internal_ip", fmt.Sprintf("no alicloud_instance of this configuration has private_ip %s", s))
	return nil
}

// checkRoute refuses routes whose next hop is an instance or an ENI:
// vpclab has no route tables, so such a route would be silently ignored.
func (m *mapper) checkRoute(r *Resource) {
	s, ok := m.optStr(r, "nexthop_type")
	if !ok {
		return
	}
	switch s {
	case "Instance", "NetworkInterface", "HaVip":
		m.unsupported(r, "nexthop_type", fmt.Sprintf("routes to an instance (nexthop_type %s)", s))
	}
}
