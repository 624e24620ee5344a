package firewall

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linearDecide is the test's obviously correct first match over the entries
// of p that keep allows (nil: all of them), with the fallback.
func linearDecide(p *Policy, keep []bool, t *Tuple) Code {
	for i := range p.Entries {
		if (keep == nil || keep[i]) && p.Entries[i].Match.Matches(t) {
			return p.Entries[i].Code
		}
	}
	return p.Fallback
}

// keptBy returns, for each entry, whether Analyze kept it.
func keptBy(as []EntryAnalysis) []bool {
	keep := make([]bool, len(as))
	for i := range as {
		keep[i] = !as[i].Redundant()
	}
	return keep
}

// Protocols of test entries: anyP is protocol all.
const (
	tcp  = int(ProtoTCP)
	udpP = int(ProtoUDP)
	anyP = -1
)

// ent is a test entry: code, src, dst, proto (anyP: any), dport range.
func ent(code Code, src, dst string, proto int, dlo, dhi uint16) Entry {
	m := MatchRule{Src: prefixRanges(netip.MustParsePrefix(src)), Dst: prefixRanges(netip.MustParsePrefix(dst)),
		SrcPort: AnyPort, DstPort: PortRange{dlo, dhi}}
	if proto < 0 {
		m.AnyProto = true
	} else {
		m.Proto = uint8(proto)
	}
	return Entry{Code: code, Group: "g", Rule: 0, Match: m}
}

func TestAnalyzeCauses(t *testing.T) {
	const any4 = "0.0.0.0/0"
	local := netip.MustParseAddr("10.0.0.5")
	inner := func(code Code, src string) Entry {
		e := ent(code, src, any4, anyP, 0, math.MaxUint16)
		e.Rule = -1
		return e
	}
	tests := []struct {
		name     string
		dir      Direction
		fallback Code
		entries  []Entry
		want     []Cause
		by       [][]int
		fallBy   []bool
	}{
		{
			name: "duplicate: the second of two identical accepts",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "192.168.0.0/16", any4, tcp, 22, 22),
				ent(SGRuleAccept, "192.168.0.0/16", any4, tcp, 22, 22),
			},
			want: []Cause{NotRedundant, Duplicate},
			by:   [][]int{nil, {0}},
		},
		{
			name: "shadowed: a narrower rule under a broader one, and one under two halves",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "192.168.0.0/17", any4, tcp, 0, 1000),
				ent(SGRuleAccept, "192.168.128.0/17", any4, tcp, 0, 1000),
				ent(SGRuleAccept, "192.168.0.0/16", any4, tcp, 22, 80),
				ent(SGRuleDrop, "192.168.1.0/24", any4, tcp, 443, 443),
			},
			want: []Cause{NotRedundant, NotRedundant, Shadowed, Shadowed},
			by:   [][]int{nil, nil, {0, 1}, {0}},
		},
		{
			name: "shadowed with different action: a drop never reached",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, any4, any4, tcp, 22, 22),
				ent(SGRuleDrop, "1.2.3.4/32", any4, tcp, 22, 22),
			},
			want: []Cause{NotRedundant, Shadowed},
			by:   [][]int{nil, {0}},
		},
		{
			name: "no effect: an accept under a later broader accept; a drop repeating the default deny",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "10.1.0.0/16", any4, tcp, 80, 80),
				ent(SGRuleDrop, "6.6.6.0/24", any4, anyP, 0, math.MaxUint16),
				ent(SGRuleAccept, "10.0.0.0/8", any4, tcp, 0, math.MaxUint16),
			},
			want:   []Cause{NoEffect, NoEffect, NotRedundant},
			by:     [][]int{{2}, nil, nil},
			fallBy: []bool{false, true, false},
		},
		{
			name: "not redundant: a drop between an accept and the broader accept",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "10.1.0.0/16", any4, tcp, 80, 80),
				ent(SGRuleDrop, "10.1.2.0/24", any4, tcp, 0, math.MaxUint16),
				ent(SGRuleAccept, "10.0.0.0/8", any4, tcp, 0, math.MaxUint16),
			},
			want: []Cause{NotRedundant, NotRedundant, NotRedundant},
		},
		{
			name: "removing a shadowed drop makes the accept above it redundant",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "10.1.0.0/16", any4, tcp, 80, 80),
				ent(SGRuleDrop, "10.1.2.0/24", any4, tcp, 80, 80),
				ent(SGRuleAccept, "10.0.0.0/8", any4, tcp, 0, math.MaxUint16),
			},
			want: []Cause{NoEffect, Shadowed, NotRedundant},
			by:   [][]int{{2}, {0}, nil},
		},
		{
			name: "two identical accepts above a broader one: the second is a duplicate, the first has no effect",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, "10.1.0.0/16", any4, tcp, 80, 80),
				ent(SGRuleAccept, "10.1.0.0/16", any4, tcp, 80, 80),
				ent(SGRuleAccept, "10.0.0.0/8", any4, anyP, 0, math.MaxUint16),
			},
			want: []Cause{NoEffect, Duplicate, NotRedundant},
			by:   [][]int{{2}, {0}, nil},
		},
		{
			name: "covered by inner accept: a rule from the members only",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				inner(SGInnerAccept, "10.0.0.0/28"),
				ent(SGRuleAccept, "10.0.0.0/29", any4, tcp, 22, 22),
				ent(SGRuleDrop, "10.0.0.8/30", any4, anyP, 0, math.MaxUint16),
				ent(SGRuleAccept, "10.0.0.0/24", any4, tcp, 22, 22),
			},
			want: []Cause{NotRedundant, CoveredByInnerAccept, CoveredByInnerAccept, NotRedundant},
			by:   [][]int{nil, {0}, {0}, nil},
		},
		{
			name: "the local address: a local_cidr elsewhere matches nothing; the drop only for it is needed",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleAccept, any4, "10.9.0.0/16", tcp, 22, 22),
				ent(SGRuleDrop, any4, "10.0.0.5/32", tcp, 22, 22),
				ent(SGRuleAccept, any4, any4, tcp, 0, 100),
			},
			want: []Cause{Shadowed, NotRedundant, NotRedundant},
			by:   [][]int{nil, nil, nil},
		},
		{
			name: "egress of a basic group: an accept repeats the default accept, a drop does not",
			dir:  Egress, fallback: SGDefaultAccept,
			entries: []Entry{
				ent(SGRuleDrop, "10.0.0.0/24", "8.8.8.8/32", udpP, 53, 53),
				ent(SGRuleAccept, "10.0.0.0/24", any4, anyP, 0, math.MaxUint16),
			},
			want:   []Cause{NotRedundant, NoEffect},
			by:     [][]int{nil, nil},
			fallBy: []bool{false, true},
		},
		{
			name: "a rule that drops the members of an isolated group: the inner drop is shadowed, the rule repeats the default",
			dir:  Ingress, fallback: SGDefaultDeny,
			entries: []Entry{
				ent(SGRuleDrop, "10.0.0.0/28", any4, anyP, 0, math.MaxUint16),
				inner(SGInnerDrop, "10.0.0.0/28"),
			},
			want:   []Cause{NoEffect, Shadowed},
			by:     [][]int{nil, {0}},
			fallBy: []bool{true, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{Dir: tc.dir, Entries: tc.entries, Fallback: tc.fallback}
			as, err := p.Analyze(local, AnalyzeOptions{})
			require.NoError(t, err)
			require.Len(t, as, len(tc.entries))
			for i, a := range as {
				assert.Equal(t, i, a.Entry)
				assert.Equal(t, tc.want[i].String(), a.Cause.String(), "entry %d", i)
				if tc.by != nil {
					assert.Equal(t, tc.by[i], a.By, "entry %d: By", i)
				}
				if tc.fallBy != nil {
					assert.Equal(t, tc.fallBy[i], a.ByFallback, "entry %d: ByFallback", i)
				}
			}
			checkAnalysis(t, p, local, as)
		})
	}
}

// checkAnalysis checks the two promises of Analyze on the points the test
// can name: every witness is decided by its entry in the reduced list and
// decided the other way without it, and the reduced list decides every
// corner of every entry's box as p does.
func checkAnalysis(t testing.TB, p *Policy, local netip.Addr, as []EntryAnalysis) {
	t.Helper()
	keep := keptBy(as)
	for i, a := range as {
		if a.Redundant() || a.With == 0 { // With NONE: kept by the caller, not judged
			continue
		}
		w := a.Witness
		if lv, ok := AddrToU32(local); ok {
			if p.Dir == Ingress {
				require.Equal(t, lv, w.Dst, "entry %d: witness not to the NIC", i)
			} else {
				require.Equal(t, lv, w.Src, "entry %d: witness not from the NIC", i)
			}
		}
		require.True(t, p.Entries[i].Match.Matches(&w), "entry %d: witness %+v outside its box", i, w)
		require.Equal(t, a.With, linearDecide(p, keep, &w), "entry %d: witness %+v", i, w)
		keep[i] = false
		without := linearDecide(p, keep, &w)
		keep[i] = true
		require.Equal(t, a.Without, without, "entry %d: witness %+v", i, w)
		require.NotEqual(t, a.With.Allows(), without.Allows(), "entry %d: witness %+v decides the same without it", i, w)
	}
	forCorners(p, local, func(tp *Tuple) {
		if got, want := linearDecide(p, keep, tp), linearDecide(p, nil, tp); got.Allows() != want.Allows() {
			t.Fatalf("header %+v: reduced list says %v, the policy %v", *tp, got, want)
		}
	})
}

// forCorners calls fn on the corners of every entry's box: every
// combination of each dimension's start, end, start−1 and end+1 (for
// protocols: its own, the two beside it, and tcp for any), with the local
// address fixed when it is one; an address set of several ranges takes
// them in turn.
func forCorners(p *Policy, local netip.Addr, fn func(*Tuple)) {
	lv, fixed := AddrToU32(local)
	vals := func(rs []Range32) []uint32 {
		var out []uint32
		for _, r := range rs {
			out = append(out, r.Lo, r.Hi, r.Lo-1, r.Hi+1)
		}
		return out
	}
	for i := range p.Entries {
		m := &p.Entries[i].Match
		src, dst := vals(m.Src), vals(m.Dst)
		if len(src) == 0 || len(dst) == 0 {
			continue
		}
		protos := [4]uint8{m.Proto, m.Proto - 1, m.Proto + 1, ProtoTCP}
		if m.AnyProto {
			protos = [4]uint8{0, ProtoICMP, ProtoUDP, ProtoTCP}
		}
		sp := vals([]Range32{{uint32(m.SrcPort.Lo), uint32(m.SrcPort.Hi)}})
		dp := vals([]Range32{{uint32(m.DstPort.Lo), uint32(m.DstPort.Hi)}})
		na, nb := len(src), len(dst)
		if fixed && p.Dir == Ingress {
			nb = 1
		}
		if fixed && p.Dir == Egress {
			na = 1
		}
		for a := range na {
			for b := range nb {
				t := Tuple{Src: src[a], Dst: dst[b]}
				if fixed && p.Dir == Ingress {
					t.Dst = lv
				}
				if fixed && p.Dir == Egress {
					t.Src = lv
				}
				for _, pr := range protos {
					for _, s := range sp {
						for _, d := range dp {
							t.Proto, t.SrcPort, t.DstPort = pr, uint16(s), uint16(d)
							fn(&t)
						}
					}
				}
			}
		}
	}
}

func TestAnalyzeTooComplex(t *testing.T) {
	// Each earlier entry punches a hole in a different dimension-pair of the
	// last one's box: the region grows with each subtraction.
	var entries []Entry
	for i := range 40 {
		entries = append(entries, Entry{Code: SGRuleDrop, Rule: i, Match: MatchRule{
			Src: []Range32{{uint32(i * 7), uint32(i*7 + 3)}}, Dst: []Range32{{uint32(i * 5), uint32(i*5 + 2)}},
			SrcPort: PortRange{uint16(i * 3), uint16(i*3 + 1)}, DstPort: PortRange{uint16(i), uint16(i)}, AnyProto: true,
		}})
	}
	entries = append(entries, Entry{Code: SGRuleAccept, Rule: 40, Match: MatchRule{Src: AnyAddr, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true}})
	p := &Policy{Dir: Ingress, Entries: entries, Fallback: SGDefaultDeny}
	_, err := p.Analyze(netip.Addr{}, AnalyzeOptions{MaxBoxes: 8})
	require.ErrorIs(t, err, ErrTooComplex)
	assert.Contains(t, err.Error(), "entry 40")
	as, err := p.Analyze(netip.Addr{}, AnalyzeOptions{})
	require.NoError(t, err)
	checkAnalysis(t, p, netip.Addr{}, as)
}

// TestSetOps checks the interval-set algebra against a bitmap over a small
// universe.
func TestSetOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const u = 40
	gen := func() (iset, [u]bool) {
		var bits [u]bool
		var rs []Range32
		for range rng.IntN(4) {
			lo := rng.Uint32N(u)
			hi := min(lo+rng.Uint32N(8), u-1)
			rs = append(rs, Range32{lo, hi})
			for v := lo; v <= hi; v++ {
				bits[v] = true
			}
		}
		return normSet(rs), bits
	}
	toBits := func(s iset) (b [u]bool) {
		for i, r := range s {
			require.LessOrEqual(t, r.Lo, r.Hi)
			if i > 0 {
				require.Greater(t, r.Lo, s[i-1].Hi+1, "not normalized: %v", s)
			}
			for v := r.Lo; v <= r.Hi; v++ {
				b[v] = true
			}
		}
		return b
	}
	for range 5000 {
		a, ab := gen()
		b, bb := gen()
		require.Equal(t, ab, toBits(a))
		var and, diff [u]bool
		over := false
		for i := range u {
			and[i], diff[i] = ab[i] && bb[i], ab[i] && !bb[i]
			over = over || and[i]
		}
		require.Equal(t, and, toBits(intersectSet(a, b)), "%v ∩ %v", a, b)
		require.Equal(t, diff, toBits(subtractSet(a, b)), "%v − %v", a, b)
		require.Equal(t, over, overlapsSet(a, b))
	}
	// The edges of the value space.
	full := iset{{0, math.MaxUint32}}
	assert.Equal(t, iset{{0, 9}, {21, math.MaxUint32}}, subtractSet(full, iset{{10, 20}}))
	assert.Empty(t, subtractSet(full, full))
	assert.Equal(t, iset{{0, math.MaxUint32}}, normSet([]Range32{{5, math.MaxUint32}, {0, 4}}))
	assert.Nil(t, normSet([]Range32{{5, 4}}))
}

// TestAnalyzeErrorsWrap checks the error names the entry and wraps the
// sentinel.
func TestAnalyzeErrorsWrap(t *testing.T) {
	err := errors.New("x")
	assert.False(t, errors.Is(err, ErrTooComplex))
	assert.Equal(t, []string{"", "DUPLICATE", "SHADOWED", "NO_EFFECT", "COVERED_BY_INNER_ACCEPT"},
		[]string{NotRedundant.String(), Duplicate.String(), Shadowed.String(), NoEffect.String(), CoveredByInnerAccept.String()})
}

// TestAnalyzeWitness checks the witness is a point a reader recognizes:
// tcp rather than protocol 0, port 1 rather than 0, not a .0 address.
func TestAnalyzeWitness(t *testing.T) {
	local := netip.MustParseAddr("10.0.0.5")
	p := &Policy{Dir: Ingress, Fallback: SGDefaultDeny, Entries: []Entry{
		ent(SGRuleDrop, "192.168.1.0/24", "0.0.0.0/0", udpP, 53, 53),
		ent(SGRuleAccept, "0.0.0.0/0", "0.0.0.0/0", anyP, 0, math.MaxUint16),
	}}
	as, err := p.Analyze(local, AnalyzeOptions{})
	require.NoError(t, err)
	lv, _ := AddrToU32(local)
	assert.Equal(t, Tuple{Src: u32("192.168.1.1"), Dst: lv, Proto: ProtoUDP, SrcPort: 1, DstPort: 53}, as[0].Witness)
	assert.Equal(t, []Code{SGRuleDrop, SGRuleAccept}, []Code{as[0].With, as[0].Without})
	assert.Equal(t, Tuple{Src: 1, Dst: lv, Proto: ProtoTCP, SrcPort: 1, DstPort: 1}, as[1].Witness)
	assert.Equal(t, []Code{SGRuleAccept, SGDefaultDeny}, []Code{as[1].With, as[1].Without})
	checkAnalysis(t, p, local, as)
}

// TestRemovableRulesSystem checks that a system rule is never removed: the
// user rule that repeats it goes instead, whichever comes first.
func TestRemovableRulesSystem(t *testing.T) {
	local := netip.MustParseAddr("10.0.0.5")
	user := ent(SGRuleAccept, "0.0.0.0/0", "0.0.0.0/0", tcp, 22, 22)
	sys := user
	sys.Group, sys.Rule, sys.R = "default", 0, Rule{system: true}
	for _, order := range [][]Entry{{user, sys}, {sys, user}} {
		p := &Policy{Dir: Ingress, Fallback: SGDefaultDeny, Entries: order}
		got, err := RemovableRules([]PolicyAt{{p, local}}, AnalyzeOptions{})
		require.NoError(t, err)
		assert.Equal(t, map[RuleRef]bool{{"g", 0}: true}, got)
	}
}
