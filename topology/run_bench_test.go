package topology

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// genScenario writes a topology of n instances in `groups` basic groups on
// one vswitch and `expects` probes on port 80, half of them blocked: a
// member of an even group accepts tcp 80 from the VPC, a member of an odd
// group only from its own group (inner accept).
func genScenario(n, groups, expects int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: scale\nvpc: {cidr: 10.0.0.0/16}\nvswitches:\n  - {name: main, cidr: 10.0.0.0/20}\nsecurity_groups:\n")
	for g := range groups {
		fmt.Fprintf(&b, "  - name: sg-%d\n", g)
		if g%2 == 0 {
			b.WriteString("    rules:\n      - {direction: ingress, protocol: tcp, port_range: 80, source: 10.0.0.0/16}\n")
		}
	}
	b.WriteString("instances:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: vm-%d, vswitch: main, security_groups: [sg-%d], services: [{kind: http, port: 80}]}\n", i, i%groups)
	}
	b.WriteString("expect:\n")
	for e := range expects {
		from := e % n
		to := (from + 1 + e/n) % n
		if e%2 == 1 { // aim at an odd group other than from's
			for to%groups%2 == 0 || to%groups == from%groups {
				to = (to + 1) % n
			}
		} else {
			for to%groups%2 == 1 || to == from {
				to = (to + 1) % n
			}
		}
		result := Allow
		if to%groups%2 == 1 && to%groups != from%groups {
			result = Block
		}
		fmt.Fprintf(&b, "  - {from: vm-%d, to: vm-%d, port: 80, result: %s}\n", from, to, result)
	}
	return []byte(b.String())
}

// BenchmarkTestScale is the budget for `vpclab test`: 200 instances,
// 20 groups and 2,000 expectations (half blocked) — load, build, run and
// tear down — in at most 10 s, growing linearly with the expectations.
func BenchmarkTestScale(b *testing.B) {
	for _, expects := range []int{500, 1000, 2000} {
		data := genScenario(200, 20, expects)
		b.Run(fmt.Sprintf("instances=200/groups=20/expects=%d", expects), func(b *testing.B) {
			for b.Loop() {
				t, err := Load("scale.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				lab, err := Build(t)
				if err != nil {
					b.Fatal(err)
				}
				blocked := 0
				for _, r := range lab.Run(context.Background(), RunOptions{}) {
					if !r.Pass {
						b.Fatalf("%s: expected %s, observed %s: %s", r.Label(), r.Expected, r.Observed, r.Detail)
					}
					if r.TimedOut {
						b.Fatalf("%s: timed out", r.Label())
					}
					if r.Observed == Block {
						blocked++
					}
				}
				lab.Close()
				b.ReportMetric(float64(blocked)/float64(expects), "blocked/expect")
			}
		})
	}
}
