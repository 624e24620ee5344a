package aws

import (
	"fmt"
	"strconv"

	"github.com/vpclab/vpclab/topology"
)

// decoder maps a parsed describe-* document onto the AWS model. AWS adds
// response fields over time, so keys it does not know are ignored; a known
// key holding the wrong kind of value is an error.
type decoder struct {
	file string
	rep  *report
	m    *inputs
}

// inputs is everything read so far, in input order.
type inputs struct {
	groups    []SecurityGroup
	instances []Instance
	subnets   []Subnet
	vpcs      []Vpc
}

// topKeys are the top-level keys an input must have at least one of.
const topKeys = "SecurityGroups (describe-security-groups), Reservations (describe-instances), Instances (run-instances), Subnets (describe-subnets), Vpcs (describe-vpcs)"

func (d *decoder) origin(n *node, resource string) topology.Origin {
	return topology.Origin{File: d.file, Line: n.line, Column: n.col, Resource: resource}
}

func (d *decoder) failAt(n *node, path, entity, msg, allowed string) {
	d.rep.fail(d.origin(n, ""), path, entity, msg, allowed)
}

// document reads one file's top-level object.
func (d *decoder) document(root *node) {
	if root.kind != kObject {
		d.failAt(root, "", "", fmt.Sprintf("the input is %s; expected the JSON object an `aws ec2 describe-*` command prints", root.kind), topKeys)
		return
	}
	known := false
	for _, key := range []string{"SecurityGroups", "Reservations", "Instances", "Subnets", "Vpcs"} {
		v := root.get(key)
		if v == nil {
			continue
		}
		known = true
		for i, e := range d.objects(v, key, "") {
			p := fmt.Sprintf("%s[%d]", key, i)
			switch key {
			case "SecurityGroups":
				d.group(e, p)
			case "Reservations":
				for j, in := range d.objects(e.get("Instances"), p+".Instances", "") {
					d.instance(in, fmt.Sprintf("%s.Instances[%d]", p, j))
				}
			case "Instances":
				d.instance(e, p)
			case "Subnets":
				d.subnet(e, p)
			case "Vpcs":
				d.vpc(e, p)
			}
		}
	}
	if !known {
		d.failAt(root, "", "", "no known key: this is not the output of an `aws ec2 describe-*` command this importer reads", topKeys)
	}
}

// objects returns the elements of an array of objects (nil or null: none).
func (d *decoder) objects(n *node, path, entity string) []*node {
	if n == nil || n.kind == kNull {
		return nil
	}
	if n.kind != kArray {
		d.failAt(n, path, entity, fmt.Sprintf("%s where an array is expected", n.kind), "")
		return nil
	}
	out := make([]*node, 0, len(n.vals))
	for i, e := range n.vals {
		if e.kind != kObject {
			d.failAt(e, fmt.Sprintf("%s[%d]", path, i), entity, fmt.Sprintf("%s where an object is expected", e.kind), "")
			continue
		}
		out = append(out, e)
	}
	return out
}

// str returns the string at key of obj ("" when absent or null).
func (d *decoder) str(obj *node, key, path, entity string) string {
	v := obj.get(key)
	if v == nil || v.kind == kNull {
		return ""
	}
	if v.kind != kString {
		d.failAt(v, path+"."+key, entity, fmt.Sprintf("%s where a string is expected", v.kind), "")
		return ""
	}
	return v.text
}

// port returns the integer at key of obj (nil when absent or null).
func (d *decoder) port(obj *node, key, path, entity string) *int {
	v := obj.get(key)
	if v == nil || v.kind == kNull {
		return nil
	}
	text := v.text
	if v.kind != kNumber && v.kind != kString {
		d.failAt(v, path+"."+key, entity, fmt.Sprintf("%s where a number is expected", v.kind), "-1..65535")
		return nil
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < -1 || n > 65535 {
		d.failAt(v, path+"."+key, entity, fmt.Sprintf("%q is not a port, ICMP type or code", text), "-1..65535")
		return nil
	}
	return &n
}

func (d *decoder) tags(obj *node, path, entity string) []Tag {
	var out []Tag
	for i, t := range d.objects(obj.get("Tags"), path+".Tags", entity) {
		p := fmt.Sprintf("%s.Tags[%d]", path, i)
		out = append(out, Tag{Key: d.str(t, "Key", p, entity), Value: d.str(t, "Value", p, entity)})
	}
	return out
}

func (d *decoder) group(n *node, path string) {
	g := SecurityGroup{Path: path}
	g.GroupId = d.str(n, "GroupId", path, "")
	g.GroupName = d.str(n, "GroupName", path, g.GroupId)
	g.VpcId = d.str(n, "VpcId", path, g.GroupId)
	g.OwnerId = d.str(n, "OwnerId", path, g.GroupId)
	g.Origin = d.origin(n, g.GroupId)
	g.IpPermissions = d.permissions(n, path, "IpPermissions", g.GroupId)
	g.IpPermissionsEgress = d.permissions(n, path, "IpPermissionsEgress", g.GroupId)
	d.m.groups = append(d.m.groups, g)
}

func (d *decoder) permissions(g *node, gpath, key, id string) []Permission {
	var out []Permission
	for i, n := range d.objects(g.get(key), gpath+"."+key, id) {
		path := fmt.Sprintf("%s.%s[%d]", gpath, key, i)
		p := Permission{Path: path, Origin: d.origin(n, id)}
		p.IpProtocol = d.str(n, "IpProtocol", path, id)
		p.FromPort = d.port(n, "FromPort", path, id)
		p.ToPort = d.port(n, "ToPort", path, id)
		for j, r := range d.objects(n.get("IpRanges"), path+".IpRanges", id) {
			rp := fmt.Sprintf("%s.IpRanges[%d]", path, j)
			p.IpRanges = append(p.IpRanges, IpRange{CidrIp: d.str(r, "CidrIp", rp, id),
				Description: d.str(r, "Description", rp, id), Origin: d.origin(r, id), Path: rp})
		}
		for j, r := range d.objects(n.get("Ipv6Ranges"), path+".Ipv6Ranges", id) {
			rp := fmt.Sprintf("%s.Ipv6Ranges[%d]", path, j)
			p.Ipv6Ranges = append(p.Ipv6Ranges, Ipv6Range{CidrIpv6: d.str(r, "CidrIpv6", rp, id),
				Description: d.str(r, "Description", rp, id), Origin: d.origin(r, id), Path: rp})
		}
		for j, r := range d.objects(n.get("PrefixListIds"), path+".PrefixListIds", id) {
			rp := fmt.Sprintf("%s.PrefixListIds[%d]", path, j)
			p.PrefixListIds = append(p.PrefixListIds, PrefixListId{PrefixListId: d.str(r, "PrefixListId", rp, id),
				Description: d.str(r, "Description", rp, id), Origin: d.origin(r, id), Path: rp})
		}
		for j, r := range d.objects(n.get("UserIdGroupPairs"), path+".UserIdGroupPairs", id) {
			rp := fmt.Sprintf("%s.UserIdGroupPairs[%d]", path, j)
			p.UserIdGroupPairs = append(p.UserIdGroupPairs, UserIdGroupPair{
				GroupId: d.str(r, "GroupId", rp, id), GroupName: d.str(r, "GroupName", rp, id),
				UserId: d.str(r, "UserId", rp, id), VpcId: d.str(r, "VpcId", rp, id),
				VpcPeeringConnectionId: d.str(r, "VpcPeeringConnectionId", rp, id),
				Description:            d.str(r, "Description", rp, id), Origin: d.origin(r, id), Path: rp})
		}
		out = append(out, p)
	}
	return out
}

func (d *decoder) instance(n *node, path string) {
	in := Instance{Path: path}
	in.InstanceId = d.str(n, "InstanceId", path, "")
	id := in.InstanceId
	in.Origin = d.origin(n, id)
	in.PrivateIpAddress = d.str(n, "PrivateIpAddress", path, id)
	in.PublicIpAddress = d.str(n, "PublicIpAddress", path, id)
	in.SubnetId = d.str(n, "SubnetId", path, id)
	in.VpcId = d.str(n, "VpcId", path, id)
	if st := n.get("State"); st != nil && st.kind == kObject {
		in.State = d.str(st, "Name", path+".State", id)
	}
	for i, g := range d.objects(n.get("SecurityGroups"), path+".SecurityGroups", id) {
		p := fmt.Sprintf("%s.SecurityGroups[%d]", path, i)
		in.SecurityGroups = append(in.SecurityGroups, GroupIdentifier{GroupId: d.str(g, "GroupId", p, id),
			GroupName: d.str(g, "GroupName", p, id), Origin: d.origin(g, id), Path: p})
	}
	for i, e := range d.objects(n.get("NetworkInterfaces"), path+".NetworkInterfaces", id) {
		eni := d.str(e, "NetworkInterfaceId", fmt.Sprintf("%s.NetworkInterfaces[%d]", path, i), id)
		in.NetworkInterfaces = append(in.NetworkInterfaces, eni)
	}
	in.Tags = d.tags(n, path, id)
	d.m.instances = append(d.m.instances, in)
}

func (d *decoder) subnet(n *node, path string) {
	s := Subnet{Path: path}
	s.SubnetId = d.str(n, "SubnetId", path, "")
	s.Origin = d.origin(n, s.SubnetId)
	s.VpcId = d.str(n, "VpcId", path, s.SubnetId)
	s.CidrBlock = d.str(n, "CidrBlock", path, s.SubnetId)
	s.Tags = d.tags(n, path, s.SubnetId)
	d.m.subnets = append(d.m.subnets, s)
}

func (d *decoder) vpc(n *node, path string) {
	v := Vpc{Path: path}
	v.VpcId = d.str(n, "VpcId", path, "")
	v.Origin = d.origin(n, v.VpcId)
	v.CidrBlock = d.str(n, "CidrBlock", path, v.VpcId)
	for i, a := range d.objects(n.get("CidrBlockAssociationSet"), path+".CidrBlockAssociationSet", v.VpcId) {
		p := fmt.Sprintf("%s.CidrBlockAssociationSet[%d]", path, i)
		state := ""
		if st := a.get("CidrBlockState"); st != nil && st.kind == kObject {
			state = d.str(st, "State", p+".CidrBlockState", v.VpcId)
		}
		if c := d.str(a, "CidrBlock", p, v.VpcId); c != "" && (state == "" || state == "associated") {
			v.CidrBlocks = append(v.CidrBlocks, VpcCidrBlock{CidrBlock: c, Origin: d.origin(a, v.VpcId), Path: p})
		}
	}
	v.Tags = d.tags(n, path, v.VpcId)
	d.m.vpcs = append(d.m.vpcs, v)
}
