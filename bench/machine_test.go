// Package bench holds benchmarks of the machine itself: the floors that the
// firewall's and the data plane's figures in RESULTS.md are read against.
package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var sink uint64

// BenchmarkMemory measures one random 8-byte read from a table of the size
// the conntrack table has at 64k flows (3 MiB) and at 1M flows (48 MiB):
// "latency" reads follow a chain (each address comes from the read before:
// nothing overlaps), "independent" reads take addresses from a list (the CPU
// overlaps as many misses as it can). A lookup of one packet whose key is
// known only when the packet arrives pays something between the two.
func BenchmarkMemory(b *testing.B) {
	for _, mib := range []int{3, 48} {
		words := mib << 20 / 8
		a := make([]uint64, words)
		// One random cycle through every 64-byte line, so that the chain
		// visits the whole table.
		lines := words / 8
		perm := rand.New(rand.NewPCG(1, 2)).Perm(lines)
		for i, p := range perm {
			a[p*8] = uint64(perm[(i+1)%lines] * 8)
		}
		idx := make([]uint32, 1<<16)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range idx {
			idx[i] = uint32(rng.IntN(lines) * 8)
		}
		b.Run(fmt.Sprintf("MiB=%d/reads=latency", mib), func(b *testing.B) {
			j := uint64(0)
			for b.Loop() {
				j = a[j]
			}
			sink = j
		})
		b.Run(fmt.Sprintf("MiB=%d/reads=independent", mib), func(b *testing.B) {
			s, i := uint64(0), 0
			for b.Loop() {
				s += a[idx[i&(len(idx)-1)]]
				i++
			}
			sink = s
		})
	}
}

// BenchmarkMultiplyChain measures a chain of dependent 64-bit multiplies
// (3 cycles each on current x86 cores): ns/op over 3000 gives the clock.
func BenchmarkMultiplyChain(b *testing.B) {
	x := uint64(1)
	for b.Loop() {
		for range 1000 {
			x *= 0x9e3779b97f4a7c15
		}
	}
	sink = x
}
