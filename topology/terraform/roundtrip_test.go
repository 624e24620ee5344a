package terraform

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// randomGroups returns n groups with ClassBench-like rules: prefixes of
// every length (most /16../32), single ports, well-known ranges and
// any, both policies and directions, priorities 1..100, references
// to other groups.
func randomGroups(rng *rand.Rand, n, rules int) []topology.SecurityGroup {
	gs := make([]topology.SecurityGroup, n)
	for i := range gs {
		gs[i] = topology.SecurityGroup{Name: fmt.Sprintf("alicloud_security_group.g%d", i)}
		switch rng.IntN(3) {
		case 1:
			gs[i].Type = "enterprise"
		case 2:
			gs[i].InnerAccess = "drop"
		}
	}
	protos := []string{"tcp", "udp", "icmp", "gre", "all"}
	for k := 0; k < rules; k++ {
		g := &gs[rng.IntN(n)]
		r := topology.Rule{Direction: "ingress", Policy: "accept", Priority: 1 + rng.IntN(100),
			Protocol: protos[rng.IntN(len(protos))], NICType: "intranet", PortRange: "-1/-1"}
		if rng.IntN(2) == 0 {
			r.Direction = "egress"
		}
		if rng.IntN(3) == 0 {
			r.Policy = "drop"
		}
		if r.Protocol == "tcp" || r.Protocol == "udp" {
			switch rng.IntN(3) {
			case 0:
				p := 1 + rng.IntN(65535)
				r.PortRange = fmt.Sprintf("%d/%d", p, p)
			case 1:
				lo := 1 + rng.IntN(65535)
				r.PortRange = fmt.Sprintf("%d/%d", lo, lo+rng.IntN(65536-lo))
			default:
				r.PortRange = "1/65535"
			}
		}
		if rng.IntN(5) == 0 {
			ref := gs[rng.IntN(n)].Name
			if r.Direction == "egress" {
				r.DestinationGroup = ref
			} else {
				r.SourceGroup = ref
			}
		} else {
			bits := []int{0, 8, 12, 16, 20, 24, 28, 32}[rng.IntN(8)]
			if rng.IntN(2) == 0 {
				bits = rng.IntN(33)
			}
			a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			c := netip.PrefixFrom(a, bits).Masked().String()
			if r.Direction == "egress" {
				r.Destination = c
			} else {
				r.Source = c
			}
		}
		if rng.IntN(4) == 0 {
			r.Description = fmt.Sprintf("rule %d", k)
		}
		g.Rules = append(g.Rules, r)
	}
	return gs
}

// writeTerraform writes groups as alicloud resources: groups, then one
// alicloud_security_group_rule per rule, some through locals and
// variables, in a directory of two files.
func writeTerraform(t testing.TB, dir string, gs []topology.SecurityGroup) {
	var groups, rules strings.Builder
	addr := func(name string) string { return strings.TrimPrefix(name, "alicloud_security_group.") }
	groups.WriteString("variable \"default_priority\" {\n  type    = number\n  default = 1\n}\n\nlocals {\n  egress = \"egress\"\n}\n\n")
	k := 0
	for _, g := range gs {
		fmt.Fprintf(&groups, "resource \"alicloud_security_group\" %q {\n  security_group_name = %q\n", addr(g.Name), addr(g.Name))
		if g.Type == "enterprise" {
			groups.WriteString("  security_group_type = \"enterprise\"\n")
		}
		if g.InnerAccess == "drop" {
			groups.WriteString("  inner_access_policy = \"Drop\"\n")
		}
		groups.WriteString("}\n\n")
		for _, r := range g.Rules {
			fmt.Fprintf(&rules, "resource \"alicloud_security_group_rule\" \"r%d\" {\n", k)
			if r.Direction == "egress" && k%2 == 0 {
				rules.WriteString("  type              = local.egress\n")
			} else {
				fmt.Fprintf(&rules, "  type              = %q\n", r.Direction)
			}
			fmt.Fprintf(&rules, "  ip_protocol       = %q\n  port_range        = %q\n  policy            = %q\n", r.Protocol, r.PortRange, r.Policy)
			if r.Priority == 1 && k%3 == 0 {
				rules.WriteString("  priority          = var.default_priority\n")
			} else {
				fmt.Fprintf(&rules, "  priority          = %d\n", r.Priority)
			}
			fmt.Fprintf(&rules, "  security_group_id = alicloud_security_group.%s.id\n", addr(g.Name))
			switch {
			case r.SourceGroup != "":
				fmt.Fprintf(&rules, "  source_security_group_id = %s.id\n", r.SourceGroup)
			case r.DestinationGroup != "":
				fmt.Fprintf(&rules, "  source_security_group_id = %s.id\n", r.DestinationGroup)
			default:
				fmt.Fprintf(&rules, "  cidr_ip           = %q\n", r.Source+r.Destination)
			}
			if r.Description != "" {
				fmt.Fprintf(&rules, "  description       = %q\n", r.Description)
			}
			rules.WriteString("}\n\n")
			k++
		}
	}
	for name, b := range map[string]string{"groups.tf": groups.String(), "rules.tf": rules.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoundTrip writes random groups as Terraform, imports them and
// compares the rules exactly: the translation is 1:1 (a rule resource is
// one rule with the same fields), so equal rule lists decide every packet
// alike; comparing them is stronger than sampling verdicts.
func TestRoundTrip(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			want := randomGroups(rng, 1+rng.IntN(6), rng.IntN(80))
			dir := t.TempDir()
			writeTerraform(t, dir, want)
			frag, err := Import([]string{dir}, topology.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(frag.SecurityGroups) != len(want) {
				t.Fatalf("imported %d groups, wrote %d", len(frag.SecurityGroups), len(want))
			}
			for i, g := range frag.SecurityGroups {
				w := want[i]
				if g.Name != w.Name || g.InnerAccess != w.InnerAccess || (g.Type != w.Type && !(w.Type == "" && g.Type == "")) {
					t.Errorf("group %d: got %s type %q inner %q, want %s type %q inner %q", i, g.Name, g.Type, g.InnerAccess, w.Name, w.Type, w.InnerAccess)
				}
				for j := range g.Rules {
					if g.Rules[j].Origin.IsZero() || g.Rules[j].Origin.Line < 1 {
						t.Errorf("group %s rule %d has no origin", g.Name, j)
					}
					g.Rules[j].Origin = topology.Origin{}
				}
				if !reflect.DeepEqual(g.Rules, w.Rules) && !(len(g.Rules) == 0 && len(w.Rules) == 0) {
					t.Errorf("group %s rules differ:\n got %+v\nwant %+v", g.Name, g.Rules, w.Rules)
				}
			}
		})
	}
}
