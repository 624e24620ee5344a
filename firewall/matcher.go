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

	// words holds the rows of every dimension back to back, each being sum
	// summary words followed by the rule words (bit i = rule i).
	words []uint64

	src, dst, sport, dport dim

	// proto maps a protocol number to its row's offset in words.
	proto [256]uint32
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
	base := d.first[x>>d.shift]
	// Binary search with a fixed number of steps and no branch on the
	// data: the answer is base plus some of the halves. A step adds half
	// when starts[base+half] <= x, that is when starts[base+half]-(x+1)
	// borrows. The padding of starts keeps every probe in bounds (index
	// pads 2*half-1 entries), so the probes skip Go's bounds checks, which
	// would lengthen the chain of dependent loads that bounds the latency.
	s := unsafe.Pointer(unsafe.SliceData(d.starts))
	x1 := uint64(x) + 1
	for half := d.half; half > 0; half >>= 1 {
		v := *(*uint32)(unsafe.Add(s, 4*uintptr(base+half)))
		base += half & uint32((uint64(v)-x1)>>32)
	}
	return d.rows[base]
}

// Match returns the index of the first rule that matches t, or -1.
func (m *Matcher) Match(t *Tuple) int {
	a := int(m.src.lookup(t.Src))
	b := int(m.dst.lookup(t.Dst))
	c := int(m.sport.lookup(uint32(t.SrcPort)))
	d := int(m.dport.lookup(uint32(t.DstPort)))
	e := int(m.proto[t.Proto])
	w, ns := m.words, m.sum
	for k := 0; k < ns; k++ {
		s := w[a+k] & w[b+k] & w[c+k] & w[d+k] & w[e+k]
		for s != 0 {
			g := uint(bits.TrailingZeros64(s))
			i := (uint(k)<<6 + g) >> m.wshift // the word of group g
			j := ns + int(i)
			if x := w[a+j] & w[b+j] & w[c+j] & w[d+j] & w[e+j]; x != 0 {
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
