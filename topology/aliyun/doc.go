// Package aliyun imports the JSON that the Alibaba Cloud ECS and VPC APIs
// return — as the aliyun CLI, an SDK or the OpenAPI Explorer prints it —
// into a topology fragment (format "aliyun" of `vpclab import` and
// `imports:`).
//
// # Input
//
// Import takes files, or directories whose .json files it reads (not
// recursively, in name order). A file holds one JSON document or several
// (the output of a shell loop over groups), or an array of them; a document
// may be wrapped as {"DescribeXxxResponse": {...}}, the API's XML shape
// converted to JSON. Each document is recognised by its shape:
//
//	DescribeSecurityGroupAttribute  SecurityGroupId + Permissions
//	DescribeSecurityGroups          SecurityGroups.SecurityGroup[]
//	DescribeInstances               Instances.Instance[]
//	DescribeVpcs                    Vpcs.Vpc[]
//	DescribeVSwitches               VSwitches.VSwitch[]
//	DescribeEipAddresses            EipAddresses.EipAddress[]
//	DescribeNatGateways             NatGateways.NatGateway[]
//	DescribeSnatTableEntries        SnatTableEntries.SnatTableEntry[]
//	DescribeForwardTableEntries     ForwardTableEntries.ForwardTableEntry[]
//	DescribePrefixListAttributes    PrefixListId + Entries.Entry[]
//	DescribeInstanceAttribute       one instance (InstanceId + VpcAttributes)
//	DescribeVSwitchAttributes       one vswitch (VSwitchId + CidrBlock)
//	DescribeVpcAttribute            one VPC (VpcId + CidrBlock)
//
// Every list is read in the API's {"Outer": {"Inner": [...]}} shape, flat
// ({"Permissions": [...]}), or as a single object where XML conversion
// collapsed a list of one. Keys match exactly, else without regard to case.
// Pages of one group (NextToken) and the same group in several files merge
// by SecurityGroupId; an identical rule is kept once, as the cloud keeps it.
// Fields that do not decide reachability (tags, images, billing, times) are
// ignored.
//
// # Rules
//
// A Permission maps to a rule field by field: Direction, Policy (default
// accept) and IpProtocol in any case; Priority as a number or a string
// (default 1); PortRange ("-1/-1" for ICMP, GRE and ALL; "80" means 80/80);
// SourcePortRange. The remote side is SourceCidrIp or SourceGroupId for
// ingress and DestCidrIp or DestGroupId for egress — the CIDR when both are
// given, as the cloud does; a bare address is a /32. The other side's CIDR
// (DestCidrIp of an ingress rule, SourceCidrIp of an egress rule) is the
// rule's local_cidr (five-tuple rules). A rule without Direction (older
// responses) is ingress when it names a source and egress when it names a
// destination. SourcePrefixListId/DestPrefixListId expand to one rule per
// entry of the prefix list when its DescribePrefixListAttributes response
// is in the input.
//
// # Names and references
//
// Entities are named by SecurityGroupName, InstanceName, VpcName,
// VSwitchName and a NAT gateway's Name, with spaces turned into '-'; by
// their id when the name is empty, shared by two entities of a kind, or
// equal to another entity's id. A group, vswitch or instance named by id
// only (a rule's SourceGroupId, an instance's VSwitchId) whose own response
// is not in the input keeps its id as its name, so the user's topology can
// define it. A group that rules or instances reference but that the input
// does not describe becomes a group without rules named by its id, whose
// origin is the first place that references it: a reference means the
// group's members, which the user's topology supplies (users often export
// one group). DescribeSecurityGroupAttribute does not give a group's type:
// it is basic unless DescribeSecurityGroups in the input says enterprise.
//
// An instance takes its first VpcAttributes.PrivateIpAddress, its
// EipAddress, else its fixed public IP (PublicIpAddress, also a 1:1
// mapping), else the EIP that DescribeEipAddresses associates with it. A
// NAT gateway sits in NatGatewayPrivateInfo.VswitchId with the first
// address of IpLists (or its associated EIP, or the SNAT/DNAT entries'
// address; else the merge assigns one). SNAT and DNAT entries find their
// gateway by NatGatewayId or by the SnatTableIds/ForwardTableIds it lists;
// a SNAT entry gives SNAT to its SourceVSwitchId (or to the vswitch whose
// CIDR is its SourceCIDR); a DNAT entry targets the instance whose private
// address is its InternalIp. The input must be one VPC: DescribeVpcs may
// list others, which are left out when the other resources say which VPC
// is meant.
//
// # Errors
//
// Every problem of every file is returned at once as topology.Errors, each
// with the file, the line and column of the value, its field path in the
// response (Permissions.Permission[3].PortRange) and the entity. Addresses
// the console and documentation print masked (172.17.**.**, 139.xx.xx.40)
// are errors: they decide reachability and only a fresh export gives them.
// Understood but unsupported inputs are errors too, or with
// ImportOptions.SkipUnsupported entries of Fragment.Skipped: IPv6 rules
// and ICMPv6, port lists (PortRangeListId), rules referencing another
// account's group (SourceGroupOwnerAccount/DestGroupOwnerAccount),
// internet NIC rules, prefix lists not in the input, classic-network
// groups and instances, secondary private IPs and network interfaces,
// EIPs of load balancers and other products, DNAT for any protocol or
// port, SNAT for a CIDR that is not a vswitch, and NAT entries on a
// gateway's second EIP. Files are bounded to 16 MiB and nesting to 64
// levels.
package aliyun
