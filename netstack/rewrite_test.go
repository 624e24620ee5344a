package netstack

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpFrame builds an IPv4+TCP frame with a payload and either a full TCP
// checksum or a partial one (the uncomplemented pseudo-header sum, as gVisor
// writes it for host GSO).
func tcpFrame(src, dst [4]byte, sport, dport uint16, payload []byte, partial bool) []byte {
	b := make([]byte, 40+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src), DstAddr: tcpip.AddrFrom4(dst)})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(b[20:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: 1, DataOffset: 20, Flags: header.TCPFlagAck, WindowSize: 100})
	copy(b[40:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(20+len(payload)))
	if partial {
		tcp.SetChecksum(xsum)
	} else {
		tcp.SetChecksum(^checksum.Checksum(b[20:], xsum))
	}
	return b
}

// finish completes a partial checksum the way a NIC would.
func finish(b []byte) {
	tcp := header.TCP(b[20:])
	sum := checksum.Checksum(b[20:], 0) // covers the field holding the pseudo sum
	tcp.SetChecksum(^sum)
}

func TestApplyRewriteChecksums(t *testing.T) {
	payload := []byte("some payload bytes, odd length!")
	tests := []struct {
		name string
		nat  Rewrite
		src  [4]byte
		dst  [4]byte
		sp   uint16
		dp   uint16
	}{
		{"snat address and port", Rewrite{Flags: RewriteSrcAddr | RewriteSrcPort, SrcAddr: 47<<24 | 1, SrcPort: 40001}, [4]byte{47, 0, 0, 1}, [4]byte{203, 0, 113, 7}, 40001, 80},
		{"dnat address and port", Rewrite{Flags: RewriteDstAddr | RewriteDstPort, DstAddr: 10<<24 | 2<<8 | 1, DstPort: 8080}, [4]byte{10, 0, 1, 10}, [4]byte{10, 0, 2, 1}, 1234, 8080},
	}
	for _, tc := range tests {
		for _, partial := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				got := tcpFrame([4]byte{10, 0, 1, 10}, [4]byte{203, 0, 113, 7}, 1234, 80, payload, partial)
				applyRewrite(got, &tc.nat, partial)
				want := tcpFrame(tc.src, tc.dst, tc.sp, tc.dp, payload, partial)
				if partial {
					finish(got)
					finish(want)
				}
				assert.Equal(t, want, got)
				assert.True(t, header.IPv4(got).IsChecksumValid())
				assert.Equal(t, uint16(0xffff), checksum.Checksum(got[20:], header.PseudoHeaderChecksum(header.TCPProtocolNumber,
					header.IPv4(got).SourceAddress(), header.IPv4(got).DestinationAddress(), uint16(len(got)-20))))
			})
		}
	}
}

func TestApplyRewriteICMPEcho(t *testing.T) {
	b := make([]byte, 20+16)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 1, 1}), DstAddr: tcpip.AddrFrom4([4]byte{1, 1, 1, 1})})
	ip.SetChecksum(^ip.CalculateChecksum())
	icmp := header.ICMPv4(b[20:])
	icmp.SetType(header.ICMPv4Echo)
	icmp.SetIdent(77)
	icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	applyRewrite(b, &Rewrite{Flags: RewriteSrcAddr | RewriteSrcPort, SrcAddr: 47<<24 | 1, SrcPort: 4242}, false)
	assert.Equal(t, uint16(4242), binary.BigEndian.Uint16(b[24:26]))
	assert.True(t, ip.IsChecksumValid())
	assert.Equal(t, uint16(0xffff), checksum.Checksum(b[20:], 0), "ICMP checksum")
}

// TestApplyRewriteAllocatesNothing: translating headers in place, an ICMP
// error's quote and its checksums included, allocates nothing.
func TestApplyRewriteAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tcp := ipPacket(6, 0, 0, fzPriv, fzRemote, l4TCP(40000, 443, 0, "payload"))
	icmpErr := ipPacket(1, 0, 0, fzRemote, fzGW, icmpError(3, 3, ipPacket(17, 0, 0, fzGW, fzRemote, l4UDP(1025, 53, "query")), 1000))
	for _, tc := range []struct {
		name  string
		frame []byte
		rw    Rewrite
	}{
		{"snat", tcp, dataPlaneRewrites[2]},
		{"icmp error quote", icmpErr, dataPlaneRewrites[7]},
	} {
		if n := testing.AllocsPerRun(100, func() { applyRewrite(tc.frame, &tc.rw, false) }); n != 0 {
			t.Errorf("%s: %v allocations", tc.name, n)
		}
	}
}
