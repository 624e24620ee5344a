package firewall

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func tcpHdr(src, dst uint32, sp, dp uint16, flags uint8) *Header {
	return &Header{Tuple: Tuple{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: ProtoTCP}, TCPFlags: flags}
}

func (h *Header) reversed() *Header {
	r := *h
	r.Src, r.Dst, r.SrcPort, r.DstPort = h.Dst, h.Src, h.DstPort, h.SrcPort
	return &r
}

func newTestCT(t testing.TB, max int) (*Conntrack, *Clock) {
	clk := NewManualClock()
	ct := NewConntrack(ConntrackConfig{MaxEntries: max, Clock: clk})
	t.Cleanup(ct.Close)
	return ct, clk
}

func TestConntrackSymmetric(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	syn := tcpHdr(0x0a000001, 0x0a000002, 40000, 80, TCPSyn)
	assert.False(t, ct.Lookup(syn))
	require.True(t, ct.Insert(syn))
	assert.Equal(t, 1, ct.Len())
	synack := syn.reversed()
	synack.TCPFlags = TCPSyn | TCPAck
	assert.True(t, ct.Lookup(synack), "reply direction finds the entry")
	assert.True(t, ct.Lookup(tcpHdr(0x0a000001, 0x0a000002, 40000, 80, TCPAck)))

	for name, h := range map[string]*Header{
		"other source port": tcpHdr(0x0a000001, 0x0a000002, 40001, 80, TCPAck),
		"other dest port":   tcpHdr(0x0a000001, 0x0a000002, 40000, 81, TCPAck),
		"other address":     tcpHdr(0x0a000003, 0x0a000002, 40000, 80, TCPAck),
		"udp same ports":    {Tuple: Tuple{Src: 0x0a000001, Dst: 0x0a000002, SrcPort: 40000, DstPort: 80, Proto: ProtoUDP}},
		"swapped ports":     tcpHdr(0x0a000001, 0x0a000002, 80, 40000, TCPAck),
	} {
		assert.False(t, ct.Lookup(h), name)
	}
}

func TestConntrackICMP(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	req := &Header{Tuple: Tuple{Src: 1, Dst: 2, Proto: ProtoICMP}, Flags: FlagICMPEcho, ICMPType: ICMPEchoRequest, ICMPID: 7}
	require.True(t, ct.Insert(req))
	rep := &Header{Tuple: Tuple{Src: 2, Dst: 1, Proto: ProtoICMP}, Flags: FlagICMPEcho, ICMPType: ICMPEchoReply, ICMPID: 7}
	assert.True(t, ct.Lookup(rep))
	rep.ICMPID = 8
	assert.False(t, ct.Lookup(rep), "another echo id is another flow")
	n := ct.Len()
	assert.True(t, ct.Insert(rep), "an echo reply opens nothing")
	assert.Equal(t, n, ct.Len())

	// An error quoting the ping (its id as both ports, as Parse gives it)
	// is related to it: traceroute -I.
	ttl := &Header{Tuple: Tuple{Src: 9, Dst: 1, Proto: ProtoICMP}, Flags: FlagICMPError,
		ICMPType: ICMPTimeExceeded, Inner: Tuple{Src: 1, Dst: 2, SrcPort: 7, DstPort: 7, Proto: ProtoICMP}}
	assert.True(t, ct.Lookup(ttl))

	// ICMP errors quoting a tracked flow are related; others are not.
	udp := &Header{Tuple: Tuple{Src: 1, Dst: 2, SrcPort: 5000, DstPort: 53, Proto: ProtoUDP}}
	require.True(t, ct.Insert(udp))
	unreach := &Header{Tuple: Tuple{Src: 2, Dst: 1, Proto: ProtoICMP}, Flags: FlagICMPError,
		ICMPType: ICMPDestUnreachable, ICMPCode: 3, Inner: udp.Tuple}
	assert.True(t, ct.Lookup(unreach))
	unreach.Inner.DstPort = 54
	assert.False(t, ct.Lookup(unreach))
	n = ct.Len()
	assert.True(t, ct.Insert(unreach))
	assert.Equal(t, n, ct.Len(), "an ICMP error opens nothing")
}

func TestConntrackFragments(t *testing.T) {
	ct, clk := newTestCT(t, 0)
	first := &Header{Tuple: Tuple{Src: 1, Dst: 2, SrcPort: 5000, DstPort: 53, Proto: ProtoUDP}, Flags: FlagFragment, IPID: 99}
	later := &Header{Tuple: Tuple{Src: 1, Dst: 2, Proto: ProtoUDP}, Flags: FlagFragment | FlagLaterFragment, IPID: 99}
	assert.False(t, ct.Lookup(later))
	require.True(t, ct.Insert(first))
	assert.Equal(t, 2, ct.Len(), "flow and fragment entries")
	assert.True(t, ct.Lookup(later))
	other := *later
	other.IPID = 100
	assert.False(t, ct.Lookup(&other))

	// A first fragment of an established flow opens its fragment entry too.
	first2 := *first
	first2.IPID = 100
	assert.True(t, ct.Lookup(&first2))
	assert.True(t, ct.Lookup(&other))

	clk.Advance(DefaultFragmentTimeout + time.Second)
	assert.False(t, ct.Lookup(later), "fragment entries expire after the fragment timeout")
	assert.True(t, ct.Lookup(first), "the flow lives on")
}

func TestConntrackTimeouts(t *testing.T) {
	ct, clk := newTestCT(t, 0)
	syn := tcpHdr(1, 2, 1000, 22, TCPSyn)
	require.True(t, ct.Insert(syn))
	clk.Advance(910 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(2, 1, 22, 1000, TCPAck)), "910 s idle is still alive")
	clk.Advance(910 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)), "the last packet refreshed it")
	clk.Advance(911 * time.Second)
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)), "911 s idle is gone")
	assert.Equal(t, 1, ct.Expire())
	assert.Equal(t, 0, ct.Len())

	// FIN one way keeps the idle timeout; both ways end it after 10 s.
	require.True(t, ct.Insert(syn))
	assert.True(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPFin|TCPAck)))
	clk.Advance(11 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(2, 1, 22, 1000, TCPAck)), "half-closed")
	assert.True(t, ct.Lookup(tcpHdr(2, 1, 22, 1000, TCPFin|TCPAck)))
	clk.Advance(10 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)), "last ACK within the closing timeout")
	clk.Advance(11 * time.Second)
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)), "closed both ways")

	// RST either way closes.
	require.True(t, ct.Insert(syn))
	assert.True(t, ct.Lookup(tcpHdr(2, 1, 22, 1000, TCPRst)))
	clk.Advance(11 * time.Second)
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)))

	// A SYN reusing a closing five-tuple reopens it.
	require.True(t, ct.Insert(syn))
	assert.True(t, ct.Lookup(tcpHdr(2, 1, 22, 1000, TCPRst)))
	assert.True(t, ct.Lookup(syn))
	clk.Advance(11 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(1, 2, 1000, 22, TCPAck)), "reopened by SYN")

	// An RST opens nothing.
	n := ct.Len()
	assert.True(t, ct.Insert(tcpHdr(7, 8, 1, 2, TCPRst)))
	assert.Equal(t, n, ct.Len())
}

func TestConntrackCustomTimeouts(t *testing.T) {
	clk := NewManualClock()
	ct := NewConntrack(ConntrackConfig{Clock: clk, IdleTimeout: 5 * time.Second})
	defer ct.Close()
	require.True(t, ct.Insert(tcpHdr(1, 2, 3, 4, TCPSyn)))
	clk.Advance(5 * time.Second)
	assert.True(t, ct.Lookup(tcpHdr(1, 2, 3, 4, TCPAck)))
	clk.Advance(6 * time.Second)
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 3, 4, TCPAck)))
}

func TestConntrackFull(t *testing.T) {
	ct, clk := newTestCT(t, 100)
	for i := range 100 {
		require.True(t, ct.Insert(tcpHdr(1, 2, uint16(i), 80, TCPSyn)), i)
	}
	assert.False(t, ct.Insert(tcpHdr(1, 2, 1000, 80, TCPSyn)), "full: new connections refused")
	assert.False(t, ct.Insert(tcpHdr(1, 2, 1001, 80, TCPSyn)))
	st := ct.Stats()
	assert.Equal(t, ConntrackStats{Entries: 100, Max: 100, Inserted: 100, Refused: 2}, st)
	for i := range 100 {
		assert.True(t, ct.Lookup(tcpHdr(2, 1, 80, uint16(i), TCPAck)), "existing connections keep working")
	}
	assert.True(t, ct.Insert(tcpHdr(1, 2, 5, 80, TCPSyn)), "refreshing an existing entry needs no room")

	// Once entries expire, their room is reclaimed for new connections.
	clk.Advance(DefaultIdleTimeout + time.Second)
	for i := range 100 {
		require.True(t, ct.Insert(tcpHdr(3, 4, uint16(i), 80, TCPSyn)), i)
	}
	assert.Equal(t, 100, ct.Len())
	assert.Equal(t, uint64(100), ct.Stats().Expired)
}

func TestConntrackFlushAndDelete(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	for i := range 1000 {
		require.True(t, ct.Insert(tcpHdr(1, 2, uint16(i), 80, TCPSyn)))
	}
	assert.Equal(t, 1000, ct.Len())
	assert.True(t, ct.Delete(tcpHdr(2, 1, 80, 7, TCPAck)))
	assert.False(t, ct.Delete(tcpHdr(2, 1, 80, 7, TCPAck)))
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 7, 80, TCPAck)))
	assert.Equal(t, 999, ct.Len())
	ct.Flush()
	assert.Equal(t, 0, ct.Len())
	assert.False(t, ct.Lookup(tcpHdr(1, 2, 8, 80, TCPAck)))
	assert.True(t, ct.Insert(tcpHdr(1, 2, 8, 80, TCPSyn)))
}

// TestConntrackModel runs random inserts, deletions, lookups and clock
// moves against a map model, through growth and backward-shift deletion.
func TestConntrackModel(t *testing.T) {
	ct, clk := newTestCT(t, 5000)
	type key struct{ a, b uint32 }
	model := map[key]Tick{} // last seen
	rng := rand.New(rand.NewPCG(1, 2))
	hdr := func(k key) *Header { return tcpHdr(k.a, k.b, 1, 2, TCPAck) }
	idle := uint32(DefaultIdleTimeout / time.Second)
	for step := range 200_000 {
		k := key{rng.Uint32N(64), rng.Uint32N(128)}
		now := clk.Now()
		seen, ok := model[k]
		alive := ok && now-seen <= idle
		switch op := rng.IntN(100); {
		case op < 40:
			if ct.Insert(hdr(k)) {
				model[k] = now
			} else {
				// Refused only when every slot holds a live entry.
				live := 0
				for _, s := range model {
					if now-s <= idle {
						live++
					}
				}
				require.Equal(t, 5000, live, "step %d: refused with room", step)
			}
		case op < 80:
			got := ct.Lookup(hdr(k))
			require.Equal(t, alive, got, "step %d: lookup %v", step, k)
			if got {
				model[k] = now
			}
		case op < 95:
			got := ct.Delete(hdr(k))
			if alive {
				require.True(t, got, "step %d", step)
			}
			delete(model, k)
		case op < 99:
			clk.Advance(time.Duration(rng.IntN(30)) * time.Second)
		default:
			ct.Expire()
			for k, s := range model {
				if clk.Now()-s > idle {
					delete(model, k)
				}
			}
			require.Equal(t, len(model), ct.Len(), "step %d", step)
		}
	}
}

func TestConntrackConcurrent(t *testing.T) {
	ct, clk := newTestCT(t, 20000)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// A stable set of flows must always be found while others churn.
	for i := range 500 {
		require.True(t, ct.Insert(tcpHdr(9, 9, uint16(i), 1, TCPSyn)))
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				h := tcpHdr(uint32(w), rng.Uint32N(4000), uint16(i), 80, TCPSyn)
				ct.Insert(h)
				if i%3 == 0 {
					ct.Delete(h)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			clk.Advance(time.Second)
			ct.Expire()
			time.Sleep(time.Millisecond)
		}
	}()
	// Odd rounds look the stable flows up in batches, whose slots are
	// found (and prefetched) before they are read.
	stable := make([]Header, 500)
	for i := range stable {
		stable[i] = *tcpHdr(9, 9, 1, uint16(i), TCPAck)
	}
	hit := make([]bool, len(stable))
	for round := range 400 {
		if round%2 == 1 {
			ct.LookupBatch(stable, hit)
		} else {
			for i := range stable {
				hit[i] = ct.Lookup(&stable[i])
			}
		}
		for i, ok := range hit {
			if !ok {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: stable flow %d lost", round, i)
			}
		}
	}
	close(stop)
	wg.Wait()
}

func TestConntrackAllocs(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	syn := tcpHdr(1, 2, 3, 4, TCPSyn)
	ack := tcpHdr(2, 1, 4, 3, TCPAck)
	fin := tcpHdr(2, 1, 4, 3, TCPFin)
	ct.Insert(syn)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		ct.Lookup(ack)
		ct.Lookup(fin)
		ct.Insert(syn)
	}))
}

// TestConntrackBucketLines checks that every bucket is one cache line, so
// that a lookup in its home bucket reads one line, at every table size.
func TestConntrackBucketLines(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(ctBucket{}))
	for nb := conntrackMinBuckets; nb <= 1<<12; nb *= 2 {
		tab := newCtTable(nb)
		require.Len(t, tab.buckets, nb)
		require.Equal(t, nb*ctWays, tab.n)
		require.Zero(t, uintptr(unsafe.Pointer(&tab.buckets[0]))%64, "%d buckets", nb)
	}
}

func TestConntrackClockLeak(t *testing.T) {
	defer goleak.VerifyNone(t)
	ct := NewConntrack(ConntrackConfig{})
	c := ct.Clock()
	time.Sleep(3 * clockPeriod)
	assert.Equal(t, Tick(0), c.Now())
	c.Advance(5 * time.Second)
	assert.GreaterOrEqual(t, c.Now(), Tick(5))
	ct.Close()
	ct.Close()
}

// BenchmarkConntrackLookup measures a hit on an established flow against a
// Go map with the same keys (the baseline), at 1k, 64k and 1M flows.
func BenchmarkConntrackLookup(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20} {
		hs := make([]Header, n)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range hs {
			hs[i] = *tcpHdr(rng.Uint32(), rng.Uint32(), uint16(rng.Uint32()), 443, TCPAck)
		}
		// Headers are read in order (as a NIC's frames would be, from cache);
		// the hash spreads the table accesses at random anyway.
		b.Run(fmt.Sprintf("flows=%d/impl=conntrack", n), func(b *testing.B) {
			ct, _ := newTestCT(b, 2*n)
			for i := range hs {
				ct.Insert(&hs[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			i, hit, ops, cpu := 0, 0, 0, cpuTime()
			for b.Loop() {
				if ct.Lookup(&hs[i]) {
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
		// One op is one packet, looked up in batches of 16 (the data plane's
		// shape when a NIC hands over several frames at once) or 64.
		for _, batch := range []int{16, 64} {
			b.Run(fmt.Sprintf("flows=%d/impl=conntrack-batch%d", n, batch), func(b *testing.B) {
				ct, _ := newTestCT(b, 2*n)
				for i := range hs {
					ct.Insert(&hs[i])
				}
				var hit [64]bool
				// Every answer must be a hit. The check reads the answers as
				// words (a true bool is 1), so that it adds a compare per 8
				// packets to the figure rather than a branch per packet.
				hits := (*[8]uint64)(unsafe.Pointer(&hit))
				const allHit = 0x0101010101010101
				b.ReportAllocs()
				b.ResetTimer()
				i, bad, cpu := 0, 0, cpuTime()
				for done := 0; done < b.N; done += batch {
					ct.LookupBatch(hs[i:i+batch], hit[:batch])
					for _, w := range hits[:batch/8] {
						if w != allHit {
							bad++
						}
					}
					if i += batch; i == n {
						i = 0
					}
				}
				reportCycles(b)
				reportCPU(b, cpu, b.N)
				if bad != 0 {
					b.Fatalf("%d batches with misses", bad)
				}
			})
		}
		b.Run(fmt.Sprintf("flows=%d/impl=map", n), func(b *testing.B) {
			m := make(map[[2]uint64]uint32, n)
			for i := range hs {
				k := flowKey(&hs[i].Tuple)
				m[[2]uint64{k.k1, k.k2}] = 1
			}
			b.ReportAllocs()
			b.ResetTimer()
			i, hit := 0, 0
			for b.Loop() {
				k := flowKey(&hs[i].Tuple)
				if _, ok := m[[2]uint64{k.k1, k.k2}]; ok {
					hit++
				}
				if i++; i == n {
					i = 0
				}
			}
			reportCycles(b)
			if hit == 0 {
				b.Fatal("no hits")
			}
		})
	}
}

// BenchmarkConntrackParallel measures lookups from every core while one
// goroutine keeps inserting new flows (contention on two cores).
func BenchmarkConntrackParallel(b *testing.B) {
	const n = 1 << 16
	ct, _ := newTestCT(b, 4*n)
	hs := make([]Header, n)
	for i := range hs {
		hs[i] = *tcpHdr(uint32(i), 7, 1000, 443, TCPAck)
		ct.Insert(&hs[i])
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h := tcpHdr(i, 8, 1000, 443, TCPSyn)
			ct.Insert(h)
			ct.Delete(h)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ct.Lookup(&hs[i&(n-1)])
			i += 7919
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

// BenchmarkConntrackInsert measures creating entries in a fresh table.
func BenchmarkConntrackInsert(b *testing.B) {
	ct, _ := newTestCT(b, 1<<30)
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		ct.Insert(tcpHdr(i, 1, 2, 3, TCPSyn))
		i++
	}
}
