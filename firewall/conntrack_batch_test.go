package firewall

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// randomPacket draws a packet of one of a few dozen flows, in either
// direction, of every kind Lookup treats apart: TCP with every flag mix,
// UDP, ICMP echo and errors quoting a flow, first and later fragments.
func randomPacket(rng *rand.Rand) Header {
	a, b := 1+rng.Uint32N(6), 1+rng.Uint32N(6)
	sp, dp := uint16(1000+rng.IntN(4)), uint16(80+rng.IntN(2))
	var h Header
	switch rng.IntN(10) {
	case 0, 1, 2, 3:
		flags := []uint8{TCPAck, TCPAck, TCPSyn, TCPSyn | TCPAck, TCPFin | TCPAck, TCPRst}[rng.IntN(6)]
		h = *tcpHdr(a, b, sp, dp, flags)
	case 4, 5:
		h = Header{Tuple: Tuple{Src: a, Dst: b, SrcPort: sp, DstPort: dp, Proto: ProtoUDP}}
	case 6:
		h = Header{Tuple: Tuple{Src: a, Dst: b, Proto: ProtoICMP}, Flags: FlagICMPEcho,
			ICMPType: ICMPEchoRequest, ICMPID: uint16(rng.IntN(3))}
		if rng.IntN(2) == 0 {
			h.ICMPType = ICMPEchoReply
		}
	case 7:
		h = Header{Tuple: Tuple{Src: a, Dst: b, Proto: ProtoICMP}, Flags: FlagICMPError,
			ICMPType: ICMPDestUnreachable,
			Inner:    Tuple{Src: b, Dst: 1 + rng.Uint32N(6), SrcPort: dp, DstPort: sp, Proto: ProtoTCP}}
	case 8:
		h = Header{Tuple: Tuple{Src: a, Dst: b, SrcPort: sp, DstPort: dp, Proto: ProtoUDP},
			Flags: FlagFragment, IPID: uint16(rng.IntN(3))}
	case 9:
		h = Header{Tuple: Tuple{Src: a, Dst: b, Proto: ProtoUDP},
			Flags: FlagFragment | FlagLaterFragment, IPID: uint16(rng.IntN(3))}
	}
	return h
}

// TestConntrackLookupBatch drives two tables with the same packets, one
// through Lookup, one through LookupBatch: every answer, and the state the
// answers leave behind, must agree — including across expiry, deletions
// that move entries, growth, and batches longer than one round of
// prefetching.
func TestConntrackLookupBatch(t *testing.T) {
	for _, asm := range batchImpls() {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("asm=%v/seed=%d", asm, seed), func(t *testing.T) {
				defer setBatchAsm(asm)()
				testLookupBatch(t, seed)
			})
		}
	}
}

// batchImpls are the values of batchAsm that run here.
func batchImpls() []bool {
	if runtime.GOARCH == "amd64" {
		return []bool{true, false}
	}
	return []bool{false}
}

// setBatchAsm sets batchAsm and returns what puts it back.
func setBatchAsm(asm bool) func() {
	old := batchAsm
	batchAsm = asm
	return func() { batchAsm = old }
}

func testLookupBatch(t *testing.T, seed uint64) {
	{
		{
			rng := rand.New(rand.NewPCG(seed, 7))
			one, clk1 := newTestCT(t, 40)
			batch, clk2 := newTestCT(t, 40)
			for round := range 300 {
				hs := make([]Header, rng.IntN(2*conntrackBatch+3))
				for i := range hs {
					hs[i] = randomPacket(rng)
				}
				want := make([]bool, len(hs))
				for i := range hs {
					want[i] = one.Lookup(&hs[i])
				}
				got := make([]bool, len(hs))
				batch.LookupBatch(hs, got)
				require.Equal(t, want, got, "round %d", round)
				// The rules allow some of the packets that were not
				// tracked; both tables learn them.
				for i := range hs {
					if !want[i] && rng.IntN(3) > 0 {
						require.Equal(t, one.Insert(&hs[i]), batch.Insert(&hs[i]))
					}
				}
				if rng.IntN(10) == 0 {
					h := randomPacket(rng)
					require.Equal(t, one.Delete(&h), batch.Delete(&h))
				}
				if rng.IntN(8) == 0 {
					d := time.Duration(rng.IntN(20)) * time.Second
					if rng.IntN(4) == 0 {
						d = DefaultIdleTimeout
					}
					clk1.Advance(d)
					clk2.Advance(d)
				}
				// Each table has its own hash seed, so lazy reclamation
				// (and with it the count of slots created rather than
				// renewed) differs; what was refused, and what lives after
				// a full sweep, may not.
				require.Equal(t, one.Stats().Refused, batch.Stats().Refused, "round %d", round)
				if round%50 == 0 {
					one.Expire()
					batch.Expire()
					require.Equal(t, one.Len(), batch.Len(), "round %d", round)
				}
			}
		}
	}
}

func TestConntrackLookupBatchAllocs(t *testing.T) {
	ct, _ := newTestCT(t, 0)
	hs := make([]Header, 40)
	for i := range hs {
		hs[i] = *tcpHdr(uint32(i), 7, 1000, 443, TCPAck)
		require.True(t, ct.Insert(tcpHdr(uint32(i), 7, 1000, 443, TCPSyn)))
	}
	hit := make([]bool, len(hs))
	require.Zero(t, testing.AllocsPerRun(100, func() { ct.LookupBatch(hs, hit) }))
	for i, ok := range hit {
		require.True(t, ok, "packet %d", i)
	}
}
