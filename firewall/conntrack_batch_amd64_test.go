package firewall

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProbeBatchAsm checks the assembly against its Go model, field by
// field, on tables of every load (keys in and past their home bucket,
// stale ticks, expired and deleted entries, growth) with every kind of
// packet, tracked or not.
func TestProbeBatchAsm(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ct, clk := newTestCT(t, 0)
	var flows []Header
	hits, others := 0, 0
	for round := range 400 {
		// Grow the table by a few hundred flows a round, some later
		// deleted, and let time pass now and then.
		for range rng.IntN(300) {
			h := *tcpHdr(rng.Uint32(), rng.Uint32(), uint16(rng.Uint32()), uint16(rng.Uint32()), TCPSyn)
			if rng.IntN(4) == 0 {
				h = Header{Tuple: Tuple{Src: rng.Uint32(), Dst: rng.Uint32(), SrcPort: uint16(rng.Uint32()),
					DstPort: 53, Proto: ProtoUDP}}
			}
			require.True(t, ct.Insert(&h))
			flows = append(flows, h)
		}
		if len(flows) > 0 && rng.IntN(3) == 0 {
			h := flows[rng.IntN(len(flows))]
			ct.Delete(&h)
		}
		if rng.IntN(10) == 0 {
			clk.Advance(time.Duration(rng.IntN(3)) * time.Second)
		}
		n := 1 + rng.IntN(conntrackBatch)
		hs := make([]Header, n)
		for i := range hs {
			switch {
			case len(flows) > 0 && rng.IntN(4) > 0:
				hs[i] = flows[rng.IntN(len(flows))]
				hs[i].TCPFlags = []uint8{TCPAck, TCPAck, TCPAck, TCPFin | TCPAck, TCPRst, TCPSyn}[rng.IntN(6)]
				if rng.IntN(2) == 0 { // the reply direction
					hs[i].Src, hs[i].Dst = hs[i].Dst, hs[i].Src
					hs[i].SrcPort, hs[i].DstPort = hs[i].DstPort, hs[i].SrcPort
				}
			default:
				hs[i] = randomPacket(rng)
			}
		}
		var sa, sg ctBatch
		sa.now, sg.now = ct.clock.Now(), ct.clock.Now()
		ha := probeBatchAsm(ct, &hs[0], n, &sa)
		hg := probeBatchGo(ct, &hs[0], n, &sg)
		require.Equal(t, uint64(hg), uint64(ha), "round %d: hits", round)
		require.Equal(t, sg, sa, "round %d: state", round)
		// Every fast hit is what Lookup answers.
		for i := range hs {
			if ha>>i&1 == 0 {
				others++
				continue
			}
			hits++
			require.True(t, ct.Lookup(&hs[i]), "round %d, packet %d", round, i)
		}
	}
	require.Greater(t, ct.Len(), 50_000)
	require.Greater(t, hits, 100, "fast hits")
	require.Greater(t, others, 1000, "packets left to the Go")
}
