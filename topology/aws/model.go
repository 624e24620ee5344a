package aws

import "github.com/vpclab/vpclab/topology"

// The AWS model: what `aws ec2 describe-security-groups`, `describe-instances`,
// `describe-subnets` and `describe-vpcs` say, with the field names of the EC2
// API, reduced to what decides reachability. The JSON importer fills it; the
// Terraform importer maps aws_security_group (and its rule resources) onto it;
// Translate turns it into a topology.Fragment.
//
// Every element carries its Origin (file, line, column, the AWS id or the
// Terraform address) and Path, the input's field path of the element
// ("SecurityGroups[0].IpPermissions[2]"): Translate's errors name
// Path + "." + the AWS field.

// SecurityGroup is one EC2 security group.
type SecurityGroup struct {
	GroupId             string // sg-...; what rules reference (UserIdGroupPairs[].GroupId)
	GroupName           string // what users call it; the fragment's group name
	VpcId               string
	OwnerId             string // the account; a pair with another UserId is cross-account
	IpPermissions       []Permission
	IpPermissionsEgress []Permission
	Origin              topology.Origin
	Path                string
}

// Permission is one entry of IpPermissions or IpPermissionsEgress: a
// protocol and port range allowed to or from each of its ranges and groups.
type Permission struct {
	// IpProtocol is "-1" (or "all"), tcp, udp, icmp, icmpv6 or a protocol
	// number ("6", "17", "1", "47", ...), any case.
	IpProtocol string
	// FromPort and ToPort are the port range for tcp/udp, the ICMP type and
	// code for icmp (-1: all); nil when absent.
	FromPort, ToPort *int
	IpRanges         []IpRange
	Ipv6Ranges       []Ipv6Range
	PrefixListIds    []PrefixListId
	UserIdGroupPairs []UserIdGroupPair
	Origin           topology.Origin
	Path             string
}

// IpRange is an IPv4 CIDR of a permission.
type IpRange struct {
	CidrIp      string
	Description string
	Origin      topology.Origin // zero: the permission's
	Path        string
}

// Ipv6Range is an IPv6 CIDR of a permission (vpclab is IPv4 only).
type Ipv6Range struct {
	CidrIpv6    string
	Description string
	Origin      topology.Origin
	Path        string
}

// PrefixListId is a managed prefix list of a permission.
type PrefixListId struct {
	PrefixListId string
	Description  string
	Origin       topology.Origin
	Path         string
}

// UserIdGroupPair is a security group a permission allows traffic from
// (ingress) or to (egress): the private addresses of its members.
type UserIdGroupPair struct {
	GroupId                string
	GroupName              string
	UserId                 string
	VpcId                  string
	VpcPeeringConnectionId string
	Description            string
	Origin                 topology.Origin
	Path                   string
}

// Tag is a resource tag; the Name tag names instances, subnets and VPCs.
type Tag struct {
	Key, Value string
}

// GroupIdentifier is a security group of an instance.
type GroupIdentifier struct {
	GroupId, GroupName string
	Origin             topology.Origin
	Path               string
}

// Instance is one EC2 instance (Reservations[].Instances[]).
type Instance struct {
	InstanceId       string
	PrivateIpAddress string // "" when the cloud has not assigned one yet
	PublicIpAddress  string // the public IPv4 (an EIP or an auto-assigned address)
	SubnetId         string
	VpcId            string
	State            string // State.Name: pending, running, stopped, terminated, ...
	SecurityGroups   []GroupIdentifier
	// NetworkInterfaces lists the ids of the instance's ENIs; vpclab
	// instances have one NIC.
	NetworkInterfaces []string
	Tags              []Tag
	Origin            topology.Origin
	Path              string
}

// Subnet is one subnet (a vswitch).
type Subnet struct {
	SubnetId  string
	VpcId     string
	CidrBlock string
	Tags      []Tag
	Origin    topology.Origin
	Path      string
}

// Vpc is one VPC.
type Vpc struct {
	VpcId     string
	CidrBlock string
	// CidrBlocks are the associated IPv4 blocks (CidrBlockAssociationSet,
	// state "associated"), CidrBlock among them; vpclab VPCs have one.
	CidrBlocks []VpcCidrBlock
	Tags       []Tag
	Origin     topology.Origin
	Path       string
}

// VpcCidrBlock is an IPv4 block associated with a VPC.
type VpcCidrBlock struct {
	CidrBlock string
	Origin    topology.Origin
	Path      string
}

// nameTag returns the value of the Name tag, or "".
func nameTag(tags []Tag) string {
	for _, t := range tags {
		if t.Key == "Name" {
			return t.Value
		}
	}
	return ""
}
