// Package aws imports AWS security groups, instances, subnets and VPCs —
// the JSON that `aws ec2 describe-security-groups`, `describe-instances`
// (or `run-instances`), `describe-subnets` and `describe-vpcs` print, one or
// many files — as a topology Fragment (format "aws"). The Terraform
// aws_security_group resources are mapped onto the same model (SecurityGroup,
// Permission, ...) and share its translation, Translate.
//
// # Translation onto vpclab's semantics
//
// AWS security groups are allow-lists evaluated as a union over all groups
// of a network interface, stateful, with ingress denied and egress denied
// unless a rule allows it. vpclab evaluates Alibaba Cloud rules (priority,
// accept/drop, inner_access, default ingress deny and default egress
// accept). The import maps one onto the other exactly, or says why not:
//
//   - Every AWS rule becomes an accept at priority 1: one rule per IpRanges
//     entry (source on ingress, destination on egress; a bare address is a
//     /32) and per UserIdGroupPairs entry (source_group/destination_group
//     = the referenced group's name, or its id when the group is not in the
//     input, for the user's file to define).
//   - IpProtocol -1 (or "all") is protocol all; tcp/udp (6/17) keep
//     FromPort..ToPort as port_range (0..65535 is 1/65535); icmp (1) with
//     type and code -1 is icmp; 47 is gre (AWS ignores its ports).
//   - AWS denies egress that no rule allows, vpclab's basic groups accept
//     it: every group whose egress rules do not already accept all traffic
//     to 0.0.0.0/0 gets an egress drop of all traffic to 0.0.0.0/0 at
//     priority 100. A group without egress rules thus denies egress, and an
//     accept of any group on the same instance (priority 1) still wins, as
//     AWS's union would have it. AWS's default egress rule (-1 to
//     0.0.0.0/0) is an accept-all and needs no drop.
//   - Ingress: AWS's implicit deny and vpclab's default ingress deny agree.
//   - Members of an AWS group do not reach each other unless the group
//     references itself. A group is inner_access: accept when it allows
//     all traffic in from itself and lets all traffic out to its members
//     (egress -1 to itself, or to a CIDR holding the imported VPC, such as
//     the default 0.0.0.0/0); else inner_access: drop. vpclab refuses a rule
//     that references its own group (InvalidParameter.Conflict), so a
//     self-reference limited to some protocols or ports has no exact
//     encoding: it is refused with the reason — unless a CIDR rule of the
//     same group that holds every member already allows the same traffic,
//     when it changes nothing and is left out.
//   - AWS's stateful tracking and vpclab's conntrack agree: the reply of an
//     allowed connection passes.
//   - Subnets become vswitches, the VPC the vpc, instances instances
//     (PrivateIpAddress, SubnetId → the subnet's vswitch,
//     SecurityGroups[].GroupId, PublicIpAddress → eip; no private address
//     yet → "ip" in Assigned). Terminated and shutting-down instances are
//     not part of the network and are left out.
//   - Names: GroupName for groups, the Name tag for instances, subnets and
//     the VPC, spaces written as '-'; the id when there is none, when two
//     share a name, and for groups called "default" (in vpclab "default"
//     is Alibaba Cloud's system group, which has rules of its own).
//
// Refused as unsupported (errors, or with SkipUnsupported entries of
// Fragment.Skipped): IPv6 ranges and ICMPv6, ICMP types or codes, other IP
// protocols, prefix lists (their CIDRs are not in the output), groups of
// other accounts or across VPC peering, a second VPC or VPC CIDR, a second
// network interface, port 0 alone. Every error names the file, line and
// column of the JSON value, the field path (SecurityGroups[0].IpPermissions[1].IpProtocol)
// and the group or instance id.
package aws
