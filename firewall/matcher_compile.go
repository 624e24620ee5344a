package firewall

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// MaxMatcherWords bounds the rows of a compiled Matcher (in 64-bit words,
// 1 GiB): Compile refuses rule sets whose bitsets would not fit.
const MaxMatcherWords = 1 << 27

// Compile builds a Matcher for rules, which are in priority order (index 0
// first). It fails only when the compiled structure would exceed
// MaxMatcherWords.
func Compile(rules []MatchRule) (*Matcher, error) {
	n := len(rules)
	nw := (n + 63) / 64
	// Groups of 2^gshift rules, the smallest that one summary word covers
	// (up to 64 rules, one rule word, with several summary words).
	gshift := uint(0)
	for gshift < 6 && n > 64<<gshift {
		gshift++
	}
	groups := (n + 1<<gshift - 1) >> gshift // the last one may be partial
	ns := (groups + 63) / 64
	m := &Matcher{n: n, sum: ns, nw: nw, gshift: gshift, wshift: 6 - gshift,
		gmask: ^uint64(0) >> (64 - 1<<(6-gshift))}
	b := &builder{
		sum:    ns,
		gshift: gshift,
		cur:    make([]uint64, nw),
		key:    make([]byte, 8*nw),
		seen:   map[string]uint32{},
	}

	src := make([][]Range32, n)
	dst := make([][]Range32, n)
	sport := make([][]Range32, n)
	dport := make([][]Range32, n)
	proto := make([][]Range32, n)
	var buf []Range32 // every normalized set, back to back
	for i := range rules {
		r := &rules[i]
		buf, src[i] = appendNormalized(buf, r.Src)
		buf, dst[i] = appendNormalized(buf, r.Dst)
		buf, sport[i] = appendNormalized(buf, []Range32{{uint32(r.SrcPort.Lo), uint32(r.SrcPort.Hi)}})
		buf, dport[i] = appendNormalized(buf, []Range32{{uint32(r.DstPort.Lo), uint32(r.DstPort.Hi)}})
		p := Range32{uint32(r.Proto), uint32(r.Proto)}
		if r.AnyProto {
			p = Range32{0, 255}
		}
		buf, proto[i] = appendNormalized(buf, []Range32{p})
	}

	var err error
	dims := []struct {
		d    *dim
		sets [][]Range32
		top  uint32 // largest value of the dimension
	}{
		{&m.src, src, math.MaxUint32},
		{&m.dst, dst, math.MaxUint32},
		{&m.sport, sport, math.MaxUint16},
		{&m.dport, dport, math.MaxUint16},
	}
	for _, x := range dims {
		if x.d.starts, x.d.rows, err = b.sweep(x.sets, x.top); err != nil {
			return nil, err
		}
		x.d.index(x.top)
	}
	starts, rows, err := b.sweep(proto, math.MaxUint8)
	if err != nil {
		return nil, err
	}
	for i, p := range starts {
		end := uint32(256)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		for ; p < end; p++ {
			m.proto[p] = rows[i]
		}
	}
	m.words = slices.Clone(b.words)
	m.setKernel()
	return m, nil
}

// appendNormalized appends the ranges of set to buf, sorted, with empty
// ranges dropped and overlapping or adjacent ones merged, and returns buf
// and the appended part.
func appendNormalized(buf, set []Range32) ([]Range32, []Range32) {
	start := len(buf)
	for _, r := range set {
		if r.Lo <= r.Hi {
			buf = append(buf, r)
		}
	}
	out := buf[start:]
	if len(out) < 2 {
		return buf, out
	}
	slices.SortFunc(out, func(a, b Range32) int {
		switch {
		case a.Lo < b.Lo:
			return -1
		case a.Lo > b.Lo:
			return 1
		}
		return 0
	})
	k := 0
	for _, r := range out[1:] {
		if last := &out[k]; last.Hi == math.MaxUint32 || r.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		k++
		out[k] = r
	}
	return buf[:start+k+1], out[:k+1]
}

// builder turns sets of ranges into elementary intervals and their rows,
// sharing identical rows across intervals and dimensions.
type builder struct {
	sum     int  // summary words of a row
	gshift  uint // log2 of the rules of a summary group
	words   []uint64
	cur     []uint64 // the row being swept
	key     []byte   // cur as bytes, the key of seen
	seen    map[string]uint32
	events  []uint64
	scratch []uint64 // sortPositions' other buffer
}

// sortPositions orders events by their position (the high 32 bits) and
// returns them with the buffer left over. The order of events at one
// position does not matter: each flips a different rule's bit. It is an
// LSD radix sort, a byte per pass, that skips the bytes every event shares
// (the top two of a port, three of a protocol): a third of Compile went to
// a comparison sort.
func sortPositions(ev, buf []uint64) ([]uint64, []uint64) {
	buf = slices.Grow(buf[:0], len(ev))[:len(ev)]
	var or, and uint64 = 0, ^uint64(0)
	for _, e := range ev {
		or, and = or|e, and&e
	}
	for shift := uint(32); shift < 64; shift += 8 {
		if (or^and)>>shift&0xff == 0 {
			continue // every event has this byte
		}
		var count [257]int
		for _, e := range ev {
			count[e>>shift&0xff+1]++
		}
		for d := 1; d < 257; d++ {
			count[d] += count[d-1]
		}
		for _, e := range ev {
			d := e >> shift & 0xff
			buf[count[d]] = e
			count[d]++
		}
		ev, buf = buf, ev
	}
	return ev, buf
}

// sweep returns the elementary intervals of a dimension over [0, top],
// where sets[i] is rule i's normalized set: their starts in order and the
// offsets of their rows.
func (b *builder) sweep(sets [][]Range32, top uint32) (starts, rows []uint32, err error) {
	// A range [lo, hi] of rule i flips bit i at lo and again at hi+1.
	// Normalized ranges of one rule neither overlap nor touch, so the flips
	// of one rule never share a position.
	ev := b.events[:0]
	for i, set := range sets {
		for _, r := range set {
			ev = append(ev, uint64(r.Lo)<<32|uint64(i))
			if r.Hi < top {
				ev = append(ev, uint64(r.Hi+1)<<32|uint64(i))
			}
		}
	}
	ev, b.scratch = sortPositions(ev, b.scratch)
	b.events = ev
	clear(b.cur)

	emit := func(start uint32) error {
		off, err := b.row()
		if err != nil {
			return err
		}
		if len(rows) > 0 && rows[len(rows)-1] == off {
			return nil // same rules as the interval before: extend it
		}
		starts, rows = append(starts, start), append(rows, off)
		return nil
	}
	start := uint32(0)
	for k := 0; k < len(ev); {
		pos := uint32(ev[k] >> 32)
		if pos != start {
			if err := emit(start); err != nil {
				return nil, nil, err
			}
			start = pos
		}
		for ; k < len(ev) && uint32(ev[k]>>32) == pos; k++ {
			i := uint32(ev[k])
			b.cur[i/64] ^= 1 << (i % 64)
		}
	}
	if err := emit(start); err != nil {
		return nil, nil, err
	}
	return starts, rows, nil
}

// row returns the offset of a row equal to b.cur, adding it if it is new.
func (b *builder) row() (uint32, error) {
	for i, w := range b.cur {
		binary.LittleEndian.PutUint64(b.key[8*i:], w)
	}
	if off, ok := b.seen[string(b.key)]; ok {
		return off, nil
	}
	off := len(b.words)
	if off+b.sum+len(b.cur) > MaxMatcherWords {
		return 0, fmt.Errorf("compile: more than %d words of bitsets", MaxMatcherWords)
	}
	b.words = append(b.words, make([]uint64, b.sum)...)
	sum := b.words[off:]
	for i, w := range b.cur {
		for w != 0 {
			g := (i<<6 + bits.TrailingZeros64(w)) >> b.gshift // group of the lowest rule left
			sum[g/64] |= 1 << (g % 64)
			w &^= (1<<(1<<b.gshift) - 1) << (g << b.gshift % 64) // the rest of the group
		}
	}
	b.words = append(b.words, b.cur...)
	b.seen[string(b.key)] = uint32(off)
	return uint32(off), nil
}

// index builds d.first for intervals over [0, top] and pads d.starts and
// d.rows for the search. It takes the smallest table (up to 4096 buckets)
// that needs the fewest search steps.
func (d *dim) index(top uint32) {
	width := uint(bits.Len32(top))
	best, bestSteps := uint(0), 64
	for k := uint(0); k <= min(12, width); k++ {
		if s := d.steps(k, width); s < bestSteps {
			best, bestSteps = k, s
		}
	}
	k := best
	d.shift = uint32(width - k)
	d.first = make([]uint32, 1<<k)
	d.half = 0
	if bestSteps > 0 {
		d.half = 1 << (bestSteps - 1)
	}
	i := 0
	for j := range d.first {
		lo := uint32(j) << d.shift
		for i+1 < len(d.starts) && d.starts[i+1] <= lo {
			i++
		}
		d.first[j] = uint32(i)
	}
	// A search may look up to 2*half-1 past its first candidate, match5 up
	// to searchWidth-1. Padding repeats the last interval, which holds
	// MaxUint32 if anything does.
	n, pad := len(d.starts), max(2*int(d.half)-1, searchWidth-1)
	starts := make([]uint32, n+pad)
	rows := make([]uint32, n+pad)
	copy(starts, d.starts)
	copy(rows, d.rows)
	for j := n; j < n+pad; j++ {
		starts[j], rows[j] = math.MaxUint32, d.rows[n-1]
	}
	d.starts, d.rows = starts, rows
}

// steps returns the search steps a table of 2^k buckets leaves: log2 of the
// most intervals that overlap one bucket, rounded up. A bucket overlaps one
// interval more than the starts strictly inside it, so one pass over the
// starts (sorted, so a bucket's are consecutive) finds the most.
func (d *dim) steps(k, width uint) int {
	shift := width - k
	inner := uint64(1)<<shift - 1
	most, run, bucket := 1, 1, uint64(0)
	for _, s := range d.starts {
		x := uint64(s)
		if x&inner == 0 {
			continue // starts a bucket: no interval more than the one it starts
		}
		if b := x >> shift; b != bucket {
			bucket, run = b, 1
		}
		run++
		most = max(most, run)
	}
	return bits.Len(uint(most - 1))
}
