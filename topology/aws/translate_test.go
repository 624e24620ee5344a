package aws

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/topology"
)

// TestTranslate drives Translate directly, as the Terraform mapping will:
// names, references, the egress drop-all and inner_access.
func TestTranslate(t *testing.T) {
	at := func(line int, res string) topology.Origin {
		return topology.Origin{File: "main.tf", Line: line, Column: 1, Resource: res}
	}
	all := Permission{IpProtocol: "-1", IpRanges: []IpRange{{CidrIp: "0.0.0.0/0"}}, Origin: at(9, "aws_security_group.web")}
	groups := []SecurityGroup{
		{GroupId: "aws_security_group.web", GroupName: "web tier", Origin: at(1, "aws_security_group.web"),
			IpPermissions: []Permission{
				{IpProtocol: "TCP", FromPort: new(0), ToPort: new(65535), Origin: at(3, "aws_security_group.web"),
					IpRanges: []IpRange{{CidrIp: "192.0.2.7", Description: "one\thost"}}},
				{IpProtocol: "006", FromPort: new(443), ToPort: new(443), Origin: at(5, "aws_security_group.web"),
					UserIdGroupPairs: []UserIdGroupPair{{GroupId: "aws_security_group.lb"}, {GroupId: "sg-elsewhere"}}},
			},
			IpPermissionsEgress: []Permission{all}},
		{GroupId: "aws_security_group.lb", GroupName: "default", Origin: at(20, "aws_security_group.lb"),
			IpPermissions: []Permission{
				{IpProtocol: "-1", UserIdGroupPairs: []UserIdGroupPair{{GroupId: "aws_security_group.lb"}}, Origin: at(22, "x")},
			},
			IpPermissionsEgress: []Permission{{IpProtocol: "17", FromPort: new(53), ToPort: new(53),
				IpRanges: []IpRange{{CidrIp: "10.0.0.2/32"}}, Origin: at(24, "x")},
				{IpProtocol: "-1", UserIdGroupPairs: []UserIdGroupPair{{GroupId: "aws_security_group.lb"}}, Origin: at(25, "x")}}},
		{GroupId: "sg-a", GroupName: "twin", Origin: at(30, "a")},
		{GroupId: "sg-b", GroupName: "twin", Origin: at(31, "b")},
	}
	instances := []Instance{
		{InstanceId: "i-1", SubnetId: "subnet-1", Tags: []Tag{{"Name", "web 1"}}, PublicIpAddress: "47.0.0.1",
			SecurityGroups: []GroupIdentifier{{GroupId: "aws_security_group.web"}, {GroupId: "sg-elsewhere"}}},
		{InstanceId: "i-2", SubnetId: "subnet-9", State: "stopped", SecurityGroups: []GroupIdentifier{{GroupId: "sg-a"}}},
		{InstanceId: "i-3", SubnetId: "subnet-1", State: "terminated"},
	}
	subnets := []Subnet{{SubnetId: "subnet-1", CidrBlock: "10.0.1.0/24", Tags: []Tag{{"Name", "app"}}}}
	vpcs := []Vpc{{VpcId: "vpc-1", CidrBlock: "10.0.0.0/16", CidrBlocks: []VpcCidrBlock{{CidrBlock: "10.0.0.0/16"}}}}

	frag, err := Translate(groups, instances, subnets, vpcs, topology.ImportOptions{})
	require.NoError(t, err)
	assert.Equal(t, "vpc-1", frag.VPC.Name, "no Name tag: the id")
	require.Len(t, frag.VSwitches, 1)
	assert.Equal(t, "app", frag.VSwitches[0].Name)

	require.Len(t, frag.SecurityGroups, 4)
	web, lb := frag.SecurityGroups[0], frag.SecurityGroups[1]
	assert.Equal(t, "web-tier", web.Name, "spaces become '-'")
	assert.Equal(t, "aws_security_group.lb", lb.Name, `a group called "default" is named by its id`)
	assert.Equal(t, []string{"sg-a", "sg-b"}, []string{frag.SecurityGroups[2].Name, frag.SecurityGroups[3].Name}, "shared names: ids")

	assert.Equal(t, "drop", web.InnerAccess)
	require.Len(t, web.Rules, 4, "two ingress pairs, one range, the default egress; no drop-all")
	assert.Equal(t, topology.Rule{Direction: "ingress", Policy: "accept", Priority: 1, Protocol: "tcp", PortRange: "1/65535",
		Source: "192.0.2.7/32", Description: "one host", Origin: at(3, "aws_security_group.web")}, web.Rules[0],
		"port 0 is 1; a bare address is a /32; the range's zero origin is the permission's")
	assert.Equal(t, "aws_security_group.lb", web.Rules[1].SourceGroup, "a reference by the group's fragment name")
	assert.Equal(t, "sg-elsewhere", web.Rules[2].SourceGroup, "a group not in the input: its id")

	// lb: all traffic in from and out to itself: inner_access accept, and
	// its egress (udp 53 only) gets the drop-all.
	assert.Equal(t, "accept", lb.InnerAccess)
	require.Len(t, lb.Rules, 2)
	assert.Equal(t, "drop", lb.Rules[1].Policy)

	// Without the egress self-reference, members' egress to each other is
	// not all allowed, so inner_access accept would be wrong: refused.
	lbOneWay := groups[1]
	lbOneWay.IpPermissionsEgress = lbOneWay.IpPermissionsEgress[:1]
	_, err = Translate([]SecurityGroup{lbOneWay}, nil, nil, nil, topology.ImportOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "main.tf:22:1: not supported: the group lets its members in on all traffic")

	require.Len(t, frag.Instances, 2, "the terminated instance is left out")
	assert.Equal(t, "web-1", frag.Instances[0].Name)
	assert.Equal(t, "app", frag.Instances[0].VSwitch)
	assert.Equal(t, "47.0.0.1", frag.Instances[0].EIP.String())
	assert.Equal(t, []string{"web-tier", "sg-elsewhere"}, frag.Instances[0].SecurityGroups)
	assert.Equal(t, []string{"ip"}, frag.Instances[0].Assigned, "no private address yet: assigned")
	assert.Equal(t, "subnet-9", frag.Instances[1].VSwitch, "a subnet not in the input: its id")
}

// TestTranslateEgressDropAll: every group whose egress does not accept all
// traffic to 0.0.0.0/0 gets the drop-all at 100, not only groups without
// egress rules — else vpclab's default egress accept would allow the rest.
func TestTranslateEgressDropAll(t *testing.T) {
	tests := []struct {
		name   string
		egress []Permission
		drop   bool
	}{
		{"none", nil, true},
		{"default allow all", []Permission{{IpProtocol: "-1", IpRanges: []IpRange{{CidrIp: "0.0.0.0/0"}}}}, false},
		{"all to part of the internet", []Permission{{IpProtocol: "-1", IpRanges: []IpRange{{CidrIp: "10.0.0.0/8"}}}}, true},
		{"tcp only", []Permission{{IpProtocol: "tcp", FromPort: new(0), ToPort: new(65535), IpRanges: []IpRange{{CidrIp: "0.0.0.0/0"}}}}, true},
		{"all to a group", []Permission{{IpProtocol: "-1", UserIdGroupPairs: []UserIdGroupPair{{GroupId: "sg-2"}}}}, true},
		{"only IPv6, skipped", []Permission{{IpProtocol: "-1", Ipv6Ranges: []Ipv6Range{{CidrIpv6: "::/0"}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := SecurityGroup{GroupId: "sg-1", GroupName: "g", IpPermissionsEgress: tt.egress}
			frag, err := Translate([]SecurityGroup{g}, nil, nil, nil, topology.ImportOptions{SkipUnsupported: true})
			require.NoError(t, err)
			rules := frag.SecurityGroups[0].Rules
			hasDrop := len(rules) > 0 && rules[len(rules)-1].Policy == "drop"
			assert.Equal(t, tt.drop, hasDrop)
			if hasDrop {
				assert.Equal(t, topology.Rule{Direction: "egress", Policy: "drop", Priority: 100, Protocol: "all",
					PortRange: "-1/-1", Destination: "0.0.0.0/0",
					Description: "AWS denies egress that no rule allows (added by the import)"}, rules[len(rules)-1])
			}
		})
	}
}

// TestTranslateSelfCoveredByVPC: a limited self-reference is exact when a
// CIDR rule holding the whole imported VPC allows the same traffic.
func TestTranslateSelfCoveredByVPC(t *testing.T) {
	g := SecurityGroup{GroupId: "sg-1", GroupName: "db", VpcId: "vpc-1", IpPermissions: []Permission{
		{IpProtocol: "tcp", FromPort: new(5432), ToPort: new(5432),
			IpRanges: []IpRange{{CidrIp: "10.0.0.0/8"}}, UserIdGroupPairs: []UserIdGroupPair{{GroupId: "sg-1"}}}}}
	vpcs := []Vpc{{VpcId: "vpc-1", CidrBlock: "10.0.0.0/16"}}
	_, err := Translate([]SecurityGroup{g}, nil, nil, vpcs, topology.ImportOptions{})
	require.NoError(t, err)
	_, err = Translate([]SecurityGroup{g}, nil, nil, nil, topology.ImportOptions{})
	require.Error(t, err, "without the VPC, 10.0.0.0/8 is not known to hold the members")
}
