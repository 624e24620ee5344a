//go:build !amd64

package firewall

import (
	"math/bits"
	"unsafe"
)

// canVectorScan reports whether and8 runs here. There is no vector version
// outside amd64; this and8 is the Go loop, which the tests still run.
const canVectorScan = true

// vectorScan makes Match over at most scanWords words call and8 instead of
// scanning in Go; off by default where and8 is not vectorised.
var vectorScan = false

// and8 returns the index of the lowest bit set in all five rows over their
// first nw words, or -1.
func and8(pa, pb, pc, pd, pe unsafe.Pointer, nw int) int {
	for k := range uintptr(nw) {
		x := *(*uint64)(unsafe.Add(pa, 8*k)) & *(*uint64)(unsafe.Add(pb, 8*k)) &
			*(*uint64)(unsafe.Add(pc, 8*k)) & *(*uint64)(unsafe.Add(pd, 8*k)) &
			*(*uint64)(unsafe.Add(pe, 8*k))
		if x != 0 {
			return int(k)<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// canVectorSearch reports whether match5 runs here: its Go model does.
const canVectorSearch = true

// vectorSearch makes Match call match5 where the matcher allows it; off by
// default where match5 is not vectorised.
var vectorSearch = false

// match5 is match5Go where there is no assembly.
func match5(k *kernel, t *Tuple) int { return match5Go(k, t) }
