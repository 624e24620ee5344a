package lint

import (
	"testing"

	"github.com/vpclab/vpclab/topology"
)

// BenchmarkRunInstances1000Groups20 lints a generated file of 1,000
// instances in 20 groups of 50 rules (each instance in 1–3 groups). Target:
// ≤ 2 s per lint. cpu-s/op is the CPU time of one lint: on a loaded machine
// it says more than the wall time.
func BenchmarkRunInstances1000Groups20(b *testing.B) {
	top, err := topology.Load("gen.yaml", []byte(genTopology(1, 1000, 20, 50)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Run(top, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}
