package firewall

import (
	"testing"
	"time"

	"github.com/vpclab/vpclab/bench/cycles"
)

// coreGHz is the core's clock now, in cycles per ns (cycles.GHz, the one
// copy the bench suite uses too).
func coreGHz() float64 { return cycles.GHz() }

// reportCycles adds the clock, measured right after the timed loop, and the
// time per op in core cycles, which compare across runs and machines that
// ns/op does not. It is ns/op times the fastest clock seen, so an upper
// bound when the clock sagged during the loop. Call it after the loop:
// b.Loop's first call resets reported metrics.
func reportCycles(b *testing.B) {
	if b.N == 0 {
		return
	}
	ghz := coreGHz()
	b.ReportMetric(ghz, "GHz")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*ghz, "cycles/op")
}

// reportCyclesPer is reportCycles for a benchmark whose op does n units of
// work (an insert benchmark's op fills a table with n entries): ns/op and
// cycles/op become per unit, so that they compare with the per-packet
// figures beside them.
func reportCyclesPer(b *testing.B, n int) {
	if b.N == 0 {
		return
	}
	ghz := coreGHz()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(n)
	b.ReportMetric(ns, "ns/op")
	b.ReportMetric(ghz, "GHz")
	b.ReportMetric(ns*ghz, "cycles/op")
}

// reportCPU adds the process's CPU time per op since start (a cpuTime
// reading taken just before the timed loop), over ops ops. On a VM whose
// two cores several jobs share, ns/op counts the time the benchmark waited
// for a core; the CPU time does not, so it keeps an A/B comparable when
// the load moves. It counts the runtime's own work (the GC) too.
func reportCPU(b *testing.B, start time.Duration, ops int) {
	if ops == 0 || start == 0 {
		return
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(ops), "cpu-ns/op")
}
