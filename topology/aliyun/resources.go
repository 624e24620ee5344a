package aliyun

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/topology"
)

// seen reports whether an entity of a kind was read before, and marks it:
// a resource given twice (two pages, two files) is imported once.
func (im *importer) seen(kind, id string) bool {
	k := kind + "\x00" + id
	if im.ids[k] {
		return true
	}
	im.ids[k] = true
	return false
}

// vpcRef is a VpcId some entity names, to check the input is one VPC.
type vpcRef struct {
	id  string
	o   obj
	key string
}

type vpc struct {
	id, name string
	cidr     netip.Prefix
	o        obj
}

type vswitch struct {
	id, name, vpcID string
	cidr            netip.Prefix
	o               obj
	final           string
}

type instance struct {
	id, name  string
	vswID     string
	ip        netip.Addr
	eip       netip.Addr
	groupIDs  []string
	groupObjs obj
	o         obj
	final     string
}

type eip struct {
	ip           netip.Addr
	instanceID   string
	instanceType string
	o            obj
}

type nat struct {
	id, name string
	vswID    string
	eips     []netip.Addr
	snatTabs []string
	fwdTabs  []string
	o        obj
	final    string
	out      *topology.NATGateway
}

type snatEntry struct {
	table, natID string
	vswID        string
	cidr         netip.Prefix
	ip           string
	o            obj
}

type dnatEntry struct {
	table, natID string
	proto        string
	external     netip.Addr
	extPort      int
	internal     netip.Addr
	intPort      int
	o            obj
}

func (im *importer) instancesResponse(o obj) {
	for _, s := range o.items("Instances", "Instance") {
		im.instance(s)
	}
}

// instance reads one instance of DescribeInstances, or the response of
// DescribeInstanceAttribute, which is one instance.
func (im *importer) instance(s obj) {
	id := s.str("InstanceId")
	if id == "" {
		s.errf("InstanceId", "", "an instance without InstanceId")
		return
	}
	s.entity = id
	in := &instance{id: id, name: s.str("InstanceName"), o: s}
	va := s.sub("VpcAttributes")
	if va.n == nil || va.str("VSwitchId") == "" {
		s.unsupported("InstanceNetworkType", id, "an instance of the classic network (no VpcAttributes.VSwitchId); vpclab models a VPC")
		return
	}
	in.vswID = va.str("VSwitchId")
	if v := va.str("VpcId"); v != "" {
		im.vpcRefs = append(im.vpcRefs, vpcRef{v, va, "VpcId"})
	}
	ips, path := va.list("PrivateIpAddress", "IpAddress")
	for i, n := range ips {
		if n.kind != kString {
			va.errAt(n, path(i), fmt.Sprintf("want a string, got %s", n.kind), "")
			continue
		}
		if i > 0 {
			va.unsupportedAt(n, path(i), id, "a secondary private IP; vpclab instances have one address")
			continue
		}
		pip := obj{im: im, src: va.src, n: &node{kind: kObject, off: n.off, members: []member{{"IpAddress", n}}}, path: path(i), entity: id}
		if a, ok := pip.parseAddr("IpAddress", n.str); ok {
			in.ip = a
		}
	}
	for _, ni := range s.items("NetworkInterfaces", "NetworkInterface") {
		if strings.EqualFold(ni.str("Type"), "Secondary") {
			ni.unsupported("Type", id, "a secondary network interface; vpclab instances have one NIC")
		}
	}
	// The address the internet reaches: an EIP, else the fixed public IP
	// assigned at creation, which maps 1:1 to the private address alike.
	if e := s.sub("EipAddress"); e.n != nil {
		if a, ok := e.addr("IpAddress"); ok && a.IsValid() {
			in.eip = a
		}
	}
	if !in.eip.IsValid() {
		pubs, path := s.list("PublicIpAddress", "IpAddress")
		for i, n := range pubs {
			if n.kind != kString || n.str == "" {
				continue
			}
			pip := obj{im: im, src: s.src, n: &node{kind: kObject, off: n.off, members: []member{{"IpAddress", n}}}, path: path(i), entity: id}
			if a, ok := pip.parseAddr("IpAddress", n.str); ok && i == 0 {
				in.eip = a
			}
		}
	}
	in.groupIDs = s.strings("SecurityGroupIds", "SecurityGroupId")
	in.groupObjs = s
	if !im.seen("instance", id) { // the same instance on two pages or in two files
		im.instances = append(im.instances, in)
	}
}

func (im *importer) vpcsResponse(o obj) {
	for _, s := range o.items("Vpcs", "Vpc") {
		im.vpc(s)
	}
}

// vpc reads one VPC of DescribeVpcs, or the response of
// DescribeVpcAttribute.
func (im *importer) vpc(s obj) {
	id := s.str("VpcId")
	if id == "" {
		s.errf("VpcId", "", "a VPC without VpcId")
		return
	}
	s.entity = id
	v := &vpc{id: id, name: s.str("VpcName"), o: s}
	if pf, ok := s.prefix("CidrBlock"); ok {
		v.cidr = pf
	}
	if len(s.strings("SecondaryCidrBlocks", "SecondaryCidrBlock")) > 0 {
		s.unsupported("SecondaryCidrBlocks", id, "secondary CIDR blocks of a VPC; vpclab's VPC has one CIDR")
	}
	if !im.seen("vpc", id) {
		im.vpcs = append(im.vpcs, v)
	}
}

func (im *importer) vswitchesResponse(o obj) {
	for _, s := range o.items("VSwitches", "VSwitch") {
		im.vswitch(s)
	}
}

// vswitch reads one vswitch of DescribeVSwitches, or the response of
// DescribeVSwitchAttributes.
func (im *importer) vswitch(s obj) {
	id := s.str("VSwitchId")
	if id == "" {
		s.errf("VSwitchId", "", "a vswitch without VSwitchId")
		return
	}
	s.entity = id
	v := &vswitch{id: id, name: s.str("VSwitchName"), vpcID: s.str("VpcId"), o: s}
	if pf, ok := s.prefix("CidrBlock"); ok {
		v.cidr = pf
	}
	if v.vpcID != "" {
		im.vpcRefs = append(im.vpcRefs, vpcRef{v.vpcID, s, "VpcId"})
	}
	if im.vswByID[id] == nil {
		im.vswByID[id] = v
		im.vswitches = append(im.vswitches, v)
	}
}

func (im *importer) eipsResponse(o obj) {
	for _, s := range o.items("EipAddresses", "EipAddress") {
		s.entity = s.str("AllocationId")
		e := &eip{instanceID: s.str("InstanceId"), instanceType: s.str("InstanceType"), o: s}
		if e.instanceID == "" {
			continue // not associated: nothing reaches it
		}
		a, ok := s.addr("IpAddress")
		if !ok {
			continue
		}
		e.ip = a
		switch strings.ToLower(e.instanceType) {
		case "ecsinstance", "nat":
			im.eips = append(im.eips, e)
		default:
			s.unsupported("InstanceType", s.entity, fmt.Sprintf("an EIP associated with %s %s; vpclab models EIPs of ECS instances and NAT gateways", e.instanceType, e.instanceID))
		}
	}
}

func (im *importer) natsResponse(o obj) {
	for _, s := range o.items("NatGateways", "NatGateway") {
		id := s.str("NatGatewayId")
		if id == "" {
			s.errf("NatGatewayId", "", "a NAT gateway without NatGatewayId")
			continue
		}
		s.entity = id
		g := &nat{id: id, name: s.str("Name"), o: s}
		if v := s.str("VpcId"); v != "" {
			im.vpcRefs = append(im.vpcRefs, vpcRef{v, s, "VpcId"})
		}
		if strings.EqualFold(s.str("NetworkType"), "intranet") {
			s.unsupported("NetworkType", id, "a VPC NAT gateway (NetworkType intranet); vpclab models internet NAT gateways")
			continue
		}
		pi := s.sub("NatGatewayPrivateInfo")
		if pi.n != nil {
			g.vswID = pi.str("VswitchId")
		}
		if g.vswID == "" {
			g.vswID = s.str("VSwitchId")
		}
		if g.vswID == "" {
			s.errf("NatGatewayPrivateInfo", "", "a NAT gateway without NatGatewayPrivateInfo.VswitchId: vpclab needs the vswitch it sits in")
		}
		for _, ip := range s.items("IpLists", "IpList") {
			if a, ok := ip.addr("IpAddress"); ok && a.IsValid() {
				g.eips = append(g.eips, a)
			}
		}
		g.snatTabs = s.strings("SnatTableIds", "SnatTableId")
		g.fwdTabs = s.strings("ForwardTableIds", "ForwardTableId")
		if !im.seen("nat", id) {
			im.nats = append(im.nats, g)
		}
	}
}

func (im *importer) snatResponse(o obj) {
	for _, s := range o.items("SnatTableEntries", "SnatTableEntry") {
		s.entity = s.str("SnatEntryId")
		e := &snatEntry{table: s.str("SnatTableId"), natID: s.str("NatGatewayId"), vswID: s.str("SourceVSwitchId"), ip: s.str("SnatIp"), o: s}
		if e.vswID == "" {
			pf, ok := s.prefix("SourceCIDR")
			if !ok {
				continue
			}
			if !pf.IsValid() {
				s.errf("SourceVSwitchId", "", "a SNAT entry without SourceVSwitchId or SourceCIDR")
				continue
			}
			e.cidr = pf
		}
		im.snats = append(im.snats, e)
	}
}

func (im *importer) dnatResponse(o obj) {
	for _, s := range o.items("ForwardTableEntries", "ForwardTableEntry") {
		s.entity = s.str("ForwardEntryId")
		e := &dnatEntry{table: s.str("ForwardTableId"), natID: s.str("NatGatewayId"), o: s}
		switch p := strings.ToLower(s.str("IpProtocol")); p {
		case "tcp", "udp":
			e.proto = p
		case "any":
			s.unsupported("IpProtocol", s.entity, "a DNAT entry for any protocol (IP mapping); vpclab forwards one TCP or UDP port")
			continue
		default:
			s.errf("IpProtocol", "TCP, UDP, Any", "unknown IpProtocol %q", s.str("IpProtocol"))
			continue
		}
		ok := true
		port := func(key string) int {
			v := s.str(key)
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				if strings.EqualFold(v, "any") || strings.Contains(v, "/") {
					s.unsupported(key, s.entity, fmt.Sprintf("a DNAT entry for ports %q; vpclab forwards one port", v))
				} else {
					s.errf(key, "1..65535", "port %q out of range", v)
				}
				ok = false
			}
			return n
		}
		e.extPort, e.intPort = port("ExternalPort"), port("InternalPort")
		var good bool
		if e.external, good = s.addr("ExternalIp"); !good {
			ok = false
		}
		if e.internal, good = s.addr("InternalIp"); !good {
			ok = false
		} else if !e.internal.IsValid() {
			s.errf("InternalIp", "", "a DNAT entry without InternalIp")
			ok = false
		}
		if ok {
			im.dnats = append(im.dnats, e)
		}
	}
}
