package firewall

import (
	"math"
	"testing"
)

// FuzzMatcher compares the compiled matcher (both word scans) and the
// linear scan with the naive first match, on rule sets decoded from the
// input by decodeRules.
//
// It is shaped to keep the fuzzer learning: every input decodes to a valid
// rule set of fixed-size records, so that a mutation changes a rule instead
// of shifting every field after it or padding the set with empty rules; the
// first byte repeats the rules, shifted, to cross the matcher's 64- and
// 512-rule boundaries without long inputs; and the tuples checked are the
// edges of the input's own rules, checked against the naive loop only
// while it is cheap, so that an input costs well under a millisecond: the
// fuzzer minimizes every input that finds new coverage, and at several
// milliseconds an input it spent most of its minute doing that.
func FuzzMatcher(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0, 2, 0x11, 3, 0x52, 0x1a, 0x2b, 4})
	// Overlapping unions, adjacent ranges, reversed ones, every port kind.
	f.Add([]byte{0, 7, 0x25, 0x3f, 0x90, 0x13, 0x24, 5, 5, 0x21, 6, 0x30, 0x35, 0x46, 0x1f, 0x0c, 0xd1, 0x77, 0xe6, 0x4f, 0x02})
	// 3 rules repeated 32 and 128 times: past one word, past the vector scan.
	f.Add([]byte{5, 2, 0x41, 3, 0x82, 0x12, 0x1b, 4, 4, 0xc3, 1, 0, 0x33, 0x07, 3, 7, 0x45, 2, 0x10, 0x0e, 0x15, 6})
	f.Add([]byte{7, 2, 0x41, 3, 0x82, 0x12, 0x1b, 4, 4, 0xc3, 1, 0, 0x33, 0x07, 3, 7, 0x45, 2, 0x10, 0x0e, 0x15, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, base := decodeRules(data)
		m, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		checkPadding(t, m)
		l := NewLinear(rules)
		// The edges of the decoded rules and of their last copy; the copies
		// between are the same rules, shifted.
		g := newRuleGen(uint64(len(data)))
		tuples := g.edgeTuples(rules[:base])
		tuples = append(tuples, g.edgeTuples(rules[len(rules)-base:])...)
		tuples = append(tuples, Tuple{}, Tuple{Src: math.MaxUint32, Dst: math.MaxUint32,
			SrcPort: math.MaxUint16, DstPort: math.MaxUint16, Proto: 255})
		// The naive loop is the reference; past a few dozen rules it would
		// cost most of an input's time, and the linear scan (whose range
		// normalization the small sets check against it) stands in.
		want := make([]int, len(tuples))
		for i := range tuples {
			want[i] = l.Match(&tuples[i])
			if len(rules) > fuzzNaiveRules {
				continue
			}
			if ref := naiveMatch(rules, &tuples[i]); want[i] != ref {
				t.Fatalf("linear scan: %d rules, tuple %+v: %d, want %d (rule %+v)", len(rules), tuples[i], want[i], ref, ruleAt(rules, ref))
			}
		}
		scans(func(scan string) {
			for i := range tuples {
				if got := m.Match(&tuples[i]); got != want[i] {
					t.Fatalf("%s scan: %d rules, tuple %+v: compiled %d, want %d (rule %+v, got rule %+v)",
						scan, len(rules), tuples[i], got, want[i], ruleAt(rules, want[i]), ruleAt(rules, got))
				}
			}
		})
	})
}

func ruleAt(rules []MatchRule, i int) any {
	if i < 0 || i >= len(rules) {
		return nil
	}
	return rules[i]
}

// Sizes of decodeRules' input: a record per rule, at most this many rules
// before the repeats (short inputs keep minimizing an input quick), at most
// this many after; and the most rules checked with the naive loop.
const (
	fuzzRecord     = 7
	fuzzMaxBase    = 16
	fuzzMaxRules   = 600
	fuzzNaiveRules = 64
)

// decodeRules reads data as a repeat byte followed by 7-byte records, one
// rule each (a short last record reads zeros): source set (kind, value),
// destination set (kind, value), source port, destination port, protocol.
// The rules are then repeated 1<<(data[0]&7) times, each copy's addresses
// moved by 256 per copy, up to fuzzMaxRules. It returns the rules and the
// number of decoded rules, of which the others are copies. Every byte
// string decodes to a valid rule set.
func decodeRules(data []byte) (rules []MatchRule, base int) {
	if len(data) == 0 {
		return nil, 0
	}
	copies := 1 << (data[0] & 7)
	data = data[1:]
	base = min((len(data)+fuzzRecord-1)/fuzzRecord, fuzzMaxBase)
	if base == 0 {
		return nil, 0
	}
	copies = min(copies, max(fuzzMaxRules/base, 1))
	rules = make([]MatchRule, 0, base*copies)
	for i := range base {
		var r [fuzzRecord]byte
		copy(r[:], data[min(i*fuzzRecord, len(data)):])
		rules = append(rules, MatchRule{
			Src: fuzzAddrSet(r[0], r[1]), Dst: fuzzAddrSet(r[2], r[3]),
			SrcPort: fuzzPortRange(r[4]), DstPort: fuzzPortRange(r[5]),
			Proto: genProtos[int(r[6]>>1)%len(genProtos)], AnyProto: r[6]&1 != 0,
		})
	}
	for c := 1; c < copies; c++ {
		for i := range base {
			r := rules[i]
			r.Src, r.Dst = shifted(r.Src, uint32(c)<<8), shifted(r.Dst, uint32(c)<<8)
			rules = append(rules, r)
		}
	}
	return rules, base
}

func shifted(set []Range32, d uint32) []Range32 {
	if set == nil {
		return nil
	}
	out := make([]Range32, len(set))
	for i, r := range set {
		out[i] = Range32{r.Lo + d, r.Hi + d} // one that wraps is empty
	}
	return out
}

// fuzzAddr maps a byte to an edge of the address space (below 16) or to
// one of 48 addresses 16 apart in each of four networks, so that ranges
// from different bytes overlap, nest and touch.
func fuzzAddr(v byte) uint32 {
	if v < 16 {
		return genEdges[int(v)%len(genEdges)]
	}
	return genNets[v>>6] + uint32(v&0x3f)<<4
}

// fuzzAddrSet decodes a set of addresses: kind&7 picks its shape, kind>>3
// (0..31) its size, v its address.
func fuzzAddrSet(kind, v byte) []Range32 {
	a, k := fuzzAddr(v), uint32(kind>>3)
	switch kind & 7 {
	case 0:
		return nil // matches nothing
	case 1:
		return AnyAddr
	case 2, 3, 4:
		// A prefix of length 1..32 around a.
		mask := uint32(math.MaxUint32) << (31 - k)
		return []Range32{{a & mask, a | ^mask}}
	case 5:
		return []Range32{{a, a + k*37}} // a single address when k is 0
	case 6:
		return []Range32{{a + k + 1, a}} // reversed: empty unless it wraps
	}
	// A union: a range, one touching it, and one overlapping both.
	return []Range32{{a, a + k}, {a + k + 1, a + 2*k + 1}, {a + k/2, a + 3*k}}
}

// fuzzPortRange decodes a port range: p&7 its shape, p>>3 its port.
func fuzzPortRange(p byte) PortRange {
	v := uint16(p >> 3)
	if int(v) < len(genPorts) {
		v = genPorts[v]
	} else {
		v = v * 2039 // spread over the port space
	}
	switch p & 7 {
	case 0, 1:
		return AnyPort
	case 2, 3:
		return PortRange{v, v}
	case 4:
		return PortRange{0, v}
	case 5:
		return PortRange{v, math.MaxUint16}
	case 6:
		return PortRange{v, v + 100} // empty when it wraps
	}
	return PortRange{v + 1, v} // reversed: empty unless it wraps
}
