//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vpclab/vpclab/firewall"
)

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConntrackHit is the conntrack benchmark of the suite as a Go
// benchmark: the same fixture, the table and every baseline, one sub-
// benchmark each, with the process's CPU time per op (cpu-ns/op) beside
// ns/op. On a shared machine the suite's wall-clock figures count the time
// a benchmark waited for a core; cpu-ns/op does not, so interleaved runs of
// two builds compare.
func BenchmarkConntrackHit(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20} {
		// The fixture is built by the first sub-benchmark that runs: at 1M
		// flows the fill takes seconds.
		var fx *conntrackFixture
		var hs []firewall.Header
		fill := func(b *testing.B) {
			if fx == nil {
				var err error
				if fx, err = newConntrackFixture(n); err != nil {
					b.Fatal(err)
				}
				hs = fx.hs
			}
		}
		one := func(hit func(i int) bool) func(b *testing.B) {
			return func(b *testing.B) {
				fill(b)
				b.ReportAllocs()
				i, miss, ops, cpu := 0, 0, 0, cpuTime()
				for b.Loop() {
					if !hit(i) {
						miss++
					}
					if i++; i == n {
						i = 0
					}
					ops++
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(ops), "cpu-ns/op")
				if miss != 0 {
					b.Fatalf("%d misses", miss)
				}
			}
		}
		b.Run(fmt.Sprintf("flows=%d/impl=conntrack", n), one(func(i int) bool { return fx.ct.Lookup(&hs[i]) }))
		b.Run(fmt.Sprintf("flows=%d/impl=conntrack-batch%d", n, ctBatch), func(b *testing.B) {
			fill(b)
			var hit [ctBatch]bool
			words := (*[ctBatch / 8]uint64)(unsafe.Pointer(&hit))
			b.ReportAllocs()
			i, bad, cpu := 0, 0, cpuTime()
			for done := 0; done < b.N; done += ctBatch {
				fx.ct.LookupBatch(hs[i:i+ctBatch], hit[:])
				for _, w := range words {
					if w != 0x0101010101010101 {
						bad++
					}
				}
				if i += ctBatch; i == n {
					i = 0
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			if bad != 0 {
				b.Fatalf("%d batches with misses", bad)
			}
		})
		b.Run(fmt.Sprintf("flows=%d/impl=go-map", n), one(func(i int) bool { _, ok := fx.m[hs[i].Tuple]; return ok }))
		b.Run(fmt.Sprintf("flows=%d/impl=go-map-conntrack-rwmutex", n), one(func(i int) bool { return fx.rw.lookup(&hs[i]) }))
		b.Run(fmt.Sprintf("flows=%d/impl=go-map-conntrack-syncmap", n), one(func(i int) bool { return fx.sm.lookup(&hs[i]) }))
		if fx != nil {
			fx.ct.Close()
		}
	}
}
