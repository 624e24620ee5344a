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
	if nat.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 {
		// An ICMP error: small, and its checksum covers the quoted bytes.
		// Rewrite a private copy of the whole message.
		buf := pkt.ToBuffer()
		v := buffer.NewViewSize(int(buf.Size()))
		buf.ReadAt(v.AsSlice(), 0)
		buf.Release()
		applyRewrite(v.AsSlice(), nat, false)
		return buffer.MakeWithView(v)
	}
	v := buffer.NewViewWithData(hdr)
	partial := pkt.GSOOptions.Type != stack.GSONone && pkt.GSOOptions.NeedsCsum
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
	if nat.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 && proto == protoICMP && len(l4) >= 8+20 {
		rewriteQuote(b, l4, nat)
	}
}

// rewriteQuote translates the packet quoted by the ICMP error l4 (in frame
// b) and recomputes the ICMP checksum over the whole message.
func rewriteQuote(b, l4 []byte, nat *Rewrite) {
	q := l4[8:]
	qihl := int(q[0]&0x0f) * 4
	if qihl < 20 || len(q) < qihl {
		return
	}
	qproto := q[9]
	ports := (qproto == protoTCP || qproto == protoUDP) && len(q) >= qihl+4
	echo := qproto == protoICMP && len(q) >= qihl+8 && (q[qihl] == 0 || q[qihl] == 8)
	set := func(addrOff int, addr uint32, portOff int, port uint16) {
		old := binary.BigEndian.Uint32(q[addrOff:])
		binary.BigEndian.PutUint32(q[addrOff:], addr)
		putCsum(q[10:12], csumUpdate32(binary.BigEndian.Uint16(q[10:12]), old, addr, true))
		if port == 0 {
			return
		}
		switch {
		case ports:
			binary.BigEndian.PutUint16(q[qihl+portOff:], port)
		case echo:
			binary.BigEndian.PutUint16(q[qihl+4:], port)
		}
	}
	if nat.Flags&RewriteInnerSrc != 0 {
		set(12, nat.InnerSrcAddr, 0, nat.InnerSrcPort)
	}
	if nat.Flags&RewriteInnerDst != 0 {
		set(16, nat.InnerDstAddr, 2, nat.InnerDstPort)
	}
	total := min(int(binary.BigEndian.Uint16(b[2:4])), len(b))
	msg := b[len(b)-len(l4) : total]
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:], ^onesSum(msg))
}

// onesSum is the 16-bit one's complement sum of b.
func onesSum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// csumUpdate16 updates checksum field c for a 16-bit word changing from old
// to new (RFC 1624). full says c is a finished (complemented) checksum; a
// partial checksum holds the uncomplemented sum.
func csumUpdate16(c, old, new uint16, full bool) uint16 {
	s := uint32(c)
	if full {
		s = uint32(^c)
	}
	s += uint32(^old) + uint32(new)
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
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(f, c)
}
