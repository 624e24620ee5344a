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

// BenchmarkAnalyzeClassBenchRaw analyses the ClassBench sets as one
// decision list each, rule i accepting when i is even: no local address, no
// group structure, every rule a five-dimensional box — the stress case of
// the region algebra, beyond what a security group can express (source
// ports and both addresses on every rule).
func BenchmarkAnalyzeClassBenchRaw(b *testing.B) {
	sets := []struct {
		name string
		load func() []MatchRule
	}{{"fw1_500", func() []MatchRule { r, _ := loadFixture(b); return r }}}
	if dir, err := FindClassBenchDir(); err == nil {
		for _, s := range classbenchSets {
			sets = append(sets, struct {
				name string
				load func() []MatchRule
			}{s.name, func() []MatchRule { return loadClassBenchRules(b, dir, s.file) }})
		}
	}
	for _, s := range sets {
		b.Run(s.name, func(b *testing.B) {
			rules := s.load()
			p := &Policy{Dir: Ingress, Fallback: SGDefaultDeny}
			for i, m := range rules {
				code := SGRuleDrop
				if i%2 == 0 {
					code = SGRuleAccept
				}
				p.Entries = append(p.Entries, Entry{Code: code, Rule: i, Match: m})
			}
			for b.Loop() {
				if _, err := p.Analyze(netip.Addr{}, AnalyzeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reportCycles(b)
			b.ReportMetric(float64(len(p.Entries)), "entries")
		})
	}
}
