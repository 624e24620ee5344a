package firewall

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// canVectorScan reports whether and8 runs here: it needs AVX-512.
var canVectorScan = cpu.X86.HasAVX512F

// vectorScan makes Match over at most scanWords words call and8 instead of
// scanning in Go. A variable, so that the tests run both scans.
var vectorScan = canVectorScan

// and8 returns the index of the lowest bit set in all five rows over their
// first nw (0 to 8) words, or -1. Every row's words are read at once (one
// masked 64-byte load each, which reads nothing past word nw-1), ANDed and
// tested, and the answer is chosen without a branch: no mispredicted loop
// exit ends a Match, so the core overlaps consecutive Matches.
//
//go:noescape
func and8(pa, pb, pc, pd, pe unsafe.Pointer, nw int) int
