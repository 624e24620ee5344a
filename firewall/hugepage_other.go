//go:build !linux

package firewall

import "unsafe"

// adviseHuge is a no-op where madvise(MADV_HUGEPAGE) does not exist.
func adviseHuge(unsafe.Pointer, uintptr) {}
