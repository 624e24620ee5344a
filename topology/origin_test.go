package topology

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// TestOriginOf checks that the firewall's rule index leads back to the
// file's rule: past the default group's system rules and past a rule
// written twice, which the firewall holds once.
func TestOriginOf(t *testing.T) {
	src := `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: v, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg
    origin: {file: main.tf, line: 1, column: 1, resource: alicloud_security_group.sg}
    rules:
      - {direction: ingress, protocol: tcp, port_range: 22, source: 0.0.0.0/0, origin: {file: main.tf, line: 5, column: 1, resource: alicloud_security_group_rule.a}}
      - {direction: ingress, protocol: tcp, port_range: 22/22, source: 0.0.0.0/0, description: same rule, origin: {file: main.tf, line: 9, column: 1, resource: alicloud_security_group_rule.dup}}
      - {direction: ingress, protocol: udp, port_range: 53, source: 10.0.0.0/8, origin: {file: main.tf, line: 13, column: 1, resource: alicloud_security_group_rule.dns}}
      - {direction: ingress, protocol: icmp, source: 10.0.0.0/8}
  - name: default
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80, source: 0.0.0.0/0, origin: {file: d.tf, line: 3, column: 5, resource: alicloud_security_group_rule.web}}
instances:
  - {name: a, vswitch: v, security_groups: [sg]}
  - {name: b, vswitch: v}
`
	top, err := Load("o.yaml", []byte(src))
	require.NoError(t, err)
	fw := firewall.New(firewall.Config{})
	defer fw.Close()
	require.NoError(t, fw.Update(func(tx *firewall.Tx) error {
		for i := range top.SecurityGroups {
			if err := tx.CreateGroup(top.SecurityGroups[i].Firewall()); err != nil {
				return err
			}
		}
		return nil
	}))
	explain := func(group string, index int) *firewall.Explanation {
		g, ok := fw.Group(group)
		require.True(t, ok)
		x := &firewall.Explanation{Group: group, RuleIndex: index}
		if index >= 0 {
			x.Rule = g.Rules[index].String()
		}
		return x
	}
	sys := len(firewall.SystemRules())
	for _, tc := range []struct {
		name string
		x    *firewall.Explanation
		want string
	}{
		{"first rule", explain("sg", 0), "main.tf:5:1 alicloud_security_group_rule.a"},
		{"after a duplicate", explain("sg", 1), "main.tf:13:1 alicloud_security_group_rule.dns"},
		{"rule without origin: its group's", explain("sg", 2), "main.tf:1:1 alicloud_security_group.sg"},
		{"inner access: the group's", &firewall.Explanation{Group: "sg", RuleIndex: -1}, "main.tf:1:1 alicloud_security_group.sg"},
		{"default group after its system rules", explain("default", sys), "d.tf:3:5 alicloud_security_group_rule.web"},
		{"a system rule", explain("default", 0), ""},
		{"no group", &firewall.Explanation{RuleIndex: -1}, ""},
		{"a rule changed since", &firewall.Explanation{Group: "sg", RuleIndex: 0, Rule: "ingress accept tcp 23/23"}, ""},
		{"past the end", &firewall.Explanation{Group: "sg", RuleIndex: 9}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, top.OriginOf(tc.x).String())
		})
	}
}

// TestOriginOfExamples: in every example, each rule the firewall holds
// leads back to a file rule that the firewall holds as that same rule.
func TestOriginOfExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			top, err := LoadFile(f)
			require.NoError(t, err)
			for i := range top.SecurityGroups {
				for j := range top.SecurityGroups[i].Rules {
					top.SecurityGroups[i].Rules[j].Origin = Origin{File: "f", Line: j + 1, Column: i + 1}
				}
			}
			fw := firewall.New(firewall.Config{Quotas: top.Quotas.Firewall()})
			defer fw.Close()
			require.NoError(t, fw.Update(func(tx *firewall.Tx) error {
				for i := range top.SecurityGroups {
					if err := tx.CreateGroup(top.SecurityGroups[i].Firewall()); err != nil {
						return err
					}
				}
				return nil
			}))
			for i := range top.SecurityGroups {
				name := top.SecurityGroups[i].Name
				g, ok := fw.Group(name)
				require.True(t, ok)
				for k, r := range g.Rules {
					o := top.OriginOf(&firewall.Explanation{Group: name, RuleIndex: k, Rule: r.String()})
					if name == firewall.DefaultGroupName && k < len(firewall.SystemRules()) {
						assert.True(t, o.IsZero())
						continue
					}
					require.False(t, o.IsZero(), "group %s rule %d (%s) has no origin", name, k, r)
					fr, _ := top.SecurityGroups[o.Column-1].Rules[o.Line-1].firewall()
					assert.Equal(t, r.String(), fr.String())
				}
			}
		})
	}
}
