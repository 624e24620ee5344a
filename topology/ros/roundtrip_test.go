package ros

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// classbench reads the source prefixes and port ranges of the ClassBench
// rule set the firewall's tests keep (firewall/testdata/classbench).
func classbench(t *testing.T) (cidrs, ports []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "firewall", "testdata", "classbench", "fw1_500.rules"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(strings.TrimPrefix(sc.Text(), "@"), "\t")
		if len(fs) < 4 {
			continue
		}
		cidrs = append(cidrs, fs[0], fs[1])
		lo, hi, _ := strings.Cut(fs[3], " : ")
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if a >= 1 && b >= a {
			ports = append(ports, fmt.Sprintf("%d/%d", a, b))
		}
	}
	return cidrs, ports
}

// randomGroups builds groups of random rules: ClassBench CIDRs and port
// ranges, both policies, priorities 1..100, every protocol, references
// between the groups, source port ranges, local CIDRs.
func randomGroups(rng *rand.Rand, cidrs, ports []string) []topology.SecurityGroup {
	groups := make([]topology.SecurityGroup, 3)
	for i := range groups {
		groups[i] = topology.SecurityGroup{Name: fmt.Sprintf("Sg%d", i), Type: []string{"basic", "enterprise"}[rng.IntN(2)]}
		if groups[i].Type == "basic" {
			groups[i].InnerAccess = []string{"accept", "drop"}[rng.IntN(2)]
		}
	}
	for i := range groups {
		for range 5 + rng.IntN(25) {
			r := topology.Rule{
				Direction: []string{"ingress", "egress"}[rng.IntN(2)],
				Policy:    []string{"accept", "drop"}[rng.IntN(2)],
				Priority:  1 + rng.IntN(100),
				Protocol:  []string{"tcp", "udp", "icmp", "gre", "all"}[rng.IntN(5)],
				PortRange: "-1/-1",
				NICType:   "intranet",
			}
			if r.Protocol == "tcp" || r.Protocol == "udp" {
				r.PortRange = ports[rng.IntN(len(ports))]
				if rng.IntN(4) == 0 {
					r.SourcePortRange = ports[rng.IntN(len(ports))]
				}
			}
			remote := cidrs[rng.IntN(len(cidrs))]
			group := ""
			if rng.IntN(4) == 0 {
				group, remote = groups[rng.IntN(len(groups))].Name, ""
			}
			if r.Direction == "ingress" {
				r.Source, r.SourceGroup = remote, group
			} else {
				r.Destination, r.DestinationGroup = remote, group
			}
			if rng.IntN(5) == 0 {
				r.LocalCIDR = cidrs[rng.IntN(len(cidrs))]
			}
			if rng.IntN(3) == 0 {
				r.Description = fmt.Sprintf("rule %d of %s", len(groups[i].Rules), groups[i].Name)
			}
			groups[i].Rules = append(groups[i].Rules, r)
		}
	}
	return groups
}

// rosRule is a rule's properties as ROS names them; ref writes a group
// reference and portRange a port range, in the form under test.
func rosRule(r topology.Rule, ref func(string) any, portRange func(string) any) map[string]any {
	m := map[string]any{"IpProtocol": r.Protocol, "PortRange": portRange(r.PortRange),
		"Policy": r.Policy, "Priority": r.Priority, "NicType": r.NICType}
	if r.Direction == "ingress" {
		if r.Source != "" {
			m["SourceCidrIp"] = r.Source
		} else {
			m["SourceGroupId"] = ref(r.SourceGroup)
		}
		if r.LocalCIDR != "" {
			m["DestCidrIp"] = r.LocalCIDR
		}
	} else {
		if r.Destination != "" {
			m["DestCidrIp"] = r.Destination
		} else {
			m["DestGroupId"] = ref(r.DestinationGroup)
		}
		if r.LocalCIDR != "" {
			m["SourceCidrIp"] = r.LocalCIDR
		}
	}
	if r.SourcePortRange != "" {
		m["SourcePortRange"] = r.SourcePortRange
	}
	if r.Description != "" {
		m["Description"] = r.Description
	}
	return m
}

// templateJSON writes the groups as a JSON template in the long forms:
// inline rules and, for every third rule, SecurityGroupIngress/Egress
// resources; group references as Ref and Fn::GetAtt, port ranges through
// Fn::Join and Fn::Select.
func templateJSON(groups []topology.SecurityGroup) []byte {
	res := map[string]any{}
	n := 0
	for _, g := range groups {
		props := map[string]any{"SecurityGroupType": map[string]string{"basic": "normal", "enterprise": "enterprise"}[g.Type]}
		if g.InnerAccess != "" {
			props["InnerAccessPolicy"] = g.InnerAccess
		}
		var in, eg []any
		for _, r := range g.Rules {
			n++
			ref := func(s string) any { return map[string]any{"Ref": s} }
			pr := func(s string) any { return s }
			if n%2 == 0 {
				ref = func(s string) any { return map[string]any{"Fn::GetAtt": []any{s, "SecurityGroupId"}} }
				pr = func(s string) any {
					lo, hi, _ := strings.Cut(s, "/")
					return map[string]any{"Fn::Join": []any{"/", []any{lo, map[string]any{"Fn::Select": []any{"1", []any{"x", hi}}}}}}
				}
			}
			m := rosRule(r, ref, pr)
			switch {
			case n%3 == 0:
				m["SecurityGroupId"] = map[string]any{"Ref": g.Name}
				typ := typeIngress
				if r.Direction == "egress" {
					typ = typeEgress
				}
				res[fmt.Sprintf("Rule%d", n)] = map[string]any{"Type": typ, "Properties": m}
			case r.Direction == "ingress":
				in = append(in, m)
			default:
				eg = append(eg, m)
			}
		}
		props["SecurityGroupIngress"] = in
		props["SecurityGroupEgress"] = eg
		res[g.Name] = map[string]any{"Type": typeSecurityGroup, "Properties": props}
	}
	out, _ := json.MarshalIndent(map[string]any{"ROSTemplateFormatVersion": "2015-09-01", "Resources": res}, "", " ")
	return out
}

// templateYAML writes the groups as a YAML template with short tags: !Ref
// and !GetAtt Sg.SecurityGroupId for group references, !Sub for port
// ranges, a Priority through !If on a condition.
func templateYAML(groups []topology.SecurityGroup) []byte {
	var b strings.Builder
	b.WriteString("ROSTemplateFormatVersion: '2015-09-01'\nParameters:\n  Lo: {Type: String, Default: low}\n")
	b.WriteString("Conditions:\n  Low: !Equals [!Ref Lo, low]\nResources:\n")
	q := func(v any) string { s, _ := json.Marshal(v); return string(s) }
	n := 0
	for _, g := range groups {
		fmt.Fprintf(&b, "  %s:\n    Type: %s\n    Properties:\n", g.Name, typeSecurityGroup)
		fmt.Fprintf(&b, "      SecurityGroupType: %s\n", map[string]string{"basic": "normal", "enterprise": "enterprise"}[g.Type])
		if g.InnerAccess != "" {
			fmt.Fprintf(&b, "      InnerAccessPolicy: %s\n", g.InnerAccess)
		}
		for _, dir := range []string{"ingress", "egress"} {
			fmt.Fprintf(&b, "      SecurityGroup%s:\n", map[string]string{"ingress": "Ingress", "egress": "Egress"}[dir])
			for _, r := range g.Rules {
				if r.Direction != dir {
					continue
				}
				n++
				ref := func(s string) any { return "!Ref " + s }
				if n%2 == 0 {
					ref = func(s string) any { return "!GetAtt " + s + ".SecurityGroupId" }
				}
				m := rosRule(r, ref, func(s string) any { return s })
				keys := slices.Sorted(func(yield func(string) bool) {
					for k := range m {
						if !yield(k) {
							return
						}
					}
				})
				for i, k := range keys {
					if i == 0 {
						b.WriteString("        - ")
					} else {
						b.WriteString("          ")
					}
					v := m[k]
					switch s, _ := v.(string); {
					case k == "PortRange" && n%2 == 1:
						lo, hi, _ := strings.Cut(s, "/")
						fmt.Fprintf(&b, "%s: !Sub ['${P}/${Q}', {P: %s, Q: %s}]\n", k, q(lo), q(hi))
					case k == "Priority":
						fmt.Fprintf(&b, "%s: !If [Low, %d, 100]\n", k, v)
					case strings.HasPrefix(s, "!"):
						fmt.Fprintf(&b, "%s: %s\n", k, s)
					default:
						fmt.Fprintf(&b, "%s: %s\n", k, q(v))
					}
				}
			}
		}
	}
	return []byte(b.String())
}

// TestRoundTrip writes random groups as ROS templates (JSON long forms with
// rule resources, YAML short tags), imports them and checks every rule
// comes back as the same firewall rule. The translation is 1:1, so the
// normalized rule lists are compared exactly (as multisets: a group's
// decision does not depend on rule order).
func TestRoundTrip(t *testing.T) {
	cidrs, ports := classbench(t)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 12))
		groups := randomGroups(rng, cidrs, ports)
		for _, form := range []string{"json", "yaml"} {
			var data []byte
			if form == "json" {
				data = templateJSON(groups)
			} else {
				data = templateYAML(groups)
			}
			path := filepath.Join(t.TempDir(), "t."+form)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			frag, err := Import([]string{path}, topology.ImportOptions{})
			if err != nil {
				t.Fatalf("seed %d %s: %v\n%s", seed, form, err, data)
			}
			if len(frag.SecurityGroups) != len(groups) {
				t.Fatalf("seed %d %s: %d groups, want %d", seed, form, len(frag.SecurityGroups), len(groups))
			}
			for _, want := range groups {
				i := slices.IndexFunc(frag.SecurityGroups, func(g topology.SecurityGroup) bool { return g.Name == want.Name })
				if i < 0 {
					t.Fatalf("seed %d %s: group %s missing", seed, form, want.Name)
				}
				got := frag.SecurityGroups[i]
				if got.Type != want.Type || got.InnerAccess != want.InnerAccess {
					t.Errorf("seed %d %s: %s is %s/%s, want %s/%s", seed, form, want.Name, got.Type, got.InnerAccess, want.Type, want.InnerAccess)
				}
				if a, b := normalized(t, got.Rules), normalized(t, want.Rules); !reflect.DeepEqual(a, b) {
					t.Errorf("seed %d %s: rules of %s differ:\n got %v\nwant %v", seed, form, want.Name, a, b)
				}
			}
		}
	}
}

// normalized is each rule as the firewall takes it, printed, sorted.
func normalized(t *testing.T, rules []topology.Rule) []string {
	t.Helper()
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		fields := map[string]string{"direction": r.Direction, "policy": r.Policy, "priority": strconv.Itoa(r.Priority),
			"protocol": r.Protocol, "port_range": r.PortRange, "source": r.Source, "source_group": r.SourceGroup,
			"destination": r.Destination, "destination_group": r.DestinationGroup, "source_port_range": r.SourcePortRange,
			"local_cidr": r.LocalCIDR, "nic_type": r.NICType, "description": r.Description}
		for k, v := range fields {
			if v == "" {
				delete(fields, k)
			}
		}
		fr, err := topology.ParseRule(fields)
		if err != nil {
			t.Fatalf("rule %+v: %v", r, err)
		}
		out = append(out, fmt.Sprintf("%+v", fr))
	}
	slices.Sort(out)
	return out
}
