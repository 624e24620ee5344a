package firewall

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks the kernel to back the 2 MiB-aligned part of the n bytes
// at p with huge pages: a large conntrack table is read at random, and with
// 4 KiB pages nearly every lookup would also miss the TLB.
func adviseHuge(p unsafe.Pointer, n uintptr) {
	const huge = 2 << 20
	off := (huge - uintptr(p)%huge) % huge
	if off+huge > n {
		return
	}
	end := off + (n-off)&^(huge-1)
	b := unsafe.Slice((*byte)(p), n)
	_ = syscall.Madvise(b[off:end], 14) // MADV_HUGEPAGE: advice only, an error is harmless
}
