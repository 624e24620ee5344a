package firewall

import (
	"testing"
	"time"
)

var clockSink uint64

// coreGHz measures the core's clock as it runs now: a chain of dependent
// 64-bit multiplies (3 cycles each on every x86 core since 2011, and on
// current arm64 cores), the fastest of 16 runs. This machine's clock has
// measured anywhere from 1.4 to 3.2 GHz from one session to the next, so a
// figure in ns says little without it.
func coreGHz() float64 {
	const n = 1 << 14
	best := time.Duration(1 << 62)
	x := uint64(1)
	for range 16 {
		start := time.Now()
		for range n {
			x *= 0x9e3779b97f4a7c15
		}
		best = min(best, time.Since(start))
	}
	clockSink = x
	return 3 * n / float64(best.Nanoseconds())
}

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
