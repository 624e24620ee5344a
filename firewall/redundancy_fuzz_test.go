package firewall

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The brute-force universe: rules bound addresses within 0–7 and ports
// within 0–3 (or take any), and name protocols 1, 6 or 17 (or all), so the
// values 0–8, ports 0–4 and protocols {0, 1, 6, 17} stand for every packet:
// 8 for every address above 7, 4 for every port above 3, 0 for every other
// protocol.
var (
	tinyAddrs  = []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8}
	tinyPorts  = []uint16{0, 1, 2, 3, 4}
	tinyProtos = []uint8{0, ProtoICMP, ProtoTCP, ProtoUDP}
)

// tinyPolicy generates a small random policy over the tiny universe, with
// repeated and nested rules often enough to exercise every cause.
func tinyPolicy(seed uint64, n int, egress bool) *Policy {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	addrs := func() []Range32 {
		if rng.IntN(4) == 0 {
			return AnyAddr
		}
		var rs []Range32
		for range 1 + rng.IntN(2) {
			lo := rng.Uint32N(8)
			rs = append(rs, Range32{lo, min(7, lo+rng.Uint32N(4))})
		}
		if rng.IntN(16) == 0 {
			return []Range32{} // an empty group
		}
		return rs
	}
	ports := func() PortRange {
		if rng.IntN(3) == 0 {
			return AnyPort
		}
		lo := uint16(rng.IntN(4))
		return PortRange{lo, min(3, lo+uint16(rng.IntN(3)))}
	}
	codes := []Code{SGRuleAccept, SGRuleDrop, SGRuleAccept, SGRuleDrop, SGInnerAccept, SGInnerDrop}
	p := &Policy{Dir: Ingress, Fallback: SGDefaultDeny}
	if egress {
		p.Dir = Egress
		if rng.IntN(2) == 0 {
			p.Fallback = SGDefaultAccept
		}
	}
	for i := range n {
		if i > 0 && rng.IntN(6) == 0 { // a copy of an earlier entry
			e := p.Entries[rng.IntN(i)]
			if rng.IntN(2) == 0 {
				e.Code = codes[rng.IntN(len(codes))]
			}
			p.Entries = append(p.Entries, e)
			continue
		}
		m := MatchRule{Src: addrs(), Dst: addrs(), SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true}
		switch rng.IntN(4) {
		case 0:
			m.AnyProto, m.Proto = false, ProtoICMP
		case 1, 2:
			m.AnyProto, m.Proto = false, []uint8{ProtoTCP, ProtoUDP}[rng.IntN(2)]
			m.DstPort = ports()
			if rng.IntN(4) == 0 {
				m.SrcPort = ports()
			}
		}
		p.Entries = append(p.Entries, Entry{Code: codes[rng.IntN(len(codes))], Rule: i, Match: m})
	}
	return p
}

// forTiny calls fn on every packet of the tiny universe the NIC can see.
func forTiny(p *Policy, local netip.Addr, fn func(*Tuple)) {
	lv, fixed := AddrToU32(local)
	for _, s := range tinyAddrs {
		for _, d := range tinyAddrs {
			if fixed && ((p.Dir == Ingress && d != lv) || (p.Dir == Egress && s != lv)) {
				continue
			}
			for _, pr := range tinyProtos {
				for _, sp := range tinyPorts {
					for _, dp := range tinyPorts {
						t := Tuple{Src: s, Dst: d, Proto: pr, SrcPort: sp, DstPort: dp}
						fn(&t)
					}
				}
			}
		}
	}
}

// bruteCheck checks Analyze's result on p exhaustively, against the
// definitions of the causes in Analyze's doc.
func bruteCheck(t testing.TB, p *Policy, local netip.Addr, forced []bool) {
	t.Helper()
	as, err := p.Analyze(local, AnalyzeOptions{Keep: forced})
	if err != nil {
		t.Fatal(err)
	}
	n := len(p.Entries)
	keep := keptBy(as)
	for i := range forced {
		if forced[i] && (as[i].Redundant() || as[i].With != 0) {
			t.Fatalf("entry %d is kept by the caller but judged: %+v", i, as[i])
		}
	}
	// The reduced list decides every packet as p does.
	forTiny(p, local, func(tp *Tuple) {
		if got, want := linearDecide(p, keep, tp), linearDecide(p, nil, tp); got.Allows() != want.Allows() {
			t.Fatalf("%+v: reduced %v, policy %v (%+v)", *tp, got, want, as)
		}
	})
	// Every kept entry is needed: its witness.
	checkAnalysis(t, p, local, as)
	shadowed := make([]bool, n)
	for i, a := range as {
		if a.Cause == Shadowed || a.Cause == Duplicate || (a.Cause == CoveredByInnerAccept && len(a.By) > 0 && a.By[0] < i) {
			shadowed[i] = true
		}
	}
	for i, a := range as {
		switch {
		case shadowed[i]:
			// No packet reaches it in p.
			forTiny(p, local, func(tp *Tuple) {
				for j := range i {
					if p.Entries[j].Match.Matches(tp) {
						return
					}
				}
				if p.Entries[i].Match.Matches(tp) {
					t.Fatalf("entry %d (%v) decides %+v", i, a.Cause, *tp)
				}
			})
			for _, j := range a.By {
				if j >= i || shadowed[j] {
					t.Fatalf("entry %d (%v): By %v", i, a.Cause, a.By)
				}
			}
			if a.Cause == Duplicate {
				j := a.By[0]
				if p.Entries[j].Code != p.Entries[i].Code {
					t.Fatalf("entry %d duplicate of %d with another code", i, j)
				}
				forTiny(p, local, func(tp *Tuple) {
					if p.Entries[j].Match.Matches(tp) != p.Entries[i].Match.Matches(tp) {
						t.Fatalf("entry %d duplicate of %d but %+v tells them apart", i, j, *tp)
					}
				})
			}
		case a.Redundant():
			// NoEffect: in the list of every earlier entry not shadowed and
			// the later entries kept, removing it changes no fate.
			list := make([]bool, n)
			for j := range n {
				list[j] = (j < i && !shadowed[j]) || (j > i && keep[j]) || j == i
			}
			without := append([]bool(nil), list...)
			without[i] = false
			forTiny(p, local, func(tp *Tuple) {
				if a, b := linearDecide(p, list, tp), linearDecide(p, without, tp); a.Allows() != b.Allows() {
					t.Fatalf("entry %d no effect, but %+v: %v with, %v without", i, *tp, a, b)
				}
			})
			for _, j := range a.By {
				if j <= i || !keep[j] {
					t.Fatalf("entry %d (%v): By %v", i, a.Cause, a.By)
				}
			}
		}
	}
}

func tinyLocal(l uint8) netip.Addr {
	if l >= 9 {
		return netip.Addr{}
	}
	return U32ToAddr(uint32(l))
}

func TestAnalyzeBruteForce(t *testing.T) {
	runs := 3000
	if testing.Short() || raceEnabled {
		runs = 300
	}
	for seed := range uint64(runs) {
		n := 1 + int(seed%12)
		p := tinyPolicy(seed, n, seed%3 == 0)
		bruteCheck(t, p, tinyLocal(uint8(seed%11)), nil)
		bruteCheck(t, p, tinyLocal(uint8(seed%11)), randomKeep(seed, n))
	}
}

func FuzzAnalyze(f *testing.F) {
	for s := range uint64(8) {
		f.Add(s, uint8(3+s), s%2 == 0, uint8(s))
	}
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, egress bool, local uint8) {
		p := tinyPolicy(seed, int(n%16), egress)
		bruteCheck(t, p, tinyLocal(local%12), nil)
		bruteCheck(t, p, tinyLocal(local%12), randomKeep(seed, len(p.Entries)))
	})
}

// randomKeep returns Keep flags for about one entry in four.
func randomKeep(seed uint64, n int) []bool {
	rng := rand.New(rand.NewPCG(seed, 77))
	k := make([]bool, n)
	for i := range k {
		k[i] = rng.IntN(4) == 0
	}
	return k
}
