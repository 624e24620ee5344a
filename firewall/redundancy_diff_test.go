package firewall

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// rangePrefix returns the CIDR of a ClassBench prefix range.
func rangePrefix(r Range32) netip.Prefix {
	size := uint64(r.Hi) - uint64(r.Lo) + 1
	return netip.PrefixFrom(U32ToAddr(r.Lo), 32-bits.TrailingZeros64(size)).Masked()
}

// classbenchFirewall builds a firewall from ClassBench rules: nGroups basic
// groups of up to perGroup rules each (ingress and egress, accept and drop,
// a few priorities so that ties happen, some group references, source
// ports and local CIDRs, every inner access), and nNICs NICs in 1–5 groups
// whose addresses lie in the rules' destination prefixes.
func classbenchFirewall(t testing.TB, cb []MatchRule, nGroups, perGroup, nNICs int, seed uint64) *Firewall {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5))
	fw := New(Config{Quotas: Quotas{RulesPerGroup: max(100, perGroup), GroupsPerNIC: 5}})
	t.Cleanup(fw.Close)
	names := make([]string, nGroups)
	for i := range names {
		names[i] = fmt.Sprintf("sg%02d", i)
	}
	prios := []int{1, 1, 10, 50, 50, 100, 100, 100}
	err := fw.Update(func(tx *Tx) error {
		for gi, name := range names {
			g := Group{Name: name, InnerAccess: InnerAccess(rng.IntN(2))}
			refs := []string{names[(gi+1)%nGroups], names[(gi+3)%nGroups]}
			for range perGroup {
				m := cb[rng.IntN(len(cb))]
				r := Rule{Direction: Direction(rng.IntN(2)), Priority: prios[rng.IntN(len(prios))]}
				if rng.IntN(3) == 0 {
					r.Policy = Drop
				}
				switch {
				case m.AnyProto:
					r.Protocol = ProtocolAll
				case m.Proto == ProtoTCP || m.Proto == ProtoUDP:
					r.Protocol = map[uint8]string{ProtoTCP: ProtocolTCP, ProtoUDP: ProtocolUDP}[m.Proto]
					r.Ports = Ports{max(1, int(m.DstPort.Lo)), max(1, int(m.DstPort.Hi))}
					if m.SrcPort != AnyPort && m.SrcPort.Lo > 0 {
						r.SourcePorts = Ports{int(m.SrcPort.Lo), int(m.SrcPort.Hi)}
					}
				case m.Proto == ProtoICMP:
					r.Protocol = ProtocolICMP
				case m.Proto == ProtoGRE:
					r.Protocol = ProtocolGRE
				default:
					r.Protocol = ProtocolAll
				}
				if r.Protocol == ProtocolAll || r.Protocol == ProtocolICMP || r.Protocol == ProtocolGRE {
					r.Ports = AnyPorts
				}
				remote, local := m.Src[0], m.Dst[0]
				if r.Direction == Egress {
					remote, local = local, remote
				}
				if rng.IntN(8) == 0 {
					r.RemoteGroup = refs[rng.IntN(2)]
				} else {
					r.Remote = rangePrefix(remote)
				}
				if rng.IntN(4) == 0 {
					r.LocalCIDR = rangePrefix(local)
				}
				g.Rules = append(g.Rules, r)
			}
			if err := tx.CreateGroup(g); err != nil {
				return err
			}
		}
		seen := map[uint32]bool{}
		for i := range nNICs {
			var a uint32
			for {
				d := cb[rng.IntN(len(cb))].Dst[0]
				a = d.Lo + uint32(rng.Uint64N(uint64(d.Hi-d.Lo)+1))
				if !seen[a] && a != 0 && a != math.MaxUint32 {
					break
				}
			}
			seen[a] = true
			k := 1 + rng.IntN(5)
			perm := rng.Perm(nGroups)[:k]
			gs := make([]string, k)
			for j, x := range perm {
				gs[j] = names[x]
			}
			if _, err := tx.AddNIC(fmt.Sprintf("nic%03d", i), U32ToAddr(a), gs...); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	return fw
}

// TestAnalyzeClassBenchDifferential is the differential test: on
// firewalls generated from ClassBench rules, every NIC's policy in both
// directions without the entries Analyze calls redundant decides every
// corner of every entry's box and many random headers as the compiled
// policy does, and every kept entry's witness changes the verdict.
func TestAnalyzeClassBenchDifferential(t *testing.T) {
	cb, _ := loadFixture(t)
	random := 1 << 20 // headers in all, spread over the policies
	if testing.Short() || raceEnabled {
		random = 1 << 15
	}
	type setup struct {
		groups, perGroup, nics int
		seed                   uint64
	}
	setups := []setup{{20, 40, 60, 1}, {6, 100, 24, 2}}
	if testing.Short() || raceEnabled {
		setups = []setup{{10, 30, 16, 3}}
	}
	var causes [5]int
	var policies []*Policy
	var locals []netip.Addr
	for _, s := range setups {
		fw := classbenchFirewall(t, cb, s.groups, s.perGroup, s.nics, s.seed)
		for i := range s.nics {
			n, ok := fw.NIC(fmt.Sprintf("nic%03d", i))
			require.True(t, ok)
			for _, p := range []*Policy{n.Policy().Ingress, n.Policy().Egress} {
				policies = append(policies, p)
				locals = append(locals, n.Addr())
			}
		}
	}
	per := random / len(policies)
	for k, p := range policies {
		local := locals[k]
		as, err := p.Analyze(local, AnalyzeOptions{})
		require.NoError(t, err)
		for _, a := range as {
			causes[a.Cause]++
		}
		keep := keptBy(as)
		check := func(tp *Tuple) {
			want := p.Lookup(tp).Code
			if got := linearDecide(p, keep, tp); got.Allows() != want.Allows() {
				t.Fatalf("policy %d (local %v): %+v: reduced %v, compiled %v", k, local, *tp, got, want)
			}
		}
		forCorners(p, local, check)
		rows := make([]MatchRule, len(p.Entries))
		for i := range p.Entries {
			rows[i] = p.Entries[i].Match
		}
		lv, _ := AddrToU32(local)
		for _, tp := range RandomTuples(rows, per, uint64(k)) {
			if p.Dir == Ingress {
				tp.Dst = lv
			} else {
				tp.Src = lv
			}
			if lin := linearDecide(p, nil, &tp); lin != p.Lookup(&tp).Code {
				t.Fatalf("policy %d: %+v: linear %v, compiled %v", k, tp, lin, p.Lookup(&tp).Code)
			}
			check(&tp)
		}
		checkAnalysis(t, p, local, as)
	}
	t.Logf("%d policies, entries: %d kept, %d duplicate, %d shadowed, %d no effect, %d covered by inner accept",
		len(policies), causes[NotRedundant], causes[Duplicate], causes[Shadowed], causes[NoEffect], causes[CoveredByInnerAccept])
	for c := range causes {
		require.NotZero(t, causes[c], "no entry with cause %v: the generated policies do not exercise it", Cause(c))
	}
}

// TestAnalyzeGroupRemoval removes rules from groups, as lint --fix does: a
// rule goes from every NIC its group is on, so it must be removable on all
// of them together with the others. The fixpoint of AnalyzeOptions.Keep's
// doc finds such a set; the test checks that every NIC's policy without it
// decides as before.
func TestAnalyzeGroupRemoval(t *testing.T) {
	cb, _ := loadFixture(t)
	groups, per, nics := 12, 40, 40
	if testing.Short() || raceEnabled {
		groups, per, nics = 6, 20, 12
	}
	fw := classbenchFirewall(t, cb, groups, per, nics, 11)
	var pols []*Policy
	var locals []netip.Addr
	for i := range nics {
		n, _ := fw.NIC(fmt.Sprintf("nic%03d", i))
		pols = append(pols, n.Policy().Ingress, n.Policy().Egress)
		locals = append(locals, n.Addr(), n.Addr())
	}
	var pas []PolicyAt
	for k, p := range pols {
		pas = append(pas, PolicyAt{p, locals[k]})
	}
	cand, err := RemovableRules(pas, AnalyzeOptions{})
	require.NoError(t, err)
	t.Logf("%d rules removable from their groups", len(cand))
	require.NotEmpty(t, cand)
	for k, p := range pols {
		keep := make([]bool, len(p.Entries))
		for i, e := range p.Entries {
			keep[i] = e.Rule < 0 || !cand[RuleRef{e.Group, e.Rule}]
		}
		check := func(tp *Tuple) {
			if got, want := linearDecide(p, keep, tp), p.Lookup(tp).Code; got.Allows() != want.Allows() {
				t.Fatalf("policy %d: %+v: without the removed rules %v, before %v", k, *tp, got, want)
			}
		}
		forCorners(p, locals[k], check)
	}
}
