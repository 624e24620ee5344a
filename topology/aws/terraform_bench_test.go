package aws

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// writeTerraformBench writes an AWS configuration of groups groups, rules
// rule resources (alternating aws_security_group_rule and
// aws_vpc_security_group_*_rule, every fourth a group reference) and
// instances instances over 4 subnets, in 4 files.
func writeTerraformBench(b testing.TB, dir string, groups, rules, instances int) {
	var net, sg, rl, vm strings.Builder
	net.WriteString("variable \"cidr\" {\n  default = \"10.0.0.0/16\"\n}\n\nresource \"aws_vpc\" \"main\" {\n  cidr_block = var.cidr\n}\n\n")
	for i := range 4 {
		fmt.Fprintf(&net, "resource \"aws_subnet\" \"s%d\" {\n  vpc_id     = aws_vpc.main.id\n  cidr_block = cidrsubnet(var.cidr, 8, %d)\n}\n\n", i, i)
	}
	for i := range groups {
		fmt.Fprintf(&sg, "resource \"aws_security_group\" \"g%d\" {\n  name   = \"g%d\"\n  vpc_id = aws_vpc.main.id\n\n  egress {\n    protocol    = \"-1\"\n    from_port   = 0\n    to_port     = 0\n    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n\n", i, i)
	}
	for i := range rules {
		remote := fmt.Sprintf("cidr_blocks = [\"10.%d.%d.0/24\"]", i/256%256, i%256)
		if i%4 == 3 {
			remote = fmt.Sprintf("source_security_group_id = aws_security_group.g%d.id", (i+1)%groups)
		}
		if i%2 == 0 {
			fmt.Fprintf(&rl, "resource \"aws_security_group_rule\" \"r%d\" {\n  type              = \"ingress\"\n  security_group_id = aws_security_group.g%d.id\n  protocol          = \"tcp\"\n  from_port         = %d\n  to_port           = %d\n  %s\n  description       = format(\"rule %%d\", %d)\n}\n\n",
				i, i%groups, 1+i, 1+i, remote, i)
			continue
		}
		remote = strings.NewReplacer("cidr_blocks = [", "cidr_ipv4 = ", "\"]", "\"", "source_security_group_id", "referenced_security_group_id").Replace(remote)
		fmt.Fprintf(&rl, "resource \"aws_vpc_security_group_ingress_rule\" \"r%d\" {\n  security_group_id = aws_security_group.g%d.id\n  ip_protocol       = \"udp\"\n  from_port         = %d\n  to_port           = %d\n  %s\n}\n\n",
			i, i%groups, 1+i, 1+i, remote)
	}
	for i := range instances {
		fmt.Fprintf(&vm, "resource \"aws_instance\" \"vm%d\" {\n  ami                    = \"ami-0123456789abcdef0\"\n  instance_type          = \"t3.micro\"\n  subnet_id              = aws_subnet.s%d.id\n  vpc_security_group_ids = [aws_security_group.g%d.id, aws_security_group.g%d.id]\n  private_ip             = cidrhost(aws_subnet.s%d.cidr_block, %d)\n  tags = {\n    Name = \"vm%d\"\n  }\n}\n\n",
			i, i%4, i%groups, (i+1)%groups, i%4, 10+i/4, i)
	}
	for name, s := range map[string]string{"network.tf": net.String(), "groups.tf": sg.String(), "rules.tf": rl.String(), "instances.tf": vm.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportTerraformRules500Instances200 imports a directory of 20
// groups, 500 rules and 200 instances (issue 12: at most 1 s).
func BenchmarkImportTerraformRules500Instances200(b *testing.B) {
	dir := b.TempDir()
	writeTerraformBench(b, dir, 20, 500, 200)
	b.ReportAllocs()
	for b.Loop() {
		frag, err := Import([]string{dir}, topology.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(frag.Instances) != 200 || len(frag.SecurityGroups) != 20 {
			b.Fatalf("%d instances, %d groups", len(frag.Instances), len(frag.SecurityGroups))
		}
	}
}
