package fix

import (
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

const mergeBase = `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.0.0/24}]
security_groups:
  - name: sg-b
  - name: sg-a
    rules:
RULES
instances:
  - {name: a, vswitch: vsw, security_groups: [sg-a]}
  - {name: b, vswitch: vsw, security_groups: [sg-b]}
`

func TestMerge(t *testing.T) {
	const in = "direction: ingress, protocol: tcp"
	tests := []struct {
		name  string
		rules []string
		want  []string // the group's rules after, as the firewall prints them
	}{
		{"adjacent ports", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", in + ", port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/23 source 0.0.0.0/0"}},
		{"overlapping ports, later first", []string{in + ", port_range: 25/30, source: 0.0.0.0/0", in + ", port_range: 20/26, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 20/30 source 0.0.0.0/0"}},
		{"ports with a gap", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", in + ", port_range: 24/24, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "ingress accept priority 1 tcp 24/24 source 0.0.0.0/0"}},
		{"chain of three", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", in + ", port_range: 24/24, source: 0.0.0.0/0", in + ", port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/24 source 0.0.0.0/0"}},
		{"CIDR halves", []string{in + ", port_range: 80/80, source: 10.0.0.0/25", in + ", port_range: 80/80, source: 10.0.0.128/25"},
			[]string{"ingress accept priority 1 tcp 80/80 source 10.0.0.0/24"}},
		{"CIDRs of one size, not halves", []string{in + ", port_range: 80/80, source: 10.0.0.128/25", in + ", port_range: 80/80, source: 10.0.1.0/25"},
			[]string{"ingress accept priority 1 tcp 80/80 source 10.0.0.128/25", "ingress accept priority 1 tcp 80/80 source 10.0.1.0/25"}},
		{"CIDR inside another", []string{in + ", port_range: 80/80, source: 10.0.0.7", in + ", port_range: 80/80, source: 10.0.0.0/24"},
			[]string{"ingress accept priority 1 tcp 80/80 source 10.0.0.0/24"}},
		{"source ports", []string{in + ", port_range: 80/80, source: 0.0.0.0/0, source_port_range: 1000/1999", in + ", port_range: 80/80, source: 0.0.0.0/0, source_port_range: 2000/2999"},
			[]string{"ingress accept priority 1 tcp 80/80 source 0.0.0.0/0 source_port_range 1000/2999"}},
		{"identical", []string{in + ", port_range: 80/80, source: 0.0.0.0/0", in + ", port_range: 80, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 80/80 source 0.0.0.0/0"}},
		{"same group, adjacent ports", []string{in + ", port_range: 80/80, source_group: sg-b", in + ", port_range: 81/81, source_group: sg-b"},
			[]string{"ingress accept priority 1 tcp 80/81 source_group sg-b"}},
		{"icmp halves", []string{"direction: ingress, protocol: icmp, source: 10.0.0.0/25", "direction: ingress, protocol: icmp, source: 10.0.0.128/25"},
			[]string{"ingress accept priority 1 icmp source 10.0.0.0/24"}},
		{"another policy", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", in + ", policy: drop, port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "ingress drop priority 1 tcp 23/23 source 0.0.0.0/0"}},
		{"another priority", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", in + ", priority: 2, port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "ingress accept priority 2 tcp 23/23 source 0.0.0.0/0"}},
		{"another direction", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", "direction: egress, protocol: tcp, port_range: 23/23, destination: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "egress accept priority 1 tcp 23/23 destination 0.0.0.0/0"}},
		{"another protocol", []string{in + ", port_range: 22/22, source: 0.0.0.0/0", "direction: ingress, protocol: udp, port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "ingress accept priority 1 udp 23/23 source 0.0.0.0/0"}},
		{"another remote kind", []string{in + ", port_range: 22/22, source: 10.0.0.0/24", in + ", port_range: 22/22, source_group: sg-b"},
			[]string{"ingress accept priority 1 tcp 22/22 source 10.0.0.0/24", "ingress accept priority 1 tcp 22/22 source_group sg-b"}},
		{"two fields differ", []string{in + ", port_range: 22/22, source: 10.0.0.0/25", in + ", port_range: 23/23, source: 10.0.0.128/25"},
			[]string{"ingress accept priority 1 tcp 22/22 source 10.0.0.0/25", "ingress accept priority 1 tcp 23/23 source 10.0.0.128/25"}},
		{"another local_cidr", []string{in + ", port_range: 22/22, source: 0.0.0.0/0, local_cidr: 10.0.0.0/25", in + ", port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0 local_cidr 10.0.0.0/25", "ingress accept priority 1 tcp 23/23 source 0.0.0.0/0"}},
		{"another managed_by", []string{in + ", port_range: 22/22, source: 0.0.0.0/0, managed_by: dts", in + ", port_range: 23/23, source: 0.0.0.0/0"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0 managed_by dts", "ingress accept priority 1 tcp 23/23 source 0.0.0.0/0"}},
		{"two descriptions", []string{in + `, port_range: 22/22, source: 0.0.0.0/0, description: "a"`, in + `, port_range: 23/23, source: 0.0.0.0/0, description: "b"`},
			[]string{`ingress accept priority 1 tcp 22/22 source 0.0.0.0/0 "a"`, `ingress accept priority 1 tcp 23/23 source 0.0.0.0/0 "b"`}},
		{"second without description", []string{in + `, port_range: 22/22, source: 0.0.0.0/0, description: "a"`, in + `, port_range: 23/23, source: 0.0.0.0/0`},
			[]string{`ingress accept priority 1 tcp 22/23 source 0.0.0.0/0 "a"`}},
		{"first without description", []string{in + `, port_range: 22/22, source: 0.0.0.0/0`, in + `, port_range: 23/23, source: 0.0.0.0/0, description: "b"`},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", `ingress accept priority 1 tcp 23/23 source 0.0.0.0/0 "b"`}},
		{"field not written in place", []string{in + ", port_range: &p 22/22, source: 0.0.0.0/0", in + ", port_range: 23/23, source: 0.0.0.0/0", in + ", port_range: *p, source: 10.0.0.0/8"},
			[]string{"ingress accept priority 1 tcp 22/22 source 0.0.0.0/0", "ingress accept priority 1 tcp 23/23 source 0.0.0.0/0", "ingress accept priority 1 tcp 22/22 source 10.0.0.0/8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, style := range []string{"block", "flow"} {
				var rules string
				if style == "block" {
					for _, r := range tc.rules {
						rules += "      - {" + r + "}\n"
					}
				} else {
					rules = "      [{" + strings.Join(tc.rules, "}, {") + "}]\n"
				}
				data := []byte(strings.Replace(mergeBase, "RULES\n", rules, 1))
				topo, err := topology.Load("merge.yaml", data)
				if err != nil {
					t.Fatalf("%s: %v", style, err)
				}
				out, _, err := Fix(data, topo, nil)
				if err != nil {
					t.Fatalf("%s: %v", style, err)
				}
				nt, err := topology.Load("merge.yaml", out)
				if err != nil {
					t.Fatalf("%s: %v\n%s", style, err, out)
				}
				var got []string
				for _, g := range nt.SecurityGroups {
					if g.Name == "sg-a" {
						for _, r := range g.Firewall().Rules {
							got = append(got, r.String())
						}
					}
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("%s: got\n%s\nwant\n%s\nfile:\n%s", style, strings.Join(got, "\n"), strings.Join(tc.want, "\n"), out)
				}
				sameVerdicts(t, topo, nt, 2000)
			}
		})
	}
}
