// Package cycles measures the core's clock, so that a benchmark can report
// its cost in core cycles: ns compare neither across days nor across the
// shared VMs this project runs on (their clock has measured anywhere from
// 1.4 to 3.7 GHz), cycles do. It is the one copy the suite (bench,
// bench/report) and the firewall's benchmarks use.
package cycles

import "time"

// sink keeps the multiply chain from being optimised away.
var sink uint64

// chain is how many dependent multiplies one timed run does: about 16 µs
// at 3 GHz, short enough to fall between two preemptions.
const chain = 1 << 14

// GHz measures the core's clock as it runs now, in cycles per ns: a chain
// of dependent 64-bit multiplies (3 cycles each on every x86 core since
// 2011 and on current arm64 cores), the fastest of 16 runs. ns times GHz is
// cycles. The clock moves on a shared VM: measure it right beside the
// figure it converts.
func GHz() float64 {
	best := time.Duration(1 << 62)
	x := uint64(1)
	for range 16 {
		start := time.Now()
		for range chain {
			x *= 0x9e3779b97f4a7c15
		}
		best = min(best, time.Since(start))
	}
	sink = x
	return 3 * chain / float64(max(best.Nanoseconds(), 1))
}
