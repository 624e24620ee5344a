package aliyun

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"github.com/vpclab/vpclab/topology"
)

// build resolves the references between the collected entities and fills
// the fragment. Errors go to im.errs; the fragment is discarded if any.
func (im *importer) build(fr *topology.Fragment) {
	im.placeholders()
	im.name()
	im.convertRules()
	im.buildVPC(fr)
	for _, v := range im.vswitches {
		fr.VSwitches = append(fr.VSwitches, topology.VSwitch{Name: v.final, CIDR: v.cidr, Origin: v.o.origin(v.id)})
		if !v.cidr.IsValid() {
			v.o.errf("CidrBlock", "an IPv4 CIDR such as 192.168.1.0/24", "a vswitch without CidrBlock")
		}
	}
	for _, g := range im.groups {
		if !g.described {
			// Said where users see origins (import output, explain): the
			// group is only referenced or listed, its rules are unknown.
			g.origin.Resource = g.id + " (no DescribeSecurityGroupAttribute in the input: no rules)"
		}
		fr.SecurityGroups = append(fr.SecurityGroups, topology.SecurityGroup{
			Name: g.final, Type: g.typ, InnerAccess: g.inner, Rules: g.rules, Origin: g.origin})
	}
	byIP := map[netip.Addr]*instance{}
	eipOf := map[string]netip.Addr{}
	for _, e := range im.eips {
		if strings.EqualFold(e.instanceType, "EcsInstance") {
			eipOf[e.instanceID] = e.ip
		}
	}
	for _, in := range im.instances {
		out := topology.Instance{Name: in.final, VSwitch: im.vswName(in.vswID), IP: in.ip, EIP: in.eip, Origin: in.o.origin(in.id)}
		if !in.ip.IsValid() {
			out.Assigned = append(out.Assigned, "ip")
		} else {
			byIP[in.ip] = in
		}
		if !out.EIP.IsValid() {
			out.EIP = eipOf[in.id]
		}
		for _, id := range in.groupIDs {
			out.SecurityGroups = append(out.SecurityGroups, im.groupByID[id].final)
		}
		fr.Instances = append(fr.Instances, out)
	}
	im.buildNATs(fr, byIP)
}

// placeholders creates the groups that rules and instances name but the
// input does not describe, so that every reference resolves. Such a group
// has no rules; its origin is the first place that names it.
func (im *importer) placeholders() {
	for i := 0; i < len(im.groups); i++ {
		for _, p := range im.groups[i].perms {
			remote := "Source"
			if permDirection(p) == "egress" {
				remote = "Dest"
			}
			if p.str(remote+"CidrIp") != "" || p.str(remote+"GroupOwnerAccount") != "" || p.str(remote+"GroupOwnerId") != "" {
				continue
			}
			if id := p.str(remote + "GroupId"); id != "" && im.groupByID[id] == nil {
				im.group(id, p)
			}
		}
	}
	for _, in := range im.instances {
		for _, id := range in.groupIDs {
			if im.groupByID[id] == nil {
				g := im.group(id, in.groupObjs)
				g.origin = in.groupObjs.originAt(in.groupObjs.at("SecurityGroupIds"), id)
			}
		}
	}
}

// cleanName makes a cloud name a vpclab name: spaces become '-' (names are
// one word in every report).
func cleanName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '-'
		}
		return r
	}, strings.TrimSpace(s))
}

// uniqueNames sets the final names of a kind of entity: the cloud name
// (cleaned), or the id when the name is empty, shared with another entity,
// or equal to another entity's id.
func uniqueNames(ids, names []string, set func(i int, name string)) {
	count := map[string]int{}
	isID := map[string]bool{}
	for i := range ids {
		isID[ids[i]] = true
		count[cleanName(names[i])]++
	}
	for i := range ids {
		n := cleanName(names[i])
		if n == "" || count[n] > 1 || (isID[n] && n != ids[i]) {
			n = ids[i]
		}
		set(i, n)
	}
}

func (im *importer) name() {
	var ids, names []string
	for _, g := range im.groups {
		ids, names = append(ids, g.id), append(names, g.name)
	}
	uniqueNames(ids, names, func(i int, n string) { im.groups[i].final = n })
	ids, names = nil, nil
	for _, v := range im.vswitches {
		ids, names = append(ids, v.id), append(names, v.name)
	}
	uniqueNames(ids, names, func(i int, n string) { im.vswitches[i].final = n })
	ids, names = nil, nil
	for _, in := range im.instances {
		ids, names = append(ids, in.id), append(names, in.name)
	}
	uniqueNames(ids, names, func(i int, n string) { im.instances[i].final = n })
	ids, names = nil, nil
	for _, g := range im.nats {
		ids, names = append(ids, g.id), append(names, g.name)
	}
	uniqueNames(ids, names, func(i int, n string) { im.nats[i].final = n })
}

// vswName is the fragment name of a vswitch: its name when the input
// describes it, else its id (the user's topology defines it).
func (im *importer) vswName(id string) string {
	if v := im.vswByID[id]; v != nil {
		return v.final
	}
	return id
}

// buildVPC checks that the input is one VPC and takes it from DescribeVpcs
// when given: a region's DescribeVpcs lists every VPC, so the one the other
// resources name is taken and the others are left out.
func (im *importer) buildVPC(fr *topology.Fragment) {
	var ids []string
	first := map[string]vpcRef{}
	for _, r := range im.vpcRefs {
		if _, ok := first[r.id]; !ok {
			first[r.id] = r
			ids = append(ids, r.id)
		}
	}
	if len(ids) > 1 {
		for _, id := range ids[1:] {
			r := first[id]
			r.o.errf(r.key, "", "the input spans several VPCs (%s); vpclab models one: export one VPC's resources (for example with --VpcId %s)", strings.Join(ids, ", "), ids[0])
		}
		return
	}
	var chosen *vpc
	switch {
	case len(ids) == 1:
		for _, v := range im.vpcs {
			if v.id == ids[0] {
				chosen = v
			}
		}
	case len(im.vpcs) == 1:
		chosen = im.vpcs[0]
	case len(im.vpcs) > 1:
		var all []string
		for _, v := range im.vpcs {
			all = append(all, v.id)
		}
		im.vpcs[1].o.errf("VpcId", "", "the input describes several VPCs (%s) and no resource says which one to import: give one VPC's DescribeVpcs output", strings.Join(all, ", "))
	}
	if chosen == nil {
		return
	}
	name := cleanName(chosen.name)
	if name == "" {
		name = chosen.id
	}
	if !chosen.cidr.IsValid() {
		chosen.o.errf("CidrBlock", "an IPv4 private CIDR", "a VPC without CidrBlock")
	}
	fr.VPC = topology.VPC{Name: name, CIDR: chosen.cidr, Origin: chosen.o.origin(chosen.id)}
}

// buildNATs adds the NAT gateways with their SNAT and DNAT entries, which
// name their gateway by NatGatewayId or by the SnatTableId/ForwardTableId
// the gateway lists.
func (im *importer) buildNATs(fr *topology.Fragment, byIP map[netip.Addr]*instance) {
	bySnat, byFwd, byID := map[string]*nat{}, map[string]*nat{}, map[string]*nat{}
	natEIP := map[string]netip.Addr{}
	for _, e := range im.eips {
		if strings.EqualFold(e.instanceType, "Nat") && !natEIP[e.instanceID].IsValid() {
			natEIP[e.instanceID] = e.ip
		}
	}
	for _, g := range im.nats {
		byID[g.id] = g
		for _, t := range g.snatTabs {
			bySnat[t] = g
		}
		for _, t := range g.fwdTabs {
			byFwd[t] = g
		}
		out := &topology.NATGateway{Name: g.final, VSwitch: im.vswName(g.vswID), Origin: g.o.origin(g.id)}
		switch {
		case len(g.eips) > 0:
			out.EIP = g.eips[0]
		case natEIP[g.id].IsValid():
			out.EIP = natEIP[g.id]
		}
		g.out = out
	}
	gateway := func(o obj, natID, table, tableKey string) *nat {
		if g := byID[natID]; g != nil {
			return g
		}
		var g *nat
		if tableKey == "SnatTableId" {
			g = bySnat[table]
		} else {
			g = byFwd[table]
		}
		if g == nil {
			o.errf(tableKey, "", "%s %s belongs to no NAT gateway in the input: add the DescribeNatGateways response of its gateway", tableKey, table)
		}
		return g
	}
	// publicIP checks an entry's public address against its gateway's: a
	// gateway whose EIP the input does not give takes the entry's.
	publicIP := func(g *nat, o obj, key string, a netip.Addr) bool {
		switch {
		case !a.IsValid():
		case !g.out.EIP.IsValid():
			g.out.EIP = a
		case g.out.EIP != a:
			o.unsupported(key, o.entity, fmt.Sprintf("%s %s is not the gateway's first EIP %s; vpclab NAT gateways have one EIP", key, a, g.out.EIP))
			return false
		}
		return true
	}
	for _, e := range im.snats {
		g := gateway(e.o, e.natID, e.table, "SnatTableId")
		if g == nil {
			continue
		}
		var ip netip.Addr
		if e.ip != "" {
			first, _, _ := strings.Cut(e.ip, ",")
			a, ok := e.o.parseAddr("SnatIp", strings.TrimSpace(first))
			if !ok {
				continue
			}
			ip = a
		}
		if !publicIP(g, e.o, "SnatIp", ip) {
			continue
		}
		vsw := ""
		if e.vswID != "" {
			vsw = im.vswName(e.vswID)
		} else {
			for _, v := range im.vswitches {
				if v.cidr == e.cidr {
					vsw = v.final
				}
			}
			if vsw == "" {
				e.o.unsupported("SourceCIDR", e.o.entity, fmt.Sprintf("SNAT for %s, which is not a vswitch of the input; vpclab gives SNAT to whole vswitches", e.cidr))
				continue
			}
		}
		if !slices.Contains(g.out.SNAT, vsw) {
			g.out.SNAT = append(g.out.SNAT, vsw)
		}
	}
	type dnatKey struct {
		g *nat
		d topology.DNAT
	}
	dnatSeen := map[dnatKey]bool{}
	for _, e := range im.dnats {
		g := gateway(e.o, e.natID, e.table, "ForwardTableId")
		if g == nil || !publicIP(g, e.o, "ExternalIp", e.external) {
			continue
		}
		in := byIP[e.internal]
		if in == nil {
			e.o.errf("InternalIp", "", "no instance in the input has the private address %s: add the DescribeInstances response that holds it", e.internal)
			continue
		}
		d := topology.DNAT{Protocol: e.proto, PublicPort: e.extPort, Instance: in.final, Port: e.intPort}
		k := dnatKey{g, d}
		if dnatSeen[k] {
			continue // the same entry given twice
		}
		dnatSeen[k] = true
		d.Origin = e.o.origin(e.o.entity)
		g.out.DNAT = append(g.out.DNAT, d)
	}
	for _, g := range im.nats {
		if !g.out.EIP.IsValid() {
			g.out.Assigned = []string{"eip"}
		}
		fr.NATGateways = append(fr.NATGateways, *g.out)
	}
}
