package topology_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vpclab/vpclab/bench"
	"github.com/vpclab/vpclab/topology"
)

// BenchmarkLoadInstances10000Expects100000 loads the runner benchmark's
// largest file (7 MiB) in one piece and cut into GOMAXPROCS pieces,
// reporting wall and process CPU time per load: cutting spends about the
// same CPU and should cut the wall time by the cores it finds free.
func BenchmarkLoadInstances10000Expects100000(b *testing.B) {
	data := bench.RunnerTopology(10_000, 100_000)
	for _, cut := range []bool{false, true} {
		b.Run(fmt.Sprintf("cut=%v", cut), func(b *testing.B) {
			defer topology.SetSplitMin(topology.SetSplitMin(map[bool]int{false: 1 << 40, true: 512 << 10}[cut]))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := topology.Load("runner.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}
