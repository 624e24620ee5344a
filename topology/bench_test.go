package topology

import (
	"fmt"
	"strings"
	"testing"
)

// genTopology writes a valid topology with the given numbers of instances,
// groups (10 rules each, referencing each other) and expectations, spread
// over 10 vswitches; half the instances have an explicit ip, a tenth an EIP.
func genTopology(instances, groups, expects int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: generated\nvpc: {cidr: 10.0.0.0/8}\nvswitches:\n")
	for v := range 10 {
		fmt.Fprintf(&b, "  - {name: vsw-%d, cidr: 10.%d.0.0/16}\n", v, v)
	}
	b.WriteString("security_groups:\n")
	for g := range groups {
		fmt.Fprintf(&b, "  - name: sg-%d\n    rules:\n", g)
		for r := range 10 {
			switch r % 3 {
			case 0:
				fmt.Fprintf(&b, "      - {direction: ingress, priority: %d, protocol: tcp, port_range: %d/%d, source: 0.0.0.0/0}\n", r+1, 1000+r, 1000+r)
			case 1:
				fmt.Fprintf(&b, "      - {direction: ingress, policy: drop, protocol: udp, port_range: 53, source_group: sg-%d}\n", (g+1)%groups)
			default:
				fmt.Fprintf(&b, "      - {direction: egress, protocol: all, destination: 10.%d.0.0/16, description: \"rule %d\"}\n", r%10, r)
			}
		}
	}
	b.WriteString("instances:\n")
	for i := range instances {
		fmt.Fprintf(&b, "  - name: vm-%d\n    vswitch: vsw-%d\n    security_groups: [sg-%d, sg-%d]\n", i, i%10, i%groups, (i+1)%groups)
		if i%2 == 0 {
			fmt.Fprintf(&b, "    ip: 10.%d.%d.%d\n", i%10, 1+i/2000, 10+(i/10)%200)
		}
		if i%10 == 0 {
			fmt.Fprintf(&b, "    eip: 47.%d.%d.%d\n", 100+i/65536, (i/256)%256, i%256)
		}
		b.WriteString("    services: [{kind: http, port: 80}, {kind: echo, port: 7, protocol: udp}]\n")
	}
	b.WriteString("expect:\n")
	for e := range expects {
		fmt.Fprintf(&b, "  - {from: vm-%d, to: vm-%d, port: %d, result: allow}\n", e%instances, (e*7+1)%instances, 80+e%2)
	}
	return []byte(b.String())
}

func TestGeneratedTopologyIsValid(t *testing.T) {
	if _, err := Load("gen.yaml", genTopology(1000, 20, 2000)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLoadInstances1000Groups20Expects2000 is the validate
// budget: a 1,000-instance file in at most 1 s.
func BenchmarkLoadInstances1000Groups20Expects2000(b *testing.B) {
	data := genTopology(1000, 20, 2000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("gen.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
