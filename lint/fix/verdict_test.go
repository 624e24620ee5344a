package fix

import (
	"math"
	"testing"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// compiled is the firewall of a topology's groups and NICs, no data plane.
func compiled(t testing.TB, topo *topology.Topology) *firewall.Firewall {
	t.Helper()
	fw := firewall.New(firewall.Config{Quotas: topo.Quotas.Firewall()})
	t.Cleanup(fw.Close)
	err := fw.Update(func(tx *firewall.Tx) error {
		for i := range topo.SecurityGroups {
			if err := tx.CreateGroup(topo.SecurityGroups[i].Firewall()); err != nil {
				return err
			}
		}
		for i := range topo.Instances {
			in := &topo.Instances[i]
			if _, err := tx.AddNIC(in.Name, in.IP, in.SecurityGroups...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return fw
}

// corners lists, for every entry of every NIC policy of fw, the headers at
// the corners of its box: each dimension's start, end, start−1 and end+1.
func corners(fw *firewall.Firewall, nics []string) ([]firewall.Tuple, []firewall.MatchRule) {
	var out []firewall.Tuple
	var rules []firewall.MatchRule
	edges32 := func(rs []firewall.Range32) []uint32 {
		var v []uint32
		for _, r := range rs {
			v = append(v, r.Lo, r.Hi, r.Lo-1, r.Hi+1)
		}
		if len(v) == 0 {
			v = []uint32{0}
		}
		return v
	}
	edges16 := func(r firewall.PortRange) []uint16 {
		return []uint16{r.Lo, r.Hi, r.Lo - 1, r.Hi + 1}
	}
	for _, id := range nics {
		nic, _ := fw.NIC(id)
		for _, p := range []*firewall.Policy{nic.Policy().Ingress, nic.Policy().Egress} {
			for _, e := range p.Entries {
				m := e.Match
				rules = append(rules, m)
				protos := []uint8{m.Proto}
				if m.AnyProto {
					protos = []uint8{firewall.ProtoTCP, firewall.ProtoUDP, firewall.ProtoICMP, firewall.ProtoGRE, 0, math.MaxUint8}
				}
				for _, s := range edges32(m.Src) {
					for _, d := range edges32(m.Dst) {
						for _, sp := range edges16(m.SrcPort) {
							for _, dp := range edges16(m.DstPort) {
								for _, pr := range protos {
									out = append(out, firewall.Tuple{Src: s, Dst: d, SrcPort: sp, DstPort: dp, Proto: pr})
								}
							}
						}
					}
				}
			}
		}
	}
	return out, rules
}

// diffVerdicts counts headers that a and b decide differently on some NIC,
// in either direction.
func diffVerdicts(a, b *firewall.Firewall, nics []string, tuples []firewall.Tuple) (int, string) {
	return diffDirs(a, b, nics, []firewall.Direction{firewall.Ingress, firewall.Egress}, tuples, false)
}

// diffDirs is diffVerdicts over some directions; with stop it returns at
// the first difference.
func diffDirs(a, b *firewall.Firewall, nics []string, dirs []firewall.Direction, tuples []firewall.Tuple, stop bool) (int, string) {
	n, first := 0, ""
	for _, id := range nics {
		na, _ := a.NIC(id)
		nb, _ := b.NIC(id)
		for _, dir := range dirs {
			pa, pb := na.Policy().Direction(dir), nb.Policy().Direction(dir)
			for i := range tuples {
				va, vb := pa.Lookup(&tuples[i]), pb.Lookup(&tuples[i])
				if va.Allowed() != vb.Allowed() {
					if n == 0 {
						first = id + " " + dir.String() + " " + va.Code.String() + " → " + vb.Code.String()
					}
					n++
					if stop {
						return n, first
					}
				}
			}
		}
	}
	return n, first
}

func nicNames(topo *topology.Topology) []string {
	var out []string
	for i := range topo.Instances {
		out = append(out, topo.Instances[i].Name)
	}
	return out
}

// testHeaders is what the differential tests compare: the corners of every
// entry of every NIC policy of fw and random headers around them.
func testHeaders(fw *firewall.Firewall, nics []string, random int) []firewall.Tuple {
	cs, rules := corners(fw, nics)
	return append(cs, firewall.RandomTuples(rules, random, 1)...)
}

// sameVerdicts fails t unless a and b decide every corner header and
// random headers alike on every NIC.
func sameVerdicts(t testing.TB, a, b *topology.Topology, random int) {
	t.Helper()
	fa, fb := compiled(t, a), compiled(t, b)
	nics := nicNames(a)
	cs := testHeaders(fa, nics, random)
	if n, first := diffVerdicts(fa, fb, nics, cs); n > 0 {
		t.Errorf("%d of %d headers decided differently; first: %s", n, len(cs), first)
	}
}
