package terraform

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/vpclab/vpclab/topology"
)

// TestEvaluateOtherProvider evaluates a schema of another provider's
// resource: Evaluate knows nothing of alicloud, so a second mapping (AWS)
// can reuse it.
func TestEvaluateOtherProvider(t *testing.T) {
	dir := t.TempDir()
	src := `
variable "ports" {
  type    = map(number)
  default = { https = 443, ssh = 22 }
}

resource "aws_security_group" "web" {
  name = "web"
}

resource "aws_vpc_security_group_ingress_rule" "in" {
  for_each          = var.ports
  security_group_id = aws_security_group.web.id
  from_port         = each.value
  to_port           = each.value
  ip_protocol       = "tcp"
  cidr_ipv4         = data.aws_ip_ranges.office.cidr_blocks[0]
}

data "aws_ip_ranges" "office" {}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := Schema{
		"aws_security_group": {Args: fields("name description vpc_id"), Relevant: fields("name")},
		"aws_vpc_security_group_ingress_rule": {
			Args:     fields("security_group_id from_port to_port ip_protocol cidr_ipv4"),
			Relevant: fields("security_group_id from_port to_port ip_protocol cidr_ipv4"),
		},
	}
	cfg, errs := Evaluate([]string{dir}, topology.ImportOptions{}, schema)
	if errs != nil {
		t.Fatal(errs)
	}
	var addrs []string
	for _, r := range cfg.Resources {
		addrs = append(addrs, r.Address)
	}
	want := []string{`aws_security_group.web`, `aws_vpc_security_group_ingress_rule.in["https"]`, `aws_vpc_security_group_ingress_rule.in["ssh"]`}
	if len(addrs) != len(want) {
		t.Fatalf("resources %q, want %q", addrs, want)
	}
	for i := range want {
		if addrs[i] != want[i] {
			t.Errorf("resource %d is %s, want %s", i, addrs[i], want[i])
		}
	}
	https := cfg.Resources[1]
	if got := https.Attrs["from_port"]; !got.RawEquals(cty.NumberIntVal(443)) {
		t.Errorf("from_port = %#v, want 443", got)
	}
	if got := https.Attrs["security_group_id"]; !got.RawEquals(cty.StringVal("aws_security_group.web")) {
		t.Errorf("security_group_id = %#v, want the group's address", got)
	}
	if https.Key != cty.StringVal("https") || https.Range.Start.Line != 11 {
		t.Errorf("key %#v at line %d, want \"https\" at 11", https.Key, https.Range.Start.Line)
	}
	cidr := https.Attrs["cidr_ipv4"]
	ws := WhyOf(cidr)
	if cidr.IsKnown() || len(ws) != 1 || ws[0] != (Why{Kind: "data", Name: "data.aws_ip_ranges.office"}) {
		t.Errorf("cidr_ipv4 = %#v with %v, want unknown from data.aws_ip_ranges.office", cidr, ws)
	}
}
