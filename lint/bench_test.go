package lint

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// benchLint lints top b.N times and reports the CPU time of one lint
// (cpu-s/op): on a loaded machine it says more than the wall time.
func benchLint(b *testing.B, top *topology.Topology) {
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Run(top, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkRunInstances1000Groups20 lints a generated file of 1,000
// instances in 20 groups of 50 rules (each instance in 1–3 groups). Target:
// ≤ 2 s per lint.
func BenchmarkRunInstances1000Groups20(b *testing.B) {
	top, err := topology.Load("gen.yaml", []byte(genTopology(1, 1000, 20, 50)))
	if err != nil {
		b.Fatal(err)
	}
	benchLint(b, top)
}

// BenchmarkRunOneNIC lints one instance in 5 groups of rules/5 rules each
// (500: the target is ≤ 100 ms).
func BenchmarkRunOneNIC(b *testing.B) {
	for _, rules := range []int{100, 250, 500, 1000, 2000} {
		b.Run(fmt.Sprint(rules), func(b *testing.B) {
			src := genTopology(1, 1, 5, rules/5)
			src = regexp.MustCompile(`security_groups: \[[^\]]*\]`).ReplaceAllString(src, "security_groups: [sg-0, sg-1, sg-2, sg-3, sg-4]")
			src += "quotas: {rules_per_group: 1000}\n"
			top, err := topology.Load("gen.yaml", []byte(src))
			if err != nil {
				b.Fatal(err)
			}
			benchLint(b, top)
		})
	}
}
