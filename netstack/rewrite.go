package netstack

import (
	"encoding/binary"

	"github.com/vpclab/vpclab/firewall"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Rewrite is a NAT translation of one frame's addresses and ports. Addresses
// are IPv4 in host order (a.b.c.d is a<<24|b<<16|c<<8|d). For ICMP echo
// messages a port is the echo identifier. The Inner fields translate the
// packet quoted by an ICMP error, so that the error still names the flow
// the receiver knows.
type Rewrite struct {
	Flags            RewriteFlags
	SrcAddr, DstAddr uint32
	SrcPort, DstPort uint16
	InnerSrcAddr     uint32
	InnerDstAddr     uint32
	InnerSrcPort     uint16
	InnerDstPort     uint16
}

// RewriteFlags say which fields of a Rewrite apply.
type RewriteFlags uint8

// Rewrite flags.
const (
	RewriteSrcAddr RewriteFlags = 1 << iota
	RewriteDstAddr
	RewriteSrcPort
	RewriteDstPort
	RewriteInnerSrc // InnerSrcAddr, and InnerSrcPort if not zero
	RewriteInnerDst // InnerDstAddr, and InnerDstPort if not zero
)

// applyTo applies rw to the parsed header h, as rewriteFrame applies it to
// the frame, so that the next step (ingress rules, conntrack) sees the
// translated packet. For ICMP echo messages a port is the echo identifier.
func applyTo(h *firewall.Header, rw *Rewrite) {
	if rw.Flags&RewriteSrcAddr != 0 {
		h.Src = rw.SrcAddr
	}
	if rw.Flags&RewriteDstAddr != 0 {
		h.Dst = rw.DstAddr
	}
	echo := h.Proto == firewall.ProtoICMP
	if rw.Flags&RewriteSrcPort != 0 {
		if echo {
			h.ICMPID = rw.SrcPort
		} else {
			h.SrcPort = rw.SrcPort
		}
	}
	if rw.Flags&RewriteDstPort != 0 {
		if echo {
			h.ICMPID = rw.DstPort
		} else {
			h.DstPort = rw.DstPort
		}
	}
	if rw.Flags&RewriteInnerSrc != 0 {
		h.Inner.Src = rw.InnerSrcAddr
		if rw.InnerSrcPort != 0 {
			h.Inner.SrcPort = rw.InnerSrcPort
		}
	}
	if rw.Flags&RewriteInnerDst != 0 {
		h.Inner.Dst = rw.InnerDstAddr
		if rw.InnerDstPort != 0 {
			h.Inner.DstPort = rw.InnerDstPort
		}
	}
}

// rewriteFrame returns a copy of pkt's bytes with nat applied: the headers
// (hdr, the frame's contiguous IPv4 and transport headers) are copied into a
// view the fabric owns and rewritten there; the payload is shared with the
// sender, whose bytes are never written. Checksums are updated
// incrementally; a TCP super-segment's partial checksum (the uncomplemented
// pseudo-header sum) is adjusted for the address change only.
func rewriteFrame(pkt *stack.PacketBuffer, hdr []byte, nat *Rewrite) buffer.Buffer {
	n := len(hdr)
	partial := pkt.GSOOptions.Type != stack.GSONone && pkt.GSOOptions.NeedsCsum
	if nat.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 {
		// An ICMP error: small, and its checksum covers the quoted bytes.
		// Rewrite a private copy of the whole message.
		buf := pkt.ToBuffer()
		v := buffer.NewViewSize(int(buf.Size()))
		buf.ReadAt(v.AsSlice(), 0)
		buf.Release()
		applyRewrite(v.AsSlice(), nat, partial)
		return buffer.MakeWithView(v)
	}
	v := buffer.NewViewWithData(hdr)
	applyRewrite(v.AsSlice(), nat, partial)
	buf := pkt.ToBuffer()
	buf.TrimFront(int64(n))
	buf.Prepend(v)
	return buf
}

// applyRewrite rewrites the headers in b, which holds at least the IPv4
// header and the transport header (for ICMP errors, the whole message).
func applyRewrite(b []byte, nat *Rewrite, partial bool) {
	ihl := int(b[0]&0x0f) * 4
	proto := b[9]
	firstFrag := binary.BigEndian.Uint16(b[6:8])&0x1fff == 0
	l4 := b[ihl:]
	// Where the transport checksum is, and whether it covers the
	// pseudo-header (TCP, UDP) and the ports.
	csumOff := -1
	switch {
	case !firstFrag:
	case proto == protoTCP && len(l4) >= 18:
		csumOff = 16
	case proto == protoUDP && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:8]) != 0:
		csumOff = 6
	case proto == protoICMP && len(l4) >= 8:
		csumOff = 2
	}
	pseudo := proto == protoTCP || proto == protoUDP

	setAddr := func(off int, addr uint32) {
		old := binary.BigEndian.Uint32(b[off:])
		binary.BigEndian.PutUint32(b[off:], addr)
		putCsum(b[10:12], csumUpdate32(binary.BigEndian.Uint16(b[10:12]), old, addr, true))
		if csumOff >= 0 && pseudo {
			f := l4[csumOff : csumOff+2]
			putCsum(f, csumUpdate32(binary.BigEndian.Uint16(f), old, addr, !partial))
		}
	}
	if nat.Flags&RewriteSrcAddr != 0 {
		setAddr(12, nat.SrcAddr)
	}
	if nat.Flags&RewriteDstAddr != 0 {
		setAddr(16, nat.DstAddr)
	}
	if !firstFrag {
		return
	}
	// portOff returns the offset in l4 of the source (or destination) port,
	// or of the echo identifier for ICMP echo messages.
	portOff := func(src bool) int {
		switch proto {
		case protoTCP, protoUDP:
			if src {
				return 0
			}
			return 2
		case protoICMP:
			if len(l4) >= 8 && (l4[0] == 0 || l4[0] == 8) {
				return 4
			}
		}
		return -1
	}
	setPort := func(off int, port uint16) {
		if off < 0 || len(l4) < off+2 {
			return
		}
		old := binary.BigEndian.Uint16(l4[off:])
		binary.BigEndian.PutUint16(l4[off:], port)
		// A partial checksum does not cover the transport header yet.
		if csumOff >= 0 && !partial {
			f := l4[csumOff : csumOff+2]
			putCsum(f, csumUpdate16(binary.BigEndian.Uint16(f), old, port, true))
		}
	}
	if nat.Flags&RewriteSrcPort != 0 {
		setPort(portOff(true), nat.SrcPort)
	}
	if nat.Flags&RewriteDstPort != 0 {
		setPort(portOff(false), nat.DstPort)
	}
	if nat.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 && proto == protoICMP && len(l4) >= 8 {
		switch l4[0] {
		case icmpDestUnreachable, icmpTimeExceeded, icmpParamProblem:
			// The message ends at the IPv4 total length; bytes after it
			// are padding that no checksum covers.
			total := int(binary.BigEndian.Uint16(b[2:4]))
			rewriteQuote(l4[:max(0, min(len(l4), total-ihl))], nat)
		}
	}
}

// rewriteQuote translates the packet quoted by the ICMP error msg (the
// ICMP message, up to the IPv4 total length): its addresses, and its ports
// (an echo's identifier) unless it quotes a later fragment. Every checksum
// covering a changed word is updated incrementally, as Linux's NAT does:
// the quoted IPv4 header's, the quoted transport checksum when the quote
// holds it (UDP's and an echo's always, TCP's when 18 bytes are quoted) and
// the ICMP message's, so that a corrupt checksum stays as corrupt.
func rewriteQuote(msg []byte, nat *Rewrite) {
	const qo = 8 // the quote's offset in msg
	if len(msg) < qo+20 {
		return
	}
	q := msg[qo:]
	qihl := int(q[0]&0x0f) * 4
	if qihl < 20 || len(q) < qihl+8 {
		return
	}
	first := binary.BigEndian.Uint16(q[6:8])&0x1fff == 0
	qproto := q[9]
	ql4 := qo + qihl
	ports := first && (qproto == protoTCP || qproto == protoUDP)
	echo := first && qproto == protoICMP && (msg[ql4] == 0 || msg[ql4] == 8)
	// l4Sum is the offset in msg of the quoted transport checksum, or -1.
	// TCP's and UDP's cover the addresses too (the pseudo-header).
	l4Sum := -1
	switch {
	case ports && qproto == protoUDP && binary.BigEndian.Uint16(msg[ql4+6:]) != 0:
		l4Sum = ql4 + 6
	case ports && qproto == protoTCP && len(msg) >= ql4+18:
		l4Sum = ql4 + 16
	case echo:
		l4Sum = ql4 + 2
	}

	// The changes of the words each checksum covers (RFC 1624: ~m + m').
	var icmpD, ipD, l4D uint32
	put := func(off int, v uint16) uint32 {
		old := binary.BigEndian.Uint16(msg[off:])
		binary.BigEndian.PutUint16(msg[off:], v)
		d := uint32(^old) + uint32(v)
		icmpD += d
		return d
	}
	setAddr := func(off int, addr uint32) {
		d := put(off, uint16(addr>>16)) + put(off+2, uint16(addr))
		ipD += d
		if ports {
			l4D += d
		}
	}
	setPort := func(off int, port uint16) {
		if port == 0 || off < 0 {
			return
		}
		l4D += put(off, port)
	}
	srcPort, dstPort := -1, -1
	switch {
	case ports:
		srcPort, dstPort = ql4, ql4+2
	case echo:
		srcPort, dstPort = ql4+4, ql4+4
	}
	if nat.Flags&RewriteInnerSrc != 0 {
		setAddr(qo+12, nat.InnerSrcAddr)
		setPort(srcPort, nat.InnerSrcPort)
	}
	if nat.Flags&RewriteInnerDst != 0 {
		setAddr(qo+16, nat.InnerDstAddr)
		setPort(dstPort, nat.InnerDstPort)
	}
	put(qo+10, csumNonZero(csumAdjust(binary.BigEndian.Uint16(msg[qo+10:]), ipD, true)))
	if l4Sum >= 0 {
		put(l4Sum, csumNonZero(csumAdjust(binary.BigEndian.Uint16(msg[l4Sum:]), l4D, true)))
	}
	putCsum(msg[2:4], csumAdjust(binary.BigEndian.Uint16(msg[2:4]), icmpD, true))
}

// csumUpdate16 updates checksum field c for a 16-bit word changing from old
// to new (RFC 1624). full says c is a finished (complemented) checksum; a
// partial checksum holds the uncomplemented sum.
func csumUpdate16(c, old, new uint16, full bool) uint16 {
	return csumAdjust(c, uint32(^old)+uint32(new), full)
}

// csumAdjust updates checksum field c by d, the sum of ~old + new over the
// words that changed (RFC 1624, eqn. 3).
func csumAdjust(c uint16, d uint32, full bool) uint16 {
	s := uint64(c)
	if full {
		s = uint64(^c)
	}
	s += uint64(d)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	if full {
		return ^uint16(s)
	}
	return uint16(s)
}

// csumUpdate32 is csumUpdate16 for a 32-bit field (an address).
func csumUpdate32(c uint16, old, new uint32, full bool) uint16 {
	c = csumUpdate16(c, uint16(old>>16), uint16(new>>16), full)
	return csumUpdate16(c, uint16(old), uint16(new), full)
}

// putCsum stores checksum c. A computed checksum is never stored as zero,
// which in UDP means "no checksum": its one's complement twin 0xffff is.
func putCsum(f []byte, c uint16) {
	binary.BigEndian.PutUint16(f, csumNonZero(c))
}

// csumNonZero returns c, or 0xffff for 0 (see putCsum).
func csumNonZero(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}
