package firewall

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkAnalyze lints one NIC in 5 groups of ClassBench rules (fw1
// fixture), both directions, as the rules grow: 5 × 100 is the issue's
// 500-rule NIC (target ≤ 100 ms). local=none analyses the same lists with
// the NIC's own address left free (a group without members): every rule's
// box is whole, the harder case.
func BenchmarkAnalyze(b *testing.B) {
	cb, _ := loadFixture(b)
	for _, c := range []struct {
		per  int
		free bool
	}{{20, false}, {40, false}, {100, false}, {200, false}, {20, true}, {40, true}, {100, true}, {200, true}} {
		name := fmt.Sprintf("rules=%d", 5*c.per)
		if c.free {
			name += "/local=none"
		}
		per := c.per
		b.Run(name, func(b *testing.B) {
			fw := classbenchFirewall(b, cb, 5, per, 0, 7)
			addr := netip.MustParseAddr("10.0.0.1")
			if d := cb[0].Dst[0]; d.Lo != 0 {
				addr = U32ToAddr(d.Lo + (d.Hi-d.Lo)/2)
			}
			n, err := fw.AddNIC("nic", addr, "sg00", "sg01", "sg02", "sg03", "sg04")
			if err != nil {
				b.Fatal(err)
			}
			pol := n.Policy()
			local := addr
			if c.free {
				local = netip.Addr{}
			}
			for b.Loop() {
				for _, p := range []*Policy{pol.Ingress, pol.Egress} {
					if _, err := p.Analyze(local, AnalyzeOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCycles(b)
			b.ReportMetric(float64(len(pol.Ingress.Entries)+len(pol.Egress.Entries)), "entries")
		})
	}
}
