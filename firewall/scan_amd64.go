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

// canVectorSearch reports whether match5 runs here: AVX-512 F and BW, with
// BMI2 and POPCNT (every AVX-512 core but Knights Landing has them).
var canVectorSearch = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT

// vectorSearch makes Match call match5 where the matcher allows it. A
// variable, so that the tests run every path.
var vectorSearch = canVectorSearch

// match5 is Match in one assembly routine: the four searches (see
// match5Go, which it follows step for step), the protocol table and and8.
// Each search compares x with 64 starts in four 16-lane compares and counts
// the starts at most x, so a dimension costs two dependent loads before its
// compare (bucket, starts) and one after (row offset), whatever its number
// of intervals; the four run side by side.
//
//go:noescape
func match5(k *kernel, t *Tuple) int
