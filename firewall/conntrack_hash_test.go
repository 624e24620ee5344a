package firewall

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// probeStats returns the longest and the mean probe length of the table's
// entries: how many buckets (cache lines) a lookup reads to find each one
// (1 when it sits in its home bucket). Linear probing at the table's load
// factor (at most two thirds, three slots a bucket) gives a mean near 1.1;
// a hash that sends many keys to one home bucket gives a run as long as a
// third of their number.
func (ct *Conntrack) probeStats() (maxProbe int, mean float64) {
	total, n := 0, 0
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		t := sh.tab.Load()
		for j := range t.n {
			if t.meta(j) == 0 {
				continue
			}
			var k ctKey
			k.k1, k.k2 = t.key(j)
			p := t.dist(t.home(ct.hash(&k)), j)/ctWays + 1
			maxProbe = max(maxProbe, p)
			total += p
			n++
		}
		sh.mu.Unlock()
	}
	if n == 0 {
		return 0, 0
	}
	return maxProbe, float64(total) / float64(n)
}

// Addresses of the adversarial key sets: lowAddr is numerically below
// highAddr, so that a set can choose which endpoint of the key varies.
const (
	lowAddr  = 0x0a000001 // 10.0.0.1
	highAddr = 0x0a000109 // 10.0.1.9
)

// adversarialKeys are scan-shaped key sets: n first packets that differ in
// one field, the shape of a port scan, a load generator's source ports, an
// address sweep or a fragment flood. In a key the numerically lower
// endpoint's port sits in the high bits of the port word, so the sets vary
// each port of each end separately, with the scanner on either side. Past
// 65,536 keys a set moves the other endpoint to a new address, as a
// distributed scan would.
var adversarialKeys = []struct {
	name string
	key  func(i int) Header
}{
	{"random", func(i int) Header {
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		return *tcpHdr(rng.Uint32(), rng.Uint32(), uint16(rng.Uint32()), 443, TCPSyn)
	}},
	// A port scan towards a lower address: the lower endpoint's port varies.
	{"dport-of-lower", func(i int) Header {
		return *tcpHdr(highAddr+uint32(i>>16), lowAddr, 40000, uint16(i), TCPSyn)
	}},
	// A port scan towards a higher address: the higher endpoint's port.
	{"dport-of-higher", func(i int) Header {
		return *tcpHdr(lowAddr-uint32(i>>16), highAddr, 40000, uint16(i), TCPSyn)
	}},
	// A client's source ports towards one service, either side lower.
	{"sport-of-lower", func(i int) Header {
		return *tcpHdr(lowAddr, highAddr+uint32(i>>16), uint16(i), 443, TCPSyn)
	}},
	{"sport-of-higher", func(i int) Header {
		return *tcpHdr(highAddr, lowAddr-uint32(i>>16), uint16(i), 443, TCPSyn)
	}},
	// Both ends swapped within one set: the same scan, half of it answered
	// from the other side.
	{"dport-swapped", func(i int) Header {
		h := tcpHdr(highAddr+uint32(i>>16), lowAddr, 40000, uint16(i), TCPSyn)
		if i&1 != 0 {
			return *h.reversed()
		}
		return *h
	}},
	// Address sweeps: the higher, then the lower endpoint's address varies.
	{"addr-of-higher", func(i int) Header {
		return *tcpHdr(lowAddr, highAddr+uint32(i), 40000, 22, TCPSyn)
	}},
	{"addr-of-lower", func(i int) Header {
		return *tcpHdr(0xc0a80001, 0x0a000000+uint32(i), 40000, 22, TCPSyn)
	}},
	// Both ports at once, as a scanner that uses the target port as its
	// source port.
	{"both-ports", func(i int) Header {
		return *tcpHdr(highAddr+uint32(i>>16), lowAddr, uint16(i), uint16(i), TCPSyn)
	}},
	// Echo ids are the ports of an ICMP key.
	{"icmp-id", func(i int) Header {
		return Header{Tuple: Tuple{Src: highAddr + uint32(i>>16), Dst: lowAddr, Proto: ProtoICMP},
			Flags: FlagICMPEcho, ICMPType: ICMPEchoRequest, ICMPID: uint16(i)}
	}},
	// First fragments of one flow: the IP id sits where the lower port
	// would.
	{"fragment-id", func(i int) Header {
		return Header{Tuple: Tuple{Src: highAddr + uint32(i>>16), Dst: lowAddr, SrcPort: 5000, DstPort: 53, Proto: ProtoUDP},
			Flags: FlagFragment, IPID: uint16(i)}
	}},
}

// TestConntrackAdversarialProbes fills a table with 64k keys of every
// scan-shaped set and checks that the hash spreads them: every key found,
// the longest probe short and the mean near linear probing's 1.3 (random
// keys). The hash seeds are fixed, so that the figures are the same every
// run: with random ones the longest probe is 20 to 50.
func TestConntrackAdversarialProbes(t *testing.T) {
	const n = 1 << 16
	for _, set := range adversarialKeys {
		t.Run("keys="+set.name, func(t *testing.T) {
			ct, _ := newTestCT(t, 4*n)
			ct.seed = [2]uint64{0x243f6a8885a308d3, 0x13198a2e03707344}
			for i := range n {
				h := set.key(i)
				require.True(t, ct.Insert(&h), "key %d", i)
			}
			for i := range n {
				h := set.key(i)
				h.TCPFlags = TCPAck
				require.True(t, ct.Lookup(&h), "key %d", i)
			}
			maxProbe, mean := ct.probeStats()
			t.Logf("%d entries: max probe %d, mean %.2f", ct.Len(), maxProbe, mean)
			require.Less(t, maxProbe, 64, "longest probe")
			require.Less(t, mean, 3.0, "mean probe")
		})
	}
}

// BenchmarkConntrackAdversarial measures inserts (per entry, filling a
// fresh table) and lookups (a hit on an established flow) for random keys
// and for scan-shaped ones, at 64k and 1M flows.
func BenchmarkConntrackAdversarial(b *testing.B) {
	for _, set := range adversarialKeys {
		switch set.name {
		case "random", "dport-of-lower", "dport-of-higher", "addr-of-higher":
		default:
			continue // the test covers them; these four are the shapes
		}
		for _, n := range []int{1 << 16, 1 << 20} {
			hs := make([]Header, n)
			for i := range hs {
				hs[i] = set.key(i)
			}
			// The lookups take the flows in a random order: in insertion
			// order, the first lookups of a clustered table would be the
			// short probes, and b.Loop would size the run by them.
			acks := make([]Header, n)
			for i, j := range rand.New(rand.NewPCG(5, 6)).Perm(n) {
				acks[i] = hs[j]
				acks[i].TCPFlags = TCPAck
			}
			// The insert benchmark leaves the table full, and the lookup
			// benchmark uses it: with a weak hash a fill of 1M scan-shaped
			// keys takes minutes. A manual clock runs no goroutine, so the
			// table needs no Close.
			ct := NewConntrack(ConntrackConfig{MaxEntries: 2 * n, Clock: NewManualClock()})
			fill := func(b *testing.B) {
				for i := range hs {
					if !ct.Insert(&hs[i]) {
						b.Fatal("refused")
					}
				}
			}
			b.Run(fmt.Sprintf("keys=%s/flows=%d/op=insert", set.name, n), func(b *testing.B) {
				cpu := cpuTime()
				for range b.N {
					b.StopTimer()
					ct.Flush()
					b.StartTimer()
					fill(b)
				}
				reportCyclesPer(b, n)
				reportCPU(b, cpu, b.N*n)
			})
			b.Run(fmt.Sprintf("keys=%s/flows=%d/op=lookup", set.name, n), func(b *testing.B) {
				if ct.Len() != n {
					ct.Flush()
					fill(b)
				}
				b.ReportAllocs()
				b.ResetTimer()
				i, hit, ops, cpu := 0, 0, 0, cpuTime()
				for b.Loop() {
					if ct.Lookup(&acks[i]) {
						hit++
					}
					if i++; i == n {
						i = 0
					}
					ops++
				}
				reportCycles(b)
				reportCPU(b, cpu, ops)
				if hit == 0 {
					b.Fatal("no hits")
				}
			})
		}
	}
}
