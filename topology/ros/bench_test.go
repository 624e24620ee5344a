package ros

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// benchTemplate is a YAML template of groups rules (inline, short tags)
// spread over 10 groups, and instances Instance resources.
func benchTemplate(rules, instances int) []byte {
	var b strings.Builder
	b.WriteString("ROSTemplateFormatVersion: '2015-09-01'\nParameters:\n  Office: {Type: String, Default: 192.0.2.0/24}\nResources:\n")
	b.WriteString("  Vpc:\n    Type: ALIYUN::ECS::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n")
	b.WriteString("  Sw:\n    Type: ALIYUN::ECS::VSwitch\n    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.0.0/20}\n")
	for g := range 10 {
		fmt.Fprintf(&b, "  Sg%d:\n    Type: ALIYUN::ECS::SecurityGroup\n    Properties:\n      VpcId: !Ref Vpc\n      SecurityGroupIngress:\n", g)
		for r := g; r < rules; r += 10 {
			fmt.Fprintf(&b, "        - {IpProtocol: tcp, PortRange: !Sub '%d/${P}', SourceCidrIp: !Ref Office, Priority: %d}\n", 1000+r, 1+r%100)
		}
	}
	for i := range instances {
		fmt.Fprintf(&b, "  Vm%d:\n    Type: ALIYUN::ECS::Instance\n    Properties: {VSwitchId: !Ref Sw, SecurityGroupIds: [!Ref Sg%d, !GetAtt Sg%d.SecurityGroupId], AllocatePublicIP: false}\n", i, i%10, (i+1)%10)
	}
	return []byte(strings.ReplaceAll(b.String(), "${P}", "2000"))
}

// BenchmarkImportROSRules500Instances200 is the Terraform target of the
// issue (500 rules, 200 instances in ≤ 1 s) applied to a ROS template.
func BenchmarkImportROSRules500Instances200(b *testing.B) {
	path := filepath.Join(b.TempDir(), "t.yaml")
	if err := os.WriteFile(path, benchTemplate(500, 200), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		frag, err := Import([]string{path}, topology.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(frag.Instances) != 200 {
			b.Fatalf("%d instances", len(frag.Instances))
		}
	}
}
