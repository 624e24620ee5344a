package sandbox

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// benchTopology: n instances in one vswitch, every one in sg-big (rules-1
// rules that never match the probe, inner_access drop, plus the toggled rule: tcp 80 from the
// VPC, so rules per NIC) and in one of policies tier groups (no rules), so
// that a change to sg-big recompiles that many distinct policies. web-0
// serves http on 80; cli-0 probes it.
func benchTopology(n, rules, policies int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: bench\nvpc: {cidr: 10.0.0.0/16}\nvswitches: [{name: a, cidr: 10.0.0.0/20}]\nquotas: {rules_per_group: %d}\nsecurity_groups:\n", rules)
	b.WriteString("  - name: sg-big\n    inner_access: drop\n    rules:\n")
	b.WriteString("      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.0.0.0/16}\n")
	for i := 1; i < rules; i++ {
		fmt.Fprintf(&b, "      - {direction: ingress, protocol: %s, port_range: %d/%d, source: 172.%d.%d.0/24}\n",
			[]string{"tcp", "udp"}[i%2], 1000+i, 1000+i+i%7, 16+i%16, i%256)
	}
	for k := range policies {
		fmt.Fprintf(&b, "  - {name: sg-tier-%d, inner_access: drop, rules: []}\n", k)
	}
	b.WriteString("instances:\n")
	for i := range n {
		svc := ""
		if i == 0 {
			svc = ", services: [{kind: http, port: 80}]"
		}
		name := fmt.Sprintf("vm-%d", i)
		switch i {
		case 0:
			name = "web-0"
		case 1:
			name = "cli-0"
		}
		fmt.Fprintf(&b, "  - {name: %s, vswitch: a, security_groups: [sg-big, sg-tier-%d]%s}\n", name, i%policies, svc)
	}
	return b.String()
}

// BenchmarkControlRuleChange measures how long a rule change takes to apply
// at 1,000 instances and 500 rules per NIC: the control API's revoke or
// authorize of the rule that allows cli-0 → web-0:80, over the Unix socket
// (impl=control-api), against the same change as a Go call
// (impl=direct). The firewall recompiles and publishes every affected
// policy before the call returns, so the next connection sees the change
// once it has returned; each iteration then checks that with a real probe
// (not timed). ms/op is the latency; x-target is it over the 5 ms target.
func BenchmarkControlRuleChange(b *testing.B) {
	for _, sc := range []struct{ instances, rules, policies int }{{2, 2, 1}, {1000, 500, 1}, {1000, 500, 10}} {
		b.Run(fmt.Sprintf("instances=%d/rules=%d/policies=%d", sc.instances, sc.rules, sc.policies), func(b *testing.B) {
			topo, err := topology.Load("bench.yaml", []byte(benchTopology(sc.instances, sc.rules, sc.policies)))
			if err != nil {
				b.Fatal(err)
			}
			lab, err := topology.Build(topo)
			if err != nil {
				b.Fatal(err)
			}
			defer lab.Close()
			srv, err := Start(lab, Options{Name: "bench", Dir: filepath.Join(b.TempDir(), "run")})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			c := NewClient(srv.Info())
			ctx := context.Background()
			fields := map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "80", "source": "10.0.0.0/16"}
			fr, err := topology.ParseRule(fields)
			if err != nil {
				b.Fatal(err)
			}
			fw := lab.VPC.Firewall()
			for _, impl := range []string{"direct", "control-api"} {
				b.Run("impl="+impl, func(b *testing.B) {
					change := func(add bool) error {
						switch {
						case impl == "direct" && add:
							return fw.AuthorizeRules("sg-big", "user", fr)
						case impl == "direct":
							return fw.RevokeRules("sg-big", "user", fr)
						case add:
							_, err := c.AddRule(ctx, RuleRequest{Group: "sg-big", Rule: fields})
							return err
						}
						_, err := c.RemoveRule(ctx, RuleRequest{Group: "sg-big", Rule: fields})
						return err
					}
					add := false
					for b.Loop() {
						if err := change(add); err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						want := topology.Block
						if add {
							want = topology.Allow
						}
						r := lab.RunExpects(ctx, []topology.Expect{{From: "cli-0", To: "web-0", Protocol: "tcp", Port: 80, Result: want}},
							topology.RunOptions{Timeout: 2 * time.Second})[0]
						if !r.Pass {
							b.Fatalf("the next connection does not see the change: %+v", r)
						}
						// The next probe's SYN must not reuse the port of a
						// closing entry of this one's (it would pass as
						// tracked, see the report).
						fw.Conntrack().Flush()
						add = !add
						b.StartTimer()
					}
					ms := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 1e6
					b.ReportMetric(ms, "ms/op")
					b.ReportMetric(ms/5, "x-target")
					// Leave the rule in place for the next sub-benchmark.
					if add {
						if err := fw.AuthorizeRules("sg-big", "user", fr); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
