package topology

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoadImport500Rules200Instances loads a topology whose groups
// (10 of 50 rules), instances (200, EIPs assigned) and network come from
// an import: the merge's share of the issue's "500 rules and 200 instances
// in 1 s" (the importer's parsing is measured in its own package).
func BenchmarkLoadImport500Rules200Instances(b *testing.B) {
	dir := b.TempDir()
	var f Fragment
	f.VPC = VPC{Name: "alicloud_vpc.main", CIDR: netip.MustParsePrefix("10.0.0.0/16"), Origin: Origin{Line: 1, Column: 1, Resource: "alicloud_vpc.main"}}
	for v := range 4 {
		f.VSwitches = append(f.VSwitches, VSwitch{Name: fmt.Sprintf("alicloud_vswitch.v[%d]", v), CIDR: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", v)),
			Origin: Origin{Line: 10 + v, Column: 1}})
	}
	line := 100
	for g := range 10 {
		sg := SecurityGroup{Name: fmt.Sprintf("alicloud_security_group.g%d", g), Origin: Origin{Line: line, Column: 1}}
		for r := range 50 {
			line++
			rule := Rule{Direction: "ingress", Priority: 1 + r%100, Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", 1000+r, 1000+r),
				Source: fmt.Sprintf("198.51.%d.0/24", r), Origin: Origin{Line: line, Column: 1, Resource: fmt.Sprintf("alicloud_security_group_rule.r%d_%d", g, r)}}
			if r%5 == 0 {
				rule.Source, rule.SourceGroup = "", fmt.Sprintf("alicloud_security_group.g%d", (g+1)%10)
			}
			sg.Rules = append(sg.Rules, rule)
		}
		f.SecurityGroups = append(f.SecurityGroups, sg)
	}
	for i := range 200 {
		f.Instances = append(f.Instances, Instance{Name: fmt.Sprintf("alicloud_instance.web[%d]", i), VSwitch: fmt.Sprintf("alicloud_vswitch.v[%d]", i%4),
			SecurityGroups: []string{fmt.Sprintf("alicloud_security_group.g%d", i%10)}, Assigned: []string{"ip", "eip"},
			Origin: Origin{Line: 1000 + i, Column: 1}})
	}
	data, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	name := filepath.Join(dir, "top.yaml")
	src := []byte("version: 1\nimports: [{format: fragment, path: f.json}]\nexpect:\n  - {from: \"web[0]\", to: \"web[1]\", port: 1000, result: allow}\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(name, src); err != nil {
			b.Fatal(err)
		}
	}
}
