package firewall

import (
	"math/bits"
	"unsafe"
)

// Matcher is a compiled first-match classifier over MatchRules: the
// Lakshman–Stiliadis bit-vector scheme. Each dimension (source address,
// destination address, source port, destination port, protocol) is cut into
// elementary intervals; every interval carries a row, the bitset of the rules
// whose range covers it (bit i = rule i). A packet's five rows are ANDed
// word by word and the lowest set bit is the first matching rule.
//
// A Matcher is immutable once compiled: Match is safe for concurrent use and
// never allocates.
type Matcher struct {
	n   int // rules
	sum int // summary words at the head of every row
	// Summary bit G of a row is set when the row has a rule of group G:
	// rules G<<gshift up to (G+1)<<gshift - 1. Groups are as small as the
	// summary words allow (at most 64 rules, one word of the row), so that
	// a packet rarely visits a word in which its rows have no rule in
	// common.
	gshift uint
	wshift uint   // 6 - gshift: summary bit to word is >> wshift
	gmask  uint64 // summary bits of the groups of one word
	nw     int    // rule words of a row

	// words holds the rows of every dimension back to back, each being sum
	// summary words followed by the rule words (bit i = rule i).
	words []uint64

	src, dst, sport, dport dim

	// proto maps a protocol number to its row's offset in words.
	proto [256]uint32

	// kern is what match5 reads; kern.ok says whether it applies (see
	// setKernel).
	kern kernel
}

// kernel is the view of a Matcher that match5 reads, laid out for its
// assembly (the offsets are checked by TestKernelLayout). match5 finds each
// dimension's interval by comparing x with all searchWidth starts from the
// bucket's first candidate at once and counting those at most x: one
// vector compare instead of a chain of dependent binary-search steps.
type kernel struct {
	words  unsafe.Pointer // &words[sum]: a row's rule words are at words + 8*offset
	proto  unsafe.Pointer // &proto[0]
	nwMask uint64         // (1<<nw)-1: the rule words of a row
	d      [4]kdim        // src, dst, sport, dport
	ok     bool           // at most kernelWords words, every search within searchWidth
}

type kdim struct {
	first, starts, rows unsafe.Pointer
	shift               uint64
}

// searchWidth is how many interval starts match5 compares for one
// dimension: a bucket must overlap at most this many intervals, and starts
// and rows are padded so that the compare stays in bounds.
const searchWidth = 64

// kernelWords is the most rule words (1,024 rules) match5 ANDs: two
// 64-byte vectors a row.
const kernelWords = 16

// setKernel fills m.kern from the compiled matcher.
func (m *Matcher) setKernel() {
	k := &m.kern
	*k = kernel{ok: m.nw <= kernelWords}
	if len(m.words) > 0 {
		k.words = unsafe.Pointer(&m.words[m.sum])
	}
	k.proto = unsafe.Pointer(&m.proto[0])
	k.nwMask = 1<<m.nw - 1
	for i, d := range []*dim{&m.src, &m.dst, &m.sport, &m.dport} {
		// first is in order: its last entry is the highest first candidate.
		// The ports' searches compare 16 starts (SEARCH16 in match5). A
		// port's bucket table has 4,096 buckets of 16 ports, or fewer
		// when they need no more steps, so this never fails.
		width := searchWidth
		if i >= 2 {
			width = 16
		}
		if 2*d.half > uint32(width) || int(d.first[len(d.first)-1])+searchWidth > len(d.starts) {
			k.ok = false
		}
		k.d[i] = kdim{first: unsafe.Pointer(&d.first[0]), starts: unsafe.Pointer(&d.starts[0]),
			rows: unsafe.Pointer(&d.rows[0]), shift: uint64(d.shift)}
	}
}

// match5Go is match5 in Go: the model the assembly follows, which tests
// compare it with, and the kernel where there is no assembly.
func match5Go(k *kernel, t *Tuple) int {
	var row [5]unsafe.Pointer
	for i, x := range [4]uint32{t.Src, t.Dst, uint32(t.SrcPort), uint32(t.DstPort)} {
		d := &k.d[i]
		b := *(*uint32)(unsafe.Add(d.first, 4*(uint64(x)>>(d.shift&63))))
		s := unsafe.Add(d.starts, 4*uintptr(b))
		n, width := uintptr(0), uintptr(searchWidth)
		if i >= 2 {
			width = 16 // a port's
		}
		for j := range width {
			if *(*uint32)(unsafe.Add(s, 4*j)) <= x {
				n++
			}
		}
		off := *(*uint32)(unsafe.Add(d.rows, 4*(uintptr(b)+n-1)))
		row[i] = unsafe.Add(k.words, 8*uintptr(off))
	}
	row[4] = unsafe.Add(k.words, 8*uintptr(*(*uint32)(unsafe.Add(k.proto, 4*uintptr(t.Proto)))))
	for w := range uintptr(bits.Len64(k.nwMask)) {
		x := *(*uint64)(unsafe.Add(row[0], 8*w)) & *(*uint64)(unsafe.Add(row[1], 8*w)) &
			*(*uint64)(unsafe.Add(row[2], 8*w)) & *(*uint64)(unsafe.Add(row[3], 8*w)) &
			*(*uint64)(unsafe.Add(row[4], 8*w))
		if x != 0 {
			return int(w)<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// dim is one dimension's elementary intervals.
type dim struct {
	// starts holds the first value of every interval, in order, followed by
	// padding of MaxUint32 (an interval starting there has 0 beyond it);
	// rows[i] is the offset in words of the row of interval i.
	starts []uint32
	rows   []uint32
	// first narrows the search: the interval holding x is one of
	// starts[b : b+2*half] where b = first[x>>shift]. Every index past the
	// candidates holds a start above x, or padding.
	first []uint32
	shift uint32
	half  uint32 // a power of two, or 0 when b is always the answer
}

// lookup returns the offset of the row of the interval that holds x.
func (d *dim) lookup(x uint32) uint32 {
	// Binary search with a fixed number of steps and no branch on the
	// data: the answer is the first candidate plus some of the halves. A
	// step adds half when the start half past p is at most x, that is when
	// start+^x (start-x-1) borrows. The search moves a pointer, so that a
	// probe's address is one addition the load does itself, and a step is
	// one load and four operations on the chain of dependent loads that
	// bounds the latency. The padding of starts keeps every probe in bounds
	// (index pads 2*half-1 entries), so the probes skip Go's bounds
	// checks, which would lengthen that chain.
	s := unsafe.Pointer(unsafe.SliceData(d.starts))
	// A 64-bit shift below 64 needs no check of its count.
	p := unsafe.Add(s, 4*uintptr(d.first[uint64(x)>>(d.shift&63)]))
	nx := ^uint64(x)
	for step := 4 * uintptr(d.half); step >= 4; step >>= 1 {
		v := *(*uint32)(unsafe.Add(p, step))
		p = unsafe.Add(p, step&uintptr((uint64(v)+nx)>>32))
	}
	// rows is as long as starts: the same offset finds the row.
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(d.rows)), uintptr(p)-uintptr(s)))
}

// Match returns the index of the first rule that matches t, or -1.
//
// On amd64 with AVX-512, a matcher of at most kernelWords rule words whose
// buckets each overlap at most searchWidth intervals (every ClassBench set,
// up to 1,024 rules) is matched by match5 alone: each search is one vector
// compare rather than a chain of binary-search steps. Otherwise, with at
// most scanWords rule words, the words of the five rows are ANDed
// in order. On amd64 with AVX-512, and8 does it for all of them at once and
// picks the answer without a branch. Otherwise the summary only answers "no
// rule" (a branch the core predicts well when most packets match nothing,
// or most match something), and the scan leaves at the first rule. Visiting
// the groups the summary names instead (see visit) costs one mispredicted
// branch per group that turns out empty, often several when rules have
// wide ranges, and every visit's address waits for the summary; in the
// scan no word's address depends on a load other than the rows'.
//
// The words are read without bounds checks: Compile lays every row out as
// sum+nw words inside m.words (the matcher tests check it).
func (m *Matcher) Match(t *Tuple) int {
	if vectorSearch && m.kern.ok {
		return match5(&m.kern, t)
	}
	a := uintptr(m.src.lookup(t.Src))
	b := uintptr(m.dst.lookup(t.Dst))
	c := uintptr(m.sport.lookup(uint32(t.SrcPort)))
	d := uintptr(m.dport.lookup(uint32(t.DstPort)))
	e := uintptr(m.proto[t.Proto])
	if m.nw > scanWords {
		return m.visit(a, b, c, d, e)
	}
	// Pointers to the five rows, so that a word's load is one addressing
	// mode: row plus 8*k.
	p := unsafe.Pointer(unsafe.SliceData(m.words))
	pa, pb, pc, pd, pe := unsafe.Add(p, 8*a), unsafe.Add(p, 8*b), unsafe.Add(p, 8*c), unsafe.Add(p, 8*d), unsafe.Add(p, 8*e)
	if vectorScan {
		ns := 8 * uintptr(m.sum) // the summary words come first
		return and8(unsafe.Add(pa, ns), unsafe.Add(pb, ns), unsafe.Add(pc, ns), unsafe.Add(pd, ns), unsafe.Add(pe, ns), m.nw)
	}
	and := func(k uintptr) uint64 {
		return *(*uint64)(unsafe.Add(pa, 8*k)) & *(*uint64)(unsafe.Add(pb, 8*k)) &
			*(*uint64)(unsafe.Add(pc, 8*k)) & *(*uint64)(unsafe.Add(pd, 8*k)) &
			*(*uint64)(unsafe.Add(pe, 8*k))
	}
	ns := uintptr(m.sum)
	var any uint64
	for k := range ns {
		any |= and(k)
	}
	if any == 0 {
		return -1
	}
	for k := ns; k < ns+uintptr(m.nw); k++ {
		if x := and(k); x != 0 {
			return int(k-ns)<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// scanWords is the most rule words (512 rules) Match scans in order rather
// than visiting the groups its summary names.
const scanWords = 8

// visit is Match over more than scanWords words, given the offsets of the
// packet's five rows: it visits the words of the groups the summary names,
// in order, and skips the rest.
func (m *Matcher) visit(a, b, c, d, e uintptr) int {
	w, ns := m.words, m.sum
	for k := 0; k < ns; k++ {
		s := w[int(a)+k] & w[int(b)+k] & w[int(c)+k] & w[int(d)+k] & w[int(e)+k]
		for s != 0 {
			g := uint(bits.TrailingZeros64(s))
			i := (uint(k)<<6 + g) >> m.wshift // the word of group g
			j := ns + int(i)
			if x := w[int(a)+j] & w[int(b)+j] & w[int(c)+j] & w[int(d)+j] & w[int(e)+j]; x != 0 {
				return int(i)<<6 + bits.TrailingZeros64(x)
			}
			// Nothing in this word: skip its other groups too.
			s &^= m.gmask << (g >> m.wshift << m.wshift)
		}
	}
	return -1
}

// Len returns the number of rules the matcher was compiled from.
func (m *Matcher) Len() int { return m.n }

// MemoryBytes returns the size of the compiled structure in bytes: the
// Matcher itself and every slice it owns.
func (m *Matcher) MemoryBytes() int {
	size := int(unsafe.Sizeof(*m)) + 8*cap(m.words)
	for _, d := range []*dim{&m.src, &m.dst, &m.sport, &m.dport} {
		size += 4 * (cap(d.starts) + cap(d.rows) + cap(d.first))
	}
	return size
}
