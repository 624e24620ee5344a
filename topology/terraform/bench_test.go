package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// writeBenchDir writes a configuration of groups groups, rules rules and
// instances instances, one resource each, over 4 vswitches and 4 files.
func writeBenchDir(b testing.TB, dir string, groups, rules, instances int) {
	var net, sg, rl, vm strings.Builder
	net.WriteString("variable \"cidr\" {\n  default = \"10.0.0.0/16\"\n}\n\nresource \"alicloud_vpc\" \"main\" {\n  cidr_block = var.cidr\n}\n\n")
	for i := range 4 {
		fmt.Fprintf(&net, "resource \"alicloud_vswitch\" \"s%d\" {\n  vpc_id     = alicloud_vpc.main.id\n  cidr_block = cidrsubnet(var.cidr, 8, %d)\n  zone_id    = \"cn-hangzhou-i\"\n}\n\n", i, i)
	}
	for i := range groups {
		fmt.Fprintf(&sg, "resource \"alicloud_security_group\" \"g%d\" {\n  security_group_name = \"g%d\"\n  vpc_id              = alicloud_vpc.main.id\n}\n\n", i, i)
	}
	for i := range rules {
		fmt.Fprintf(&rl, "resource \"alicloud_security_group_rule\" \"r%d\" {\n  type              = %q\n  ip_protocol       = \"tcp\"\n  port_range        = \"%d/%d\"\n  priority          = %d\n  cidr_ip           = \"10.%d.%d.0/24\"\n  security_group_id = alicloud_security_group.g%d.id\n  description       = format(\"rule %%d\", %d)\n}\n\n",
			i, []string{"ingress", "egress"}[i%2], 1+i%65535, 1+i%65535, 1+i%100, i/256%256, i%256, i%groups, i)
	}
	for i := range instances {
		fmt.Fprintf(&vm, "resource \"alicloud_instance\" \"vm%d\" {\n  image_id        = \"ubuntu_22_04_x64_20G_alibase_20240130.vhd\"\n  instance_type   = \"ecs.g7.large\"\n  vswitch_id      = alicloud_vswitch.s%d.id\n  security_groups = [alicloud_security_group.g%d.id, alicloud_security_group.g%d.id]\n  private_ip      = cidrhost(alicloud_vswitch.s%d.cidr_block, %d)\n  tags = {\n    Name = \"vm%d\"\n  }\n}\n\n",
			i, i%4, i%groups, (i+1)%groups, i%4, 10+i/4, i)
	}
	for name, s := range map[string]string{"network.tf": net.String(), "groups.tf": sg.String(), "rules.tf": rl.String(), "instances.tf": vm.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportRules500Instances200 imports a directory of 20 groups,
// 500 rules and 200 instances (issue 12: at most 1 s).
func BenchmarkImportRules500Instances200(b *testing.B) {
	dir := b.TempDir()
	writeBenchDir(b, dir, 20, 500, 200)
	b.ReportAllocs()
	for b.Loop() {
		frag, err := Import([]string{dir}, topology.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(frag.Instances) != 200 {
			b.Fatalf("%d instances", len(frag.Instances))
		}
	}
}
