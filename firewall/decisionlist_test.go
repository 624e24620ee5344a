package firewall

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomState builds, into fw, a state of a few groups (both inner
// accesses and the default group, or enterprise groups on some seeds) of random rules:
// CIDRs and group references, local_cidr, source ports, every protocol,
// ties of priority; and NICs each in a random list of them.
func randomState(t *testing.T, fw *Firewall, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 13))
	groups := []string{"default", "g1", "g2", "g3"}
	typ := Basic
	if seed%4 == 3 {
		typ = Enterprise
		groups[0] = "g0" // the default group is basic
	}
	prefixes := []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.8/29", "192.168.0.0/16", "10.0.0.3/32", "::/0"}
	protos := []string{"tcp", "udp", "icmp", "gre", "all"}
	var nics []string
	require.NoError(t, fw.Update(func(tx *Tx) error {
		for gi, name := range groups {
			g := Group{Name: name, Type: typ, InnerAccess: InnerAccess(rng.IntN(2))}
			if typ == Enterprise {
				g.InnerAccess = InnerDrop
			}
			for range rng.IntN(12) {
				r := Rule{Direction: Direction(rng.IntN(2)), Policy: Action(rng.IntN(2)), Priority: 1 + rng.IntN(3),
					Protocol: protos[rng.IntN(len(protos))]}
				if r.Protocol == "tcp" || r.Protocol == "udp" {
					lo := 1 + rng.IntN(100)
					r.Ports = Ports{lo, lo + rng.IntN(50)}
					if rng.IntN(4) == 0 {
						r.SourcePorts = Ports{1, 1024}
					}
				} else {
					r.Ports = AnyPorts
				}
				if typ == Basic && rng.IntN(4) == 0 {
					r.RemoteGroup = groups[(gi+1+rng.IntN(len(groups)-1))%len(groups)]
				} else {
					r.Remote = netip.MustParsePrefix(prefixes[rng.IntN(len(prefixes))])
				}
				if rng.IntN(5) == 0 {
					r.LocalCIDR = netip.MustParsePrefix("10.0.0.0/29")
				}
				g.Rules = append(g.Rules, r)
			}
			if err := tx.CreateGroup(g); err != nil {
				return fmt.Errorf("group %s: %w", name, err)
			}
		}
		for i := range 1 + rng.IntN(8) {
			var in []string
			for _, name := range groups {
				if rng.IntN(2) == 0 {
					in = append(in, name)
				}
			}
			if len(in) == 0 {
				in = groups[:1]
			}
			rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
			name := fmt.Sprintf("nic%d", i)
			if _, err := tx.AddNIC(name, netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}), in...); err != nil {
				return err
			}
			nics = append(nics, name)
		}
		return nil
	}))
	return nics
}

// TestDecisionListsOnly: a firewall of Config.DecisionListsOnly holds, for
// every NIC and direction, exactly the decision list and fallback the
// compiled one holds, and its policies decide every header the same.
func TestDecisionListsOnly(t *testing.T) {
	for seed := range uint64(200) {
		full, lists := New(Config{}), New(Config{DecisionListsOnly: true})
		nics := randomState(t, full, seed)
		require.Equal(t, nics, randomState(t, lists, seed))
		rng := rand.New(rand.NewPCG(seed, 17))
		for _, name := range nics {
			a, _ := full.NIC(name)
			b, _ := lists.NIC(name)
			for _, dir := range []Direction{Ingress, Egress} {
				pa, pb := a.Policy().Direction(dir), b.Policy().Direction(dir)
				require.NotNil(t, pa.Matcher())
				require.Nil(t, pb.Matcher(), "no matcher compiled")
				require.Equal(t, pa.Entries, pb.Entries, "seed %d %s %s", seed, name, dir)
				require.Equal(t, pa.Fallback, pb.Fallback, "seed %d %s %s", seed, name, dir)
				for range 2000 {
					tp := Tuple{Src: 0x0a000000 | rng.Uint32N(16), Dst: 0x0a000000 | rng.Uint32N(16),
						Proto: []uint8{1, 6, 17, 47, 0}[rng.IntN(5)], SrcPort: uint16(rng.IntN(1100)), DstPort: uint16(rng.IntN(160))}
					if rng.IntN(4) == 0 {
						tp.Src = rng.Uint32()
					}
					va, vb := pa.Lookup(&tp), pb.Lookup(&tp)
					if va.Code != vb.Code || va.Entry != vb.Entry || va.Dir != vb.Dir {
						t.Fatalf("seed %d %s %s %+v: compiled %v entry %d, lists only %v entry %d", seed, name, dir, tp, va.Code, va.Entry, vb.Code, vb.Entry)
					}
				}
			}
		}
		full.Close()
		lists.Close()
	}
}
