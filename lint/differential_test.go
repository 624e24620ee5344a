package lint

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// without returns st with the rules rep.Redundant lists removed (indexes in
// the file's rules of each group).
func without(st State, rep *Report) State {
	out := st
	out.Groups = make([]firewall.Group, len(st.Groups))
	for i, g := range st.Groups {
		drop := rep.Redundant[g.Name]
		g.Rules = slices.Clone(g.Rules)
		for j := len(g.Rules) - 1; j >= 0; j-- {
			if slices.Contains(drop, j) {
				g.Rules = slices.Delete(g.Rules, j, j+1)
			}
		}
		out.Groups[i] = g
	}
	return out
}

// probes are the headers a policy is compared on, seen from local: the
// corners of every entry's box (each side's start, end, start−1, end+1)
// and random headers.
func probes(p *firewall.Policy, local uint32, rng *rand.Rand, random int) []firewall.Tuple {
	edge := func(lo, hi uint32, max uint32) []uint32 {
		out := []uint32{lo, hi}
		if lo > 0 {
			out = append(out, lo-1)
		}
		if hi < max {
			out = append(out, hi+1)
		}
		return out
	}
	var out []firewall.Tuple
	for i := range p.Entries {
		m := &p.Entries[i].Match
		remote := m.Src
		if p.Dir == firewall.Egress {
			remote = m.Dst
		}
		protos := []uint8{m.Proto}
		if m.AnyProto {
			protos = []uint8{1, 6, 17, 47}
		}
		for _, r := range remote {
			for _, a := range edge(r.Lo, r.Hi, 1<<32-1) {
				for _, port := range edge(uint32(m.DstPort.Lo), uint32(m.DstPort.Hi), 65535) {
					for _, pr := range protos {
						t := firewall.Tuple{Src: a, Dst: local, DstPort: uint16(port), SrcPort: m.SrcPort.Lo, Proto: pr}
						if p.Dir == firewall.Egress {
							t.Src, t.Dst = local, a
						}
						out = append(out, t)
					}
				}
			}
		}
	}
	for range random {
		t := firewall.Tuple{Src: rng.Uint32(), Dst: local, SrcPort: uint16(rng.IntN(65536)), DstPort: uint16(rng.IntN(65536)),
			Proto: []uint8{1, 6, 17, 47, 0}[rng.IntN(5)]}
		if rng.IntN(2) == 0 {
			t.Src = 10<<24 | rng.Uint32N(1<<24) // inside the VPC, where the members are
		}
		if rng.IntN(3) == 0 {
			t.DstPort = []uint16{22, 80, 443, 8080, 3306, 53}[rng.IntN(6)]
		}
		if p.Dir == firewall.Egress {
			t.Src, t.Dst = local, t.Src
		}
		out = append(out, t)
	}
	return out
}

// TestRemoveRedundantKeepsVerdicts is the differential test of the report
// lint --fix builds on: removing every rule Redundant lists leaves every
// instance's verdict unchanged on the corners of every rule and on random
// headers.
func TestRemoveRedundantKeepsVerdicts(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		top, err := topology.Load("gen.yaml", []byte(genTopology(seed, 60, 8, 30)))
		require.NoError(t, err)
		rep, err := Run(top, Options{})
		require.NoError(t, err)
		removed := 0
		for _, idx := range rep.Redundant {
			removed += len(idx)
		}
		require.Positive(t, removed, "seed %d: the generated file has redundant rules", seed)
		st := FileState(top)
		before, err := st.build()
		require.NoError(t, err)
		reduced := without(st, rep)
		after, err := reduced.build()
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(seed, 11))
		compared := 0
		for _, n := range st.NICs {
			a, _ := before.NIC(n.Name)
			b, _ := after.NIC(n.Name)
			local, _ := firewall.AddrToU32(n.Addr)
			for _, dir := range []firewall.Direction{firewall.Ingress, firewall.Egress} {
				pa, pb := a.Policy().Direction(dir), b.Policy().Direction(dir)
				for _, tp := range probes(pa, local, rng, 2000) {
					va, vb := pa.Lookup(&tp), pb.Lookup(&tp)
					if va.Allowed() != vb.Allowed() {
						t.Fatalf("seed %d: %s %v %+v: %v before, %v after removing %v", seed, n.Name, dir, tp, va.Code, vb.Code, rep.Redundant)
					}
					compared++
				}
			}
		}
		before.Close()
		after.Close()
		t.Logf("seed %d: %d rules removed, %d headers compared", seed, removed, compared)
	}
}
